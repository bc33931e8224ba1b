"""Which precision frames are encoded in on a CPU: bf16 where it is fast and faithful, else fp32.

Only CPUs with bf16 arithmetic in hardware (x86 AVX-512 BF16 or AMX, Arm's BF16 extension) can
run a ViT faster with bf16 weights; others emulate it and are several times slower. So the
CPU's features decide first, and a CPU without them gets fp32 with no timing at all. Where bf16
can win, the choice is measured on the model itself: a small fixed batch through fp32 and
through bf16, keeping bf16 only when it is clearly faster and its vectors agree with fp32's
(cosine >= 0.99 on every frame). The verdict is remembered per architecture and machine, so
runs index with the same precision; one measured close to the line (a busy machine can tip
it) is remembered with its margin and measured again on the next runs, a few times at most.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsearch.model.verdicts import remembered_verdict

log = logging.getLogger(__name__)

MIN_COSINE = 0.99
MIN_SPEEDUP = 1.3
PROBE_FRAMES = 8
CHOICES_FILE = "cpu_precision.json"
# Part of the remembered key: verdicts measured another way (bf16 autocast) are measured again.
PROBE_METHOD = "bf16-weights"

# The CPU features with bf16 arithmetic in hardware, as /proc/cpuinfo names them.
FAST_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    use_bf16: bool
    speedup: float
    min_cosine: float
    checks: int = 1  # how many measurements this verdict has had


def fast_bf16_feature(cpuinfo: str | None = None, capability: str | None = None) -> str | None:
    """The CPU feature that can make bf16 win ('avx512_bf16', 'amx_bf16', 'bf16' on Arm, or
    'unknown' where the CPU cannot say), or None when bf16 can only be emulated here.

    `cpuinfo`: the text of /proc/cpuinfo (read when None); `capability`: torch's CPU kernel
    level (`torch.backends.cpu.get_cpu_capability()`), the answer where there is no cpuinfo.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    if flags:
        return next((flag for flag in FAST_BF16_FLAGS if flag in flags), None)
    if capability is None:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    # No cpuinfo (macOS, Windows): AVX2 and older x86 kernels have no bf16 arithmetic; AVX-512
    # may, and any other CPU (Apple silicon) is measured.
    if capability.upper() in ("DEFAULT", "NO AVX", "AVX", "AVX2"):
        return None
    return "unknown"


def decide_cpu_precision(cache_file: Path, key: str,
                         measure: Callable[[], PrecisionChoice],
                         cpu_feature: Callable[[], str | None] | None = None
                         ) -> PrecisionChoice:
    """fp32 at once on a CPU without fast bf16 (`cpu_feature`, default `fast_bf16_feature`,
    says); elsewhere the remembered or measured verdict."""
    if (cpu_feature or fast_bf16_feature)() is None:
        log.info("CPU precision: fp32 (this CPU has no bf16 arithmetic: no %s)",
                 " or ".join(FAST_BF16_FLAGS))
        return PrecisionChoice(False, 0.0, 0.0, checks=0)
    return remembered_verdict(cache_file, key, measure, PrecisionChoice, "CPU precision",
                              line=MIN_SPEEDUP, cosine_floor=MIN_COSINE)


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
    log.info("CPU precision: %s", describe_choice(choice))
    return choice


def describe_choice(choice: PrecisionChoice) -> str:
    """The verdict in words: 'bf16 is 4.5x slower here: using fp32'."""
    speedup = choice.speedup
    if speedup >= 1:
        speed = f"bf16 is {'only ' if speedup < MIN_SPEEDUP else ''}{speedup:.1f}x faster here"
    else:
        speed = f"bf16 is {1 / max(speedup, 1e-9):.1f}x slower here"
    if speedup >= MIN_SPEEDUP and choice.min_cosine < MIN_COSINE:
        speed += f" but its vectors drift (min cosine {choice.min_cosine:.3f})"
    return f"{speed}: using {'bf16' if choice.use_bf16 else 'fp32'}"


def machine_key(architecture: str) -> str:
    """Speed and agreement depend on the architecture, not on its weights: every model of one
    architecture gets the same verdict, so their vectors are made the same way. Read without
    importing torch: an index run that needs no torch asks for it (model/index_runtime.py)."""
    return "|".join([architecture, _cpu_name(), platform.machine(), _torch_version(),
                     PROBE_METHOD])


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "no torch"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"
