"""Query start-up and text-encoder latency: ONNX Runtime against torch, in one interleaved run.

    python bench/query_start.py --rounds 5 --queries 30

Cold: each round times, in fresh processes one after another, `python -c "import torch"`,
`vidsearch find "..."` on the checked ONNX export, the same `find` on torch (a home whose
export is marked as failed, so the query falls back), `vidsearch --help` and `python -c pass`
(whole processes); and from launch to the first result shown (the first byte on stdout),
`find` on the export and `vidsearch tui` (bench/_tui_first_result.py: the real app and
backend, headless, printing as its table fills).
Warm: the text tower for one query (batch 1, one thread), torch and ONNX Runtime alternating.
The model is a random-weight ViT-B/32 (bench/_setup.py); the library is 1,000 random clips, so
the cold figures are start-up, not search. Homes are kept in bench/_media/ (delete to rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _setup import REPO, describe_machine, git_revision, install_random_vit_b32, use_home

QUERIES = ["a dog catching a frisbee", "birthday cake with candles", "waves on a beach",
           "a child riding a bicycle", "snow falling at night", "a cat on a sofa"]
CLIPS, CLIPS_PER_VIDEO = 1000, 100


def build_home(home: Path) -> str:
    """The benchmark model, a small library, and the text tower's checked export."""
    from vidsearch.model.locate import locate_model
    from vidsearch.model.query_text import load_query_text_model
    from vidsearch.store import VideoMeta, open_store

    use_home(home)
    name = install_random_vit_b32()
    os.environ["VIDSEARCH_MODEL"] = name
    located = locate_model(name)
    db = home / "data" / "library.db"
    if not db.exists():
        rng = np.random.default_rng(0)
        with open_store(db) as store:
            store.prepare_for_model(located.fingerprint, name, 512)
            for video in range(CLIPS // CLIPS_PER_VIDEO):
                vectors = rng.standard_normal((CLIPS_PER_VIDEO, 512)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                times = np.arange(0, 5.0 * CLIPS_PER_VIDEO + 5, 1.0)
                frames = rng.standard_normal((len(times), 512)).astype(np.float32)
                store.write_video(f"/bench/video{video:04d}.mp4", size=1, mtime_ns=1,
                                  content_hash=None, meta=VideoMeta(times[-1], 30, 1280, 720),
                                  frame_times=times, frame_vectors=frames,
                                  clip_spans=[(5.0 * i, 5.0 * i + 10)
                                              for i in range(CLIPS_PER_VIDEO)],
                                  clip_vectors=vectors)
    load_query_text_model(name)  # the first query makes and checks the export
    return name


def torch_home(home: Path, fingerprint: str) -> Path:
    """A copy of `home` whose export is marked failed: its queries fall back to torch."""
    from vidsearch.model.exports import EXPORTS_DIRNAME, check_path

    other = home.parent / "query-home-torch"
    if not other.exists():
        shutil.copytree(home, other)
    check_file = check_path(other / "cache" / EXPORTS_DIRNAME / fingerprint / "text.onnx")
    check = json.loads(check_file.read_text())
    check_file.write_text(json.dumps({**check, "passed": False}))
    return other


def time_process(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_to_output(argv: list[str], env: dict) -> float:
    """Seconds from launch to the process's first byte on stdout: when a user sees results
    (find prints its table at once; the TUI probe prints as its table fills)."""
    started = time.perf_counter()
    with subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as process:
        if not process.stdout.read(1):
            raise RuntimeError(f"{argv} printed nothing")
        seen = time.perf_counter() - started
        process.stdout.read()
    if process.returncode:
        raise RuntimeError(f"{argv} failed ({process.returncode})")
    return seen


def time_warm(name: str, queries: int) -> dict[str, list[float]]:
    import torch

    from vidsearch.model.onnx_text import OnnxTextModel
    from vidsearch.model.query_text import load_query_text_model
    from vidsearch.model.text_query import load_text_query_model

    torch.set_num_threads(1)
    models = {"torch": load_text_query_model(name), "onnxruntime": load_query_text_model(name)}
    assert isinstance(models["onnxruntime"], OnnxTextModel)
    cosine = float(np.sum(models["torch"].embed_texts(QUERIES)
                          * models["onnxruntime"].embed_texts(QUERIES), axis=-1).min())
    timings: dict[str, list[float]] = {key: [] for key in models}
    for i in range(queries):
        for key, model in models.items():  # alternating, so load drifts hit both alike
            started = time.perf_counter()
            model.embed_texts([QUERIES[i % len(QUERIES)]])
            timings[key].append(time.perf_counter() - started)
    timings["min_cosine"] = [cosine]
    return timings


def cpu_flags() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    wanted = sorted({f for f in flags if f == "avx2" or f.startswith(("avx512", "amx"))})
    return " ".join(wanted) or "none of avx2/avx512/amx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()

    home = REPO / "bench" / "_media" / "query-home"
    name = build_home(home)
    from vidsearch.model.locate import locate_model

    fingerprint = locate_model(name).fingerprint
    fallback = torch_home(home, fingerprint)
    base = {k: v for k, v in os.environ.items() if k != "VIDSEARCH_HOME"}
    onnx_env = {**base, "VIDSEARCH_HOME": str(home), "VIDSEARCH_MODEL": name}
    torch_env = {**onnx_env, "VIDSEARCH_HOME": str(fallback)}
    find = [sys.executable, "-m", "vidsearch", "find", "-k", "20"]
    tui = [sys.executable, str(REPO / "bench" / "_tui_first_result.py")]
    cold: dict[str, list[float]] = {"import torch": [], "find (onnx)": [], "find (torch)": [],
                                    "--help": [],
                                    "python -c pass": []}
    shown: dict[str, list[float]] = {"find (onnx)": [], "tui (onnx)": []}
    for i in range(args.rounds):
        query = QUERIES[i % len(QUERIES)]
        cold["import torch"].append(time_process([sys.executable, "-c", "import torch"],
                                                 onnx_env))
        cold["find (onnx)"].append(time_process([*find, query], onnx_env))
        cold["find (torch)"].append(time_process([*find, query], torch_env))
        shown["find (onnx)"].append(time_to_output([*find, query], onnx_env))
        shown["tui (onnx)"].append(time_to_output([*tui, query], onnx_env))
        cold["--help"].append(time_process([sys.executable, "-m", "vidsearch", "--help"],
                                           onnx_env))
        cold["python -c pass"].append(time_process([sys.executable, "-c", "pass"], onnx_env))
    warm = time_warm(name, args.queries)

    print(f"# {describe_machine()}; CPU flags: {cpu_flags()}; load {os.getloadavg()[0]:.1f}; "
          f"revision {git_revision()}")
    torch_median = statistics.median(cold["import torch"])
    print("| cold, median of %d rounds | s | x `import torch` |" % args.rounds)
    print("| --- | --- | --- |")
    for key, values in cold.items():
        median = statistics.median(values)
        print(f"| {key} | {median:.2f} | {median / torch_median:.2f} |")
    onnx_ms = statistics.median(warm["onnxruntime"]) * 1000
    torch_ms = statistics.median(warm["torch"]) * 1000
    print(f"\n| warm text tower, batch 1, 1 thread, {args.queries} queries | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    for key in ("torch", "onnxruntime"):
        values = sorted(warm[key])
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"| {key} | {statistics.median(values) * 1000:.1f} | {p95 * 1000:.1f} |")
    print(f"\n| launch to the first result shown, median of {args.rounds} | s |")
    print("| --- | --- |")
    for key, values in shown.items():
        print(f"| {key} | {statistics.median(values):.2f} |")
    print(f"\ntui / find, launch to first result: "
          f"{statistics.median(shown['tui (onnx)']) / statistics.median(shown['find (onnx)']):.2f}")
    print(f"\nonnxruntime / torch warm p50: {onnx_ms / torch_ms:.2f}; "
          f"min cosine {warm['min_cosine'][0]:.6f}")


if __name__ == "__main__":
    main()
