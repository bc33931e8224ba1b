"""`vidsearch watch`: the settle logic on a fake clock, then the real watchdog observer on real
folders, then the command as a user runs it (a subprocess stopped with SIGTERM).

Every wait polls a condition against a deadline; nothing sleeps longer than a copy chunk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from watchdog.events import (
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from tests.conftest import REPO
from tests.fixtures.videos import make_video
from vidsearch import config
from vidsearch import scan as fs
from vidsearch.indexer import Indexer, IndexReport
from vidsearch.store import VideoMeta, open_store
from vidsearch.watcher import Watcher

SETTLE = 0.3
DEADLINE = 20.0

# watchdog re-registers the inotify watch of a moved folder and warns about it; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


def wait_for(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# --- the deterministic core: synthetic events, a fake clock, a fake indexer ----------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeIndexer:
    """Stores a row per file (so moves and "unchanged" checks are real) and records calls;
    with `hash_content`, the row has the file's real content hash (touch checks need it)."""

    def __init__(self, store, *, hash_content: bool = False) -> None:
        self.store = store
        self.hash_content = hash_content
        self.calls: list[list[str]] = []
        store.prepare_for_model("fake", "fake", 4)

    def index_files(self, states, report=None) -> IndexReport:
        self.calls.append([state.path for state in states])
        report = report or IndexReport()
        for state in states:
            self.store.write_video(
                state.path, size=state.size, mtime_ns=state.mtime_ns,
                content_hash=(fs.content_hash(state.path, state.size) if self.hash_content
                              else None),
                meta=VideoMeta(1.0, 1.0, 8, 8), frame_times=np.zeros(1),
                frame_vectors=np.ones((1, 4)), clip_spans=[(0.0, 1.0)],
                clip_vectors=np.ones((1, 4)))
            report.indexed.append(state.path)
        return report


