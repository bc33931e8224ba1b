"""The `i` dialog: path completion, and what the search box says after an image search."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input

from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text
from vidsearch.tui.screens.image_query import IMAGE_SUFFIXES
from vidsearch.tui.widgets.path_suggester import PathSuggester


@pytest.mark.slow
async def test_after_an_image_search_the_box_shows_the_image_and_enter_repeats_it(
        make_app, backend, tmp_path):
    image = tmp_path / "frame.png"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#query", Input)
        box.value = "dog on a beach"
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("i")
        app.screen.query_one("#image-path", Input).value = str(image)
        await pilot.press("enter")
        await settle(app, pilot)
        assert box.value == f"image: {image}"
        assert "dog on a beach" not in screen_text(app)
        await pilot.press("slash", "enter")  # the unchanged box: the same image search
        await settle(app, pilot)
        assert backend.queries == ["dog on a beach", image, image]
        box.value = "a cat"
        await pilot.press("slash", "enter")
        await settle(app, pilot)
        assert backend.queries[-1] == "a cat"


@pytest.mark.slow
async def test_typing_a_path_in_the_image_dialog_completes_it(make_app, tmp_path):
    (tmp_path / "holiday snaps").mkdir()
    (tmp_path / "holiday snaps" / "beach.JPG").touch()
    (tmp_path / "holiday notes.txt").touch()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("escape", "i")
        field = app.screen.query_one("#image-path", Input)
        field.value = str(tmp_path / "hol")
        await pilot.pause(0.2)
        await pilot.press("right")  # accepts the suggestion
        assert field.value == f"{tmp_path}/holiday snaps/"
        await pilot.press("b")
        await pilot.pause(0.2)
        await pilot.press("right")
        assert field.value == f"{tmp_path}/holiday snaps/beach.JPG"


async def test_the_suggester_keeps_a_tilde_skips_hidden_and_other_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (".hidden.png", "notes.txt", "shot.png", "zz.webp"):
        (tmp_path / name).touch()
    suggester = PathSuggester(IMAGE_SUFFIXES)
    assert await suggester.get_suggestion("~/s") == f"~{os.sep}shot.png"
    assert await suggester.get_suggestion("~/n") is None  # not an image
    assert await suggester.get_suggestion("~/") == f"~{os.sep}shot.png"  # not .hidden.png
    assert await suggester.get_suggestion("~/.h") == f"~{os.sep}.hidden.png"
    assert await suggester.get_suggestion(f"{tmp_path}/missing/x") is None


@pytest.mark.slow
async def test_an_image_search_keeps_the_filters_in_the_box_and_takes_edited_ones(
        make_app, backend, tmp_path):
    image = tmp_path / "frame.png"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#query", Input)
        box.value = "dog in:~/Videos/2024 after:2024-06"
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("i")
        app.screen.query_one("#image-path", Input).value = str(image)
        await pilot.press("enter")
        await settle(app, pilot)
        # The picture replaces the words; the folders and dates stay, and say so.
        assert box.value == f"image: {image} in:~/Videos/2024 after:2024-06"
        assert backend.filters_asked == ["in:~/Videos/2024 after:2024-06"]
        box.value = f"image: {image} per-video:1"
        await pilot.press("slash", "enter")
        await settle(app, pilot)
        assert backend.queries[-1] == image and backend.filters_asked[-1] == "per-video:1"
        assert box.value == f"image: {image} per-video:1"
