"""A real two-node Ray cluster on this machine, started once per module, and what it indexes.

Each node is a raylet with 1 CPU and its own environment, standing in for a machine of its own:
its own vidsearch home (node "b" has other weights under the same model name) and, on node
"b", a mount map that sends one folder nowhere (a share that machine does not see).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.videos import make_video

ray = pytest.importorskip("ray")

OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's minimum: the tiny model's results are small


def _node_env(home: Path, **extra: str) -> dict[str, str]:
    return {"VIDSEARCH_HOME": str(home), "VIDSEARCH_PRECISION": "fp32", "HF_HUB_OFFLINE": "1",
            "RAY_USAGE_STATS_ENABLED": "0", "OMP_WAIT_POLICY": "PASSIVE", **extra}


@pytest.fixture(scope="module")
def cluster_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def ray_cluster(cluster_root):
    """(address, {"a": home_a, "b": home_b}) of a running 2-node cluster."""
    from ray.cluster_utils import Cluster

    from tests.fixtures.tiny_model import install_tiny_model

    homes = {"a": cluster_root / "home-a", "b": cluster_root / "home-b"}
    for name, seed in (("a", 0), ("b", 1)):
        install_tiny_model(homes[name] / "data" / "models", name="tiny", seed=seed)
    hidden = cluster_root / "hidden"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    common = {"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES,
              "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={
        **common, "resources": {"node_a": 1}, "env_vars": _node_env(homes["a"])})
    cluster.add_node(**common, resources={"node_b": 1}, env_vars=_node_env(
        homes["b"], VIDSEARCH_PATH_MAP=f"{hidden}={cluster_root / 'nowhere'}"))
    cluster.wait_for_nodes()
    try:
        yield cluster.address, homes
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def cluster_media(cluster_root) -> Path:
    """Six videos of a few seconds each, two codecs: enough that a run has work left to stop."""
    folder = cluster_root / "media"
    folder.mkdir()
    for number in range(6):
        make_video(folder / f"clip{number}.mp4", seconds=6 + number, fps=10, size=(96, 64),
                   seed=20 + number, codec="mpeg4" if number % 2 else "h264")
    return folder


@pytest.fixture
def videos(tmp_path, cluster_media) -> Path:
    folder = tmp_path / "Videos"
    shutil.copytree(cluster_media, folder)
    return folder
