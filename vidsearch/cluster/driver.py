"""The driver of a cluster run: whole videos to Ray workers, their results into the library.

`ClusterIndexer` is the local `Indexer` (the same scan, diff, renames, removals, progress and
report) with the decode -> encode step done by one `VideoWorker` per Ray node instead of
threads here. This process stays the library's only writer: each result is written with the
local path's own write, one transaction per video, after its fingerprint is checked.

Faults cost one video's unfinished work: a worker that dies under a video is replaced on its
node (a bounded number of times) and the video goes back to the queue (a bounded number of
tries); a worker that cannot read a file says so and the file goes to a worker on another node,
failing only once every node has said it cannot. Each worker has a bounded number of videos in
hand (one on a CPU, `CUDA_VIDEOS_AT_ONCE` on a GPU, whose batches they share), and the driver
fetches and writes one result before it takes the next, so finished but unwritten videos never
number more than the workers' hands hold.

Weights travel only where needed: a worker first looks for the run's fingerprint in its own
cache, and the driver reads and sends the file (once per run, through Ray's object store) only
when a worker says it has none that fit.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from vidsearch import config
from vidsearch.cluster.paths import PathMap
from vidsearch.cluster.worker import (Encoded, Failed, Hello, ModelSpec, Unreadable,
                                      VideoTask, VideoWorker)
from vidsearch.errors import CannotRunError, first_line
from vidsearch.indexer import Indexer, IndexReport

if TYPE_CHECKING:
    from vidsearch.indexer import _Job

log = logging.getLogger(__name__)

LOCAL = "local"  # the address that starts a Ray of its own on this machine
# Videos a CUDA worker takes at once: enough that a GPU's batches fill across short videos and
# its node's cores decode side by side, few enough that a dead worker costs little.
CUDA_VIDEOS_AT_ONCE = 4
_POLL_SECONDS = 0.5  # how often the loop looks up from waiting (a Ctrl-C is seen at once)


@dataclass(frozen=True)
class ClusterOptions:
    address: str = "auto"  # a Ray address: "auto", "HOST:PORT", or LOCAL
    path_map: PathMap = PathMap()
    device: str = "auto"  # each worker: CUDA where its node has a GPU
    precision: str = "auto"
    ship_weights: bool = True  # through the object store, to workers without the same file
    # Videos each worker takes at once (their frames share its batches); 0: by its device,
    # CUDA_VIDEOS_AT_ONCE on a GPU, one on a CPU (where one video already uses every core).
    videos_per_worker: int = 0
    max_tries: int = 3  # workers a video may see die under it before it is recorded as failed
    replacements_per_node: int = 2  # new workers on a node after its worker dies
    start_timeout: float = 600.0  # seconds for the workers to load the model
    # Hand out no video before this many workers are ready (while more are starting): with
    # 1, the first worker up starts at once and a slow node joins when it can.
    min_workers: int = 1


@dataclass
class WorkerStats:
    """What one worker did in this run (its node and process, for the user)."""

    node: str
    pid: int
    device: str
    start_seconds: float = 0.0  # from its process's start to ready
    load_seconds: float = 0.0  # of which loading the model
    videos_at_once: int = 1
    videos: int = 0
    video_seconds: float = 0.0
    busy_seconds: float = 0.0
    lost: int = 0  # videos it died under
    handed_over: int = 0  # videos it could not read, sent to another node

    @property
    def rate(self) -> float:
        """Video-seconds encoded per second of its busy time."""
        return self.video_seconds / self.busy_seconds if self.busy_seconds else 0.0


class ClusterEvents(Protocol):
    """Who watches the workers (the CLI's progress, tests) hears when each gets a video."""

    def assigned(self, worker: WorkerStats, path: str) -> None: ...

    def finished(self, worker: WorkerStats, path: str, ok: bool) -> None: ...


class _NoEvents:
    def assigned(self, worker: WorkerStats, path: str) -> None:
        pass

    def finished(self, worker: WorkerStats, path: str, ok: bool) -> None:
        pass


@dataclass(eq=False)
class _Worker:
    actor: object
    node_id: str
    cpus: int
    gpus: int
    hands: int  # the most videos it may hold (its actor's concurrency)
    started: float = field(default_factory=time.monotonic)
    stats: WorkerStats | None = None  # None until it has said hello
    in_hand: int = 0
    stopped: bool = False  # by the driver (refused, too slow to start, the run's end)
    died: bool = False  # under a video; it is replaced once, whatever it had in hand


@dataclass
class _Tries:
    died: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)  # node id -> why


