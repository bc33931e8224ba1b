"""One Ray worker: loads the run's model by fingerprint, then decodes and encodes whole videos.

A worker encodes a video exactly as a local run does, by running the local `Indexer` on it: the
same `FrameSampler` plan, precision choice, batching and clip windows; only the last step
differs, the result going back to the driver instead of into a library. The worker never opens
the library: the driver is its only writer.

A worker may take several videos at once (a threaded actor: CUDA workers do, so that a GPU
gets batches across videos, as a local run's encoder does); their frames then share the model's
batches (`batching.SharedBatches`). Weights come from the worker's own cache when they have the
run's fingerprint; only a worker without them asks the driver, which then sends them once.

This module is imported in worker processes (and by the driver, for the class); Ray itself is
only touched through `ray.get_runtime_context`, inside methods.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from vidsearch import config
from vidsearch import scan as fs
from vidsearch.cluster.batching import SharedBatches
from vidsearch.cluster.paths import PathMap
from vidsearch.errors import VidsearchError
from vidsearch.indexer import EncodedVideo, Indexer, IndexOptions, IndexReport
from vidsearch.model.cards import ModelCard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the driver's model and nothing else."""

    card: ModelCard
    fingerprint: str
    weights_name: str  # the driver's file name (its suffix says its format)
    device: str  # "auto", "cpu" or "cuda": as the user asked, decided on each worker
    precision: str  # as the user asked ("auto": each worker runs its own check)


@dataclass(frozen=True)
class Hello:
    """A worker's answer once started: where it runs, and whether it has the model."""

    node: str  # host name and Ray node id prefix
    pid: int
    device: str
    refused: str | None  # why it cannot encode with the run's model, or None
    lacks_weights: str | None = None  # why its own weights will not do: send it the run's
    start_seconds: float = 0.0  # from its process's start to ready (imports, model load)
    load_seconds: float = 0.0  # of which loading the model (weights read, device set up)


@dataclass(frozen=True)
class VideoTask:
    number: int
    path: str  # as the driver names it
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Encoded:
    number: int
    video: EncodedVideo
    fingerprint: str
    busy_seconds: float


@dataclass(frozen=True)
class Unreadable:
    """This worker cannot see or read the file; another may."""

    number: int
    reason: str


@dataclass(frozen=True)
class Failed:
    """The file was read and could not be decoded: the same on any worker."""

    number: int
    reason: str


class VideoWorker:
    """A Ray actor (the driver wraps it with `ray.remote`), one per node."""

    def __init__(self, spec: ModelSpec, options: IndexOptions, path_map: PathMap,
                 threads: int, videos_at_once: int = 1) -> None:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        self.node = f"{socket.gethostname()}/{node_id[:8]}"
        self.spec, self.options, self.threads = spec, options, threads
        self.videos_at_once = videos_at_once
        # This machine's own mount points win over the run's map.
        self.path_map = path_map.then(PathMap.parse(config.worker_path_map()))
        self.model = None
        self.refused: str | None = None
        self.lacks: str | None = None
        self.device = spec.device
        self.load_seconds = 0.0
        try:
            path = _own_weights(spec)
            self._load(path)
        except _LacksWeights as exc:
            self.lacks = str(exc)
        except VidsearchError as exc:
            self.refused = exc.message

    def hello(self) -> Hello:
        return Hello(self.node, os.getpid(), self.device, self.refused, self.lacks,
                     _process_age(), self.load_seconds)

    def receive_weights(self, data: bytes) -> Hello:
        """The run's weights, sent by the driver because this machine has none that fit."""
        try:
            self._load(_store_shipped(self.spec, data))
            self.lacks = None
        except VidsearchError as exc:
            self.refused = exc.message
        return self.hello()

    def _load(self, path: Path) -> None:
        started = time.monotonic()
        model = _load(self.spec, path, self.threads)
        if self.videos_at_once > 1:
            batch = self.options.batch_size or (128 if model.device == "cuda" else 32)
            model = SharedBatches(model, batch)
        self.model, self.device = model, model.device
        self.load_seconds = time.monotonic() - started

    def batch_stats(self):
        """How the videos taken at once shared the model's batches (None: one at a time)."""
        return self.model.stats if isinstance(self.model, SharedBatches) else None

    def encode(self, task: VideoTask) -> Encoded | Unreadable | Failed:
        started = time.monotonic()
        path = self.path_map.apply(task.path)
        where = "" if path == task.path else f" (as {path})"
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            return Unreadable(task.number, f"cannot read the file on {self.node}{where}: "
                                           f"{exc.strerror or exc}")
        if size != task.size:
            return Unreadable(task.number, f"the file on {self.node}{where} is {size} bytes, "
                                           f"not {task.size}: another file or a partial copy")
        collector = _Collect(self.model, self.options)
        state = fs.FileState(path, size, task.mtime_ns)
        if isinstance(self.model, SharedBatches):
            with self.model.encoding_a_video():
                collector.index_files([state])
        else:
            collector.index_files([state])
        if collector.encoded is None:
            return Failed(task.number, collector.failure or "no result")
        return Encoded(task.number, collector.encoded, self.model.fingerprint,
                       time.monotonic() - started)


