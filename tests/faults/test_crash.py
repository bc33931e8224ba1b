"""SIGKILL at random points: the library always opens, is consistent, holds only whole videos,
and the next run ends where an uninterrupted one would have."""

from __future__ import annotations

import random
import time

import pytest

from tests.faults.conftest import assert_consistent, assert_same_library, snapshot, wait_for

TRIALS = 8
SEED = 20240806
FREE_BOX = (8).to_bytes(4, "big") + b"free"  # an MP4 box of 8 bytes that players skip
KILLED = -9


def check_whole(db, reference) -> None:
    """Opens, passes SQLite's own check and ours, and every stored video is complete."""
    assert_consistent(db)
    expected = snapshot(reference)
    for path, video in snapshot(db).items():
        assert path in expected, path
        assert video.status == "ok", (path, video.status)
        # A half-written video would have fewer frames or clips than the whole one.
        assert len(video.frame_times) == len(expected[path].frame_times), path
        assert video.clips == expected[path].clips, path


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_the_library(zygote, tiny_model, library,
                                                          tmp_path):
    logs = tmp_path / "logs"
    reference, crashed = tmp_path / "reference.db", tmp_path / "crashed.db"
    run = zygote.run("index", library, "-v", "--db", reference, logs=logs)
    wait_for(lambda: "indexing 3 videos" in run.err or run.poll() is not None,
             what="the reference run to start indexing")
    started = time.monotonic()
    assert run.wait() == 0, run.err
    indexing_time = time.monotonic() - started

    rng = random.Random(SEED)
    videos = sorted(library.rglob("*.mp4"))
    kills = 0
    for trial in range(TRIALS):
        changed = videos
        if trial:
            # Work for every trial: changed videos are re-indexed, so kills also land while a
            # stored video is being replaced (the old one or the new one must survive whole).
            # A touch is not a change (same size and content keep their vectors): an empty
            # MP4 `free` box at the end changes the bytes and leaves the pictures as they were.
            changed = rng.sample(videos, rng.randint(1, len(videos)))
            for path in changed:
                with path.open("ab") as file:
                    file.write(FREE_BOX)
        paused = tmp_path / f"paused-{trial}"
        mode = "statement" if trial == 0 else ("statement", "commit", "time")[trial % 3]
        if mode == "statement":
            # Before a random write: the first trial reaches the migrations of a new library,
            # later ones the rows of a video.
            pause = {"statement": rng.randint(1, 40 if trial == 0 else 20)}
        elif mode == "commit":
            # Everything of one video written, its commit not yet: a store that split a video
            # over two transactions would leave half of one here.
            pause = {"commit": rng.randint(1, len(changed))}
        child = zygote.run("index", library, "-v", "--db", crashed, logs=logs,
                           pause={**pause, "paused": str(paused)} if mode != "time" else None)
        if mode == "time":
            # Anywhere in the decode -> encode -> store pipeline.
            wait_for(lambda: "indexing" in child.err or child.poll() is not None,
                     what="indexing to start")
            time.sleep(rng.uniform(0, indexing_time))
        else:
            wait_for(lambda: paused.exists() or child.poll() is not None, what="the pause")
        code = child.kill() if child.poll() is None else child.code
        assert code in (KILLED, 0), child.err
        kills += code == KILLED
        check_whole(crashed, reference)

    assert kills >= TRIALS // 2, "most trials must really kill an indexer"
    final = zygote.run("index", library, "--db", crashed, logs=logs)
    assert final.wait() == 0, final.err
    check_whole(crashed, reference)
    assert_same_library(crashed, reference)
