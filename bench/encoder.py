"""Frame-encoder throughput per precision and batch size, on the CPU and on CUDA when present.

    python bench/encoder.py [--batches 32 64 128 256] [--frames 256]

Times `VideoTextModel.embed_frames` (pixel normalisation, the host-to-device copy from pinned
memory on CUDA, the image tower) on --frames uint8 frames of the random-weight ViT-B/32 of
bench/_setup.py, for each precision the device offers: CPU fp32 and bf16 (bf16 weights in the
image tower), CUDA fp32 and fp16 (autocast) and bf16. Prints frames per second (best of 3) and
the lowest cosine of each precision's vectors against fp32's on the same frames.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _setup import REPO, describe_machine, git_revision, install_random_vit_b32, use_home


def frames_per_second(model, frames: np.ndarray, rounds: int = 3) -> tuple[float, np.ndarray]:
    model.embed_frames(frames[: model.frame_batch])  # first calls build kernels
    best, vectors = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        vectors = model.embed_frames(frames)
        if model.device == "cuda":
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return len(frames) / best, vectors


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--frames", type=int, default=256)
    args = parser.parse_args()

    import torch

    from vidsearch.model import load_model
    from vidsearch.model.threads import use_threads_for

    use_threads_for("index")  # the encoder's process kind; model loading no longer sets it

    use_home(REPO / "bench" / "_media" / "home")
    name = install_random_vit_b32()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rng = np.random.default_rng(0)
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print("| device | precision | batch | frames/s | min cosine vs fp32 |")
    print("| --- | --- | --- | --- | --- |")
    for device in devices:
        precisions = ["fp32", "bf16"] + (["fp16"] if device == "cuda" else [])
        reference = frames = None
        for precision in precisions:
            model = load_model(name, device=device, precision=precision, text=False)
            if frames is None:
                size = model.image_size
                frames = rng.integers(0, 256, (args.frames, size, size, 3), dtype=np.uint8)
            for batch in args.batches:
                model.frame_batch = batch
                speed, vectors = frames_per_second(model, frames)
                if reference is None:
                    reference = vectors
                print(f"| {device} | {model.precision} | {batch} | {speed:.1f} | "
                      f"{min_cosine(vectors, reference):.5f} |", flush=True)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
