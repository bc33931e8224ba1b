"""`+` and `-` on a hit: rows in the feedback file, and a `-` hit gone for that query."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.tui.conftest import SIZE, search, settle
from tests.tui.fakes import HITS
from tests.tui.screen_text import screen_text
from vidsearch import config
from vidsearch.train.labels_csv import parse_labels
from vidsearch.tui.messages import ImageQuery
from vidsearch.tui.widgets.results import ResultsTable


def feedback_rows() -> list[tuple[str, str, float, float, bool]]:
    path = config.feedback_path()
    rows, problems = parse_labels(path.read_bytes(), path)
    assert problems == []
    return [(str(r.video), r.caption, r.start, r.end, r.negative) for r in rows]


def row_of(hit, query: str, negative: bool):
    return (hit.path, query, hit.start, hit.end, negative)


@pytest.mark.slow
async def test_plus_and_minus_write_rows_and_minus_hides_the_hit(make_app, backend):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, "dog on a beach")
        table = app.screen.query_one(ResultsTable)
        await pilot.press("plus")  # the first hit is right
        await pilot.press("down", "minus")  # the second is wrong
        await settle(app, pilot)
        assert feedback_rows() == [row_of(HITS[0], "dog on a beach", False),
                                   row_of(HITS[1], "dog on a beach", True)]
        assert table.hits == [HITS[0], HITS[2], HITS[3]]
        assert table.current_hit == HITS[2]  # the cursor stays on its row: the next hit
        assert "3 hits for" in screen_text(app)  # the count follows the hidden hit
        assert "[bold]loud[blink].mp4" not in screen_text(app)
        footer = screen_text(app).splitlines()[-1]
        assert "+ Right" in footer and "- Wrong" in footer

        await pilot.press("plus")  # the same mark twice is written once
        await pilot.press("plus")
        await settle(app, pilot)
        assert len(feedback_rows()) == 3
        assert any("already marked" in n.message for n in app._notifications)

        # The same query again: the wrong hit stays hidden, and the page is still full.
        backend.hits = list(HITS) + [replace(HITS[0], start=200.0, end=210.0)]
        await search(app, pilot, "dog on a beach")
        assert HITS[1] not in table.hits and len(table.hits) == 4
        assert backend.queries[-1] == "dog on a beach"
        # Another query shows it: a mark is about one query.
        await search(app, pilot, "a loud clip")
        assert HITS[1] in table.hits


@pytest.mark.slow
async def test_marking_every_hit_wrong_leaves_a_message(make_app, backend):
    backend.hits = HITS[:1]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, "cat")
        await pilot.press("minus")
        await settle(app, pilot)
        assert app.screen.query_one(ResultsTable).hits == []
        assert "No hits left" in screen_text(app)
        await pilot.press("plus")  # nothing selected now
        assert feedback_rows() == [row_of(HITS[0], "cat", True)]


@pytest.mark.slow
async def test_image_search_hits_cannot_be_marked(make_app, backend, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.screen._search_shown(ImageQuery(tmp_path / "dog.png"))  # as the image dialog does
        await settle(app, pilot)
        await pilot.press("minus")
        await settle(app, pilot)
        assert not config.feedback_path().exists()
        assert len(app.screen.query_one(ResultsTable).hits) == len(HITS)
        assert any("only the hits of a plain text search" in n.message
                   for n in app._notifications)
        # Combined queries are no one caption either; more like this is no caption at all.
        await search(app, pilot, "beach -people")
        await pilot.press("minus")
        await pilot.press("m")
        await settle(app, pilot)
        await pilot.press("plus")
        await settle(app, pilot)
        assert not config.feedback_path().exists()


@pytest.mark.slow
async def test_a_feedback_file_that_cannot_be_written_is_a_notification(make_app, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    app = make_app(feedback_path=blocked / "feedback.csv")
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, "dog")
        await pilot.press("minus")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("the mark was not saved" in m and "not-a-folder/feedback.csv" in m
                   for m in messages), messages
        assert HITS[0] not in app.screen.query_one(ResultsTable).hits  # hidden all the same
