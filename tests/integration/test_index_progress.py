"""Progress in video-seconds: what the indexer reports as it encodes, and what `index` prints
when stderr is not a terminal (a log line every few seconds, none with -q)."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import run_cli
from tests.fixtures.videos import make_video
from vidsearch import config
from vidsearch.cli.progress import LONG_JOB_SECONDS, JobLog, LogProgress, clock_time
from vidsearch.indexer import Indexer, IndexOptions
from vidsearch.store import open_store
from vidsearch.video import probe


class Recorded:
    """Every call the indexer makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, videos: int, seconds: float) -> None:
        self.calls.append(("start", videos, seconds))

    def advanced(self, seconds_done: float) -> None:
        self.calls.append(("advanced", seconds_done))

    def video_finished(self, path: str, ok: bool, reason: str | None = None) -> None:
        self.calls.append(("finished", path, ok))

    def done_values(self) -> list[float]:
        return [call[1] for call in self.calls if call[0] == "advanced"]


def index_with(folder, options: IndexOptions | None = None) -> Recorded:
    from vidsearch.model import load_model

    progress = Recorded()
    with open_store(config.default_db_path()) as store:
        Indexer(store, load_model(None, device="cpu"), options, progress).sync([folder])
    return progress


def test_progress_counts_video_seconds_up_to_the_probed_total(tiny_model, library):
    (library / "broken.mp4").write_bytes(b"not a video" * 50)  # fails: counts whole, as 0 s
    progress = index_with(library)
    start = progress.calls[0]
    expected = sum(probe(path).duration for path in
                   (library / "alpha.mp4", library / "trip/beta.mp4", library / "trip/gamma.mp4"))
    assert start == ("start", 4, pytest.approx(expected))
    done = progress.done_values()
    assert done == sorted(done), "progress went back"
    assert done[-1] == start[2], "a finished run does not end at the total"
    assert sum(1 for call in progress.calls if call[0] == "finished") == 4


def test_one_long_video_moves_before_it_is_finished(tiny_model, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    # Decoders hand over 32 frames at a time: 160 s at 1 fps is five of them.
    make_video(folder / "long.mp4", seconds=160, fps=1, seed=5)
    progress = index_with(folder, IndexOptions(batch_size=8))
    total = progress.calls[0][2]
    finished_at = next(n for n, call in enumerate(progress.calls) if call[0] == "finished")
    before = [call[1] for call in progress.calls[:finished_at] if call[0] == "advanced"]
    assert len([d for d in before if 0 < d < total]) >= 3, progress.calls
    assert progress.done_values()[-1] == total


def test_log_lines_come_every_few_seconds_and_once_at_the_end(caplog):
    clock = iter(x * 0.1 for x in range(10_000))
    progress = LogProgress(every=5.0, clock=lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="vidsearch"):
        progress.start(1, 600.0)
        for second in range(1, 601):  # 600 frames, 0.1 s apart: 60 s of clock
            progress.advanced(float(second))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "indexing 1 video (0:10:00 of video)"
    assert 11 <= len(lines) <= 14, lines  # one per 5 s of 60 s, the first and the last
    assert lines[-1].startswith("0:10:00 / 0:10:00 of video (100%), ")
    assert "real time" in lines[1] and "left" in lines[1]


def test_the_end_is_said_once_when_the_last_second_is_reported_again(caplog):
    # The indexer reports a video's last frames and then the video itself as done.
    clock = iter(x * 0.1 for x in range(10_000))
    progress = LogProgress(every=5.0, clock=lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="vidsearch"):
        progress.start(1, 12.0)
        for seconds_done in (6.0, 12.0, 12.0):
            progress.advanced(seconds_done)
        progress.start(1, 12.0)  # a second run ends with a line of its own
        progress.advanced(12.0)
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" of video")[0] for line in lines] == \
        ["indexing 1 video (0:00:12", "0:00:12 / 0:00:12", "indexing 1 video (0:00:12",
         "0:00:12 / 0:00:12"], lines


def test_watch_announces_a_long_job_and_speaks_again_only_while_it_lasts(caplog):
    """After its first pass `watch` logs each video it has indexed; a short job needs no other
    line, a long one is announced by name as it starts and gets progress lines as it goes."""
    clock = iter(x * 0.1 for x in range(10_000))
    progress = JobLog(lambda videos: f"{videos} named", every=30.0, clock=lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="vidsearch"):
        progress.start(1, 5.0)
        for second in range(1, 6):
            progress.advanced(float(second))
        assert caplog.records == []
        progress.start(1, 600.0)
        for second in range(1, 601):  # 60 s of clock
            progress.advanced(float(second))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "indexing 1 named (0:10:00 of video)"
    assert 3 <= len(lines) <= 5, lines
    assert lines[1].endswith("left") and lines[-1].startswith("0:10:00 / 0:10:00 of video (100%)")


def test_a_long_job_done_quickly_is_announced_and_then_left_to_its_indexed_line(caplog):
    clock = iter(x * 0.1 for x in range(10_000))
    progress = JobLog(lambda videos: "long.mp4", clock=lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="vidsearch"):
        progress.start(1, LONG_JOB_SECONDS)
        progress.advanced(LONG_JOB_SECONDS)
    assert [record.getMessage() for record in caplog.records] == [
        f"indexing long.mp4 ({clock_time(LONG_JOB_SECONDS)} of video)"]


@pytest.mark.slow
def test_index_logs_progress_in_video_time_when_stderr_is_a_pipe(tiny_model, library):
    total = sum(probe(path).duration for path in library.rglob("*.mp4"))
    result = run_cli("index", str(library))
    assert result.returncode == 0, result.stderr
    assert f"indexing 3 videos ({clock_time(total)} of video)" in result.stderr
    assert f"{clock_time(total)} / {clock_time(total)} of video (100%)" in result.stderr
    quiet = run_cli("index", "-q", str(library / "alpha.mp4"), "--window", "6",
                    "--stride", "3")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
