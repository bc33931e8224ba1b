"""Where a model runs and at what precision: the device asked for (`auto`: CUDA when there is
one) and the autocast that precision means there."""

from __future__ import annotations

import torch

from vidsearch.errors import CannotRunError, UsageError, advised

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def pick_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU (threads: see `vidsearch.model.threads`)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise advised(CannotRunError("CUDA was requested but no CUDA device is available",
                                         "use the cpu or auto device"), "device")
    elif device != "cpu":
        raise UsageError(f"unknown device '{device}'", "use auto, cpu or cuda")
    return torch.device(device)


def pick_autocast(precision: str, device: torch.device) -> torch.dtype | None:
    """None means plain fp32; otherwise the autocast dtype for inference.

    bf16 on a CPU is not autocast: `load_model` gives the image tower bf16 weights instead.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", f"use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    if precision == "fp16":
        if device.type != "cuda":
            raise advised(UsageError("fp16 needs a CUDA device",
                                     "use precision auto or fp32 on a CPU"), "precision")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16 if device.type == "cuda" else None
    return None
