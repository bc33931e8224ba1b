"""Search latency at the real frame density: text and image queries, warm and cold, at N clips.

    python bench/search.py --sizes 100000 1000000 [--json]

Fills a library with N random unit clip vectors through the store's own write path (videos of
200 clips, 10 s windows every 5 s, one frame vector per second as `vidsearch index` stores),
then, with the query models loaded once as `find` loads them (the text and image towers' ONNX
exports, made on the first run), times `search_text` and `search_image` for k = 20
(query tower, shortlist, re-score, window merging and best moments included), alternating the
two so that their ratio comes from the same moments of a shared machine; and `vidsearch find`
for both in a new process (cold). It prints the store's bytes per video-second. `--json` adds
one JSON line per size. Libraries are kept in bench/_media/ between runs (delete to rebuild).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _setup import REPO, describe_machine, git_revision, install_random_vit_b32, use_home

CLIPS_PER_VIDEO = 200
STRIDE_S, WINDOW_S = 5.0, 10.0
K = 20
QUERIES = ["a dog catching a frisbee", "birthday cake with candles", "waves on a beach",
           "a child riding a bicycle", "snow falling at night", "a cat on a sofa"]


def build_library(db: Path, clips: int, fingerprint: str, model_name: str, dim: int) -> None:
    from vidsearch.store import VideoMeta, open_store

    if db.exists():
        return
    rng = np.random.default_rng(clips)
    started = time.monotonic()
    partial = db.with_suffix(".partial.db")
    for leftover in db.parent.glob(partial.name + "*"):
        leftover.unlink()
    spans = [(STRIDE_S * i, STRIDE_S * i + WINDOW_S) for i in range(CLIPS_PER_VIDEO)]
    duration = spans[-1][1]
    frame_times = np.arange(0.0, duration + 1.0, 1.0)  # one frame per second, as indexed
    with open_store(partial) as store:
        store.prepare_for_model(fingerprint, model_name, dim)
        for video in range(clips // CLIPS_PER_VIDEO):
            clip_vectors = unit_rows(rng.standard_normal((CLIPS_PER_VIDEO, dim)))
            frame_vectors = unit_rows(rng.standard_normal((len(frame_times), dim)))
            store.write_video(f"/bench/video{video:06d}.mp4", size=1, mtime_ns=1,
                              content_hash=None, meta=VideoMeta(duration, 30, 1280, 720),
                              frame_times=frame_times, frame_vectors=frame_vectors,
                              clip_spans=spans, clip_vectors=clip_vectors)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(db)
    print(f"  built {clips:,} clips in {time.monotonic() - started:.0f} s", flush=True)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def query_images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (360, 640, 3), dtype=np.uint8) for _ in range(count)]


class Encoded:
    """A model whose query vector is already computed: times the search without the tower."""

    def __init__(self, model, vector: np.ndarray) -> None:
        self._model, self._vector = model, vector

    def __getattr__(self, name):
        return getattr(self._model, name)

    def embed_texts(self, texts):
        return self._vector[None]

    def embed_image(self, image):
        return self._vector


def time_warm(db: Path, text_model, image_model, rounds: int) -> tuple[dict, dict]:
    """Per kind of query, its times (towers included, then the search alone), alternated; and
    the library's size facts."""
    from vidsearch.search import search_image, search_text
    from vidsearch.store import open_store

    images = query_images(4)
    text_vectors = text_model.embed_texts(QUERIES)
    image_vectors = [image_model.embed_image(image) for image in images]
    times: dict[str, list[float]] = {"text": [], "image": [], "text_search": [],
                                     "image_search": []}

    def timed(kind: str, call) -> None:
        started = time.perf_counter()
        call()
        times[kind].append(time.perf_counter() - started)

    with open_store(db, create=False) as store:
        search_text(store, text_model, "warm up", k=K)  # reads the clip bits
        search_image(store, image_model, images[0], k=K)  # reads the frame bits
        for i in range(rounds):
            query, image = QUERIES[i % len(QUERIES)], images[i % len(images)]
            timed("text", lambda: search_text(store, text_model, query, k=K))
            timed("image", lambda: search_image(store, image_model, image, k=K))
            text_only = Encoded(text_model, text_vectors[i % len(QUERIES)])
            image_only = Encoded(image_model, image_vectors[i % len(images)])
            timed("text_search", lambda: search_text(store, text_only, query, k=K))
            timed("image_search", lambda: search_image(store, image_only, image, k=K))
        stats = store.stats()
        seconds = store.conn.execute("SELECT sum(duration) FROM videos").fetchone()[0]
    return times, {"clips": stats.clips, "frames": stats.frames, "video_seconds": seconds}


