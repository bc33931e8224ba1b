"""What filters and more-like-this cost: warm search time with and without them, at N clips.

    python bench/filters.py --clips 100000 --rounds 30

A library of N random unit clip vectors (videos of 200 clips in two folders, recording dates
spread over ten years) and a model stand-in that returns a random unit vector, so only the
search core is timed: the plain query, `--in` (half the videos), `--after/--before` (a tenth),
`--per-video 1`, and `--like`. Each round runs every variant once, in turn, so load on a
shared machine hits them alike; the ratios to the plain query are what counts.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

CLIPS_PER_VIDEO = 200
DIM = 512
YEAR = 365.25 * 86_400


class RandomModel:
    card = SimpleNamespace(name="bench", header="meanP")
    fingerprint = "bench"
    embed_dim = DIM
    can_rerank = False

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def embed_texts(self, texts):
        vectors = self.rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(db: Path, clips: int) -> None:
    from vidsearch.store import VideoMeta, open_store

    rng = np.random.default_rng(clips)
    with open_store(db) as store:
        store.prepare_for_model("bench", "bench", DIM)
        for video in range(clips // CLIPS_PER_VIDEO):
            vectors = rng.standard_normal((CLIPS_PER_VIDEO, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            spans = [(5.0 * i, 5.0 * i + 10) for i in range(CLIPS_PER_VIDEO)]
            times = np.arange(0, 5.0 * CLIPS_PER_VIDEO + 5, 5.0)
            frames = rng.standard_normal((len(times), DIM)).astype(np.float32)
            store.write_video(f"/bench/{'ab'[video % 2]}/video{video:06d}.mp4", size=1,
                              mtime_ns=1, content_hash=None,
                              meta=VideoMeta(times[-1], 30, 1280, 720), frame_times=times,
                              frame_vectors=frames, clip_spans=spans, clip_vectors=vectors,
                              recorded_at=(40 + 10 * video / (clips // CLIPS_PER_VIDEO)) * YEAR)


def main() -> None:
    from vidsearch import search
    from vidsearch.search import Filters
    from vidsearch.store import open_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    flags = sorted(set(re.findall(r"\b(avx2|avx512[a-z_0-9]*|amx[a-z_0-9]*)\b", lscpu)))
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "lib.db"
        started = time.monotonic()
        build(db, args.clips)
        print(f"{args.clips} clips built in {time.monotonic() - started:.0f} s; "
              f"CPU flags: {' '.join(flags) or 'none'}")
        model = RandomModel()
        with open_store(db, create=False) as store:
            source = search.like_source(store, "/bench/a/video000000.mp4")
            variants = {
                "plain": lambda: search.search_text(store, model, "q", k=20),
                "--in (1/2)": lambda: search.search_text(
                    store, model, "q", k=20, filters=Filters.create(["/bench/a"])),
                "--after/--before (1/10)": lambda: search.search_text(
                    store, model, "q", k=20, filters=Filters(after=44 * YEAR, before=45 * YEAR)),
                "--per-video 1": lambda: search.search_text(store, model, "q", k=20,
                                                            filters=Filters(per_video=1)),
                "--like": lambda: search.search_like(store, source, k=20),
            }
            timings: dict[str, list[float]] = {name: [] for name in variants}
            for run in variants.values():
                run()  # warm: the bit index is read once
            for _ in range(args.rounds):
                for name, run in variants.items():
                    t = time.perf_counter()
                    run()
                    timings[name].append(time.perf_counter() - t)
    plain = statistics.median(timings["plain"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:26s} median {median * 1000:7.2f} ms  x{median / plain:.2f} of plain")


if __name__ == "__main__":
    main()
