"""The TUI against a fake backend: what a user sees and what each key does."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.conftest import SIZE, search, settle
from tests.tui.fakes import HITS, LIBRARY, gradient_image, hits_on_disk
from tests.tui.screen_text import screen_text
from vidsearch.display import format_time
from vidsearch.errors import CannotRunError
from vidsearch.search import Hit
from vidsearch.store import WatchState
from vidsearch.thumbnails import strip_times
from vidsearch.tui.screens.help import HelpScreen
from vidsearch.tui.widgets.preview import PreviewPane
from vidsearch.tui.widgets.results import ResultsTable


class FakeBackendError(RuntimeError):
    """Not a VidsearchError: a bug or an odd OS error, which must not take the app down."""


@pytest.mark.slow
async def test_search_shows_one_row_per_hit_and_moves_focus_to_the_results(make_app, backend):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.focused, Input)  # typing works at once
        await search(app, pilot, "dog on a beach")
        assert backend.queries == ["dog on a beach"]
        table = app.screen.query_one(ResultsTable)
        assert table.row_count == len(HITS)
        assert app.focused is table
        text = screen_text(app)
        assert "4 hits for “dog on a beach”" in text
        assert "beach day.mp4" in text and "…/holidays" in text
        assert "0:00:10–0:00:25" in text and "0:00:17" in text and "0.421" in text
        assert "1:00:05–1:00:15" in text  # hours shown as H:MM:SS
        # the preview of the first hit: facts, its frame, the other hit in the same video
        assert "1920×1080" in text and "1:02:05" in text
        assert "▸ 0:00:10–0:00:25" in text and "0:01:35–0:01:45  best 0:01:41" in text
        # The strip: five frames across the hit, the best moment's marked, its time reversed.
        preview = app.screen.query_one(PreviewPane)
        first = HITS[0]
        assert backend.frames_asked[0] == (first.path, first.best_moment)  # decoded first
        times = sorted(seconds for _, seconds in backend.frames_asked)
        assert times == strip_times(first.start, first.end, first.best_moment)[0]
        assert times == [11.5, 14.5, 17.0, 20.5, 23.5]
        assert preview.best_frame() is preview.frame(2)
        for index in range(5):
            shown = preview.frame(index).image
            assert shown.tobytes() == gradient_image().tobytes()  # the backend's pictures
        labels = " ".join(format_time(t) for t in times)
        assert labels in " ".join(text.split())  # each frame over its time


async def test_status_bar_shows_library_model_database_and_writer(make_app, backend):
    backend.writer_active = True
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        status = screen_text(app).splitlines()[-2]
        assert "3 videos · 2:30:00" in status
        assert "model clip4clip-webvid150k" in status
        assert "an index is writing" in status
        assert "/data/vidsearch/library.db" in status


async def test_status_bar_says_what_a_watch_is_doing(make_app, backend):
    since = time.mktime(time.strptime("2026-01-01 09:05", "%Y-%m-%d %H:%M"))
    backend.writer_active = True
    backend.model = "tiny"  # room on one line for the whole watch state
    backend.watching = WatchState(os.getpid(), since, "indexing", "/data/in/new.mp4", 2)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        status = screen_text(app).splitlines()[-2]
        assert "watching since 2026-01-01 09:05, indexing /data/in/new.mp4 (and 2 more)" \
            in status, status
        assert "writing" not in status


@pytest.mark.slow
async def test_arrow_keys_move_the_selection_and_the_preview_follows(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        table = app.screen.query_one(ResultsTable)
        preview = app.screen.query_one(PreviewPane)
        await pilot.press("down", "down")
        await settle(app, pilot)
        assert table.current_hit == HITS[2]
        assert preview.border_title == "beach day.mp4"
        assert "▸ 0:01:35–0:01:45" in screen_text(app)
        await pilot.press("end")
        await settle(app, pilot)
        assert table.current_hit == HITS[3]
        assert "no other hits in this video" in screen_text(app)
        await pilot.press("home", "up")
        assert table.current_hit == HITS[0]
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert app.focused is table


@pytest.mark.slow
async def test_enter_opens_the_hit_at_its_best_moment_without_a_shell(make_app, launched,
                                                                      backend, tmp_path):
    backend.hits = hits = hits_on_disk(tmp_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert launched == [["mpv", "--start=4", hits[1].path]]


@pytest.mark.slow
async def test_the_player_template_from_settings_is_used(make_app, launched, isolated_home,
                                                         backend, tmp_path):
    backend.hits = hits = hits_on_disk(tmp_path)
    settings = isolated_home / "config" / "settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('player = ["myplayer", "--at", "{seconds}", "{path}"]\n')
    app = make_app(player_template=None)  # None: read settings.toml
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert launched == [["myplayer", "--at", "17", hits[0].path]]


@pytest.mark.slow
async def test_a_player_that_cannot_start_is_a_notification_not_a_crash(make_app, backend,
                                                                        tmp_path):
    backend.hits = hits_on_disk(tmp_path)
    def broken(argv):
        raise CannotRunError("cannot start the player 'mpv' (No such file)", "install mpv")

    app = make_app(run_player=broken)
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        assert any("cannot start the player" in n.message for n in app._notifications)


@pytest.mark.slow
async def test_mouse_click_selects_a_row_and_a_second_click_opens_it(make_app, launched,
                                                                     backend, tmp_path):
    backend.hits = hits = hits_on_disk(tmp_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        table = app.screen.query_one(ResultsTable)
        await pilot.click(ResultsTable, offset=(3, 3))  # header is row 0: third hit
        await pilot.pause()
        assert table.current_hit == hits[2]
        assert launched == []
        await pilot.click(ResultsTable, offset=(3, 3))
        await pilot.pause()
        assert launched == [["mpv", "--start=101", hits[2].path]]


@pytest.mark.slow
async def test_a_file_gone_since_indexing_is_not_handed_to_the_player(make_app, launched):
    app = make_app()  # the fake's hits are under /media/videos, which does not exist here
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert launched == []
        assert any("beach day.mp4 is gone" in n.message for n in app._notifications)


@pytest.mark.slow
async def test_c_copies_path_at_best_moment(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("end", "c")
        assert app.clipboard == f"{LIBRARY}/family/2019/birthday 🎂 عيد ميلاد.mkv at 1:00:11"


@pytest.mark.slow
async def test_question_mark_shows_the_keys_and_escape_closes_them(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for phrase in ("copy “path at H:MM:SS”", "back to the search box", "example image",
                       "quit"):
            assert phrase in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("slash", "f1")  # F1 works from the search box too
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.slow
async def test_i_searches_by_an_image_path(make_app, backend, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("escape")  # keys act on the screen once the search box is left
        await pilot.press("i")
        await pilot.press(*"~/frame.png", "enter")
        await settle(app, pilot)
        assert backend.queries == [Path("~/frame.png").expanduser()]
        assert "4 hits for image" in screen_text(app)


@pytest.mark.slow
async def test_q_quits_but_is_typed_in_the_search_box(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        assert app.is_running and app.screen.query_one("#query", Input).value == "q"
        await pilot.press("escape", "q")
        await pilot.pause()
        assert not app.is_running


async def test_empty_library_says_how_to_index(make_app, backend):
    backend.videos, backend.hours = 0, 0.0
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "The library is empty" in text
        assert "vidsearch index ~/Videos (then" in text  # the default library needs no --db


async def test_empty_library_hint_repeats_the_db_it_was_started_with(make_app, backend,
                                                                     isolated_home):
    backend.videos, backend.hours = 0, 0.0
    app = make_app(db_path="/data/other lib.db")
    async with app.run_test(size=(200, 40)) as pilot:  # wide enough for the hint on one line
        await settle(app, pilot)
        assert "vidsearch index ~/Videos --db '/data/other lib.db'" in screen_text(app)


async def test_unreadable_database_is_a_message_with_the_fix(make_app, backend):
    backend.status_problem = CannotRunError(
        "/data/x.db: not a vidsearch library (the file is not a readable SQLite database)",
        "move the file away or pass another --db")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "Cannot read the library" in text
        assert "not a vidsearch library" in text and "pass another --db" in text
        assert "no readable library" in text.splitlines()[-2]


async def test_missing_weights_is_a_message_with_the_fix_not_a_crash(make_app, backend):
    backend.search_error = CannotRunError(
        "weights file /cache/clip4clip.safetensors does not exist",
        "pass --weights FILE or run vidsearch models import")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        assert app.is_running
        text = screen_text(app)
        assert "The search could not run" in text
        assert "clip4clip.safetensors does not exist" in text
        assert "pass --weights FILE" in text


@pytest.mark.slow
async def test_no_results_says_so(make_app, backend):
    backend.hits = []
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, "unicorn")
        assert "No matches for “unicorn”" in screen_text(app)
        await pilot.press("c")  # nothing to copy: a warning, not an exception
        assert app.is_running and app.clipboard == ""


@pytest.mark.slow
async def test_first_search_shows_that_the_model_is_loading(make_app, backend):
    backend.release = threading.Event()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"dog", "enter")
        await pilot.pause(0.1)
        panel = app.screen.query_one("#message")
        assert panel.loading
        assert "╭─ results ─" in screen_text(app)  # the box stays, the indicator is inside it
        assert "loading model clip4clip-webvid150k (once)" in screen_text(app)
        assert app.screen.query_one("#query", Input).value == "dog"  # the UI still answers
        backend.release.set()
        await settle(app, pilot)
        assert not panel.loading and not app.screen.query_one("#results").loading
        assert "4 hits" in screen_text(app)


@pytest.mark.slow
async def test_a_frame_that_cannot_be_decoded_leaves_the_rest_of_the_preview(make_app, backend):
    backend.thumbnail_error = CannotRunError("/media/videos/x.mp4: cannot decode a frame")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        text = screen_text(app)
        assert "no picture: /media/videos/x.mp4: cannot" in text
        assert "1920×1080" in text


@pytest.mark.slow
async def test_file_names_are_shown_literally_never_as_markup(make_app, backend):
    nasty = [
        Hit(f"{LIBRARY}/[red]clips[/]/[bold]loud[blink].mp4", 7, 0, 10, 4, 0.5),
        Hit(f"{LIBRARY}/bad\nname\x1b[31m\u202eevil.mp4", 8, 0, 10, 4, 0.4),
        Hit(f"{LIBRARY}/\udcff-latin1.mp4", 9, 0, 10, 4, 0.3),
    ]
    backend.hits = nasty
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        table = app.screen.query_one(ResultsTable)
        assert table.get_row_at(0)[0].plain == "[bold]loud[blink].mp4"
        assert table.get_row_at(1)[0].plain == "bad\\nname\\x1b[31m\\u202eevil.mp4"
        assert table.get_row_at(2)[0].plain == "\\xff-latin1.mp4"
        lines = screen_text(app).splitlines()
        assert len(lines) == SIZE[1]  # nothing broke a line
        text = "\n".join(lines)
        assert "│ [bold]loud[blink]" in text  # the row
        assert "─ [bold]loud[blink].mp4 ─" in text  # the preview's title
        assert "/media/videos/[red]clips[/]/[bold]" in text  # the preview's path
        assert "\x1b" not in text and "\u202e" not in text
        await pilot.press("c")
        assert app.clipboard == f"{nasty[0].path} at 0:00:04"  # the real path, unescaped


def test_the_readme_section_lists_the_same_keys_as_the_help_screen():
    from tests.conftest import REPO
    from vidsearch.tui.keys import KEYS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Terminal UI", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith(("| key", "| ---"))]
    assert rows == [key.keys for key in KEYS]


@pytest.mark.slow
async def test_an_unexpected_error_in_a_search_is_shown_not_a_crash(make_app, backend):
    class Boom(FakeBackendError):
        pass

    backend.search_error = Boom("database disk image is malformed")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        assert app.is_running
        text = screen_text(app)
        assert "The search failed: Boom" in text and "disk image is malformed" in text
        assert not app.screen.query_one("#message").loading


@pytest.mark.slow
async def test_m_searches_for_clips_like_the_selected_hit_and_enter_repeats_it(make_app,
                                                                                backend):
    backend.loaded = False  # more like this needs no model: nothing says it is loading
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("down", "m")
        await settle(app, pilot)
        assert backend.queries == ["dog", ("like", HITS[1])]
        box = app.screen.query_one("#query", Input)
        assert box.value == f"like: {HITS[1].path} at 0:00:04"
        text = screen_text(app)
        assert "3 hits for clips like [bold]loud[blink].mp4 at 0:00:04" in text
        assert "loading model" not in text
        box.focus()
        await pilot.press("enter")  # the box names the search: Enter runs it again
        await settle(app, pilot)
        assert backend.queries[-1] == ("like", HITS[1])


@pytest.mark.slow
async def test_more_like_this_stays_within_the_filters_of_the_search(make_app, backend):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, 'dog in:"~/Videos/summer trip" per-video:2')
        box = app.screen.query_one("#query", Input)
        await pilot.press("down", "m")
        await settle(app, pilot)
        assert backend.queries[-1] == ("like", HITS[1])
        assert backend.filters_asked == ['in:"~/Videos/summer trip" per-video:2']
        assert box.value == f'like: {HITS[1].path} at 0:00:04 in:"~/Videos/summer trip" per-video:2'
        box.value = f"like: {HITS[1].path} at 0:00:04"  # the filters taken out
        box.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert backend.queries[-1] == ("like", HITS[1]) and backend.filters_asked[-1] == ""


@pytest.mark.slow
async def test_the_help_screen_explains_the_search_box_syntax(make_app):
    from vidsearch.query import BOX_SYNTAX

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        text = screen_text(app)
        assert "In the search box" in text and "more like this" in text
        for example, _meaning in BOX_SYNTAX:
            assert example in text


@pytest.mark.slow
async def test_the_help_scrolls_on_a_short_terminal(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = screen_text(app)
        assert "Esc or ? to close" in text  # always in sight
        assert "dog per-video:2" not in text  # the last row, below the fold
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        text = screen_text(app)
        assert "dog per-video:2" in text and "Esc or ? to close" in text
