"""Whether a weights file can be a card's weights: it loads, and its names and shapes fit the
card's architecture. Checked on import, so a wrong file is refused before it is stored.

Cheap by construction: the file is memory-mapped and only its shapes are used (each tensor
becomes a meta tensor), and the architecture is built on the meta device, so checking
ViT-B/32 reads no weights and allocates none. `vidsearch models`, which imports no torch,
reads a cached file's safetensors header instead and compares it with what the card's
open_clip config says (`describe_unusable`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from vidsearch.errors import CannotRunError
from vidsearch.model.cards import ModelCard
from vidsearch.model.layouts import _HF_LAYER, _HF_TOWER_PARTS, backbone_state, detect_layout
from vidsearch.model.text_spec import PLAIN_TEXT_KEYS, open_clip_config_file

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


class _Unusable(Exception):
    """Why a file cannot be weights, found in its header; the message is the reason."""


def describe_unusable(path: Path, card: ModelCard | None = None) -> str | None:
    """Why a cached weights file cannot be `card`'s weights, from its header alone; None when
    it looks whole and, as far as its tensors' names and shapes tell, fits the card.

    Only safetensors files are read (8 bytes of length, a JSON header, and the size the header
    promises); a PyTorch file needs unpickling to say more, so only a zip-less tiny file is
    called out there.
    """
    try:
        size = path.stat().st_size
        if path.suffix != ".safetensors":
            return "too small to hold weights" if size < 64 else None
        shapes = read_safetensors_shapes(path, size)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    except _Unusable as exc:
        return str(exc)
    return misfit_in_header(card, shapes) if card is not None else None


def read_safetensors_shapes(path: Path, size: int) -> dict[str, tuple[int, ...]]:
    """Each tensor's name and shape, from the header; raises `_Unusable` for a broken file."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise _Unusable("not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(SAFETENSORS_HEADER_LIMIT, size - 8):
            raise _Unusable("not a safetensors file (bad header length)")
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError):
            header = None
    if not isinstance(header, dict):
        raise _Unusable("not a safetensors file (bad header)")
    tensors = {key: entry for key, entry in header.items() if key != "__metadata__"}
    try:
        end = max((int(entry["data_offsets"][1]) for entry in tensors.values()), default=0)
        shapes = {key: tuple(int(n) for n in entry["shape"]) for key, entry in tensors.items()}
    except (TypeError, KeyError, IndexError, ValueError):
        raise _Unusable("not a safetensors file (bad tensor entry)") from None
    if not tensors:
        raise _Unusable("holds no tensors")
    if 8 + length + end > size:
        raise _Unusable("cut short (smaller than its header says)")
    return shapes


# The full check (`check_weights_fit`) builds the architecture with torch and open_clip, which
# `vidsearch models` must not import (it lists cards in a blink, on a query-only install too).
# So the listing compares the header with what the card's open_clip config alone fixes: the
# tensors whose shapes follow from its widths, patch size, image size and vocabulary, and the
# number of blocks in each tower. Weaker than the full check, never stricter: a file it passes
# may still fail to load, but a file it calls unusable would be refused on import too.


@dataclass(frozen=True)
class _Wanted:
    """A tensor the architecture has (by its open_clip name), or with a name ending in "." a
    group of them; `shape` None: only that it is there; `blocks`: numbered blocks in a group."""

    name: str
    shape: tuple[int, ...] | None = None
    blocks: int | None = None


# vision_cfg and text_cfg keys that leave the tensors checked below as the plain ViT has them.
_PLAIN_VISION_KEYS = frozenset({"image_size", "layers", "width", "patch_size", "head_width",
                                "mlp_ratio", "ls_init_value", "patch_dropout"})


