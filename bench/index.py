"""Indexing speed: a naive baseline, the decode-only ceiling, and `vidsearch index`.

    python bench/index.py [--minutes 3]

Builds a reproducible library in bench/_media/library (720p and 1080p H.264, long-GOP and
1-s-GOP files, generated with PyAV: moving shapes over noise so the encoder has real work),
then in one run measures, in video-seconds per wall-second:
  (a) naive: per video, decord get_batch of the 1-fps indices at full resolution, PIL resize +
      crop, one model call per video, nothing overlapped, the model in fp32 as plain code
      loads it; (a') the same loop with vidsearch's own model (its precision choice), to show
      what the pipeline adds beyond precision;
  (b) decode-only: vidsearch's sampler alone over all files, one thread per core;
  (c) `vidsearch index` into a fresh library (in-process, same model), and again on the
      1-s-GOP files alone (target: 10x realtime).
The model is a random-weight ViT-B/32 (weights do not change speed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _setup import (REPO, describe_machine, git_revision, install_random_vit_b32, use_home,
                    write_moving_h264)

# (name, width, height, fps, gop frames, share of the minutes)
LIBRARY = [
    ("720p-long-gop.mp4", 1280, 720, 30, 250, 0.35),
    ("720p-1s-gop.mp4", 1280, 720, 30, 30, 0.35),
    ("1080p-long-gop.mp4", 1920, 1080, 30, 250, 0.15),
    ("1080p-1s-gop.mp4", 1920, 1080, 30, 30, 0.15),
]


def build_library(folder: Path, minutes: float, entries=LIBRARY) -> list[Path]:
    """Generate (once) and return the files of `entries` (LIBRARY's layout) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, width, height, fps, gop, share in entries:
        path = folder / f"{minutes:g}min-{name}"
        paths.append(path)
        if path.exists():
            continue
        seconds = max(5, round(minutes * 60 * share))
        write_moving_h264(path, width=width, height=height, fps=fps, frames=seconds * fps,
                          gop=gop, preset="veryfast", crf="23", block=8, seed=len(paths),
                          scroll=4, box=200, box_left=100, box_step=7)
    return paths


def video_seconds(paths: list[Path]) -> float:
    from vidsearch.video import probe

    return sum(probe(p).duration for p in paths)


def run_naive(paths: list[Path], model) -> float:
    """What a first attempt looks like: full-resolution frames, PIL, one video at a time."""
    import decord
    from PIL import Image

    started = time.monotonic()
    size = model.image_size
    for path in paths:
        reader = decord.VideoReader(str(path))
        fps = reader.get_avg_fps()
        indices = list(range(0, len(reader), max(1, round(fps))))
        batch = reader.get_batch(indices).asnumpy()
        crops = []
        for frame in batch:
            image = Image.fromarray(frame)
            scale = size / min(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)),
                                 Image.BICUBIC)
            left, top = (image.width - size) // 2, (image.height - size) // 2
            crops.append(np.asarray(image.crop((left, top, left + size, top + size))))
        vectors = model.embed_frames(np.stack(crops))
        model.aggregate([vectors])
    return time.monotonic() - started


def run_decode_only(paths: list[Path], size: int) -> float:
    from vidsearch.video import FrameSampler

    def decode(path: Path) -> int:
        return sum(len(chunk) for chunk in FrameSampler(path, size=size))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(decode, paths))
    return time.monotonic() - started


def run_vidsearch(paths: list[Path], model) -> float:
    from vidsearch.indexer import Indexer
    from vidsearch.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "lib"
        library.mkdir()
        for path in paths:
            os.link(path, library / path.name) if _same_device(path, library) else \
                shutil.copy(path, library / path.name)
        started = time.monotonic()
        with open_store(Path(tmp) / "bench.db") as store:
            report = Indexer(store, model).sync([library])
        elapsed = time.monotonic() - started
    assert not report.failed, report.failed
    return elapsed


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="total length of the library")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    media = REPO / "bench" / "_media"
    use_home(media / "home")
    paths = build_library(media / "library", args.minutes)
    from vidsearch.model import load_model
    from vidsearch.model.threads import use_threads_for

    use_threads_for("index")  # as `vidsearch index` does: model loading no longer sets it
    model = load_model(install_random_vit_b32(), precision=args.precision, text=False)
    plain = load_model(install_random_vit_b32(), precision="fp32", text=False)
    total = video_seconds(paths)
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print(f"library: {len(paths)} files, {total:.0f} s of video; model ViT-B/32 on "
          f"{model.device}, precision {args.precision}")
    for warm in (model, plain):
        warm.embed_frames(np.zeros((2, model.image_size, model.image_size, 3), np.uint8))
    naive = total / run_naive(paths, plain)
    naive_same_model = total / run_naive(paths, model)
    ceiling = total / run_decode_only(paths, model.image_size)
    ours = total / run_vidsearch(paths, model)
    short_gop = [path for path in paths if "1s-gop" in path.name]
    ours_short_gop = video_seconds(short_gop) / run_vidsearch(short_gop, model)
    print(f"vidsearch's frame precision: {model.precision}")
    print("| run | video-s per wall-s |")
    print("| --- | --- |")
    print(f"| (a) naive baseline (fp32) | {naive:.1f} |")
    print(f"| (a') naive loop, vidsearch's model ({model.precision}) | {naive_same_model:.1f} |")
    print(f"| (b) decode-only ceiling | {ceiling:.1f} |")
    print(f"| (c) vidsearch index | {ours:.1f} |")
    print(f"| (c) on the 1-s-GOP files alone | {ours_short_gop:.1f} |")
    print(f"(c)/(a) = {ours / naive:.2f}   (c)/(a') = {ours / naive_same_model:.2f}   "
          f"(c)/(b) = {ours / ceiling:.2f}")


if __name__ == "__main__":
    main()
