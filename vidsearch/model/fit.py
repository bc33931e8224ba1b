"""Whether a weights file can be a card's weights: it loads, and its names and shapes fit the
card's architecture. Checked on import, so a wrong file is refused before it is stored.

Cheap by construction: the file is memory-mapped and only its shapes are used (each tensor
becomes a meta tensor), and the architecture is built on the meta device, so checking
ViT-B/32 reads no weights and allocates none.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from vidsearch.errors import CannotRunError
from vidsearch.model.cards import ModelCard

SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the header


def check_weights_fit(card: ModelCard, path: Path) -> None:
    """Raise `CannotRunError` (one line: what does not fit) unless `path` loads as `card`."""
    import torch

    from vidsearch.model.factory import build_module
    from vidsearch.model.weights import load_state_file

    state = load_state_file(path, mapped=True)
    shapes = {name: torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
              for name, tensor in state.items()}
    del state
    try:
        build_module(card, shapes, source=path, shapes_only=True)
    except CannotRunError as exc:
        # build_module's hint is about a run's --weights; here the file itself is the question.
        exc.hint = describe_wanted_file(card)
        raise


def describe_wanted_file(card: ModelCard) -> str:
    from vidsearch.model.hub import hub_files

    files = hub_files(card)
    where = f": {files.url()}" if files is not None else ""
    return f"import the weights file of {card.name} ({card.arch}){where}"


def describe_unusable(path: Path) -> str | None:
    """Why a cached weights file cannot load, from its header alone; None when it looks whole.

    Only safetensors files are read (8 bytes of length, a JSON header, and the size the header
    promises); a PyTorch file needs unpickling to say more, so only a zip-less tiny file is
    called out there.
    """
    try:
        size = path.stat().st_size
        if path.suffix != ".safetensors":
            return "too small to hold weights" if size < 64 else None
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return "not a safetensors file (too short)"
            (length,) = struct.unpack("<Q", prefix)
            if length > min(SAFETENSORS_HEADER_LIMIT, size - 8):
                return "not a safetensors file (bad header length)"
            header = json.loads(handle.read(length))
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    except (ValueError, UnicodeDecodeError):
        return "not a safetensors file (bad header)"
    if not isinstance(header, dict):
        return "not a safetensors file (bad header)"
    tensors = [entry for key, entry in header.items() if key != "__metadata__"]
    try:
        end = max((int(entry["data_offsets"][1]) for entry in tensors), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "not a safetensors file (bad tensor entry)"
    if not tensors:
        return "holds no tensors"
    if 8 + length + end > size:
        return "cut short (smaller than its header says)"
    return None


def misfit_detail(exc: BaseException) -> str:
    """The line of a load error that names what does not fit: torch puts a heading line
    ('Error(s) in loading state_dict for CLIP:') above the lines that say it."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return (lines[0] if lines else type(exc).__name__)[:300]

