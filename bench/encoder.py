"""Image-tower throughput per runtime, precision and batch size, interleaved in one run.

    python bench/encoder.py [--batches 32 64] [--frames 128] [--rounds 5] [--runtimes ...]

Frames are real-looking: decoded by vidsearch's sampler from bench/index.py's generated
library (textured noise scrolling under a moving box, H.264), resized to the model's size.
Each configuration encodes the same --frames frames (pixel normalisation included) in batches
of --batches; the configurations take turns, round after round, so a busy machine slows all of
them alike: ratios to torch fp32 are taken within each round, and their median is printed.

Runtimes: torch (`VideoTextModel.embed_frames`), ONNX Runtime (CPU provider) and OpenVINO
(CPU), the two last on the image tower exported to ONNX once per run, by the export the indexer
uses (`vidsearch/model/image_runtime.py`). Precisions: fp32, and
bf16 only where the CPU has bf16 arithmetic (AVX-512 BF16 or AMX): elsewhere it is emulated
and not worth timing. Cosine: each configuration's vectors against torch fp32's, lowest frame.
It times the CPU (the machine indexing without a GPU); on CUDA the indexer uses torch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _setup import REPO, cpu_flags, describe_machine, git_revision, install_random_vit_b32, use_home


def real_looking_frames(count: int, size: int) -> np.ndarray:
    from index import build_library

    from vidsearch.video import FrameSampler

    frames: list[np.ndarray] = []
    for path in build_library(REPO / "bench" / "_media" / "library", 3.0):
        for chunk in FrameSampler(path, size=size):
            frames.extend(chunk.frames)
            if len(frames) >= count:
                return np.stack(frames[:count])
    return np.stack(frames)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def torch_encoder(model, batch: int):
    def encode(frames: np.ndarray) -> np.ndarray:
        model.frame_batch = batch
        return model.embed_frames(frames)
    return encode


def normaliser(model):
    mean = model._mean.cpu().numpy().reshape(1, 3, 1, 1)
    std = model._std.cpu().numpy().reshape(1, 3, 1, 1)

    def normalise(frames: np.ndarray) -> np.ndarray:
        pixels = frames.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)
        return np.ascontiguousarray((pixels - mean) / std, dtype=np.float32)
    return normalise


def batched(run, normalise, batch: int):
    def encode(frames: np.ndarray) -> np.ndarray:
        return np.concatenate([run(normalise(frames[i:i + batch]))
                               for i in range(0, len(frames), batch)])
    return encode


def openvino_runner(onnx_path: Path, threads: int, precision: str):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", {
        "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    })
    request = compiled.create_infer_request()

    def run(pixels: np.ndarray) -> np.ndarray:
        return np.array(request.infer({0: pixels})[0], copy=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtimes", nargs="+", default=["torch", "onnxruntime", "openvino"])
    args = parser.parse_args()

    from vidsearch.model import load_model
    from vidsearch.model.image_runtime import export_image_tower, onnx_session
    from vidsearch.model.precision import fast_bf16_feature
    from vidsearch.model.threads import use_threads_for

    threads = use_threads_for("index")  # the encoder's process kind, as `vidsearch index`
    use_home(REPO / "bench" / "_media" / "home")
    name = install_random_vit_b32()
    print(f"machine: {describe_machine()}; CPU flags: {cpu_flags()}; revision {git_revision()}")
    fp32 = load_model(name, device="cpu", precision="fp32", text=False)
    frames = real_looking_frames(args.frames, fp32.image_size)
    precisions = ["fp32"] + (["bf16"] if fast_bf16_feature() else [])
    print(f"{len(frames)} frames, {threads} threads; precisions timed: {', '.join(precisions)}"
          + ("" if "bf16" in precisions else " (no bf16 arithmetic on this CPU)"))

    configs: dict[tuple[str, str, int], object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "image.onnx"
        if set(args.runtimes) & {"onnxruntime", "openvino"}:
            started = time.perf_counter()
            export_image_tower(fp32.module.clip, fp32.image_size, onnx_path)
            print(f"ONNX export of the image tower: {time.perf_counter() - started:.1f} s")
        normalise = normaliser(fp32)
        for precision in precisions:
            model = fp32 if precision == "fp32" else load_model(name, device="cpu",
                                                                 precision="bf16", text=False)
            for batch in args.batches:
                if "torch" in args.runtimes:
                    configs[("torch", precision, batch)] = torch_encoder(model, batch)
                if "onnxruntime" in args.runtimes and precision == "fp32":
                    # ONNX Runtime has no bf16 CPU kernels for these operators.
                    configs[("onnxruntime", precision, batch)] = batched(
                        onnx_session(onnx_path, threads), normalise, batch)
                if "openvino" in args.runtimes:
                    configs[("openvino", precision, batch)] = batched(
                        openvino_runner(onnx_path, threads, precision), normalise, batch)

        vectors, seconds = {}, {key: [] for key in configs}
        for key, encode in configs.items():
            vectors[key] = encode(frames[:min(8, len(frames))])  # first calls build kernels
        for _ in range(args.rounds):
            for key, encode in configs.items():
                started = time.perf_counter()
                vectors[key] = encode(frames)
                seconds[key].append(time.perf_counter() - started)

    reference_key = ("torch", "fp32", args.batches[0])
    reference = vectors.get(reference_key)
    print("| runtime | precision | batch | frames/s (median) | best | x torch fp32 same batch "
          "(median of rounds) | min cosine vs torch fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, times in seconds.items():
        runtime, precision, batch = key
        base = seconds.get(("torch", "fp32", batch))
        ratio = (statistics.median(b / t for b, t in zip(base, times)) if base else float("nan"))
        cosine = min_cosine(vectors[key], reference) if reference is not None else float("nan")
        print(f"| {runtime} | {precision} | {batch} | {len(frames) / statistics.median(times):.1f}"
              f" | {len(frames) / min(times):.1f} | {ratio:.2f} | {cosine:.6f} |", flush=True)


if __name__ == "__main__":
    main()