def time_cold(db: Path, model_name: str, image: Path, rounds: int) -> tuple[list, list]:
    """`vidsearch find` in a new process, text and image alternated."""
    def once(*query: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vidsearch", "find", *query, "--db", str(db),
                        "--model", model_name, "-k", str(K)],
                       check=True, capture_output=True, cwd=REPO)
        return time.perf_counter() - started

    text, picture = [], []
    for i in range(rounds):
        text.append(once(QUERIES[i % len(QUERIES)]))
        picture.append(once("--image", str(image)))
    return text, picture


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def tower_p50(call, inputs: list) -> float:
    times = []
    for i in range(10):
        started = time.perf_counter()
        call(inputs[i % len(inputs)])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON line per size as well")
    args = parser.parse_args()

    media = REPO / "bench" / "_media"
    use_home(media / "home")
    import torch
    from PIL import Image

    from vidsearch.config import read_run_settings
    from vidsearch.query_models import QueryModels

    name = install_random_vit_b32()
    # What `vidsearch find` loads for a text query: the ONNX export once made (the first
    # load makes it on torch), else the torch text tower.
    QueryModels(name, device="cpu").for_text()
    text_model = QueryModels(name, device="cpu").for_text()
    # What `vidsearch find --image` loads: the image tower's ONNX export (the first load
    # makes it with the torch model, which is timed alongside for reference).
    torch_model = QueryModels(name, device="cpu").for_image()  # the full model: makes it
    # With the precision `find` runs with (auto unless VIDSEARCH_PRECISION says otherwise):
    # on a CPU with bf16 the first load measures OpenVINO bf16 against ONNX Runtime.
    image_model = QueryModels(name, device="cpu", precision=read_run_settings().precision
                              ).for_image()
    torch.set_num_threads(1)
    image_file = media / "query.png"
    Image.fromarray(query_images(1)[0]).save(image_file)
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print(f"model: {name} (ViT-B/32, random weights), 1 thread (as `find`); k = {K}")
    print(f"query models: text {type(text_model).__name__}, image {type(image_model).__name__}"
          f" on {getattr(image_model, 'image_runtime', 'torch')}")
    print(f"text tower alone: p50 {tower_p50(lambda q: text_model.embed_texts([q]), QUERIES):.1f}"
          f" ms; image tower alone: p50 "
          f"{tower_p50(image_model.embed_image, query_images(4)):.1f} ms "
          f"(torch, one thread: {tower_p50(torch_model.embed_image, query_images(4)):.1f} ms)")
    del torch_model
    print("| clips | frames | text p50 / p95 ms | image p50 / p95 ms | image/text p50 | "
          "search alone p50 ms: text / image (ratio) | cold text s | cold image s | "
          "store B per video-s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        db = media / f"search-{size}-1fps.db"
        build_library(db, size, text_model.fingerprint, name, text_model.embed_dim)
        times, facts = time_warm(db, text_model, image_model, args.rounds)
        text, image = times["text"], times["image"]
        cold_text, cold_image = time_cold(db, name, image_file, args.cold_rounds)
        store_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
        row = {"clips": facts["clips"], "frames": facts["frames"],
               "text_p50_ms": round(percentile(text, 50), 1),
               "text_p95_ms": round(percentile(text, 95), 1),
               "image_p50_ms": round(percentile(image, 50), 1),
               "image_p95_ms": round(percentile(image, 95), 1),
               "cold_text_s": round(statistics.median(cold_text), 2),
               "cold_image_s": round(statistics.median(cold_image), 2),
               "text_search_p50_ms": round(percentile(times["text_search"], 50), 1),
               "image_search_p50_ms": round(percentile(times["image_search"], 50), 1),
               "store_bytes_per_video_s": round(store_bytes / facts["video_seconds"])}
        print(f"| {row['clips']:,} | {row['frames']:,} | {row['text_p50_ms']} / "
              f"{row['text_p95_ms']} | {row['image_p50_ms']} / {row['image_p95_ms']} | "
              f"{row['image_p50_ms'] / row['text_p50_ms']:.2f} | {row['text_search_p50_ms']} / "
              f"{row['image_search_p50_ms']} "
              f"({row['image_search_p50_ms'] / row['text_search_p50_ms']:.2f}) | "
              f"{row['cold_text_s']} | "
              f"{row['cold_image_s']} | {row['store_bytes_per_video_s']} |", flush=True)
        if args.json:
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
