"""The in-memory sign bits follow every write: by any Store method, by another connection, by
another process. No write method has to remember to invalidate them."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from tests.unit.test_store import DIM, add_video, unit
from vidsearch.store import open_store


def best_path(store, seed: int) -> str | None:
    """The path of the clip nearest the second clip vector `add_video` wrote for `seed`."""
    found = store.nearest_clips(unit(seed * 1000 + 501), 1)
    return found[0].path if found else None


@pytest.fixture
def library(tmp_path):
    path = tmp_path / "lib.db"
    with open_store(path) as store:
        store.prepare_for_model("fp-a", "model-a", DIM)
        add_video(store, "/v/a.mp4", seed=1)
        assert best_path(store, 1) == "/v/a.mp4"  # the bits are now cached
        yield store


def test_each_write_method_is_seen_by_the_next_search(library):
    add_video(library, "/v/b.mp4", seed=2)
    assert best_path(library, 2) == "/v/b.mp4"
    library.record_failure("/v/b.mp4", size=1, mtime_ns=1, error="broken")
    assert best_path(library, 2) == "/v/a.mp4"
    add_video(library, "/v/b.mp4", seed=2)
    library.remove_videos(["/v/b.mp4"])
    assert best_path(library, 2) == "/v/a.mp4"
    add_video(library, "/v/c.mp4", seed=3)
    assert library.move_video("/v/a.mp4", "/v/c.mp4")  # replaces c's row and its clips
    assert best_path(library, 3) == "/v/c.mp4"
    assert {m.clip_id for m in library.nearest_clips(unit(3501), 10)} == {1, 2}
    assert library.move_folder("/v", "/w") == [("/v/c.mp4", "/w/c.mp4")]
    assert best_path(library, 1) == "/w/c.mp4"
    library.prepare_for_model("fp-b", "model-b", DIM)
    assert best_path(library, 1) is None


def test_a_write_method_that_bypasses_the_write_path_would_be_caught(library):
    """What the cache is keyed on must change with the write, so a search cannot see stale bits
    even if the bits read by the search itself were cached first."""
    before = library._state()
    add_video(library, "/v/b.mp4", seed=2)
    assert library._state() != before


def _write_from_another_process(path, ready):
    with open_store(path) as store:
        add_video(store, "/v/other.mp4", seed=4)
    ready.set()


def test_a_write_from_another_process_is_seen_by_the_next_search(library):
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    writer = ctx.Process(target=_write_from_another_process, args=(library.path, ready))
    writer.start()
    writer.join(30)
    assert ready.is_set() and writer.exitcode == 0
    assert best_path(library, 4) == "/v/other.mp4"
    np.testing.assert_array_equal(sorted(library._load_bit_index()[0]), [1, 2, 3, 4])


def best_frame_path(store, seed: int) -> str | None:
    """The path of the frame nearest the 4th frame vector `add_video` wrote for `seed`."""
    found = store.nearest_frames(unit(seed * 1000 + 4), 1)
    return found[0].path if found else None


def test_frame_bits_follow_each_write_like_clip_bits(library):
    assert best_frame_path(library, 1) == "/v/a.mp4"  # the frame bits are now cached
    add_video(library, "/v/b.mp4", seed=2)
    assert best_frame_path(library, 2) == "/v/b.mp4"
    library.record_failure("/v/b.mp4", size=1, mtime_ns=1, error="broken")
    assert best_frame_path(library, 2) == "/v/a.mp4"
    assert library.move_folder("/v", "/w") == [("/v/a.mp4", "/w/a.mp4"),
                                               ("/v/b.mp4", "/w/b.mp4")]
    assert best_frame_path(library, 1) == "/w/a.mp4"
    library.remove_videos(["/w/a.mp4", "/w/b.mp4"])
    assert best_frame_path(library, 1) is None
