"""Search latency: p50/p95 of `find` with a warm model, and the cold CLI, at N clips.

    python bench/search.py --sizes 10000 100000 1000000

Fills a library with N random unit clip vectors (videos of 200 clips, 10 s windows every 5 s,
one frame row per 5 s for best-moment refinement), then times `search_text` for k=20 with the
model loaded once (warm), and `vidsearch find` in a new process (cold). Libraries are kept in
bench/_media/ between runs (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _setup import REPO, describe_machine, git_revision, install_random_vit_b32, use_home

CLIPS_PER_VIDEO = 200
QUERIES = ["a dog catching a frisbee", "birthday cake with candles", "waves on a beach",
           "a child riding a bicycle", "snow falling at night", "a cat on a sofa"]


def build_library(db: Path, clips: int, fingerprint: str, model_name: str, dim: int) -> None:
    from vidsearch.store import VideoMeta, open_store

    if db.exists():
        return
    rng = np.random.default_rng(clips)
    started = time.monotonic()
    with open_store(db) as store:
        store.prepare_for_model(fingerprint, model_name, dim)
        for video in range(clips // CLIPS_PER_VIDEO):
            clip_vectors = rng.standard_normal((CLIPS_PER_VIDEO, dim)).astype(np.float32)
            clip_vectors /= np.linalg.norm(clip_vectors, axis=1, keepdims=True)
            spans = [(5.0 * i, 5.0 * i + 10) for i in range(CLIPS_PER_VIDEO)]
            frame_times = np.arange(0, 5.0 * CLIPS_PER_VIDEO + 5, 5.0)
            frame_vectors = rng.standard_normal((len(frame_times), dim)).astype(np.float32)
            store.write_video(f"/bench/video{video:06d}.mp4", size=1, mtime_ns=1,
                              content_hash=None, meta=VideoMeta(frame_times[-1], 30, 1280, 720),
                              frame_times=frame_times, frame_vectors=frame_vectors,
                              clip_spans=spans, clip_vectors=clip_vectors)
    print(f"  built {clips} clips in {time.monotonic() - started:.0f} s", flush=True)


def time_warm(db: Path, model, rounds: int) -> list[float]:
    from vidsearch.search import search_text
    from vidsearch.store import open_store

    timings = []
    with open_store(db, create=False) as store:
        search_text(store, model, "warm up", k=20)
        for i in range(rounds):
            started = time.perf_counter()
            search_text(store, model, QUERIES[i % len(QUERIES)], k=20)
            timings.append(time.perf_counter() - started)
    return timings


def time_cold(db: Path, model_name: str, rounds: int) -> list[float]:
    timings = []
    for i in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vidsearch", "find", QUERIES[i % len(QUERIES)],
                        "--db", str(db), "--model", model_name, "-k", "20"],
                       check=True, capture_output=True, cwd=REPO)
        timings.append(time.perf_counter() - started)
    return timings


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cold-rounds", type=int, default=3)
    args = parser.parse_args()

    media = REPO / "bench" / "_media"
    use_home(media / "home")
    import torch

    from vidsearch.model.text_query import load_text_query_model

    name = install_random_vit_b32()
    model = load_text_query_model(name)  # what `vidsearch find` loads for a text query
    torch.set_num_threads(1)
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print(f"model: {name} (ViT-B/32 text tower, random weights), device {model.device}, "
          f"1 thread (as `find`)")
    text_times = []
    for i in range(10):
        started = time.perf_counter()
        model.embed_texts([QUERIES[i % len(QUERIES)]])
        text_times.append(time.perf_counter() - started)
    print(f"text tower alone: p50 {statistics.median(text_times) * 1000:.1f} ms")
    print("| clips | warm p50 ms | warm p95 ms | cold CLI s (median) |")
    print("| --- | --- | --- | --- |")
    for size in args.sizes:
        db = media / f"search-{size}.db"
        build_library(db, size, model.fingerprint, name, model.embed_dim)
        warm = time_warm(db, model, args.rounds)
        cold = time_cold(db, name, args.cold_rounds)
        print(f"| {size:,} | {percentile(warm, 50):.1f} | {percentile(warm, 95):.1f} | "
              f"{statistics.median(cold):.2f} |", flush=True)


if __name__ == "__main__":
    main()
