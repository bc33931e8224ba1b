"""`status` says what a running `watch` is doing (idle, or indexing which file), from the state
file the watcher keeps beside the lock; a watcher that was killed is not reported."""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest

from tests.conftest import run_cli
from tests.fixtures.videos import make_video
from tests.integration.test_watch import WatchProcess, wait_for
from vidsearch import config
from vidsearch.store.watching import watch_state_path


def watch_line() -> str:
    result = run_cli("status")
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith("watch:"))


@pytest.mark.slow
def test_status_follows_a_real_watcher_idle_indexing_and_gone(tmp_path, tiny_model):
    source = make_video(tmp_path / "long.mp4", seconds=300, fps=2, seed=7)
    folder = tmp_path / "inbox"
    folder.mkdir()
    watcher = WatchProcess(folder)
    try:
        watcher.wait_for_line("watching")
        since = time.strftime("%H:%M", time.localtime(
            json.loads(watch_state_path(config.default_db_path()).read_text())["since"]))
        assert watch_line() == f"watch:        watching since {since}, idle"

        copies = [folder / f"long{n}.mp4" for n in range(3)]
        for copy in copies:
            shutil.copy(source, copy)
        seen: list[str] = []
        wait_for(lambda: seen.append(watch_line()) or "indexing" in seen[-1]
                 or watcher.proc.poll() is not None, "status to show the indexing", 120)
        assert seen[-1].startswith(f"watch:        watching since {since}, indexing {folder}"), seen
        assert any(str(copy) in seen[-1] for copy in copies), seen

        as_json = json.loads(run_cli("status", "--json").stdout)["watch"]
        assert as_json["pid"] == watcher.proc.pid and as_json["activity"] in ("indexing", "idle")
    finally:
        watcher.proc.send_signal(signal.SIGKILL)  # no chance to tidy up: the file stays
        watcher.proc.wait(timeout=20)
    assert watch_state_path(config.default_db_path()).exists()
    assert watch_line() == "watch:        not running"
    assert json.loads(run_cli("status", "--json").stdout)["watch"] is None


@pytest.mark.slow
def test_a_watcher_stopped_normally_removes_its_state(tmp_path, tiny_model):
    folder = tmp_path / "inbox"
    folder.mkdir()
    watcher = WatchProcess(folder)
    try:
        watcher.wait_for_line("watching")
        assert watch_state_path(config.default_db_path()).exists()
    finally:
        assert watcher.terminate() == 0, "".join(watcher.lines)
    assert not watch_state_path(config.default_db_path()).exists()
    assert watch_line() == "watch:        not running"
