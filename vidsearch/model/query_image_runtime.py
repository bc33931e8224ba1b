"""Which runtime encodes an image query's picture: ONNX Runtime in fp32, or, on a CPU with bf16
arithmetic in hardware, OpenVINO compiling the same checked export with bf16 arithmetic.

One picture through ViT-B/32 is most of an image query (~70 ms of ~105 at 1M clips on the
AVX-512 BF16 EPYC of bench/RESULTS.md); OpenVINO's bf16 kernels run it in ~30. Chosen like
the indexing runtime (image_runtime.py), by measurement on this machine: probe pictures one
at a time through each, OpenVINO used where it is >= MIN_SPEEDUP times ONNX Runtime and agrees
with it (cosine >= MIN_COSINE on every picture; ONNX Runtime's vectors are torch's fp32
ones). The verdict is remembered per architecture and machine (verdicts.py). Nothing is timed
and OpenVINO is never imported on a CPU without bf16 (its fp32 was no faster than ONNX
Runtime's there) or where OpenVINO is not installed (it is optional: `vidsearch[openvino]`).
No torch here: this serves a query-only install too.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsearch.config import cache_dir
from vidsearch.model import precision
from vidsearch.model.image_runtime import openvino_bf16
from vidsearch.model.pixels import Preprocess
from vidsearch.model.verdicts import remembered_verdict

log = logging.getLogger(__name__)

Run = Callable[[np.ndarray], np.ndarray]  # normalised pixels [N, 3, S, S] -> features [N, D]

MIN_SPEEDUP = 1.3  # bf16 changes the vectors a little: only a clear gain is worth it
MIN_COSINE = 0.9999
PROBE_PICTURES = 8
CHOICES_FILE = "image_query_runtime.json"


@dataclass(frozen=True)
class QueryRuntimeChoice:
    use_openvino: bool
    speedup: float  # OpenVINO bf16's speed over ONNX Runtime's, one picture at a time
    min_cosine: float
    checks: int = 1


def measure(reference: Run, candidate: Run, pictures: np.ndarray,
            clock: Callable[[], float] = time.perf_counter) -> QueryRuntimeChoice:
    """Warm both, then time the probe pictures one at a time through each, reference first."""
    timings, outputs = [], []
    for run in (reference, candidate):
        run(pictures[:1])
        started = clock()
        outputs.append(np.concatenate([run(pictures[i:i + 1]) for i in range(len(pictures))]))
        timings.append(clock() - started)
    a, b = outputs
    cosine = float(((a * b).sum(1) / np.maximum(
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)).min())
    speedup = timings[0] / max(timings[1], 1e-9)
    choice = QueryRuntimeChoice(speedup >= MIN_SPEEDUP and cosine >= MIN_COSINE, speedup,
                                cosine)
    log.info("image queries: OpenVINO bf16 is %.2fx ONNX Runtime here (min cosine %.6f): "
             "using %s", speedup, cosine, "OpenVINO" if choice.use_openvino else "ONNX Runtime")
    return choice


def pick_query_runtime(*, arch: str, graph: Path, preprocess: Preprocess, onnx_run: Run,
                       threads: int) -> tuple[Run, str]:
    """OpenVINO bf16 where it is measured faster and faithful here, else `onnx_run`; with the
    runtime's name."""
    # No torch to ask where the CPU cannot say (no /proc/cpuinfo): measure there.
    if (precision.fast_bf16_feature(capability="unknown") is None
            or importlib.util.find_spec("openvino") is None):
        return onnx_run, "onnxruntime"
    try:
        compiled: list[Run] = []

        def measured() -> QueryRuntimeChoice:
            compiled.append(openvino_bf16(graph, threads))
            pictures = preprocess.normalise(
                precision.probe_frames(preprocess.image_size, PROBE_PICTURES))
            return measure(onnx_run, compiled[0], pictures)

        choice = remembered_verdict(cache_dir() / CHOICES_FILE,
                                    precision.machine_key(f"{arch}|image-query|openvino-bf16"),
                                    measured, QueryRuntimeChoice, "image query runtime",
                                    line=MIN_SPEEDUP, cosine_floor=MIN_COSINE)
        if not choice.use_openvino:
            return onnx_run, "onnxruntime"
        return (compiled[0] if compiled else openvino_bf16(graph, threads)), "openvino"
    except Exception as exc:  # noqa: BLE001 - an OpenVINO problem must not fail the query
        log.warning("image queries: OpenVINO unavailable (%s: %s): using ONNX Runtime",
                    type(exc).__name__, exc)
        return onnx_run, "onnxruntime"
