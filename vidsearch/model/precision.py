"""Which precision frames are encoded in on a CPU: bf16 where it is fast and faithful, else fp32.

Many CPUs (AVX-512 BF16, AMX) run a ViT with bf16 weights several times faster; others
emulate it and get slower. So the choice is measured once per run on the model itself: a small
fixed batch through fp32 and through bf16, keeping bf16 only when it is clearly faster and its
vectors agree with fp32's (cosine >= 0.99 on every frame). The verdict is remembered per
architecture and machine, so every run indexes with the same precision and pays for the check once.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MIN_COSINE = 0.99
MIN_SPEEDUP = 1.3
PROBE_FRAMES = 8
# Part of the remembered key: verdicts measured another way (bf16 autocast) are measured again.
PROBE_METHOD = "bf16-weights"


@dataclass(frozen=True)
class PrecisionChoice:
    use_bf16: bool
    speedup: float
    min_cosine: float


def probe_frames(size: int, count: int = PROBE_FRAMES) -> np.ndarray:
    """A fixed batch with structure and texture, so the check is the same on every run."""
    rng = np.random.default_rng(1234)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128.0), axis=-1)
    noise = rng.normal(0, 40, size=(count, size, size, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


def choose_cpu_precision(encode: Callable[[np.ndarray, bool], np.ndarray], size: int,
                         clock: Callable[[], float] = time.perf_counter) -> PrecisionChoice:
    """`encode(frames, bf16)` -> features. Warm each path once, then time one batch each."""
    frames = probe_frames(size)
    timings, outputs = {}, {}
    for bf16 in (False, True):
        encode(frames[:2], bf16)  # first calls build kernels; do not time them
        started = clock()
        outputs[bf16] = encode(frames, bf16)
        timings[bf16] = clock() - started
    speedup = timings[False] / max(timings[True], 1e-9)
    reference, candidate = outputs[False], outputs[True]
    cosines = np.sum(reference * candidate, axis=1) / np.maximum(
        np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1), 1e-12)
    choice = PrecisionChoice(bool(speedup >= MIN_SPEEDUP and cosines.min() >= MIN_COSINE),
                             float(speedup), float(cosines.min()))
    log.info("CPU precision: %s (bf16 %.1fx faster than fp32, min cosine %.4f)",
             "bf16" if choice.use_bf16 else "fp32", choice.speedup, choice.min_cosine)
    return choice


def remembered_choice(cache_file: Path, key: str,
                      measure: Callable[[], PrecisionChoice]) -> PrecisionChoice:
    """The choice recorded for `key` in `cache_file`, measuring and recording it if absent."""
    try:
        known = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), dict):
        try:
            return PrecisionChoice(**known[key])
        except TypeError:
            pass  # an older record: measure again
    choice = measure()
    known = known if isinstance(known, dict) else {}
    known[key] = asdict(choice)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + ".tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError as exc:
        log.debug("cannot record the precision choice in %s: %s", cache_file, exc)
    return choice


def machine_key(architecture: str) -> str:
    """Speed and agreement depend on the architecture, not on its weights: every model of one
    architecture gets the same verdict, so their vectors are made the same way."""
    import torch

    return "|".join([architecture, _cpu_name(), platform.machine(), torch.__version__,
                     PROBE_METHOD])


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"
