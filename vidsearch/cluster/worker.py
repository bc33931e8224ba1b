"""One Ray worker: loads the run's model by fingerprint, then decodes and encodes whole videos.

A worker encodes a video exactly as a local run does, by running the local `Indexer` on it: the
same `FrameSampler` plan, precision choice, batching and clip windows; only the last step
differs, the result going back to the driver instead of into a library. The worker never opens
the library: the driver is its only writer.

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
    weights: object | None  # an object-store reference to the file's bytes, or None
    device: str  # "auto", "cpu" or "cuda": as the user asked, decided on each worker
    precision: str  # as the user asked ("auto": each worker runs its own check)


@dataclass(frozen=True)
class Hello:
    """A worker's answer once started: where it runs, and whether it has the model."""

    node: str  # host name and Ray node id prefix
    pid: int
    device: str
    refused: str | None  # why it cannot encode with the run's model, or None


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
                 threads: int) -> None:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        self.node = f"{socket.gethostname()}/{node_id[:8]}"
        self.options = options
        # This machine's own mount points win over the run's map.
        self.path_map = path_map.then(PathMap.parse(config.worker_path_map()))
        self.model = None
        self.refused: str | None = None
        self.device = spec.device
        try:
            self.model = _load(spec, threads)
            self.device = self.model.device
        except VidsearchError as exc:
            self.refused = exc.message

    def hello(self) -> Hello:
        return Hello(self.node, os.getpid(), self.device, self.refused)

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


def _load(spec: ModelSpec, threads: int):
    """The run's model, from this machine's own weights or the shipped copy, whichever has the
    run's fingerprint; anything else is refused."""
    import torch

    from vidsearch.model.factory import load_located, pick_autocast, pick_device
    from vidsearch.model.locate import LocatedModel

    # The face of this process: it decides the thread count (one per CPU Ray gave the actor,
    # not every core of a machine other workers share).
    torch.set_num_threads(max(1, threads))
    path = _weights_with(spec)
    device = pick_device(spec.device)
    pick_autocast(spec.precision, device)
    model = load_located(LocatedModel(spec.card, path, spec.fingerprint), device=device,
                         precision=spec.precision, text=False)
    if model.fingerprint != spec.fingerprint:
        raise VidsearchError(f"{path}: the weights changed while loading")
    return model


def _weights_with(spec: ModelSpec) -> Path:
    from vidsearch.model.locate import compute_fingerprint
    from vidsearch.model.weights import resolve_weights, weights_fingerprint

    def fits(path: Path) -> bool:
        return compute_fingerprint(spec.card, weights_fingerprint(path)) == spec.fingerprint

    own: Path | None = None
    try:
        own = resolve_weights(_own_card(spec.card), offline=True)
    except VidsearchError:
        pass
    if own is not None and fits(own):
        return own
    shipped = config.cache_dir() / "cluster" / spec.fingerprint / spec.weights_name
    if shipped.is_file() and fits(shipped):
        return shipped
    if spec.weights is not None:
        import ray

        data = ray.get(spec.weights)
        shipped.parent.mkdir(parents=True, exist_ok=True)
        partial = shipped.with_name(f".{shipped.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, shipped)
        if fits(shipped):
            return shipped
        raise VidsearchError(f"the weights sent for {spec.card.name} do not have the run's "
                             f"fingerprint {spec.fingerprint}")
    found = f"{own} has other weights" if own is not None else "no weights here"
    raise VidsearchError(f"model {spec.card.name}: {found}, not fingerprint {spec.fingerprint}")


def _own_card(card: ModelCard) -> ModelCard:
    """This machine's card of the same name (its own model folder), else the driver's."""
    from vidsearch.model.cards import load_card

    try:
        return load_card(card.name)
    except VidsearchError:
        return card