@pytest.fixture
def core(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    clock = FakeClock()
    with open_store(tmp_path / "core.db") as store:
        indexer = FakeIndexer(store)
        yield Watcher(indexer, [folder], settle=1.0, clock=clock), indexer, clock, folder


def test_a_burst_of_events_becomes_one_job_after_the_settle_time(core):
    watcher, indexer, clock, folder = core
    path = str(folder / "clip.mp4")
    Path(path).write_bytes(b"x" * 10)
    watcher.handle(FileCreatedEvent(path))
    for _ in range(5):  # still being written: every event restarts the wait
        clock.now += 0.5
        watcher.handle(FileModifiedEvent(path))
        watcher.process_settled()
    assert indexer.calls == []
    clock.now += 0.9
    watcher.process_settled()
    assert indexer.calls == []
    clock.now += 0.2
    watcher.process_settled()
    assert indexer.calls == [[path]]
    # Events that change nothing (a close, a reopen) do not index it again.
    watcher.handle(FileClosedEvent(path))
    clock.now += 5
    watcher.process_settled()
    assert indexer.calls == [[path]]


def test_a_file_growing_without_events_is_not_taken(core):
    """Network shares (polling) may report one event for a long copy: stat decides."""
    watcher, indexer, clock, folder = core
    path = folder / "copy.mp4"
    path.write_bytes(b"x")
    watcher.handle(FileCreatedEvent(str(path)))
    for size in range(2, 6):
        clock.now += 2.0
        with open(path, "ab") as out:
            out.write(b"x" * size)
        watcher.process_settled()
    assert indexer.calls == []
    clock.now += 1.0
    watcher.process_settled()
    assert indexer.calls == [[str(path)]]


def test_temp_hidden_and_non_video_files_are_ignored_until_renamed(core):
    watcher, indexer, clock, folder = core
    (folder / ".cache").mkdir()
    names = ["movie.mp4.part", "movie.mp4.crdownload", "~$movie.mp4", ".movie.mp4",
             ".cache/clip.mp4", "notes.txt"]
    for name in names:
        (folder / name).write_bytes(b"x")
        watcher.handle(FileCreatedEvent(str(folder / name)))
    assert watcher.pending == {}
    os.rename(folder / "movie.mp4.part", folder / "movie.mp4")
    watcher.handle(FileMovedEvent(str(folder / "movie.mp4.part"), str(folder / "movie.mp4")))
    clock.now += 2
    watcher.process_settled()
    clock.now += 2
    watcher.process_settled()
    assert indexer.calls == [[str(folder / "movie.mp4")]]


def test_renames_and_folder_moves_follow_without_indexing(core):
    watcher, indexer, clock, folder = core
    (folder / "trip").mkdir()
    for name in ("a.mp4", "trip/b.mp4", "trip/c.mp4"):
        (folder / name).write_bytes(name.encode())
    indexer.index_files([fs.stat_file(str(folder / n)) for n in ("a.mp4", "trip/b.mp4",
                                                                  "trip/c.mp4")])
    ids = {path: record.id for path, record in watcher.store.videos_under([folder]).items()}
    os.rename(folder / "a.mp4", folder / "a2.mp4")
    watcher.handle(FileMovedEvent(str(folder / "a.mp4"), str(folder / "a2.mp4")))
    os.rename(folder / "trip", folder / "holiday")
    watcher.handle(DirMovedEvent(str(folder / "trip"), str(folder / "holiday")))
    # watchdog echoes each file of a moved folder as its own move: harmless
    watcher.handle(FileMovedEvent(str(folder / "trip/b.mp4"), str(folder / "holiday/b.mp4")))
    clock.now += 5
    watcher.process_settled()
    watcher.process_settled()
    after = {path: record.id for path, record in watcher.store.videos_under([folder]).items()}
    assert after == {
        str(folder / "a2.mp4"): ids[str(folder / "a.mp4")],
        str(folder / "holiday/b.mp4"): ids[str(folder / "trip/b.mp4")],
        str(folder / "holiday/c.mp4"): ids[str(folder / "trip/c.mp4")],
    }
    assert len(indexer.calls) == 1  # the setup's own call only
    assert watcher.report.moved == 3
    os.remove(folder / "a2.mp4")
    watcher.handle(FileDeletedEvent(str(folder / "a2.mp4")))
    assert watcher.store.get_video(str(folder / "a2.mp4")) is None


# --- the real observer on real folders, with the tiny model -------------------------------


class Running:
    """A Watcher on a background thread, an encoder-call counter and a separate reader."""

    def __init__(self, folder: Path, settle: float, poll: float | None = None) -> None:
        from vidsearch.model import load_model

        self.db = config.default_db_path()
        self.model = load_model(None, device="cpu")
        self.frames_encoded = 0
        self.indexed: Counter[str] = Counter()
        self._count_encoder_calls()
        self.store = open_store(self.db)
        self.indexer = Indexer(self.store, self.model)
        self._count_index_jobs()
        self.watcher = Watcher(self.indexer, [folder], settle=settle, poll=poll)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.watcher.ready.is_set() or self.error, "the initial sync")
        assert self.error is None, self.error
        self.reader = open_store(self.db)

    def _count_encoder_calls(self) -> None:
        embed = self.model.embed_frames

        def counting(frames, *args, **kwargs):
            self.frames_encoded += len(frames)
            return embed(frames, *args, **kwargs)

        self.model.embed_frames = counting

    def _count_index_jobs(self) -> None:
        index_files = self.indexer.index_files

        def counting(states, report=None):
            self.indexed.update(state.path for state in states)
            return index_files(states, report)

        self.indexer.index_files = counting

    def _run(self) -> None:
        try:
            self.watcher.run_forever(self.stop)
        except BaseException as exc:  # handed to the test thread, which fails with it
            self.error = exc

    def ok_paths(self) -> set[str]:
        return {path for path, record in self.reader.videos_under([Path("/")]).items()
                if record.status == "ok"}

    def wait_until_idle(self) -> None:
        """Every queued event handled and nothing left waiting to settle."""
        wait_for(lambda: self.watcher._events.empty() and not self.watcher.pending
                 and not self.watcher.indexing, "the watcher to go idle")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=DEADLINE)
        assert not self.thread.is_alive(), "the watcher did not stop"
        self.reader.close()
        self.store.close()
        assert self.error is None, self.error


@pytest.fixture
def start_watch(tiny_model):
    running: list[Running] = []

    def start(folder: Path, settle: float = SETTLE, poll: float | None = None) -> Running:
        running.append(Running(folder, settle, poll))
        return running[-1]

    yield start
    for watch in running:
        watch.close()


