"""Bring the store in line with the folders: scan, diff, decode -> encode -> store.

Decoding runs in worker threads (decord and PyAV release the GIL) feeding a bounded queue; the
encoder takes frames from several videos per batch; each video is written in one transaction
once all its frames are encoded. A video that fails is recorded with its reason and the run
goes on.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidsearch import scan as fs
from vidsearch import video
from vidsearch.display import count
from vidsearch.errors import DecodeError
from vidsearch.index_progress import Coverage, Progress, SilentProgress
# What a run is asked and gives back; importable from here, where callers look for them.
from vidsearch.index_results import EncodedVideo, IndexOptions, IndexReport  # noqa: F401
from vidsearch.repeats import RepeatSkipper
from vidsearch.store import Store, VideoMeta
from vidsearch.windows import plan_windows

if TYPE_CHECKING:
    from vidsearch.model.protocols import FrameEncoder

log = logging.getLogger(__name__)


@dataclass
class _Job:
    state: fs.FileState
    content_hash: str | None
    number: int = -1  # its place in the run (`Coverage`); -1: failed before the run began
    info: video.VideoInfo | None = None
    times: list[np.ndarray] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    pending: list[np.ndarray] = field(default_factory=list)  # frames decoded, not yet encoded
    pending_sampled: int = 0  # the sampled frames `pending` stands for (repeats left out)
    repeats: RepeatSkipper = field(default_factory=RepeatSkipper)
    encoded: int = 0  # frames that went through the encoder
    left_context: np.ndarray | None = None  # for 3D patches: last frame already encoded
    decoded: bool = False
    strategy: str = ""


# What a decoder thread tells the encoding thread about job `number`, in order: any number of
# `_Frames`, then exactly one of `_Done`, `_Stopped` or `_Failed`.


@dataclass(frozen=True)
class _Frames:
    number: int
    frames: np.ndarray


@dataclass(frozen=True)
class _Done:
    number: int


@dataclass(frozen=True)
class _Stopped:
    """Asked to stop: the video is neither stored nor a failure; the next run sees it as new."""

    number: int


@dataclass(frozen=True)
class _Failed:
    number: int
    reason: str


class Indexer:
    """Indexes files into `store` with `model` (a `VideoTextModel` or `ModelOnDemand`)."""

    def __init__(self, store: Store, model: FrameEncoder, options: IndexOptions | None = None,
                 progress: Progress | None = None) -> None:
        self.store = store
        self.model = model
        self.options = options or IndexOptions()
        self.options.validate()
        self.progress = progress or SilentProgress()
        self.stop_event = threading.Event()
        self.batch_size = self.options.batch_size or (128 if model.device == "cuda" else 32)
        self._coverage = Coverage([], self.options.fps)

    # --- the whole-library flow ------------------------------------------------------------

    def sync(self, roots: Iterable[Path]) -> IndexReport:
        """Index new and changed videos under `roots`, drop vanished ones, follow renames."""
        started = time.monotonic()
        roots = [Path(os.path.abspath(root)) for root in roots]
        self.store.prepare_for_model(self.model.fingerprint, self.model.card.name,
                                     self.model.embed_dim)
        report = IndexReport()
        unreadable: list[tuple[str, str]] = []
        stored = self.store.videos_under(roots)
        on_disk: dict[str, fs.FileState] = {}
        for state in fs.scan(roots, video.is_video_file,
                             lambda path, reason: unreadable.append((path, reason))):
            on_disk[state.path] = state
        # A folder or link that cannot be read may hide videos, so it fails the run; it is
        # not a video, so it is reported rather than stored.
        report.failed.extend(unreadable)
        unreadable_paths = [path for path, _ in unreadable]

        to_index: list[fs.FileState] = []
        kept: list[str] = []
        for path, state in on_disk.items():
            record = stored.get(path)
            if fs.is_unchanged(record, state) and not _could_not_read(record):
                report.skipped += 1
                report.skipped_paths.append(path)
                if record.status == "error":
                    report.previously_failed += 1
                kept.append(path)
                continue
            if fs.keep_if_touched(self.store, record, state):
                report.skipped += 1
                kept.append(path)
                continue
            to_index.append(state)
        undated = self.store.undated_paths().intersection(kept)  # dated from tags, see m008
        if undated:
            self.store.set_recording_times({p: video.recorded_at(p) for p in sorted(undated)})

        gone = [
            path for path in stored
            if path not in on_disk and not fs.is_under_any(path, unreadable_paths)
        ]
        to_index = self._follow_renames(to_index, gone, report)
        report.removed.extend(gone)
        self.store.remove_videos(gone)
        for path in gone:
            log.info("removed %s (no longer on disk)", path)

        self.index_files(to_index, report)
        report.elapsed = time.monotonic() - started
        return report

    def _follow_renames(self, candidates, gone: list[str], report: IndexReport):
        """Files that are a vanished file under a new name keep their vectors."""
        if not gone:
            # Only a vanished file can have been renamed, and a rename inside the roots leaves
            # one behind: with none, the candidates need not be hashed twice.
            return candidates
        remaining = []
        for state in candidates:
            old_path = follow_rename(self.store, state)
            if old_path is None:
                remaining.append(state)
                continue
            if old_path in gone:
                gone.remove(old_path)
            report.moved.append((old_path, state.path))
        return remaining

    # --- the pipeline ----------------------------------------------------------------------

    def index_files(self, states: list[fs.FileState], report: IndexReport | None = None
                    ) -> IndexReport:
        """Decode, encode and store each file; failures are recorded, not raised."""
        report = report or IndexReport()
        jobs, unreadable, durations = [], [], []
        for state in states:
            try:
                digest = fs.content_hash(state.path, state.size)
            except OSError as exc:
                unreadable.append((_Job(state, None), f"cannot read the file: "
                                                      f"{exc.strerror or exc}"))
                continue
            jobs.append(_Job(state, digest, number=len(jobs)))
            durations.append(_probed_duration(state.path))
        self._coverage = Coverage(durations, self.options.fps)
        self.progress.start(len(states), self._coverage.total)
        for job, reason in unreadable:
            self._fail(job, reason, report)
        if jobs:
            self._run_pipeline(jobs, report)
        return report

    def _run_pipeline(self, jobs: list[_Job], report: IndexReport) -> None:
        # A model loaded on demand starts loading here; one that cannot load stops the run
        # at the first frame to encode (in this thread) instead of failing every video.
        frame_size = self.model.image_size
        workers = self.options.decode_workers or max(1, min(len(jobs), os.cpu_count() or 1))
        chunks: queue.Queue = queue.Queue(maxsize=self.options.lookahead_chunks)
        open_jobs = set(range(len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            for number, job in enumerate(jobs):
                pool.submit(self._decode_into, number, job, chunks, frame_size)
            try:
                while open_jobs:
                    try:
                        message = chunks.get(timeout=0.05 if any(j.pending for j in jobs) else None)
                    except queue.Empty:
                        self._encode_pending(jobs, final=False)
                        continue
                    job = jobs[message.number]
                    match message:
                        case _Frames(frames=frames):
                            self._queue_frames(job, frames)
                            if self._pending_count(jobs) >= self.batch_size:
                                self._encode_pending(jobs, final=False)
                        case _Done():
                            job.decoded = True
                            self._encode_pending(jobs, final=True, only=job)
                            self._finish(job, report)
                            open_jobs.discard(message.number)
                        case _Stopped():
                            job.pending.clear()
                            job.pending_sampled = 0
                            report.interrupted = True
                            open_jobs.discard(message.number)
                        case _Failed(reason=reason):
                            job.pending.clear()
                            job.pending_sampled = 0
                            self._fail(job, reason, report)
                            open_jobs.discard(message.number)
            except BaseException:
                # Ctrl-C or a store failure: tell the decoders to stop and let them drain, so the
                # pool can shut down; the video being written was one transaction, so the store
                # holds whole videos only.
                self.stop_event.set()
                _drain(chunks, pool)
                report.interrupted = True
                raise

    def _decode_into(self, number: int, job: _Job, chunks: queue.Queue, frame_size: int
                     ) -> None:
        try:
            if self.stop_event.is_set():
                chunks.put(_Stopped(number))
                return
            sampler = video.FrameSampler(job.state.path, size=frame_size,
                                         fps=self.options.fps,
                                         decoder=(video.Decoder.FAST if self.options.fast_decode
                                                  else video.Decoder.AUTO),
                                         skip_loop_filter=self.options.fast_decode)
            job.info = sampler.info
            for chunk in sampler:
                if self.stop_event.is_set():
                    chunks.put(_Stopped(number))
                    return
                job.times.append(chunk.timestamps)
                chunks.put(_Frames(number, chunk.frames))
            job.strategy = sampler.strategy or ""
            chunks.put(_Done(number))
        except DecodeError as exc:
            chunks.put(_Failed(number, exc.reason))  # the store keeps the path apart
        except OSError as exc:
            chunks.put(_Failed(number, f"cannot read the file: {exc.strerror or exc}"))
        except MemoryError:
            chunks.put(_Failed(number, "out of memory while decoding"))
        except Exception as exc:
            # A decoder bug must cost one file, not the run: the pipeline waits for a last
            # message from every job, so an exception left in the pool would hang it.
            log.debug("unexpected error decoding %s", job.state.path, exc_info=True)
            chunks.put(_Failed(number,
                               f"unexpected error while decoding ({type(exc).__name__}: {exc})"))

    def _queue_frames(self, job: _Job, frames: np.ndarray) -> None:
        job.pending_sampled += len(frames)
        # A frame seen on its own (2d) that repeats the one before reuses its vector.
        job.pending.append(job.repeats.distinct(frames) if self.model.temporal_context == 0
                           else frames)

    @staticmethod
    def _pending_count(jobs: list[_Job]) -> int:
        return sum(len(frames) for job in jobs for frames in job.pending)

    def _encode_pending(self, jobs: list[_Job], *, final: bool, only: _Job | None = None) -> None:
        """Encode decoded frames: batches across videos (2D), or per video in order (3D)."""
        if self.model.temporal_context == 0:
            self._encode_across_videos(jobs)
        else:
            for job in [only] if only else jobs:
                self._encode_sequence(job, final=final and job is only)

    def _encode_across_videos(self, jobs: list[_Job]) -> None:
        owners: list[tuple[_Job, int, int]] = []  # job, frames to encode, frames sampled
        batch = []
        for job in jobs:
            if not job.pending_sampled:
                continue
            owners.append((job, job.repeats.outstanding, job.pending_sampled))
            batch.extend(job.pending)
            job.pending.clear()
            job.pending_sampled = 0
        if not owners:
            return
        frames = np.concatenate(batch)
        vectors = (self.model.embed_frames(frames) if len(frames)
                   else np.zeros((0, self.model.embed_dim), np.float32))
        offset = 0
        for job, encoded, sampled in owners:
            job.vectors.append(job.repeats.expand(vectors[offset:offset + encoded]))
            offset += encoded
            job.encoded += encoded
            self._coverage.encoded(job.number, sampled)
        self.progress.advanced(self._coverage.done)

    def _encode_sequence(self, job: _Job, *, final: bool) -> None:
        """3D patches see each frame's neighbours, so frames go in order, one video at a time.

        The last frame of each batch is held back (it is the right-hand context of the frame
        before it) until its own right neighbour is decoded or the video ends.
        """
        if not job.pending:
            return
        frames = np.concatenate(job.pending)
        job.pending.clear()
        job.pending_sampled = 0
        hold_back = 0 if final else 1
        if len(frames) <= hold_back:
            job.pending.append(frames)
            job.pending_sampled = len(frames)
            return
        sequence = frames if job.left_context is None else np.concatenate(
            [job.left_context[None], frames])
        left = 0 if job.left_context is None else 1
        vectors = self.model.embed_frames(sequence, context=(left, hold_back))
        job.vectors.append(vectors)
        job.encoded += len(vectors)
        job.left_context = frames[len(frames) - hold_back - 1]
        if hold_back:
            job.pending.append(frames[-hold_back:])
            job.pending_sampled = hold_back
        self.progress.advanced(self._coverage.encoded(job.number, len(vectors)))

    def _finish(self, job: _Job, report: IndexReport) -> None:
        times = np.concatenate(job.times) if job.times else np.zeros(0)
        vectors = np.concatenate(job.vectors) if job.vectors else np.zeros((0, 0), np.float32)
        job.times, job.vectors = [], []
        if times.size == 0:
            self._fail(job, "no frames could be decoded", report)
            return
        info = job.info
        windows = plan_windows(times, info.duration, self.options.window, self.options.stride)
        clip_vectors = self.model.aggregate([vectors[w.frame_indices] for w in windows])
        duration = max(info.duration, float(times[-1]))
        self._store_video(job, EncodedVideo(
            meta=VideoMeta(duration, info.fps, info.width, info.height, job.strategy),
            frame_times=times,
            frame_vectors=vectors,
            clip_spans=[(w.start, w.end) for w in windows],
            clip_vectors=clip_vectors,
            recorded_at=video.recorded_at(job.state.path),
            frames_encoded=job.encoded,
        ), report)

    def _store_video(self, job: _Job, encoded: EncodedVideo, report: IndexReport) -> None:
        """The one write of a video's vectors, whoever encoded them (`vidsearch.cluster` too)."""
        # A library that cannot be written (a full disk) raises a user error that ends the
        # run: every video already written is whole, and the next run goes on from there.
        self.store.write_video(
            job.state.path,
            size=job.state.size,
            mtime_ns=job.state.mtime_ns,
            content_hash=job.content_hash,
            meta=encoded.meta,
            frame_times=encoded.frame_times,
            frame_vectors=encoded.frame_vectors,
            clip_spans=encoded.clip_spans,
            clip_vectors=encoded.clip_vectors,
            recorded_at=encoded.recorded_at,
        )
        duration = encoded.meta.duration
        report.indexed.append(job.state.path)
        report.seconds_indexed += duration
        report.frames += len(encoded.frame_times)
        report.frames_encoded += encoded.frames_encoded
        log.info("indexed %s (%s, %s)", job.state.path, count(len(encoded.frame_times), "frame"),
                 count(len(encoded.clip_spans), "clip"))
        self.progress.advanced(self._coverage.whole(job.number))
        self.progress.video_finished(job.state.path, True)

    def _fail(self, job: _Job, reason: str, report: IndexReport) -> None:
        report.failed.append((job.state.path, reason))
        log.warning("failed %s: %s", job.state.path, reason)
        self.store.record_failure(job.state.path, size=job.state.size,
                                  mtime_ns=job.state.mtime_ns, error=reason,
                                  content_hash=job.content_hash)
        if job.number >= 0:
            self.progress.advanced(self._coverage.whole(job.number))
        self.progress.video_finished(job.state.path, False, reason)


