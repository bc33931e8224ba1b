"""How the main screen lays itself out: once per search, at any terminal size."""

from __future__ import annotations

import threading

import pytest

from tests.tui.conftest import search, settle
from tests.tui.fakes import HITS
from tests.tui.screen_text import screen_text
from vidsearch.search import Hit
from vidsearch.tui.widgets.preview import PreviewPane
from vidsearch.tui.widgets.results import ResultsTable, format_score, plan_columns


async def test_a_search_lays_the_table_out_once_at_its_final_width(make_app, monkeypatch):
    laid_out = []
    add_column = ResultsTable.add_column

    def recording(self, label, *, width=None, key=None, **kwargs):
        laid_out.append((key, width))
        return add_column(self, label, width=width, key=key, **kwargs)

    monkeypatch.setattr(ResultsTable, "add_column", recording)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        laid_out.clear()  # the empty table laid out at start-up is not a search's
        await search(app, pilot)
        await pilot.pause(0.2)  # a re-layout after the first would land in here
        file_widths = [width for key, width in laid_out if key == "file"]
        assert len(file_widths) == 1
        table = app.screen.query_one(ResultsTable)
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.size.width


async def test_while_the_model_loads_the_box_stays_and_the_old_preview_goes(make_app, backend):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await search(app, pilot, "dog")
        preview = app.screen.query_one(PreviewPane)
        assert preview.border_title == "beach day.mp4"
        backend.release = threading.Event()
        await search_without_waiting(app, pilot, "cat")
        text = screen_text(app)
        assert "╭─ results ─" in text  # the box and its title stay
        assert app.screen.query_one("#results").loading  # the indicator is in the box
        assert preview.border_title == "preview"
        assert "1920×1080" not in text and "0:00:10–0:00:25" not in text  # the old hit's
        backend.release.set()
        await settle(app, pilot)
        assert preview.border_title == "beach day.mp4"


async def search_without_waiting(app, pilot, query: str) -> None:
    box = app.screen.query_one("#query")
    box.value = query
    box.focus()
    await pilot.press("enter")
    await pilot.pause(0.1)


@pytest.mark.parametrize(("width", "kept"), [
    (200, ["file", "folder", "clip", "best", "score"]),
    (90, ["file", "folder", "clip", "best", "score"]),
    (60, ["file", "clip", "best", "score"]),
    (50, ["file", "clip", "score"]),
    (40, ["file", "clip"]),
    (36, ["file"]),
    (10, ["file"]),
])
def test_narrow_tables_drop_the_folder_then_the_best_moment_then_the_score(width, kept):
    widths = plan_columns(width, cell_padding=1)
    assert sorted(widths) == sorted(kept)
    assert sum(widths.values()) + 2 * len(widths) <= max(width - 2, widths["file"] + 2)


async def test_at_90_columns_every_column_is_there_and_the_preview_makes_room(make_app):
    app = make_app()
    async with app.run_test(size=(90, 28)) as pilot:
        await search(app, pilot)
        header = screen_text(app).splitlines()[5]
        for column in ("file", "folder", "clip", "best", "score"):
            assert column in header
        assert not app.screen.query_one(PreviewPane).display


async def test_a_narrow_tall_terminal_puts_the_preview_under_the_results(make_app):
    app = make_app()
    async with app.run_test(size=(80, 44)) as pilot:
        await search(app, pilot)
        results = app.screen.query_one("#results-area").region
        preview = app.screen.query_one(PreviewPane).region
        assert preview.y >= results.bottom and preview.width == results.width


def test_every_score_has_three_decimals_whatever_its_sign():
    assert [format_score(s) for s in (0.4213, -0.0634, -0.0004, 0.0)] == [
        "0.421", "-0.063", "0.000", "0.000"]


async def test_negative_scores_are_shown_whole_in_the_table(make_app, backend):
    backend.hits = [HITS[0], Hit(HITS[1].path, 2, 0.0, 10.0, 4.0, -0.0634)]
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await search(app, pilot)
        assert " -0.063 " in screen_text(app)


@pytest.mark.slow
async def test_the_help_and_image_dialogs_fit_an_80_column_terminal(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.query_one("#help").region.right <= 80
        await pilot.press("pagedown", "pagedown")  # 24 rows: the help's end is below the fold
        await pilot.pause()
        assert "Esc or ? to close" in screen_text(app)
        await pilot.press("escape", "escape", "i")
        await pilot.pause()
        assert app.screen.query_one("#image-query").region.right <= 80
