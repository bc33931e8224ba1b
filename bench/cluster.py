"""Ray's overhead: the same library indexed locally and through a local 2-node Ray cluster.

    python bench/cluster.py [--minutes 3] [--rounds 2]

Builds (once) a library of 360p H.264 files in bench/_media/cluster, a random-weight ViT-B/32
as the model (weights do not change speed), then, interleaved in one run (cluster, local,
cluster, local, ...), indexes it into a fresh library:
  local:   `vidsearch index` in this process (threads as the command sets them);
  cluster: `vidsearch index --cluster` against a `ray.cluster_utils.Cluster` of 2 nodes with
           1 CPU each on this machine (dashboard and usage reporting off).
It reports video-seconds per wall-second for both (the cluster's with and without its workers'
start, which is loading the model), Ray's overhead per video (from the driver handing a video
out to its result being written, less the worker's own time on it), each worker's start (its
process's age when ready, and the model load within it), the nodes the weights were sent to,
and the driver's peak memory over its baseline during the cluster run. In-process, the local
run finds torch already imported while each worker imports it; so each round also times the
two commands a user runs, `vidsearch index` and `vidsearch index --cluster ADDRESS`, as fresh
processes. On one machine the cluster cannot be faster: the figure to watch is the overhead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _setup import (REPO, describe_machine, git_revision, install_random_vit_b32, use_home,
                    write_moving_h264)


def build_library(folder: Path, minutes: float, files: int = 8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    seconds = max(5, round(minutes * 60 / files))
    paths = []
    for number in range(files):
        path = folder / f"{minutes:g}min-{number}.mp4"
        paths.append(path)
        if not path.exists():
            write_moving_h264(path, width=640, height=360, fps=30, frames=seconds * 30,
                              gop=60, preset="veryfast", crf="23", block=8, seed=number,
                              scroll=4, box=120, box_left=60, box_step=5)
    return paths


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """The process's resident size, sampled every 20 ms while in the block."""

    def __enter__(self):
        self.baseline = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Timings:
    """When each video was handed out and written (the driver's side of the overhead)."""

    def __init__(self) -> None:
        self.handed_out: dict[str, float] = {}
        self.in_hand: list[float] = []
        self.first = None

    def assigned(self, worker, path: str) -> None:  # ClusterEvents
        now = time.monotonic()
        self.first = self.first or now
        self.handed_out[path] = now

    def finished(self, worker, path: str, ok: bool) -> None:
        self.in_hand.append(time.monotonic() - self.handed_out[path])


def run_local(library: Path, db: Path, model_name: str) -> float:
    from vidsearch.indexer import Indexer
    from vidsearch.model.on_demand import ModelOnDemand
    from vidsearch.store import open_store

    started = time.monotonic()
    with open_store(db) as store:
        report = Indexer(store, ModelOnDemand(model_name, precision="fp32", text=False)
                         ).sync([library])
    assert not report.failed, report.failed
    return time.monotonic() - started


def run_cluster(library: Path, db: Path, model_name: str, address: str) -> dict:
    from vidsearch.cluster import ClusterIndexer, ClusterOptions
    from vidsearch.model.on_demand import ModelOnDemand
    from vidsearch.store import open_store

    timings = Timings()
    started = time.monotonic()
    with PeakMemory() as memory, open_store(db) as store:
        indexer = ClusterIndexer(store, ModelOnDemand(model_name, precision="fp32", text=False),
                                 cluster=ClusterOptions(address=address, precision="fp32"),
                                 events=timings)
        report = indexer.sync([library])
    ended = time.monotonic()
    assert not report.failed, report.failed
    busy = sum(w.busy_seconds for w in indexer.workers)
    videos = sum(w.videos for w in indexer.workers)
    return {"wall": ended - started, "after_start": ended - timings.first,
            "overhead": (sum(timings.in_hand) - busy) / max(1, videos),
            "memory": memory.peak - memory.baseline, "baseline": memory.baseline,
            "workers": [(w.node, w.videos, round(w.rate, 2)) for w in indexer.workers],
            "starts": [(round(w.start_seconds, 1), round(w.load_seconds, 1))
                       for w in indexer.workers],
            "weights_sent": len(indexer.weights_sent)}


def run_command(library: Path, db: Path, model_name: str, *extra: str) -> float:
    """`vidsearch index` as a user runs it: a new process, start-up and imports included."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "vidsearch", "index", str(library), "--db", str(db),
                    "--model", model_name, "--precision", "fp32", "-q", *extra], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="total length of the library")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    media = REPO / "bench" / "_media"
    use_home(media / "home")
    os.environ["PYTHONPATH"] = str(REPO)  # the cluster's workers import this checkout
    paths = build_library(media / "cluster", args.minutes)
    library = paths[0].parent
    model_name = install_random_vit_b32()
    from ray.cluster_utils import Cluster

    from vidsearch.model.threads import use_threads_for
    from vidsearch.video import probe

    use_threads_for("index")
    total = sum(probe(p).duration for p in paths)
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print(f"library: {len(paths)} files, {total:.0f} s of 640x360 H.264; model ViT-B/32 fp32")
    node = {"num_cpus": 1, "object_store_memory": 200 * 1024 ** 2, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    try:
        for round_ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                result = run_cluster(library, Path(tmp) / "c.db", model_name, cluster.address)
                local = run_local(library, Path(tmp) / "l.db", model_name)
                command_cluster = run_command(library, Path(tmp) / "cc.db", model_name,
                                              "--cluster", cluster.address)
                command_local = run_command(library, Path(tmp) / "cl.db", model_name)
            print(f"round {round_ + 1}: local {total / local:.2f} video-s/s ({local:.1f} s); "
                  f"cluster {total / result['wall']:.2f} video-s/s ({result['wall']:.1f} s), "
                  f"{total / result['after_start']:.2f} after its workers started "
                  f"({result['after_start']:.1f} s); cluster/local wall "
                  f"{result['after_start'] / local:.2f} (after start), "
                  f"{result['wall'] / local:.2f} (with start); Ray overhead "
                  f"{result['overhead'] * 1000:.0f} ms per video; driver peak +"
                  f"{result['memory'] / 2 ** 20:.0f} MiB over {result['baseline'] / 2 ** 20:.0f} "
                  f"MiB; workers {result['workers']}; worker start (ready, model) s "
                  f"{result['starts']}; weights sent to {result['weights_sent']} node(s)",
                  flush=True)
            print(f"  commands: `vidsearch index` {command_local:.1f} s, `--cluster` "
                  f"{command_cluster:.1f} s: cluster/local {command_cluster / command_local:.2f}",
                  flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
