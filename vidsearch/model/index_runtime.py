"""Whether an index run's frames can go through ONNX Runtime with no torch in the process,
decided before anything loads.

On a CPU the torch model decides, on a run's first frames, the precision (precision.py) and
then the runtime (image_runtime.py) frames are encoded with, and remembers each verdict per
machine. Once both are settled (fp32, then ONNX Runtime, neither due to be measured again) and
the checked image export they were decided on is in the cache, all the torch model would do is
hand each batch to that export and pool clips in numpy: `OnnxFrameEncoder` does that without
importing torch or open_clip, which is most of an index run's start-up on a CPU. Anything else
(a GPU there may be, a precision asked for by name, a 3d patch or a header with weights, a
verdict still to be measured, no export) goes to torch, which decides as before.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidsearch.config import cache_dir
from vidsearch.model import image_runtime, precision
from vidsearch.model.cards import ModelCard
from vidsearch.model.exports import export_path, preprocess_path, read_check
from vidsearch.model.pixels import Preprocess
from vidsearch.model.verdicts import settled_verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxIndexing:
    """The export an index run can encode its frames with, and why it may."""

    graph: Path
    preprocess: Preprocess
    speedup: float  # the export's runtime over torch, as the verdict measured it
    frames: str = "fp32"  # the precision frames are encoded in: ONNX Runtime fp32, OpenVINO bf16


def cuda_may_be_present() -> bool:
    """False only where no CUDA device can be: macOS, or Linux without NVIDIA's driver loaded
    (it makes /proc/driver/nvidia). Elsewhere torch is asked, as `--device auto` always did."""
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia").exists()
    return True


def plan_onnx_indexing(card: ModelCard, fingerprint: str, *, device: str, precision_name: str,
                       image_size: int | None,
                       cpu_feature: Callable[[], str | None] | None = None
                       ) -> OnnxIndexing | None:
    """The settled ONNX export for indexing with `card`, or None (said in the debug log)."""
    plan, reason = _plan(card, fingerprint, device, precision_name, image_size, cpu_feature)
    if plan is None:
        log.debug("indexing loads torch: %s", reason)
    return plan


def _plan(card, fingerprint, device, precision_name, image_size, cpu_feature):
    if precision_name != "auto":
        return None, f"precision {precision_name} was asked for"
    if device not in ("auto", "cpu") or (device == "auto" and cuda_may_be_present()):
        return None, f"device {device} may be a GPU"
    if card.patch != "2d" or card.header != "meanP":
        return None, f"{card.patch} patch, {card.header} header: torch encodes them"
    frames = "fp32"
    if (cpu_feature or precision.fast_bf16_feature)() is not None:
        chosen = settled_verdict(cache_dir() / precision.CHOICES_FILE,
                                 precision.machine_key(f"{card.arch}|{card.patch}"),
                                 precision.PrecisionChoice, line=precision.MIN_SPEEDUP,
                                 cosine_floor=precision.MIN_COSINE)
        if chosen is None:
            return None, "the CPU precision is still measured on this CPU"
        frames = "bf16" if chosen.use_bf16 else "fp32"
    if importlib.util.find_spec(image_runtime.MODULES[frames]) is None:
        return None, f"{image_runtime.MODULES[frames]} is not installed"
    name = image_runtime.RUNTIME_NAMES[frames]
    runtime = settled_verdict(cache_dir() / image_runtime.CHOICES_FILE,
                              precision.machine_key(f"{card.arch}|{card.patch}|{name}"),
                              image_runtime.RuntimeChoice, line=image_runtime.MIN_SPEEDUP,
                              cosine_floor=image_runtime.MIN_COSINE)
    if runtime is None or not runtime.use_onnx:
        return None, f"the image tower's runtime for {frames} frames is torch, or still measured"
    graph = export_path(fingerprint, "image", "onnx")
    check = read_check(graph)
    if check is None or not check.passed:
        return None, "no checked image export for these weights"
    preprocess = Preprocess.read(preprocess_path(graph))
    if preprocess is None or image_size not in (None, preprocess.image_size):
        return None, "the image export has no pixel record for this model's frames"
    return OnnxIndexing(graph, preprocess, runtime.speedup, frames), ""
