"""What `vidsearch watch` logs while it indexes after its first pass: a long job is announced by
name as it starts (a short one has only its `indexed` line), and -q keeps all of it quiet.

The real command in a subprocess, on generated videos: what it prints is the process's."""

from __future__ import annotations

import shutil
import signal

import pytest

from tests.fixtures.videos import make_video
from tests.integration.test_watch import DEADLINE, SETTLE, WatchProcess, _popen_cli, wait_for
from vidsearch import config
from vidsearch.cli.progress import LONG_JOB_SECONDS, clock_time
from vidsearch.store import open_store, read_watch_state
from vidsearch.store.watching import IDLE
from vidsearch.video import probe

pytestmark = pytest.mark.slow  # each test starts `vidsearch watch`, torch imports and all


@pytest.fixture
def long_video(tmp_path):
    # At 1 fps the tiny model indexes it in a moment, yet it is long enough to be announced.
    (tmp_path / "source").mkdir()
    return make_video(tmp_path / "source" / "long.mp4", seconds=LONG_JOB_SECONDS + 30, fps=1,
                      seed=8)


def line_number(lines: list[str], text: str) -> int:
    return next(number for number, line in enumerate(lines) if text in line)


def test_a_long_job_is_announced_by_name_before_it_is_indexed(tmp_path, tiny_model, video_cache,
                                                               long_video):
    folder = tmp_path / "inbox"
    folder.mkdir()
    watch = WatchProcess(folder)
    try:
        watch.wait_for_line("watching")
        short = folder / "beta.mp4"  # 7.5 s
        shutil.copy(video_cache / "beta.mp4", short)
        watch.wait_for_line(f"indexed {short} (")
        long = folder / "long.mp4"
        shutil.copy(long_video, long)
        watch.wait_for_line(f"indexed {long} (")
    finally:
        code = watch.terminate()
    lines = watch.lines
    announced = f"indexing {long} ({clock_time(probe(long).duration)} of video)"
    assert line_number(lines, announced) < line_number(lines, f"indexed {long} ("), "".join(lines)
    assert not any(f"indexing {short}" in line for line in lines), "".join(lines)
    assert code == 0, "".join(lines)


def test_quiet_watch_prints_nothing_while_it_indexes(tmp_path, tiny_model, long_video):
    folder = tmp_path / "inbox"
    folder.mkdir()
    db = config.default_db_path()
    watch = _popen_cli("watch", "-q", str(folder), "--settle", str(SETTLE))
    try:
        # Nothing to read on stderr: the watch state and the store say how far it is.
        wait_for(lambda: getattr(read_watch_state(db), "activity", None) == IDLE
                 or watch.poll() is not None, "the first sync to end")
        long = folder / "long.mp4"
        shutil.copy(long_video, long)
        wait_for(lambda: stored_whole(db, str(long)) or watch.poll() is not None,
                 "the long video to be stored", timeout=120)
    finally:
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=DEADLINE)
    assert stored_whole(db, str(long)), err
    assert err == ""
    assert watch.returncode == 0


def stored_whole(db, path: str) -> bool:
    with open_store(db, create=False) as store:
        record = store.videos_under([path]).get(path)
    return record is not None and record.status == "ok"
