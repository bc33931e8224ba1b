"""Indexing through a real two-node Ray cluster ends with the library a local run makes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.faults.conftest import assert_consistent, assert_same_library, snapshot
from vidsearch.cluster import ClusterIndexer, ClusterOptions
from vidsearch.indexer import Indexer
from vidsearch.model import load_model
from vidsearch.model.on_demand import ModelOnDemand
from vidsearch.store import open_store

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def index_locally(folder: Path, db: Path) -> None:
    with open_store(db) as store:
        report = Indexer(store, load_model(text=False)).sync([folder])
    assert not report.failed


def index_on(address: str, folder: Path, db: Path, events=None, **options):
    indexer = None
    with open_store(db) as store:
        indexer = ClusterIndexer(store, ModelOnDemand(text=False), cluster=ClusterOptions(
            address=address, precision="fp32", **options), events=events)
        report = indexer.sync([folder])
    return report, indexer


class Recorder:
    def __init__(self, on_assign=None) -> None:
        self.given: list[tuple[str, str]] = []  # (node, path), in order
        self.on_assign = on_assign
        self.in_hand = self.most_in_hand = 0

    def assigned(self, worker, path: str) -> None:
        self.given.append((worker.node, path))
        self.in_hand += 1
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        if self.on_assign:
            self.on_assign(worker, path)

    def finished(self, worker, path: str, ok: bool) -> None:
        self.in_hand -= 1


def test_a_worker_with_other_weights_is_refused(ray_cluster, tiny_model, videos, tmp_path):
    address, homes = ray_cluster
    # Node b's own "tiny" has other weights; without the run's copy it must refuse to encode.
    shutil.rmtree(homes["b"] / "cache" / "cluster", ignore_errors=True)
    index_locally(videos, tmp_path / "local.db")
    # Both workers heard from before any video goes out, so node b's refusal is seen.
    report, indexer = index_on(address, videos, tmp_path / "cluster.db", ship_weights=False,
                               min_workers=2)
    assert not report.failed
    refused_nodes = [node for node, _why in indexer.refused]
    assert len(refused_nodes) == 1 and "other weights" in indexer.refused[0][1]
    assert [w.videos for w in indexer.workers] == [6]  # the one worker with the model
    assert_same_library(tmp_path / "cluster.db", tmp_path / "local.db")


def test_the_cluster_library_equals_a_local_one(ray_cluster, tiny_model, videos, tmp_path):
    address, _ = ray_cluster
    index_locally(videos, tmp_path / "local.db")
    events = Recorder()
    report, indexer = index_on(address, videos, tmp_path / "cluster.db", events=events)
    # Back-pressure: a video at a time per worker, each written before the next is fetched.
    assert 1 <= events.most_in_hand <= 2
    assert sorted(report.indexed) == sorted(str(p) for p in videos.glob("*.mp4"))
    assert not report.failed and not indexer.refused
    # Each worker that took part (node b with the weights the run sent it) says what it did;
    # which ones did depends on how fast each loaded the model.
    assert sum(w.videos for w in indexer.workers) == 6
    assert all(w.rate > 0 for w in indexer.workers if w.videos)
    assert_consistent(tmp_path / "cluster.db")
    assert_same_library(tmp_path / "cluster.db", tmp_path / "local.db")
    # A second run finds nothing to do: the rows are the ones a local run would diff against.
    again, _ = index_on(address, videos, tmp_path / "cluster.db")
    assert again.skipped == 6 and not again.indexed


def test_weights_go_only_to_a_worker_without_them(ray_cluster, tiny_model, videos, tmp_path):
    address, homes = ray_cluster
    # Node a runs in the driver's home (the run's weights); node b has other weights and no
    # copy from an earlier run.
    shutil.rmtree(homes["b"] / "cache" / "cluster", ignore_errors=True)
    _, first = index_on(address, videos, tmp_path / "first.db", min_workers=2)
    assert len(first.weights_sent) == 1 and not first.refused
    b_node = first.weights_sent[0]
    assert b_node in {w.node for w in first.workers}
    # The copy it kept has the run's fingerprint: the next run sends nothing at all.
    _, second = index_on(address, videos, tmp_path / "second.db", min_workers=2)
    assert second.weights_sent == [] and len(second.workers) == 2
    assert all(w.start_seconds >= w.load_seconds > 0 for w in second.workers)


def test_workers_taking_two_videos_at_once_make_the_same_library(ray_cluster, tiny_model,
                                                                 videos, tmp_path):
    address, _ = ray_cluster
    index_locally(videos, tmp_path / "local.db")
    events = Recorder()
    # As a CUDA worker does (on a CPU, asked for): two videos in hand, sharing batches.
    report, indexer = index_on(address, videos, tmp_path / "cluster.db", events=events,
                               videos_per_worker=2, min_workers=2)
    assert not report.failed
    assert [w.videos_at_once for w in indexer.workers] == [2, 2]
    assert events.most_in_hand == 4  # both workers' hands full, never more
    assert sum(w.videos for w in indexer.workers) == 6
    assert_consistent(tmp_path / "cluster.db")
    assert_same_library(tmp_path / "cluster.db", tmp_path / "local.db")


def test_a_worker_killed_mid_video_loses_only_that_video(ray_cluster, tiny_model, videos,
                                                       tmp_path):
    address, _ = ray_cluster
    index_locally(videos, tmp_path / "local.db")
    killed: list[tuple[str, int]] = []

    def kill_first(worker, path):
        if not killed:
            killed.append((path, worker.pid))
            os.kill(worker.pid, signal.SIGKILL)

    events = Recorder(kill_first)
    report, indexer = index_on(address, videos, tmp_path / "cluster.db", events=events)
    assert not report.failed
    path, pid = killed[0]
    assert len([given for given in events.given if given[1] == path]) == 2, \
        "the killed worker's video was given out once more"
    assert sum(w.lost for w in indexer.workers) == 1
    assert pid in [w.pid for w in indexer.workers if w.lost]
    assert_same_library(tmp_path / "cluster.db", tmp_path / "local.db")


def test_a_node_that_cannot_see_the_file_hands_it_over(ray_cluster, cluster_root, tiny_model,
                                                        cluster_media, tmp_path):
    address, _ = ray_cluster
    # Node b maps this folder to one that does not exist: a share it has not mounted.
    hidden = cluster_root / "hidden"
    shutil.rmtree(hidden, ignore_errors=True)
    hidden.mkdir()
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):
        shutil.copy2(cluster_media / name, hidden / name)
    index_locally(hidden, tmp_path / "local.db")
    # Both workers up before the first video goes out: the tiny model encodes these videos in
    # milliseconds, so otherwise node a could finish them all before node b is ready.
    report, indexer = index_on(address, hidden, tmp_path / "cluster.db", min_workers=2)
    assert not report.failed
    by_node = {w.node: w for w in indexer.workers}
    assert sum(w.handed_over for w in by_node.values()) >= 1
    assert [w.videos for w in by_node.values() if w.handed_over] == [0]
    assert_same_library(tmp_path / "cluster.db", tmp_path / "local.db")


def test_a_file_no_node_can_read_is_recorded_as_failed(ray_cluster, tiny_model, videos,
                                                       tmp_path):
    address, _ = ray_cluster
    # Every worker sees the file at the mapped path, which holds nothing.
    report, indexer = index_on(address, videos, tmp_path / "cluster.db", path_map=_map(
        f"{videos}={tmp_path / 'elsewhere'}"))
    assert sorted(path for path, _ in report.failed) == sorted(
        str(p) for p in videos.glob("*.mp4"))
    assert all("cannot read the file on" in reason for _, reason in report.failed)
    assert {w.handed_over for w in indexer.workers} == {6}
    with open_store(tmp_path / "cluster.db") as store:
        assert store.stats().clips == 0


def test_ctrl_c_on_the_driver_leaves_only_whole_videos(ray_cluster, tiny_model, isolated_home,
                                                       videos, tmp_path):
    address, _ = ray_cluster
    index_locally(videos, tmp_path / "local.db")
    db = tmp_path / "cluster.db"
    driver = subprocess.Popen(
        [sys.executable, "-m", "vidsearch", "index", str(videos), "--db", str(db),
         "--cluster", address, "-v"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for line in driver.stderr:
            if " indexed " in line:
                driver.send_signal(signal.SIGINT)
                break
        rest = driver.stderr.read()
        assert driver.wait(timeout=120) == 130, rest
    finally:
        driver.kill()
    assert "Traceback" not in rest
    assert_consistent(db)
    stored, local = snapshot(db), snapshot(tmp_path / "local.db")
    assert 1 <= len(stored) < len(local)
    for path, video in stored.items():
        assert video.status == "ok"
        assert len(video.frame_times) == len(local[path].frame_times), path
        assert video.clips == local[path].clips, path
    # The same command goes on from there, and ends with the local run's library.
    again = subprocess.run(
        [sys.executable, "-m", "vidsearch", "index", str(videos), "--db", str(db),
         "--cluster", address, "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert sorted(document["indexed"] + document["skipped"]) == sorted(local)
    workers = document["workers"]
    assert sum(worker["videos"] for worker in workers) == len(document["indexed"])
    assert all({"node", "pid", "video_seconds_per_second", "start_seconds",
                "model_load_seconds", "videos_at_once"} <= set(w) for w in workers)
    assert isinstance(document["weights_sent_to"], list)
    assert_same_library(db, tmp_path / "local.db")


def _map(entry: str):
    from vidsearch.cluster import PathMap

    return PathMap.parse([entry])
