"""Give memory freed while loading a model back to the system.

Loading frees large blocks (the random initial weights, a dropped text tower, fp32 weights
replaced by bf16). glibc keeps such blocks in its heap after its first large free raises its
mmap threshold, so the process would carry them for its whole run (~300 MB for ViT-B/32).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)


def return_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        log.debug("malloc_trim is not available")
        return None
