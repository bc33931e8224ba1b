"""The session's marks without a screen: order of writes, hiding, a failed write forgotten."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.tui.fakes import HITS
from vidsearch.errors import VidsearchError
from vidsearch.train.labels_csv import parse_labels
from vidsearch.tui.feedback import FeedbackSession


def test_marks_are_written_in_the_order_they_were_made_whatever_thread_writes(tmp_path):
    session = FeedbackSession(tmp_path / "feedback.csv")
    marks = [(hit, index % 2 == 1) for index, hit in enumerate(HITS)]
    for hit, negative in marks:
        assert session.mark("a dog", hit, negative=negative)
    with ThreadPoolExecutor(4) as pool:  # as many workers as marks, in any order
        list(pool.map(lambda _: session.write_next(), marks))
    path = session.path
    rows, problems = parse_labels(path.read_bytes(), path)
    assert problems == []
    assert [(str(r.video), r.start, r.negative) for r in rows] == [
        (hit.path, hit.start, negative) for hit, negative in marks]
    assert session.write_next() is None  # nothing left


def test_minus_hides_for_its_query_alone_and_a_repeat_is_not_written_twice(tmp_path):
    session = FeedbackSession(tmp_path / "feedback.csv")
    assert session.mark("a dog", HITS[1], negative=True)
    assert not session.mark("a dog", HITS[1], negative=True)
    assert session.visible("a dog", HITS) == [HITS[0], HITS[2], HITS[3]]
    assert session.visible("a cat", HITS) == HITS and session.visible(None, HITS) == HITS
    assert session.hidden_count("a dog") == 1 and session.hidden_count("a cat") == 0
    assert session.mark("a dog", HITS[1], negative=False)  # changing one's mind is written


def test_a_failed_write_is_forgotten_so_the_key_tries_again(tmp_path):
    (tmp_path / "blocked").write_text("x")
    session = FeedbackSession(tmp_path / "blocked" / "feedback.csv")
    assert session.mark("a dog", HITS[0], negative=True)
    with pytest.raises(VidsearchError, match="cannot write the feedback file"):
        session.write_next()
    assert session.visible("a dog", HITS) == HITS[1:]  # still hidden
    assert session.mark("a dog", HITS[0], negative=True)  # not "already marked"


def test_a_mark_names_the_words_of_a_plain_search_without_its_filters():
    from vidsearch.tui.messages import ImageQuery, LikeQuery, TextQuery

    assert TextQuery("a dog catching a frisbee").caption == "a dog catching a frisbee"
    assert TextQuery("a dog in:~/Videos after:2024").caption == "a dog"
    assert TextQuery("beach -people").caption is None
    assert TextQuery("-people").caption is None
    assert ImageQuery(Path("dog.png")).caption is None and LikeQuery(HITS[0]).caption is None
