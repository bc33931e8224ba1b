"""The `e` key: the selected hit's clip exported into a folder the user names; the strip of
frames decoded off the UI thread."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input

from tests.fixtures.audio_video import make_video_with_audio
from tests.tui.conftest import SIZE, search, settle
from tests.tui.fakes import HITS, FakeBackend
from vidsearch.errors import UsageError
from vidsearch.search import Hit
from vidsearch.tui.backend import LibraryBackend
from vidsearch.tui.screens.export_folder import ExportFolderScreen
from vidsearch.tui.widgets.path_suggester import PathSuggester


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.slow
async def test_e_exports_the_selected_hit_into_the_folder_typed(make_app, backend, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("down", "e")
        assert isinstance(app.screen, ExportFolderScreen)
        field = app.screen.query_one("#export-folder", Input)
        assert field.value == ""  # nothing used yet
        field.value = str(tmp_path)
        await pilot.press("enter")
        await settle(app, pilot)
        assert backend.exported == [(HITS[1], tmp_path)]
        assert any(f"to {tmp_path / 'clip.mp4'}" in note for note in notes(app))
        await pilot.press("e")  # the folder is offered again
        assert app.screen.query_one("#export-folder", Input).value == str(tmp_path)
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(backend.exported) == 1  # Esc exports nothing


async def test_a_failed_export_is_a_notification(make_app, backend, tmp_path):
    backend.export_error = UsageError.about(tmp_path / "x", "is not a folder",
                                            "choose an existing folder")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        await pilot.press("e")
        app.screen.query_one("#export-folder", Input).value = str(tmp_path / "x")
        await pilot.press("enter")
        await settle(app, pilot)
        assert any("is not a folder. choose an existing folder" in n for n in notes(app))
        assert app.screen.query_one("#results")  # still on the main screen


async def test_e_with_nothing_selected_says_so(make_app, backend):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("escape", "e")
        assert not isinstance(app.screen, ExportFolderScreen)
        assert "nothing selected to export" in notes(app)


async def test_the_strip_is_decoded_off_the_ui_thread(make_app):
    threads = []

    class Recording(FakeBackend):
        def frame(self, hit, seconds):
            threads.append(threading.current_thread())
            return super().frame(hit, seconds)

    app = make_app(backend=Recording())
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
    assert len(threads) == 5
    assert threading.main_thread() not in threads


async def test_the_folder_dialog_completes_folders_only(tmp_path):
    (tmp_path / "exports").mkdir()
    (tmp_path / "example.mp4").touch()
    suggester = PathSuggester(files=False)
    assert await suggester.get_suggestion(str(tmp_path / "ex")) == f"{tmp_path}/exports/"


@pytest.mark.slow
def test_the_library_backend_exports_a_playable_clip_and_caches_the_strip(tmp_path,
                                                                          monkeypatch):
    import av

    from vidsearch import thumbnails

    video = make_video_with_audio(tmp_path / "beach day.mp4", seconds=6)
    hit = Hit(str(video), 1, 2.0, 5.0, 3.0, 0.4)
    backend = LibraryBackend(tmp_path / "library.db")
    out = tmp_path / "out"
    out.mkdir()
    first = backend.export(hit, out)
    second = backend.export(hit, out)
    assert [first.name, second.name] == ["beach day 0-00-02 0-00-05.mp4",
                                         "beach day 0-00-02 0-00-05 (2).mp4"]
    with av.open(str(first)) as container:
        assert container.streams.video and container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) >= 30  # 3 s at 10 fps
    decoded = []
    real = thumbnails.decode_frame
    monkeypatch.setattr(thumbnails, "decode_frame",
                        lambda *args: decoded.append(args[1]) or real(*args))
    times, _ = thumbnails.strip_times(hit.start, hit.end, hit.best_moment)
    for _ in range(2):  # back to the same hit: every frame from the cache
        for seconds in times:
            backend.frame(hit, seconds)
    assert decoded == times