def follow_rename(store: Store, state: fs.FileState) -> str | None:
    """If the file at `state` is a stored video under a new name, re-point its row (vectors
    kept) and return the old path; else None. Used by `index` and `watch` alike.

    The one rule: the stored video must be gone from disk (`fs.is_gone`). A copy leaves the
    original in place, and then both are videos of their own. The disk is asked rather than a
    scan's list of vanished paths, because that list knows only the folders being scanned and
    the watcher has none; and asked for a definite "no such file", because a folder that
    cannot be read only hides its files.
    """
    try:
        digest = fs.content_hash(state.path, state.size)
    except OSError:
        return None  # the indexer will record why it cannot read it
    match = store.find_by_content(digest, state.size)
    if match is None or match.path == state.path or not fs.is_gone(match.path):
        return None
    store.move_video(match.path, state.path, mtime_ns=state.mtime_ns)
    log.info("moved %s -> %s (same content, vectors kept)", match.path, state.path)
    return match.path


def _probed_duration(path: str) -> float:
    """How long the video is, for progress; 0 when probing fails: decoding probes again, fails
    the same way and records why for that file (even a decoder bug, hence any exception)."""
    try:
        return video.probe(path).duration
    except Exception:
        log.debug("cannot probe %s for progress", path, exc_info=True)
        return 0.0


def _could_not_read(record) -> bool:
    """A failure recorded before the file could be hashed: permissions, a vanished file, an
    I/O error. That says nothing about the content, so the file is tried again."""
    return record.status == "error" and record.content_hash is None


def _drain(chunks: queue.Queue, pool: ThreadPoolExecutor) -> None:
    """Empty the queue until the decoders have seen the stop flag and returned."""
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunks.get(timeout=0.1)
        except queue.Empty:
            if not any(t.name.startswith("decode") and t.is_alive()
                       for t in threading.enumerate()):
                return
