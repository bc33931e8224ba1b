"""Shared by the benchmarks: a random-weight ViT-B/32 CLIP4Clip saved as a user model.

Weights do not change speed, and real ones cannot be downloaded on every machine, so the
benchmarks time the real architecture with random weights.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def use_home(home: Path) -> None:
    """Point vidsearch at a benchmark home, away from the user's library."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["VIDSEARCH_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"


def install_random_vit_b32(name: str = "bench-vit-b-32") -> str:
    import torch

    from vidsearch import config
    from vidsearch.model.cards import ModelCard
    from vidsearch.model.factory import build_module, save_model

    folder = config.models_dir() / name
    if (folder / "model.safetensors").exists():
        return name
    card = ModelCard(name=name, description="random-weight ViT-B/32 for benchmarks",
                     arch="ViT-B-32", weights_source="local", weights_layout="clip4clip",
                     header="meanP", patch="2d", frames_per_clip=12, embed_dim=512,
                     quick_gelu=True, licence="benchmark only")
    torch.manual_seed(0)
    save_model(build_module(card), card, folder)
    return name


def write_moving_h264(path: Path, *, width: int, height: int, fps: int, frames: int,
                      gop: int, preset: str, crf: str, block: int, seed: int, scroll: int,
                      box: int, box_left: int, box_step: int) -> None:
    """An H.264 file of random `block`-pixel noise scrolling `scroll` pixels a frame, with a
    `box`-pixel square moving down `box_step` pixels a frame: the encoder gets real work and
    every frame differs. Written to a temporary name first, so an interrupted run leaves no
    half file behind for the next run to take as done."""
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // block, width // block, 3), dtype=np.uint8)
    background = noise.repeat(block, axis=0).repeat(block, axis=1)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps,
                                      options={"preset": preset, "crf": crf})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        for index in range(frames):
            image = np.roll(background, shift=(index * scroll) % width, axis=1)
            top = (index * box_step) % (height - box)
            image[top:top + box, box_left:box_left + box] = (255, (index * 3) % 255, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    tmp.rename(path)


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def cpu_flags() -> str:
    """The CPU features that decide which precision and runtime can win, as lscpu names them."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    wanted = sorted({f for f in flags if f == "avx2" or f.startswith(("avx512", "amx"))})
    return " ".join(wanted) or "no avx2, avx512 or amx"


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