class _Collect(Indexer):
    """The local indexer, keeping its one video's result instead of writing it."""

    def __init__(self, model, options: IndexOptions) -> None:
        super().__init__(store=None, model=model, options=options)
        self.encoded: EncodedVideo | None = None
        self.failure: str | None = None

    def _store_video(self, job, encoded: EncodedVideo, report: IndexReport) -> None:
        self.encoded = encoded

    def _fail(self, job, reason: str, report: IndexReport) -> None:
        self.failure = reason


class _LacksWeights(Exception):
    """This machine has no weights with the run's fingerprint (the message says what it has)."""


def _load(spec: ModelSpec, path: Path, threads: int):
    """The run's model from `path`, which has the run's fingerprint."""
    import torch

    from vidsearch.model.factory import load_located, pick_autocast, pick_device
    from vidsearch.model.locate import LocatedModel

    # The face of this process: it decides the thread count (one per CPU Ray gave the actor,
    # not every core of a machine other workers share).
    torch.set_num_threads(max(1, threads))
    device = pick_device(spec.device)
    pick_autocast(spec.precision, device)
    model = load_located(LocatedModel(spec.card, path, spec.fingerprint), device=device,
                         precision=spec.precision, text=False)
    if model.fingerprint != spec.fingerprint:
        raise VidsearchError(f"{path}: the weights changed while loading")
    return model


def _fits(spec: ModelSpec, path: Path) -> bool:
    from vidsearch.model.locate import compute_fingerprint
    from vidsearch.model.weights import weights_fingerprint

    return compute_fingerprint(spec.card, weights_fingerprint(path)) == spec.fingerprint


def _shipped_path(spec: ModelSpec) -> Path:
    return config.cache_dir() / "cluster" / spec.fingerprint / spec.weights_name


def _own_weights(spec: ModelSpec) -> Path:
    """This machine's weights with the run's fingerprint: its own model's, or a copy an earlier
    run sent; `_LacksWeights` (saying what it has instead) when neither fits."""
    from vidsearch.model.weights import resolve_weights

    own: Path | None = None
    try:
        own = resolve_weights(_own_card(spec.card), offline=True)
    except VidsearchError:
        pass
    if own is not None and _fits(spec, own):
        return own
    shipped = _shipped_path(spec)
    if shipped.is_file() and _fits(spec, shipped):
        return shipped
    found = f"{own} has other weights" if own is not None else "no weights here"
    raise _LacksWeights(f"model {spec.card.name}: {found}, not fingerprint {spec.fingerprint}")


def _store_shipped(spec: ModelSpec, data: bytes) -> Path:
    """The driver's copy of the weights, kept in this machine's cache for later runs."""
    shipped = _shipped_path(spec)
    shipped.parent.mkdir(parents=True, exist_ok=True)
    partial = shipped.with_name(f".{shipped.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, shipped)
    if not _fits(spec, shipped):
        raise VidsearchError(f"the weights sent for {spec.card.name} do not have the run's "
                             f"fingerprint {spec.fingerprint}")
    return shipped


def _process_age() -> float:
    """Seconds since this process started (Linux's /proc; 0 where there is none)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _own_card(card: ModelCard) -> ModelCard:
    """This machine's card of the same name (its own model folder), else the driver's."""
    from vidsearch.model.cards import load_card

    try:
        return load_card(card.name)
    except VidsearchError:
        return card
