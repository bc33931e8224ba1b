"""The TUI over a real library: the tiny model, generated videos, the real store and decoder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from tests.fixtures.videos import make_video
from tests.tui.conftest import SIZE, only_mpv, search, settle
from tests.tui.fakes import FakeBackend
from tests.tui.screen_text import screen_text
from vidsearch import config, search as search_api
from vidsearch.model.threads import use_threads_for
from vidsearch.query_models import QueryModels
from vidsearch.search import Hit
from vidsearch.store import open_store, writer_lock
from vidsearch.thumbnails import DEFAULT_MAX_SIZE, strip_times
from vidsearch.tui.app import create_app
from vidsearch.store import writer_is_active
from vidsearch.tui.backend import LibraryBackend
from vidsearch.tui.widgets.preview import PreviewPane
from vidsearch.tui.widgets.results import ResultsTable

# Mean absolute difference (0-255) allowed between the preview and the frame decoded here:
# the same decoder gives the same pixels, so this only absorbs resampling noise.
SAME_FRAME = 2.0


@pytest.fixture
def indexed_db(tiny_model, library) -> Path:
    from vidsearch.indexer import Indexer, IndexOptions
    from vidsearch.model import load_model

    db = config.default_db_path()
    model = load_model(tiny_model, device="cpu")
    with open_store(db) as store:
        report = Indexer(store, model, IndexOptions(decode_workers=2)).sync([library])
    assert len(report.indexed) == 3 and not report.failed
    return db


def make_real_app(db: Path, launched: list, **kwargs):
    app = create_app(db, device="cpu", player_template=[], run_player=launched.append,
                     which=only_mpv, k=5, **kwargs)
    app.animation_level = "none"
    return app


@pytest.mark.slow
async def test_search_flow_end_to_end_on_a_tiny_library(indexed_db, library, tiny_model):
    launched: list = []
    app = make_real_app(indexed_db, launched)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "3 videos" in screen_text(app).splitlines()[-2]
        # The text model loads in the background as the screen opens, the vision tower not.
        assert app.backend.model_loaded() and not app.backend.model_loaded(image=True)
        await pilot.press(*"a red square", "enter")
        await settle(app, pilot)
        assert not app.backend.model_loaded(image=True)  # a text search needs no vision tower
        table = app.screen.query_one(ResultsTable)
        # The same hits `find` gives: the TUI has no search logic of its own.
        with open_store(indexed_db, create=False) as store:
            use_threads_for("query")  # as `find` does (it sets the same policy as the TUI)
            model = QueryModels(tiny_model, device="cpu").for_text()
            expected = search_api.search_text(store, model, "a red square", k=5)
        # The TUI's first search ran on torch and made the ONNX export this one runs on: the
        # same hits, scores equal to float precision.
        assert [replace(h, score=0.0) for h in table.hits] == \
            [replace(h, score=0.0) for h in expected]
        assert [h.score for h in table.hits] == pytest.approx([h.score for h in expected],
                                                              abs=1e-5)
        assert table.row_count == len(expected) > 0
        names = {os.path.basename(h.path) for h in expected}
        text = screen_text(app)
        assert all(name in text for name in names)
        best = expected[0]
        # The preview decoded the real frame at the best moment and read the video's facts.
        shown = app.screen.query_one(PreviewPane).best_frame().image
        assert pixel_distance(shown, frame_shown_at(best.path, best.best_moment)) < SAME_FRAME
        assert "resolution" in text and "duration" in text
        await pilot.press("enter")
        await pilot.pause()
        assert launched == [["mpv", f"--start={best.best_moment:g}", best.path]]
        assert best.path.startswith(str(library))


def frame_shown_at(path: str, seconds: float) -> np.ndarray:
    """The frame on screen at `seconds`, decoded here with PyAV alone (not through
    vidsearch.thumbnails) and fitted into the preview's size the way the preview fits it."""
    with av.open(path) as container:
        shown = None
        for frame in container.decode(video=0):
            if frame.time > seconds + 1e-3:
                break
            shown = frame
    image = shown.to_image()
    image.thumbnail(DEFAULT_MAX_SIZE)
    return np.asarray(image.convert("RGB"), dtype=float)


def pixel_distance(image, expected: np.ndarray) -> float:
    pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.shape == expected.shape
    return float(np.abs(pixels - expected).mean())


