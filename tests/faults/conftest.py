"""Fixtures for the fault tests: a forking vidsearch process, CLI helpers, library snapshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from vidsearch import config
from vidsearch.cli import main
from vidsearch.store import open_store

# As root, chmod 000 does not stop reads. The forking process runs without the two
# capabilities that let root ignore file modes, so permission faults are real for it.
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process: exit code, stdout, stderr."""
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clean_line(err: str) -> str:
    """A user-facing error: one line, `vidsearch: error: ...`, no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("vidsearch: error:")]
    assert len(errors) == 1, err
    return errors[0]


def default_db() -> Path:
    return config.default_db_path()


# --- the forking process ----------------------------------------------------------------


@dataclass
class Child:
    """One CLI run in a forked process."""

    zygote: Zygote
    pid: int
    stdout: Path
    stderr: Path
    code: int | None = None
    finished: bool = False

    def wait(self, timeout: float = 120) -> int | None:
        """Exit code, or -signal; None if it had to be killed at the timeout."""
        if not self.finished:
            self.code = self.zygote.request({"wait": self.pid, "timeout": timeout})["code"]
            self.finished = True
        return self.code

    def poll(self) -> int | None:
        """Exit code if it has ended, else None."""
        if not self.finished:
            self.code = self.zygote.request({"poll": self.pid})["code"]
            self.finished = self.code is not None
        return self.code

    def kill(self) -> int | None:
        os.kill(self.pid, 9)
        return self.wait()

    @property
    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.read_text(errors="replace")


class Zygote:
    def __init__(self, dropped_dac: bool) -> None:
        self.dropped_dac = dropped_dac
        prefix = DROP_DAC if dropped_dac else []
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tests.faults.zygote"], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.children: list[Child] = []
        ready = self._read()
        assert ready == {"ready": True}, ready

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the forking process died (exit {self.process.wait()})")
        return json.loads(line)

    def request(self, message: dict) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._read()

    def run(self, *argv: str, logs: Path, pause: dict | None = None,
            env: dict | None = None) -> Child:
        """Start `vidsearch ARGV` with this test's environment; `pause`: see zygote.py."""
        logs.mkdir(parents=True, exist_ok=True)
        number = len(self.children)
        spec = {
            "argv": [str(arg) for arg in argv],
            "env": {**os.environ, **(env or {})},
            "cwd": str(REPO),
            "stdout": str(logs / f"{number}.out"),
            "stderr": str(logs / f"{number}.err"),
            "pause": pause,
        }
        for name in ("stdout", "stderr"):
            Path(spec[name]).touch()  # readable at once, before the child gets to open it
        pid = self.request({"run": spec})["pid"]
        child = Child(self, pid, Path(spec["stdout"]), Path(spec["stderr"]))
        self.children.append(child)
        return child

    def can_read(self, path: Path) -> bool:
        return self.request({"can_read": str(path)})["readable"]

    def close(self) -> None:
        for child in self.children:
            if not child.finished:
                try:
                    os.kill(child.pid, 9)
                except ProcessLookupError:
                    pass
                child.wait()
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def zygote():
    dropped = os.geteuid() == 0 and shutil.which("setpriv") is not None
    try:
        forker = Zygote(dropped_dac=dropped)
    except RuntimeError:
        if not dropped:
            raise
        # setpriv refused (a container without CAP_SETPCAP): only the permission test skips.
        forker = Zygote(dropped_dac=False)
    yield forker
    forker.close()


def wait_for(predicate, timeout: float = 60, what: str = "condition") -> None:
    """Poll until `predicate()` is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- what a library holds ---------------------------------------------------------------


@dataclass
class VideoState:
    status: str
    frame_times: np.ndarray
    frame_vectors: np.ndarray
    clips: list[tuple[float, float]]


def assert_consistent(db: Path) -> None:
    """The library opens and passes SQLite's own check and vidsearch's invariants."""
    import apsw

    conn = apsw.Connection(str(db))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    with open_store(db, create=False) as store:
        assert store.check_integrity() == []


def snapshot(db: Path) -> dict[str, VideoState]:
    """Every video in the library with its frames and clip spans, by path."""
    with open_store(db, create=False) as store:
        rows = store.conn.execute("SELECT id, path, status FROM videos").fetchall()
        videos = {}
        for video_id, path, status in rows:
            times, vectors = store.frame_vectors(video_id)
            clips = [(start, end) for _id, start, end in store.clips_of_video(video_id)]
            # Names that are not UTF-8 come back from SQL as the BLOBs the store keeps.
            videos[os.fsdecode(path) if isinstance(path, bytes) else path] = VideoState(
                status, times, vectors, clips)
        return videos


def clip_scores(db: Path, queries: np.ndarray) -> list[list[tuple[str, float, float, float]]]:
    """For each query vector, every clip as (path, start, end, score), in a fixed order:
    equal scores for random queries mean equal clip vectors, whatever the schema stores."""
    with open_store(db, create=False) as store:
        total = store.stats().clips
        return [sorted((m.path, m.start, m.end, m.score)
                       for m in store.nearest_clips(query, total)) for query in queries]


def assert_same_library(actual: Path, expected: Path, atol: float = 1e-5) -> None:
    got, want = snapshot(actual), snapshot(expected)
    assert sorted(got) == sorted(want)
    for path, video in want.items():
        other = got[path]
        assert other.status == video.status, path
        np.testing.assert_allclose(other.frame_times, video.frame_times, err_msg=path)
        np.testing.assert_allclose(other.frame_vectors, video.frame_vectors, atol=atol,
                                   err_msg=path)
        np.testing.assert_allclose(other.clips, video.clips, err_msg=path)
    queries = np.random.default_rng(7).normal(size=(3, 64)).astype(np.float32)
    for got_hits, want_hits in zip(clip_scores(actual, queries), clip_scores(expected, queries)):
        assert [h[:3] for h in got_hits] == [h[:3] for h in want_hits]
        np.testing.assert_allclose([h[3] for h in got_hits], [h[3] for h in want_hits],
                                   atol=atol)


# --- media --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    """Small videos made once per session; tests copy what they need."""
    from tests.fixtures.videos import make_video

    folder = tmp_path_factory.mktemp("fault-media")
    make_video(folder / "good.mp4", seconds=3, fps=5, seed=11)
    make_video(folder / "good.avi", seconds=3, fps=5, seed=11, codec="mpeg4")  # decord's
    make_video(folder / "long.mp4", seconds=12, fps=5, seed=12)
    make_video(folder / "long-faststart.mp4", seconds=12, fps=5, seed=12, faststart=True)
    make_video(folder / "two-minutes.mp4", seconds=120, fps=1, size=(32, 32), seed=13)
    return folder


@pytest.fixture
def videos(tmp_path, media) -> Path:
    """A folder holding one good video, to which a test adds its bad inputs."""
    folder = tmp_path / "Videos"
    folder.mkdir()
    shutil.copy2(media / "good.mp4", folder / "good.mp4")
    return folder


def library_state():
    """(stats, integrity problems) of the default library."""
    with open_store(default_db(), create=False) as store:
        return store.stats(), store.check_integrity()
