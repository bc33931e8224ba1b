"""The feedback file: marks appended as labels rows that the labels checks read back."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidsearch.errors import CannotRunError, UsageError
from vidsearch.train.feedback import Mark, append_mark
from vidsearch.train.labels_csv import parse_labels


def read_back(path):
    return parse_labels(path.read_bytes(), path)


def test_marks_append_rows_under_one_header(tmp_path):
    path = tmp_path / "data" / "feedback.csv"
    append_mark(path, Mark("/v/park.mp4", "dog catching a frisbee", 10.0, 25.0, False))
    append_mark(path, Mark("/v/a, b.mp4", "dog catching a frisbee", 95.25, 105.0, True))
    assert path.read_text(encoding="utf-8") == (
        "video,caption,start,end,negative\n"
        "/v/park.mp4,dog catching a frisbee,10,25,0\n"
        '"/v/a, b.mp4",dog catching a frisbee,95.25,105,1\n')
    rows, problems = read_back(path)
    assert problems == []
    assert [(str(r.video), r.start, r.end, r.negative) for r in rows] == [
        ("/v/park.mp4", 10.0, 25.0, False), ("/v/a, b.mp4", 95.25, 105.0, True)]


times = st.floats(0, 86_400, allow_nan=False).map(lambda t: round(t, 3))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(query=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                     max_size=80).filter(str.strip),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
                    min_size=1, max_size=30).filter(lambda n: n.strip() not in ("", ".", "..")),
       start=times, length=st.floats(0.001, 600).map(lambda t: round(t, 3)),
       negative=st.booleans())
def test_any_mark_reads_back_as_the_same_row(tmp_path, query, name, start, length, negative):
    path = tmp_path / "feedback.csv"
    path.unlink(missing_ok=True)
    video = f"/videos/{name.strip()}.mp4"
    end = round(start + length, 3)
    if end <= start:
        return
    append_mark(path, Mark(video, query, start, end, negative))
    rows, problems = read_back(path)
    assert problems == []
    [row] = rows
    assert str(row.video) == os.path.abspath(video) and row.caption == query.strip()
    assert math.isclose(row.start, start, abs_tol=1e-3) and math.isclose(row.end, end,
                                                                         abs_tol=1e-3)
    assert row.negative is negative


def test_a_line_cut_short_by_a_crash_stays_alone(tmp_path):
    path = tmp_path / "feedback.csv"
    append_mark(path, Mark("/v/a.mp4", "a dog", 0, 10, False))
    with open(path, "ab") as handle:
        handle.write(b"/v/b.mp4,a do")  # the crash
    append_mark(path, Mark("/v/c.mp4", "a dog", 5, 10, True))
    rows, problems = read_back(path)
    assert [str(r.video) for r in rows] == ["/v/a.mp4", "/v/c.mp4"]
    assert [p.line for p in problems] == [3] and "2 fields" in problems[0].message


def test_a_rearranged_header_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "feedback.csv"
    path.write_text("caption,video\nx,/v/a.mp4\n", encoding="utf-8")
    with pytest.raises(UsageError, match="feedback.csv: its first line is not the feedback "
                                         "header video,caption,start,end,negative"):
        append_mark(path, Mark("/v/a.mp4", "a dog", 0, 10, False))
    assert path.read_text(encoding="utf-8") == "caption,video\nx,/v/a.mp4\n"


def test_marks_a_labels_file_cannot_hold_are_refused(tmp_path):
    path = tmp_path / "feedback.csv"
    with pytest.raises(UsageError, match="line break"):
        append_mark(path, Mark("/v/a\nb.mp4", "a dog", 0, 10, False))
    with pytest.raises(UsageError, match="not UTF-8"):
        append_mark(path, Mark("/v/\udcff.mp4", "a dog", 0, 10, False))
    assert not path.exists()


def test_a_data_folder_that_cannot_be_made_is_a_one_line_error(tmp_path):
    (tmp_path / "data").write_text("a file where the data folder should be")
    with pytest.raises(CannotRunError, match="data/feedback.csv: cannot write the feedback "
                                             "file"):
        append_mark(tmp_path / "data" / "feedback.csv", Mark("/v/a.mp4", "a dog", 0, 10, False))


def test_writing_marks_needs_no_torch():
    # The TUI writes marks while it runs; a text-only TUI session may never load torch.
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = "import sys, vidsearch.train.feedback; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)
    assert result.stdout.strip() == "False"