@pytest.mark.slow
def test_a_slow_copy_is_indexed_once_after_it_ends(tmp_path, video_cache, start_watch):
    folder = tmp_path / "inbox"
    folder.mkdir()
    # A generous settle time against chunk gaps: a slow CI machine must not look like a
    # finished copy.
    watch = start_watch(folder, settle=1.0)
    data = (video_cache / "alpha.mp4").read_bytes()
    target = folder / "alpha.mp4"
    chunks = 8
    with open(target, "wb") as out:
        for number in range(chunks):
            out.write(data[len(data) * number // chunks: len(data) * (number + 1) // chunks])
            out.flush()
            time.sleep(0.12)
            assert watch.reader.get_video(str(target)) is None, "taken while being copied"
    wait_for(lambda: watch.reader.get_video(str(target)) is not None, "the copied file")
    record = watch.reader.get_video(str(target))
    assert (record.status, record.size) == ("ok", len(data))
    watch.wait_until_idle()
    assert watch.indexed == {str(target): 1}
    assert watch.frames_encoded == 23  # alpha: 23 s at 1 fps, encoded once


@pytest.mark.slow
def test_renamed_files_and_moved_folders_keep_their_vectors(library, start_watch):
    watch = start_watch(library)
    assert watch.ok_paths() == {str(library / "alpha.mp4"), str(library / "trip/beta.mp4"),
                                str(library / "trip/gamma.mp4")}
    encoded = watch.frames_encoded
    ids = {p: r.id for p, r in watch.reader.videos_under([library]).items()}
    os.rename(library / "alpha.mp4", library / "alpha-renamed.mp4")
    (library / "archive" / "2024").mkdir(parents=True)
    os.rename(library / "trip", library / "archive" / "2024" / "trip")
    expected = {
        str(library / "alpha-renamed.mp4"): ids[str(library / "alpha.mp4")],
        str(library / "archive/2024/trip/beta.mp4"): ids[str(library / "trip/beta.mp4")],
        str(library / "archive/2024/trip/gamma.mp4"): ids[str(library / "trip/gamma.mp4")],
    }
    wait_for(lambda: {p: r.id for p, r in watch.reader.videos_under([library]).items()}
             == expected, "the store to follow the rename and the folder move")
    watch.wait_until_idle()
    assert watch.frames_encoded == encoded, "a moved video was embedded again"
    assert watch.reader.check_integrity() == []


@pytest.mark.slow
def test_deleted_files_and_folders_leave_the_store(library, start_watch):
    watch = start_watch(library)
    os.remove(library / "alpha.mp4")
    wait_for(lambda: watch.reader.get_video(str(library / "alpha.mp4")) is None, "alpha gone")
    shutil.rmtree(library / "trip")
    wait_for(lambda: watch.ok_paths() == set(), "the trip folder's videos gone")
    assert watch.reader.stats().clips == 0
    assert watch.reader.check_integrity() == []


@pytest.mark.slow
def test_an_event_storm_indexes_every_file_exactly_once(tmp_path, start_watch):
    staging = tmp_path / "staging"
    staging.mkdir()
    sources = [make_video(staging / f"storm{n:02d}.mp4", seconds=2, fps=5, seed=100 + n)
               for n in range(15)]
    folder = tmp_path / "inbox"
    folder.mkdir()
    watch = start_watch(folder)
    for source in sources:
        shutil.copy(source, folder / source.name)
    expected = {str(folder / source.name) for source in sources}
    wait_for(lambda: watch.ok_paths() == expected, "all 15 files indexed")
    watch.wait_until_idle()
    assert watch.indexed == Counter({path: 1 for path in expected})
    assert watch.frames_encoded == 15 * 2
    assert watch.watcher.report.indexed == 15


@pytest.mark.slow
def test_a_broken_file_is_recorded_and_watching_goes_on(tmp_path, video_cache, start_watch):
    folder = tmp_path / "inbox"
    folder.mkdir()
    watch = start_watch(folder)
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    wait_for(lambda: watch.reader.get_video(str(folder / "broken.mp4")) is not None,
             "the broken file recorded")
    record = watch.reader.get_video(str(folder / "broken.mp4"))
    assert record.status == "error" and record.error
    shutil.copy(video_cache / "gamma.mp4", folder / "gamma.mp4")
    wait_for(lambda: watch.ok_paths() == {str(folder / "gamma.mp4")}, "the next file indexed")
    assert watch.watcher.report.failed == 1


@pytest.mark.slow
def test_polling_follows_new_moved_and_deleted_files(tmp_path, video_cache, start_watch):
    """--poll (network shares): watchdog compares snapshots, so events come in other shapes."""
    folder = tmp_path / "share"
    (folder / "sub").mkdir(parents=True)
    watch = start_watch(folder, poll=0.2)
    shutil.copy(video_cache / "beta.mp4", folder / "sub" / "beta.mp4")
    wait_for(lambda: watch.ok_paths() == {str(folder / "sub/beta.mp4")}, "the new file")
    encoded = watch.frames_encoded
    os.rename(folder / "sub", folder / "moved")
    wait_for(lambda: watch.ok_paths() == {str(folder / "moved/beta.mp4")}, "the folder move")
    watch.wait_until_idle()
    assert watch.frames_encoded == encoded, "a moved video was embedded again"
    shutil.rmtree(folder / "moved")
    wait_for(lambda: watch.ok_paths() == set(), "the deleted folder's video gone")


@pytest.mark.slow
def test_find_and_status_answer_while_watch_indexes(library, video_cache, start_watch):
    watch = start_watch(library)
    feeding = threading.Event()
    fed: list[Path] = []

    def feed() -> None:
        while not feeding.is_set() and len(fed) < 40:
            fed.append(library / f"new{len(fed):02d}.mp4")
            shutil.copy(video_cache / "gamma.mp4", fed[-1])
            time.sleep(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    before = watch.watcher.report.indexed
    feeder.start()
    try:
        readers = [_popen_cli("find", "a red square", "--json"), _popen_cli("status")]
        results = [reader.communicate(timeout=120) for reader in readers]
        indexed_meanwhile = watch.watcher.report.indexed - before
    finally:
        feeding.set()
        feeder.join(timeout=DEADLINE)
    for reader, (out, err) in zip(readers, results):
        assert reader.returncode == 0, err
        assert "busy" not in err and "locked" not in err, err
    assert '"hits"' in results[0][0]
    assert indexed_meanwhile > 0, "the readers did not overlap any indexing"
    wait_for(lambda: watch.ok_paths() >= {str(path) for path in fed}, "the fed files indexed")


# --- the command itself ---------------------------------------------------------------------


def _popen_cli(*args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidsearch", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=stderr, env=dict(os.environ))


class WatchProcess:
    """`vidsearch watch` as a user runs it, with its log lines collected as they come."""

    def __init__(self, folder: Path, settle: float = SETTLE) -> None:
        self.proc = _popen_cli("watch", str(folder), "--settle", str(settle))
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        wait_for(lambda: any(text in line for line in self.lines) or self.proc.poll() is not None,
                 f"a log line with {text!r}", timeout)
        assert any(text in line for line in self.lines), "".join(self.lines)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=DEADLINE)
        self.reader.join(timeout=DEADLINE)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watch_process():
    started: list[WatchProcess] = []

    def start(folder: Path) -> WatchProcess:
        started.append(WatchProcess(folder))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def _stored_videos(folder: Path) -> dict[str, tuple[int, int]]:
    """path -> (frames, clips) of every ok video, checking the store's invariants first."""
    with open_store(config.default_db_path(), create=False) as store:
        assert store.check_integrity() == []
        found = {}
        for path, record in store.videos_under([folder]).items():
            assert record.status == "ok", (path, record.error)
            times, _ = store.frame_vectors(record.id)
            found[path] = (len(times), len(store.clips_of_video(record.id)))
        return found


@pytest.mark.slow
def test_sigterm_mid_batch_keeps_whole_videos_and_the_restart_completes_holding_the_lock(
        tmp_path, tiny_model, watch_process):
    """One test for both, because each `vidsearch watch` start costs seconds of imports: the
    restarted watch is also the writer that a second writer must be refused by."""
    # Many frames each, so a signal right after the first video lands mid-batch.
    source = make_video(tmp_path / "long.mp4", seconds=300, fps=2, seed=7)
    folder = tmp_path / "inbox"
    folder.mkdir()
    first = watch_process(folder)
    first.wait_for_line("watching")
    copies = [folder / f"long{n:02d}.mp4" for n in range(8)]
    for copy in copies:
        shutil.copy(source, copy)
    first.wait_for_line(f"indexed {folder}")
    assert first.terminate() == 0, "".join(first.lines)
    assert any("interrupted while indexing" in line for line in first.lines), "".join(first.lines)
    stored = _stored_videos(folder)
    assert 0 < len(stored) < len(copies), "the signal did not land during indexing"
    assert set(stored.values()) == {(300, 59)}, "a partly stored video"

    second = watch_process(folder)
    second.wait_for_line("watching")
    assert _stored_videos(folder) == {str(copy): (300, 59) for copy in copies}

    # A second writer is refused, naming the watch's pid; readers still work. All at once:
    # `index` loads its model before it asks for the lock.
    others = {command: _popen_cli(command, str(folder)) for command in ("watch", "index")}
    others["status"] = _popen_cli("status")
    results = {command: (proc.communicate(timeout=120)[1], proc.returncode)
               for command, proc in others.items()}
    for command in ("watch", "index"):
        err, code = results[command]
        assert code == 3, err
        assert "busy" in err and f"pid {second.proc.pid}" in err, err
    err, code = results["status"]
    assert code == 0, err
    assert second.terminate() == 0, "".join(second.lines)