@pytest.mark.slow
async def test_the_preview_shows_the_frame_at_the_best_moment_not_the_clip_start(tmp_path):
    # Pattern "seconds" shows a different mosaic every second, so the clip start (2 s) and
    # the best moment (7 s) look nothing alike; a keyframe every 25 frames makes the decoder
    # seek and decode forward, as in real footage.
    video = make_video(tmp_path / "moving.mp4", seconds=9, fps=10, size=(96, 64), seed=5,
                       gop=25)
    hit = Hit(str(video), 1, 2.0, 9.0, 7.0, 0.5)
    backend = FakeBackend(hits=[hit])
    backend.frame = LibraryBackend(tmp_path / "library.db").frame  # the real decode
    app = create_app(backend=backend, player_template=[], run_player=list, which=only_mpv)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot)
        preview = app.screen.query_one(PreviewPane)
        shown = preview.best_frame().image
        strip = [preview.frame(index).image for index in range(5)]
    assert pixel_distance(shown, frame_shown_at(hit.path, hit.best_moment)) < SAME_FRAME
    assert pixel_distance(shown, frame_shown_at(hit.path, hit.start)) > 10 * SAME_FRAME
    # The strip runs across the clip (2-9 s: 2.7, 4.1, 5.5, 7.0 (the best), 8.3 s), each
    # frame the one shown at its time.
    times, best = strip_times(hit.start, hit.end, hit.best_moment)
    assert best == 3
    for image, seconds in zip(strip, times):
        assert pixel_distance(image, frame_shown_at(hit.path, seconds)) < SAME_FRAME


@pytest.fixture
def full_model_loads(monkeypatch) -> list:
    """Every name the full (open_clip) model is built for; it is still built for real."""
    import vidsearch.model
    from vidsearch.model.video_text import VideoTextModel

    loads: list = []
    real = vidsearch.model.load_model

    def recording(name=None, **kwargs):
        loads.append(name)
        model = real(name, **kwargs)
        assert isinstance(model, VideoTextModel)
        return model

    monkeypatch.setattr(vidsearch.model, "load_model", recording)
    return loads


def red_picture(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (64, 48), (220, 30, 30)).save(path)
    return path


def test_a_text_search_takes_the_text_tower_alone(indexed_db, tiny_model, full_model_loads):
    from vidsearch.model.text_query import TextQueryModel

    backend = LibraryBackend(indexed_db, device="cpu")
    hits = backend.search_text("a red square", 5)
    assert hits
    assert isinstance(backend._models.for_text(), TextQueryModel)
    assert full_model_loads == []
    assert backend.model_loaded() and not backend.model_loaded(image=True)



def test_searches_share_one_open_library_until_another_process_writes(indexed_db, tiny_model,
                                                                       monkeypatch):
    """The library stays open between searches (its sign bits stay in memory), and a write by
    another connection (a watch) is seen at the next search."""
    backend = LibraryBackend(indexed_db, device="cpu")
    opened = []
    real_open = LibraryBackend._open
    monkeypatch.setattr(LibraryBackend, "_open", lambda self: opened.append(1) or real_open(self))
    backend.warm_up()  # opens it and reads the clips' bits ahead of the first search
    first = backend.search_text("a red square", 5)
    assert backend.search_text("a dog", 5) and len(opened) == 1
    with open_store(indexed_db) as store:
        assert store.remove_videos([first[0].path]) == 1
    after = backend.search_text("a red square", 5)
    assert after and first[0].path not in {hit.path for hit in after}
    assert len(opened) == 2
    backend.close()
    assert backend.search_text("a red square", 5) == after  # opened again after a close


