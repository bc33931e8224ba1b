"""Fixtures for the TUI tests: a fake backend, an app factory, a pinned image renderer."""

from __future__ import annotations

import pytest
from textual_image._terminal import CellSize, get_cell_size
from textual_image.widget import UnicodeImage

from tests.tui.fakes import FakeBackend
from vidsearch.tui.app import create_app
from vidsearch.tui.widgets.preview import PreviewPane

SIZE = (120, 36)


def only_mpv(name: str) -> str | None:
    return "/usr/bin/mpv" if name == "mpv" else None


@pytest.fixture(autouse=True)
def pinned_image_renderer(monkeypatch):
    """textual-image picks Kitty/Sixel/half blocks from the terminal pytest happens to run in
    (with -s, a real one); pin the plain Unicode renderer and a fixed cell size so every run
    draws the same picture."""
    monkeypatch.setattr(PreviewPane, "image_widget", UnicodeImage)
    monkeypatch.setattr(get_cell_size, "_result", CellSize(10, 20), raising=False)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def launched() -> list[list[str]]:
    """Every argv the app asked to run, instead of running it."""
    return []


@pytest.fixture
def make_app(backend, launched):
    def make(**kwargs):
        options = dict(backend=backend, player_template=[], run_player=launched.append,
                       which=only_mpv)
        options.update(kwargs)
        app = create_app(**options)
        app.animation_level = "none"  # no smooth scrolling to wait for
        return app

    return make


async def search(app, pilot, query: str = "dog") -> None:
    """Put a query in the search box, press Enter there, and wait until the worker's answer is
    on screen. (Typing key by key costs a screen update per key; one test does that.)"""
    box = app.screen.query_one("#query")
    box.value = query
    box.focus()
    await pilot.press("enter")
    await settle(app, pilot)


async def settle(app, pilot) -> None:
    # Workers answer with messages that may start more workers (the preview): wait twice.
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def pytest_collection_modifyitems(items):
    # textual-image 0.12 still calls Image.getdata, deprecated in Pillow 13; not ours to fix.
    mark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")
    for item in items:
        if "tests/tui/" in str(item.path).replace("\\", "/"):
            item.add_marker(mark)
