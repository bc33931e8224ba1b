"""How many CPU threads torch uses, decided once per kind of process by the face that starts it.

`torch.set_num_threads` is process-wide: when model loading and text search each set it, the
last one to run won (in the TUI an image search could leave text queries on all cores, or the
other way round). So neither sets it; the command or app that knows what the process is for
calls `use_threads_for` once, before the work starts.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

ProcessKind = Literal["query", "index", "train"]


def threads_for(kind: ProcessKind) -> int:
    """The thread count for a process of `kind`."""
    if kind == "query":
        # A query is a handful of small matrix products: a second thread costs more in
        # start-up and contention than it saves (measured 43 ms vs 276 ms on a busy
        # 2-core machine).
        return 1
    if kind in ("index", "train"):
        # Encoding frames (and training on them) is large batched convolutions and matrix
        # products: every core helps.
        return os.cpu_count() or 1
    raise ValueError(f"unknown process kind {kind!r}")


def use_threads_for(kind: ProcessKind) -> int:
    """Set torch's CPU thread count for this process; returns the count set."""
    import torch

    count = threads_for(kind)
    torch.set_num_threads(count)
    return count


def use_threads_if_loaded(kind: ProcessKind) -> int:
    """`use_threads_for`, where torch is already imported: a query answered by ONNX Runtime
    never imports it (its sessions take `threads_for("query")` themselves). Call it after the
    model is loaded, before the work."""
    count = threads_for(kind)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    return count