def misfit_in_header(card: ModelCard, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """What in a weights file's header does not fit `card`'s architecture; None when nothing
    that the header and the card's config can tell does not."""
    config = card.open_clip_config or open_clip_config_file(card.arch)
    if config is None:
        return None  # no open_clip here to say what the architecture holds: nothing to compare
    try:
        wanted = [*_vision_wanted(config, card.patch), *_text_wanted(config)]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # a config this reading does not follow: the full check on import decides
    named = open_clip_shapes(shapes)
    for item in wanted:
        problem = _misfit(item, named, card.arch)
        if problem is not None:
            return problem
    return None


def open_clip_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The header's shapes under open_clip's names, whichever layout the file has."""
    layout = detect_layout(shapes)
    if layout == "clip4clip":
        return backbone_state(shapes)
    if layout == "hf_clip":
        return _hf_clip_shapes(shapes)
    return shapes


# transformers stores these as Linear weights [out, in]; open_clip as matrices [in, out].
_HF_PROJECTIONS = {"text_projection.weight": "text_projection",
                   "visual_projection.weight": "visual.proj"}


def _hf_clip_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """transformers CLIPModel names -> open_clip's, for the tensors checked (the same tables
    as `layouts.convert_hf_clip_to_open_clip`, which needs torch to merge and transpose)."""
    named: dict[str, tuple[int, ...]] = {}
    for key, shape in shapes.items():
        if key in _HF_PROJECTIONS:
            named[_HF_PROJECTIONS[key]] = shape[::-1]
            continue
        tower, _, rest = key.partition(".")
        kind = {"text_model": "text", "vision_model": "vision"}.get(tower)
        if kind is None:
            continue
        layer = _HF_LAYER.fullmatch(rest)
        if rest in _HF_TOWER_PARTS[kind]:
            named[_HF_TOWER_PARTS[kind][rest]] = shape
        elif layer is not None:
            prefix = "" if kind == "text" else "visual."
            named[f"{prefix}transformer.resblocks.{layer[1]}.{layer[2]}"] = shape
    return named


def _vision_wanted(config: dict, patch_kind: str) -> list[_Wanted]:
    vision = config.get("vision_cfg", {})
    if "timm_model_name" in vision:
        return [_Wanted("visual.trunk.")]  # timm's names and shapes need timm to know
    if not isinstance(vision.get("layers"), int) or "patch_size" not in vision:
        return []  # not a ViT (a ResNet tower, say): nothing checked cheaply
    width, patch = vision["width"], vision["patch_size"]
    # CLIP4Clip's 3d patch replaces conv1 with a Conv3d over 3 frames (clip4clip.py).
    conv1 = (_Wanted("visual.conv1.weight", (width, 3, patch, patch)) if patch_kind == "2d"
             else _Wanted("visual.conv1.conv.weight", (width, 3, 3, patch, patch)))
    wanted = [conv1,
              _Wanted("visual.transformer.resblocks.", blocks=vision["layers"])]
    if not set(vision) - _PLAIN_VISION_KEYS:
        size = vision["image_size"]
        height, across = (size, size) if isinstance(size, int) else size
        positions = (height // patch) * (across // patch) + 1  # + the class token
        wanted += [_Wanted("visual.positional_embedding", (positions, width)),
                   _Wanted("visual.proj", (width, config["embed_dim"]))]
    return wanted


def _text_wanted(config: dict) -> list[_Wanted]:
    text = config.get("text_cfg", {})
    if "hf_model_name" in text:
        return [_Wanted("text.transformer.")]  # a Hugging Face tower: its config is elsewhere
    if not isinstance(text.get("layers"), int):
        return []
    # CustomTextCLIP (open_clip's `custom_text`) keeps the text tower under `text.`.
    prefix = "text." if config.get("custom_text") else ""
    width = text["width"]
    wanted = [_Wanted(f"{prefix}token_embedding.weight", (text["vocab_size"], width)),
              _Wanted(f"{prefix}positional_embedding", (text["context_length"], width)),
              _Wanted(f"{prefix}transformer.resblocks.", blocks=text["layers"])]
    if not set(text) - PLAIN_TEXT_KEYS:
        wanted.append(_Wanted(f"{prefix}text_projection", (width, config["embed_dim"])))
    return wanted


def _misfit(wanted: _Wanted, shapes: dict[str, tuple[int, ...]], arch: str) -> str | None:
    if wanted.name.endswith("."):
        found = [name for name in shapes if name.startswith(wanted.name)]
        if not found:
            return f"no {wanted.name}* tensors, which {arch} has"
        blocks = len({name[len(wanted.name):].split(".", 1)[0] for name in found})
        if wanted.blocks is not None and blocks != wanted.blocks:
            return f"{blocks} blocks in {wanted.name}*, {arch} has {wanted.blocks}"
        return None
    shape = shapes.get(wanted.name)
    if shape is None:
        return f"no {wanted.name} tensor, which {arch} has"
    if wanted.shape is not None and tuple(shape) != wanted.shape:
        return f"{wanted.name} is {_dims(shape)}, {arch} has {_dims(wanted.shape)}"
    return None


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def misfit_detail(exc: BaseException) -> str:
    """The line of a load error that names what does not fit: torch puts a heading line
    ('Error(s) in loading state_dict for CLIP:') above the lines that say it."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return (lines[0] if lines else type(exc).__name__)[:300]

