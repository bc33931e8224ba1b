"""Indexing speed: a naive baseline, the decode-only and encoder-bound ceilings, `vidsearch index`.

    python bench/index.py [--minutes 3] [--repeats 2]

Builds a reproducible library in bench/_media/library (720p and 1080p H.264, long-GOP and
1-s-GOP files, generated with PyAV: moving shapes over noise so the encoder has real work),
then in one run measures, in video-seconds per wall-second:
  (a) naive: per video, decord get_batch of the 1-fps indices at full resolution, PIL resize +
      crop, one model call per video, nothing overlapped, the model in fp32 as plain code
      loads it; (a') the same loop with vidsearch's own model (its precision choice), to show
      what the pipeline adds beyond precision;
  (b) decode-only: vidsearch's sampler alone over all files, one thread per core;
  (e) the encoder-bound ceiling: the library's frames at the encoder's own throughput on the
      same cores (vidsearch's model, its batch, frames already decoded), plus (b)'s decoding
      time: what indexing would cost if nothing else took time and decoding never overlapped;
  (c) `vidsearch index` as a user runs it: a new process (`python -m vidsearch index`), start-
      up, model load and precision choice included, into a fresh library; and in-process on the
      1-s-GOP files alone (target: 10x realtime).
(a) includes its model load, as (c) does, but not Python's start-up and `import torch`.
--as-avx2 first records in the bench home the verdicts a CPU without fast bf16 settles on
(fp32 frames; ONNX Runtime clearly ahead of torch), so every vidsearch row runs the path such a
CPU runs, torch-free in (c) once the export exists: what that path costs, on any host.
--repeats runs (a), (c) and (e) again, interleaved, so the ratios come from neighbouring runs.
The model is a random-weight ViT-B/32 (weights do not change speed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from _setup import (REPO, cpu_flags, describe_machine, git_revision, install_random_vit_b32,
                    use_home, write_moving_h264)

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


def run_naive(paths: list[Path], load) -> float:
    """What a first attempt looks like: full-resolution frames, PIL, one video at a time."""
    import decord
    from PIL import Image

    started = time.monotonic()
    model = load()
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


def run_decode_only(paths: list[Path], size: int) -> tuple[float, int]:
    """(wall seconds, frames sampled)."""
    from vidsearch.video import FrameSampler

    def decode(path: Path) -> int:
        return sum(len(chunk) for chunk in FrameSampler(path, size=size))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        frames = sum(pool.map(decode, paths))
    return time.monotonic() - started, frames


def encoder_throughput(model, paths: list[Path], count: int = 64) -> float:
    """Frames per second of the encoder alone, on decoded library frames, at the indexer's
    batch size."""
    from vidsearch.video import FrameSampler

    frames = np.concatenate([chunk.frames for chunk in FrameSampler(paths[0], size=model.image_size)])
    frames = np.resize(frames, (count, *frames.shape[1:]))
    model.embed_frames(frames[:4])
    started = time.monotonic()
    model.embed_frames(frames)
    return count / (time.monotonic() - started)


def run_cli_index(paths: list[Path], home: Path) -> tuple[float, dict]:
    """`vidsearch index --json` in a new process, as a user runs it: (wall seconds, report)."""
    with tempfile.TemporaryDirectory() as tmp:
        library = _linked_library(paths, Path(tmp))
        env = {**os.environ, "VIDSEARCH_HOME": str(home), "PYTHONPATH": str(REPO)}
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "vidsearch", "index", str(library),
                                 "--db", str(Path(tmp) / "bench.db"), "--json",
                                 "--model", "bench-vit-b-32"],
                                capture_output=True, text=True, env=env, cwd=REPO)
        elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"vidsearch index failed: {result.stderr[-2000:]}")
    return elapsed, json.loads(result.stdout)


def _linked_library(paths: list[Path], tmp: Path) -> Path:
    library = tmp / "lib"
    library.mkdir()
    for path in paths:
        os.link(path, library / path.name) if _same_device(path, library) else \
            shutil.copy(path, library / path.name)
    return library


def run_vidsearch(paths: list[Path], model) -> float:
    from vidsearch.indexer import Indexer
    from vidsearch.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        library = _linked_library(paths, Path(tmp))
        started = time.monotonic()
        with open_store(Path(tmp) / "bench.db") as store:
            report = Indexer(store, model).sync([library])
        elapsed = time.monotonic() - started
    assert not report.failed, report.failed
    return elapsed


def settle_as_avx2(name: str) -> None:
    """This machine's verdicts for the bench model, as an AVX2-only CPU leaves them."""
    from vidsearch.config import cache_dir
    from vidsearch.model import image_runtime, precision
    from vidsearch.model.cards import load_card
    from vidsearch.model.verdicts import write_verdicts

    card = load_card(name)
    for module, key, verdict in (
            (precision, f"{card.arch}|{card.patch}", precision.PrecisionChoice(False, 0.4, 0.99)),
            (image_runtime, f"{card.arch}|{card.patch}|onnxruntime",
             image_runtime.RuntimeChoice(True, 2 * image_runtime.MIN_SPEEDUP, 1.0))):
        cache_file = cache_dir() / module.CHOICES_FILE
        known = json.loads(cache_file.read_text()) if cache_file.exists() else {}
        known[precision.machine_key(key)] = {**asdict(verdict), "line": module.MIN_SPEEDUP}
        write_verdicts(cache_file, known, "bench verdict")


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="total length of the library")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--as-avx2", action="store_true",
                        help="time the path a CPU without fast bf16 settles on (see above)")
    args = parser.parse_args()

    media = REPO / "bench" / "_media"
    # Its own home for --as-avx2: the verdicts it records must not stand for this machine's.
    home = media / ("home-as-avx2" if args.as_avx2 else "home")
    use_home(home)
    paths = build_library(media / "library", args.minutes)
    from vidsearch.model import load_model
    from vidsearch.model.threads import use_threads_for

    use_threads_for("index")  # as `vidsearch index` does: model loading no longer sets it
    name = install_random_vit_b32()
    if args.as_avx2:
        settle_as_avx2(name)
    model = load_model(name, precision=args.precision, text=False)
    # As `vidsearch index` does; the first run in a home also makes the ONNX export here, once
    # per weights (like a download), so the timed runs below find it.
    model.prefer_fastest_image_runtime()
    total = video_seconds(paths)
    print(f"machine: {describe_machine()}; CPU flags: {cpu_flags()}; revision {git_revision()}")
    print(f"library: {len(paths)} files, {total:.0f} s of video; model ViT-B/32 on "
          f"{model.device}, precision {args.precision}")
    model.embed_frames(np.zeros((2, model.image_size, model.image_size, 3), np.uint8))
    naive_same_model = total / run_naive(paths, lambda: model)
    decode_wall, frames = run_decode_only(paths, model.image_size)
    runs: dict[str, list[float]] = {"a": [], "c": [], "e": []}
    report = {}
    for _ in range(args.repeats):
        runs["a"].append(total / run_naive(
            paths, lambda: load_model(name, precision="fp32", text=False)))
        wall, report = run_cli_index(paths, home)
        runs["c"].append(total / wall)
        encoder_fps = encoder_throughput(model, paths)
        runs["e"].append(total / (frames / encoder_fps + decode_wall))
    short_gop = [path for path in paths if "1s-gop" in path.name]
    ours_short_gop = video_seconds(short_gop) / run_vidsearch(short_gop, model)
    median = {key: statistics.median(values) for key, values in runs.items()}
    print(f"vidsearch's frame precision: {model.precision}, image runtime "
          f"{model.image_runtime}; frames sampled "
          f"{report.get('frames_sampled')}, encoded {report.get('frames_encoded')}")
    print("| run | video-s per wall-s (median) | each run |")
    print("| --- | --- | --- |")
    rows = [("(a) naive baseline (fp32, model load included)", runs["a"]),
            (f"(a') naive loop, vidsearch's model ({model.precision})", [naive_same_model]),
            ("(b) decode-only ceiling", [total / decode_wall]),
            ("(e) encoder-bound ceiling (encoder alone + decoding)", runs["e"]),
            ("(c) vidsearch index (new process, start-up included)", runs["c"]),
            ("(c) on the 1-s-GOP files alone (in-process)", [ours_short_gop])]
    for label, values in rows:
        print(f"| {label} | {statistics.median(values):.1f} | "
              f"{' '.join(f'{v:.1f}' for v in values)} |")
    pairs = list(zip(runs["c"], runs["a"], runs["e"]))
    print(f"(c)/(a) = {statistics.median(c / a for c, a, _ in pairs):.2f}   "
          f"(c)/(e) = {statistics.median(c / e for c, _, e in pairs):.2f}   "
          f"(c)/(b) = {median['c'] * decode_wall / total:.2f}   (medians of neighbouring runs)")


if __name__ == "__main__":
    main()