class ClusterIndexer(Indexer):
    """An `Indexer` whose videos are decoded and encoded by Ray workers."""

    def __init__(self, store, model, options=None, progress=None, *,
                 cluster: ClusterOptions, events: ClusterEvents | None = None) -> None:
        super().__init__(store, model, options, progress)
        self.cluster = cluster
        self.events = events or _NoEvents()
        self.workers: list[WorkerStats] = []  # every worker that started, in order
        self.refused: list[tuple[str, str]] = []  # (node, why) for workers without the model
        self.weights_sent: list[str] = []  # nodes the run's weights file was sent to

    def _run_pipeline(self, jobs: list[_Job], report: IndexReport) -> None:
        ray = _import_ray()
        with _connected(ray, self.cluster.address):
            _Run(self, ray, jobs, report).run()


class _Run:
    """One pass over the jobs: the pool of workers and the queue of videos."""

    def __init__(self, indexer: ClusterIndexer, ray, jobs: list[_Job], report: IndexReport):
        self.indexer, self.ray, self.report = indexer, ray, report
        self.queue: deque[_Job] = deque(jobs)
        self.tries = {job.number: _Tries() for job in jobs}
        self.starting: dict[object, _Worker] = {}  # hello ref -> worker
        self.ready: list[_Worker] = []  # said hello with the run's model
        self.busy: dict[object, tuple[_Worker, _Job]] = {}  # task ref -> (worker, job)
        self.replaced: dict[str, int] = {}  # node id -> workers started there after a death
        self.spec = self._model_spec()
        self.weights_ref = None  # the weights in the object store, once a worker lacks them
        self.remote = ray.remote(VideoWorker)

    def run(self) -> None:
        try:
            for node in self._alive_nodes():
                self._start_worker(node["NodeID"], int(node["Resources"].get("CPU", 0)),
                                   int(node["Resources"].get("GPU", 0)))
            self._loop()
        except BaseException:
            # Ctrl-C or a store failure: every written video is whole; stop the workers so no
            # machine goes on encoding for a driver that is gone.
            self.report.interrupted = True
            self._stop_all()
            raise
        self._stop_all()

    # --- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        while self.queue or self.busy:
            self._assign()
            self._fail_unplaceable()
            if not self.busy and not self.starting:
                if self.queue:
                    raise self._no_workers()
                break
            self._give_up_on_slow_starts()
            waiting = list(self.busy) + list(self.starting)
            ready, _ = self.ray.wait(waiting, num_returns=1, timeout=_POLL_SECONDS)
            for ref in ready:
                if ref in self.starting:
                    self._greeted(ref, self.starting.pop(ref))
                else:
                    worker, job = self.busy.pop(ref)
                    self._returned(ref, worker, job)

    def _assign(self) -> None:
        if self.starting and len(self.ready) < self.cluster.min_workers:
            return
        for worker in self.ready:
            while worker.in_hand < worker.stats.videos_at_once:
                job = next((job for job in self.queue
                            if worker.node_id not in self.tries[job.number].unreadable), None)
                if job is None:
                    break
                self.queue.remove(job)
                worker.in_hand += 1
                task = VideoTask(job.number, job.state.path, job.state.size,
                                 job.state.mtime_ns)
                self.busy[worker.actor.encode.remote(task)] = (worker, job)
                self.indexer.events.assigned(worker.stats, job.state.path)

    def _fail_unplaceable(self) -> None:
        """A video every node with a worker has said it cannot read fails, with their reasons."""
        nodes = {worker.node_id for worker in self._workers()}
        for job in list(self.queue):
            unreadable = self.tries[job.number].unreadable
            if nodes and nodes <= set(unreadable):
                self.queue.remove(job)
                self.indexer._fail(job, "; ".join(unreadable[node] for node in sorted(nodes)),
                                   self.report)

    def _returned(self, ref, worker: _Worker, job: _Job) -> None:
        ray = self.ray
        worker.in_hand -= 1
        try:
            result = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            if worker.stopped:  # we stopped it: its video was not its fault
                self.queue.appendleft(job)
            else:
                self._died(worker, job, exc)
            return
        except ray.exceptions.RayTaskError as exc:
            # A bug, not the file: like a death, it costs one try of this video.
            self._retry_or_fail(job, f"the worker on {worker.stats.node} failed: "
                                     f"{first_line(exc.cause or exc)}")
            return
        stats = worker.stats
        match result:
            case Encoded():
                if result.fingerprint != self.indexer.model.fingerprint:
                    self._refuse(worker, f"it encoded with {result.fingerprint}")
                    self.queue.appendleft(job)
                    return
                self._check_library()
                self.indexer._store_video(job, result.video, self.report)
                stats.videos += 1
                stats.video_seconds += result.video.meta.duration
                stats.busy_seconds += result.busy_seconds
                self.indexer.events.finished(stats, job.state.path, True)
            case Unreadable(reason=reason):
                log.info("%s: %s; trying another node", job.state.path, reason)
                stats.handed_over += 1
                self.tries[job.number].unreadable[worker.node_id] = reason
                self.queue.appendleft(job)
            case Failed(reason=reason):
                self.indexer._fail(job, reason, self.report)
                self.indexer.events.finished(stats, job.state.path, False)

    def _died(self, worker: _Worker, job: _Job, exc: BaseException) -> None:
        """A worker died under `job`; its other videos in hand come here one by one, and each
        costs a try, but the worker is replaced once."""
        log.warning("the worker on %s (pid %d) stopped while encoding %s; trying it again",
                    worker.stats.node, worker.stats.pid, job.state.path)
        log.debug("worker death", exc_info=exc)
        worker.stats.lost += 1
        self._retry_or_fail(job, f"the workers encoding it stopped {self.cluster.max_tries} "
                                 f"times (last on {worker.stats.node})")
        if not worker.died:
            worker.died = True
            if worker in self.ready:
                self.ready.remove(worker)
            self._replace(worker)

    def _retry_or_fail(self, job: _Job, reason: str) -> None:
        tries = self.tries[job.number]
        tries.died += 1
        if tries.died >= self.cluster.max_tries:
            self.indexer._fail(job, reason, self.report)
        else:
            self.queue.appendleft(job)

    # --- workers -------------------------------------------------------------------------

    @property
    def cluster(self) -> ClusterOptions:
        return self.indexer.cluster

    def _workers(self) -> list[_Worker]:
        """Every worker started and not yet given up on (each once)."""
        seen = {id(worker): worker for worker in [*self.ready, *self.starting.values(),
                                                  *(worker for worker, _ in self.busy.values())]}
        return [worker for worker in seen.values() if not (worker.stopped or worker.died)]

    def _alive_nodes(self) -> list[dict]:
        return [node for node in self.ray.nodes()
                if node.get("Alive") and node["Resources"].get("CPU", 0) >= 1]

    def _start_worker(self, node_id: str, cpus: int, gpus: int) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        hands = self.cluster.videos_per_worker or (CUDA_VIDEOS_AT_ONCE if gpus else 1)
        actor = self.remote.options(
            num_cpus=cpus, num_gpus=min(gpus, 1), max_restarts=0, max_task_retries=0,
            max_concurrency=hands,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(self.spec, self.indexer.options, self.cluster.path_map, cpus, hands)
        worker = _Worker(actor, node_id, cpus, gpus, hands)
        self.starting[actor.hello.remote()] = worker

    def _give_up_on_slow_starts(self) -> None:
        """A worker that cannot start (its node full, its model load stuck) is not waited for
        past `start_timeout`: the others go on, and a run with none left says so."""
        now = time.monotonic()
        for ref, worker in list(self.starting.items()):
            if now - worker.started > self.cluster.start_timeout:
                log.warning("a worker on node %s did not start within %.0f s; going on "
                            "without it", worker.node_id[:8], self.cluster.start_timeout)
                del self.starting[ref]
                worker.stopped = True
                self.ray.kill(worker.actor)

    def _greeted(self, ref, worker: _Worker) -> None:
        try:
            hello: Hello = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            log.warning("a worker on node %s did not start: %s", worker.node_id[:8],
                        first_line(exc))
            worker.stopped = True
            self.ray.kill(worker.actor)
            return
        # A CPU worker takes one video at a time unless asked for more: one already uses
        # every core Ray gave it.
        at_once = (self.cluster.videos_per_worker
                   or (worker.hands if hello.device == "cuda" else 1))
        worker.stats = WorkerStats(hello.node, hello.pid, hello.device, hello.start_seconds,
                                   hello.load_seconds, min(at_once, worker.hands))
        if hello.lacks_weights and not hello.refused:
            if self.cluster.ship_weights:
                log.info("worker on %s: %s; sending the run's", hello.node, hello.lacks_weights)
                self.indexer.weights_sent.append(hello.node)
                self.starting[worker.actor.receive_weights.remote(self._weights())] = worker
                return
            self._refuse(worker, hello.lacks_weights)
            return
        if hello.refused:
            self._refuse(worker, hello.refused)
            return
        log.info("worker on %s (pid %d, %s) ready in %.1f s (model %.1f s)", hello.node,
                 hello.pid, hello.device, hello.start_seconds, hello.load_seconds)
        self.indexer.workers.append(worker.stats)
        self.ready.append(worker)

    def _refuse(self, worker: _Worker, why: str) -> None:
        log.warning("refused the worker on %s: %s", worker.stats.node, why)
        self.indexer.refused.append((worker.stats.node, why))
        if worker in self.ready:
            self.ready.remove(worker)
        worker.stopped = True
        self.ray.kill(worker.actor)

    def _replace(self, dead: _Worker) -> None:
        self.ray.kill(dead.actor)  # it may be half-gone; make sure nothing of it runs on
        count = self.replaced.get(dead.node_id, 0)
        alive = {node["NodeID"] for node in self._alive_nodes()}
        if count >= self.cluster.replacements_per_node or dead.node_id not in alive:
            log.warning("no more workers on %s", dead.stats.node)
            return
        self.replaced[dead.node_id] = count + 1
        self._start_worker(dead.node_id, dead.cpus, dead.gpus)

    def _stop_all(self) -> None:
        for worker in self._workers():
            try:
                self.ray.kill(worker.actor)
            except Exception:  # already gone: nothing left to stop
                log.debug("killing a worker", exc_info=True)
            worker.stopped = True
        self.ready.clear()
        self.busy.clear()
        self.starting.clear()

    def _no_workers(self) -> CannotRunError:
        name = self.indexer.model.card.name
        if self.indexer.refused:
            node, why = self.indexer.refused[0]
            return CannotRunError(f"no Ray worker can encode with model {name} "
                                  f"(the worker on {node}: {why})",
                                  "give the workers the same weights, or let the run send them")
        return CannotRunError(f"no Ray worker is left to encode with model {name}",
                              "check that the Ray nodes are up (`ray status`) and run again")

    # --- the model -------------------------------------------------------------------------

    def _model_spec(self) -> ModelSpec:
        located = self.indexer.model.located
        return ModelSpec(located.card, located.fingerprint, located.weights.name,
                         self.cluster.device, self.cluster.precision)

    def _weights(self):
        """The weights file in Ray's object store, put there the first time a worker lacks
        it: a run whose workers all have the weights never reads the file here."""
        if self.weights_ref is None:
            self.weights_ref = self.ray.put(self.indexer.model.located.weights.read_bytes())
        return self.weights_ref

    def _check_library(self) -> None:
        """The library must still be this model's before a result goes in."""
        expected = self.indexer.model.fingerprint
        if self.indexer.store.model_fingerprint != expected:
            raise CannotRunError(f"{self.indexer.store.path}: the library's model changed "
                                 f"during the run (to {self.indexer.store.model_fingerprint})",
                                 "run the command again")


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise CannotRunError("indexing on a cluster needs Ray, which is not installed",
                             "pip install 'vidsearch[cluster]'") from exc
    return ray


@contextmanager
def _connected(ray, address: str) -> Iterator[None]:
    """Connected to the cluster at `address` (or a Ray of our own for LOCAL) for the run; a
    process already connected (a program embedding the indexer) keeps its connection."""
    if ray.is_initialized():
        yield
        return
    kwargs = {"log_to_driver": False, "configure_logging": False}
    if address == LOCAL:
        # A Ray started just for this run: no dashboard, nothing sent home.
        config.keep_local_ray_quiet()
        kwargs.update(include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise CannotRunError(f"cannot reach the Ray cluster at {address}: {first_line(exc)}",
                             "start a head with `ray start --head` or check the address") from exc
    try:
        yield
    finally:
        ray.shutdown()