@pytest.mark.slow
def test_a_text_search_does_not_import_open_clip(indexed_db, tiny_model):
    """What makes the full model slow to load is importing open_clip (torchvision, timm) and
    building the vision tower; a fresh process shows whether the TUI's first search paid it."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from vidsearch.tui.backend import LibraryBackend\n"
        "hits = LibraryBackend(Path(sys.argv[1]), device='cpu').search_text('a red square', 5)\n"
        "assert hits\n"
        "print(sorted(n for n in ('open_clip', 'torchvision', 'timm') if n in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(indexed_db)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_text_searches_import_no_torch_once_the_export_exists(indexed_db, tiny_model):
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from vidsearch.tui.backend import LibraryBackend\n"
        "backend = LibraryBackend(Path(sys.argv[1]), device='cpu')\n"
        "assert backend.search_text('a red square', 5) and backend.search_text('a dog', 5)\n"
        "print(sorted(n for n in ('torch', 'open_clip') if n in sys.modules))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code, str(indexed_db)], capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    # The first process made the export (with torch); the second searched on it alone.
    assert [run.stdout.strip() for run in runs] == ["['torch']", "[]"]


@pytest.mark.slow
def test_an_image_search_loads_the_full_model_once(indexed_db, tiny_model, full_model_loads,
                                                   tmp_path):
    from vidsearch import video
    from vidsearch.model import load_model

    picture = red_picture(tmp_path / "red.png")
    backend = LibraryBackend(indexed_db, device="cpu")
    backend.search_text("a red square", 5)
    assert not backend.model_loaded(image=True)
    hits = backend.search_image(picture, 5)
    assert full_model_loads == [tiny_model]
    assert backend.model_loaded(image=True)
    backend.search_image(picture, 5)
    backend.search_text("a blue circle", 5)
    assert full_model_loads == [tiny_model]
    with open_store(indexed_db, create=False) as store:
        expected = search_api.search_image(store, load_model(tiny_model, device="cpu"),
                                           video.load_image(picture), k=5)
    assert hits == expected and hits


def test_without_a_text_tower_text_and_images_share_one_full_model(
        indexed_db, tiny_model, full_model_loads, tmp_path, monkeypatch):
    import vidsearch.model.text_query

    monkeypatch.setattr(vidsearch.model.text_query, "load_text_query_model",
                        lambda *args, **kwargs: None)  # a model the fast path cannot build
    backend = LibraryBackend(indexed_db, device="cpu")
    assert backend.search_text("a red square", 5)
    assert full_model_loads == [tiny_model]
    assert backend.model_loaded(image=True)
    assert backend.search_image(red_picture(tmp_path / "red.png"), 5)
    assert full_model_loads == [tiny_model]


@pytest.mark.slow
def test_a_text_search_with_another_model_is_refused(indexed_db, tiny_model):
    from tests.fixtures.tiny_model import install_tiny_model
    from vidsearch.errors import CannotRunError

    other = install_tiny_model(config.models_dir(), name="other", seed=1)
    backend = LibraryBackend(indexed_db, model=other, device="cpu")
    with pytest.raises(CannotRunError, match="indexed with model 'tiny', not 'other'"):
        backend.search_text("a red square", 5)


@pytest.mark.slow
async def test_missing_weights_on_a_real_library_is_a_message(isolated_home):
    db = config.default_db_path()
    open_store(db).close()  # an empty library
    app = make_real_app(db, [], model="clip-vit-b-32-openai")  # no weights, offline
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "The library is empty" in screen_text(app)
        await search(app, pilot, "a dog")
        text = screen_text(app)
        assert app.is_running
        assert "The search could not run" in text
        assert "no weights for model 'clip-vit-b-32-openai'" in text
        # The hint wraps inside the panel: read it as one line (the preview beside is empty).
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())
        assert "or name another weights file" in flat


def test_status_of_a_missing_or_foreign_database_names_the_problem(tmp_path):
    missing = LibraryBackend(tmp_path / "none.db").status()
    assert "no library here yet" in missing.problem.message
    foreign = tmp_path / "photo.db"
    foreign.write_bytes(b"\x89PNG not a database at all" * 100)
    problem = LibraryBackend(foreign).status().problem
    assert "not a vidsearch library" in problem.message
    assert foreign.read_bytes().startswith(b"\x89PNG")  # and it was left alone


def test_writer_lock_held_by_another_process_is_seen(tmp_path):
    db = tmp_path / "library.db"
    assert not writer_is_active(db)
    with writer_lock(db):
        assert writer_is_active(db)
    assert not writer_is_active(db)  # released, though the lock file and its pid remain
    Path(str(db) + ".lock").write_text("999999999")  # a pid that is not running
    assert not writer_is_active(db)


def test_writer_in_a_subprocess_is_seen(tmp_path):
    db = tmp_path / "library.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from vidsearch.store import writer_lock\n"
         "with writer_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)",
         str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert writer_is_active(db)
    finally:
        holder.kill()
        holder.wait()
    assert not writer_is_active(db)


def test_status_counts_are_read_again_only_when_the_library_changed(tmp_path, monkeypatch):
    db = tmp_path / "library.db"
    open_store(db).close()
    backend = LibraryBackend(db)
    reads = []
    real = LibraryBackend._read_status
    monkeypatch.setattr(LibraryBackend, "_read_status",
                        lambda self: reads.append(1) or real(self))
    assert backend.status().videos == 0
    backend.status()
    assert len(reads) == 1
    with open_store(db) as store:  # a write lands (what an indexer or watch does)
        store.prepare_for_model("fp", "tiny", 4)
    assert backend.status().model == "tiny"
    assert len(reads) == 2


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_precision_option_reaches_the_image_model(indexed_db, tiny_model, tmp_path,
                                                      monkeypatch, precision):
    import vidsearch.model

    made = []
    real = vidsearch.model.load_model
    monkeypatch.setattr(vidsearch.model, "load_model",
                        lambda *args, **kwargs: made.append(real(*args, **kwargs)) or made[-1])
    backend = LibraryBackend(indexed_db, device="cpu", precision=precision)
    backend.search_image(red_picture(tmp_path / "red.png"), 5)
    assert [model.precision for model in made] == [precision]


def assert_same_hits(got, want) -> None:
    """The same hits in the same order; scores equal to float precision (torch and its ONNX
    export agree to about 1e-7)."""
    assert [replace(h, score=0.0) for h in got] == [replace(h, score=0.0) for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)


@pytest.mark.slow
def test_the_search_box_syntax_and_more_like_this_reach_the_search_core(indexed_db, library,
                                                                         tiny_model):
    backend = LibraryBackend(indexed_db, device="cpu")
    combined = backend.search_text('a red square +"a blue sky" -people', k=5)
    with open_store(indexed_db, create=False) as store:
        model = QueryModels(tiny_model, device="cpu").for_text()
        parts = search_api.parts_from("a red square", ["a blue sky"], ["people"])
        # The backend's search ran on torch and made the export this one runs on.
        assert_same_hits(combined, search_api.search_parts(store, model, parts, k=5))
        assert not backend.model_loaded(image=True)  # texts only: no vision tower
        best = combined[0]
        source = search_api.like_source(store, best.path, best.best_moment)
        expected = search_api.search_like(store, source, k=5)
    assert backend.search_like(best, k=5) == expected
    assert all(not (h.video_id == source.video_id and h.start < source.end
                    and source.start < h.end) for h in expected)


@pytest.mark.slow
def test_filters_in_the_search_box_narrow_the_search(indexed_db, library, tiny_model):
    from vidsearch.errors import UsageError

    backend = LibraryBackend(indexed_db, device="cpu")
    hits = backend.search_text(f"a red square in:{library / 'trip'}", k=5)
    assert hits and {os.path.basename(h.path) for h in hits} <= {"beta.mp4", "gamma.mp4"}
    assert {os.path.basename(h.path) for h in backend.search_text(
        "a red square per-video:1", k=5)} == {"alpha.mp4", "beta.mp4", "gamma.mp4"}
    with pytest.raises(UsageError, match="no indexed video is under"):
        backend.search_text(f"a red square in:{library.parent / 'elsewhere'}", k=5)


@pytest.mark.slow
def test_image_and_like_searches_take_the_filters_of_the_box(indexed_db, library, tmp_path):
    from vidsearch.errors import UsageError

    backend = LibraryBackend(indexed_db, device="cpu")
    trip = library / "trip"
    picture = red_picture(tmp_path / "red.png")
    everywhere = backend.search_image(picture, 10)
    assert {Path(h.path).parent for h in everywhere} == {library, trip}
    in_trip = backend.search_image(picture, 10, f"in:{trip} per-video:1")
    assert in_trip and {Path(h.path).parent for h in in_trip} == {trip}
    assert len({h.video_id for h in in_trip}) == len(in_trip)  # one hit per video
    source = next(h for h in everywhere if Path(h.path).parent == library)
    like = backend.search_like(source, 10, f"in:{trip}")
    assert like and all(Path(h.path).parent == trip for h in like)
    with pytest.raises(UsageError, match="no indexed video is under this folder"):
        backend.search_image(picture, 10, f"in:{tmp_path / 'elsewhere'}")
    # Recorded dates: the videos were made today, so none was recorded before 2000.
    assert backend.search_like(source, 10, "before:1999") == []
