"""Weights files: find, download, import, load safely, fingerprint (layouts: `model.layouts`).

Resolution order for a card: an explicit `--weights FILE`; a user model's own
`models_dir()/NAME/model.safetensors`; the weights cache `weights_cache_dir()/NAME/` (where
downloads and `vidsearch models import NAME FILE` put files); else a download into that cache.
Nothing here unpickles arbitrary objects: safetensors, or `torch.load(weights_only=True)`.
torch is imported only by the functions that read or write tensors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsearch.config import weights_cache_dir
from vidsearch.errors import CannotRunError, UsageError, advised, first_line
from vidsearch.model.cards import USER_WEIGHTS_FILENAME, ModelCard, load_card
from vidsearch.model.hub import HubFiles, check_hub_reachable, hub_endpoint, hub_files, quiet_hub
# Importable from here too, where loaders have always found them.
from vidsearch.model.layouts import (  # noqa: F401
    backbone_state,
    convert_hf_clip_to_open_clip,
    detect_layout,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Preference order when a folder holds more than one candidate.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
FINGERPRINTS_FILENAME = "fingerprints.json"
STAGING_DIRNAME = ".download"  # in a model's cache folder; a dot name is never taken for weights


UNREADABLE_HINT = "use a .safetensors file or a plain PyTorch state dict"


def describe_fixes(name: str) -> str:
    # The setting comes last: the command line adds its flag after it.
    return f"run `vidsearch models import {name} FILE`, or name another weights file"


class MissingWeightsError(CannotRunError):
    """Weights that cannot be had or used; the user can name a file instead (the weights
    setting, `--weights` on the command line)."""

    advice = "weights"


def misfit_error(card: ModelCard, source: Path | str, detail: str) -> MissingWeightsError:
    """Weights that load but are not `card`'s architecture: `detail` says what does not fit."""
    return MissingWeightsError.about(
        source, f"weights do not fit model '{card.name}' ({card.arch}): {detail}",
        describe_fixes(card.name))


def resolve_weights(card: ModelCard, override: Path | str | None = None, *,
                    offline: bool = False) -> Path:
    """The weights file for `card`, downloading it into the cache when it is not there yet
    (never when `offline`)."""
    if override is not None:
        path = Path(override).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"weights file {path} does not exist", describe_fixes(card.name))
        return path
    if card.weights_source == "local" and card.folder is not None:
        own = card.folder / USER_WEIGHTS_FILENAME
        if own.is_file():
            return own
    cached = cached_weights(card.name)
    if cached is not None:
        return cached
    if card.weights_source == "local":
        where = card.folder / USER_WEIGHTS_FILENAME if card.folder else "the model folder"
        raise MissingWeightsError(
            f"no weights for model '{card.name}': {where} is missing and "
            f"{weights_cache_dir() / card.name} holds none", describe_fixes(card.name))
    return download_weights(card, offline=offline)


def cached_weights(name: str) -> Path | None:
    folder = weights_cache_dir() / name
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix in WEIGHT_SUFFIXES]
    if not candidates:
        return None
    candidates.sort(key=lambda p: (WEIGHT_SUFFIXES.index(p.suffix), p.name))
    return candidates[0]


def import_weights(name: str, file: Path | str, *, offline: bool = False) -> Path:
    """Copy a weights file into the cache for model `name` (`vidsearch models import`), once
    it is known to load as that model's weights; a file that does not is refused, unstored.
    `offline`: a Hugging Face text tower's config and tokenizer, which the check needs, are
    never downloaded."""
    from vidsearch.model.fit import check_weights_fit
    from vidsearch.model.hf_text import ensure_text_files

    card = load_card(name)  # an unknown name fails here, listing the known ones
    source = Path(file).expanduser()
    if not source.is_file():
        raise UsageError(f"{source}: no such file", "give the path of a downloaded weights file")
    if source.suffix not in WEIGHT_SUFFIXES:
        raise UsageError(f"{source}: not a weights file",
                         f"expected one of {', '.join(WEIGHT_SUFFIXES)}")
    ensure_text_files(card, offline=offline)  # the check builds the text tower from them
    check_weights_fit(card, source)
    folder = weights_cache_dir() / name
    target = folder / source.name
    staging = folder / f".{source.name}.importing"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise CannotRunError(f"cannot copy {source} to {target} ({exc})",
                             "check free space and permissions") from exc
    # The imported file must be the one that resolves, so older files for this model go.
    for other in folder.iterdir():
        if other != target and other.is_file() and other.suffix in WEIGHT_SUFFIXES:
            other.unlink()
    log.info("imported %s as the weights of %s", source, name)
    _export_for_queries(card, target)
    return target


def download_weights(card: ModelCard, *, offline: bool = False) -> Path:
    folder = weights_cache_dir() / card.name
    files = hub_files(card)
    source = _describe_source(card, files)
    if offline:
        raise MissingWeightsError(
            f"no weights for model '{card.name}': none in {folder} and offline mode forbids "
            f"downloading {source}", describe_fixes(card.name))
    if files is not None:
        try:
            check_hub_reachable()
        except OSError as exc:
            raise CannotRunError(
                f"no weights for model '{card.name}': cannot reach {hub_endpoint()} "
                f"({first_line(exc, 120)}); download {files.url(endpoint=hub_endpoint())} "
                "by hand", f"then run `vidsearch models import {card.name} FILE`") from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _download_error(card, folder, source, exc) from exc
    log.info("downloading weights of %s from %s", card.name, source)
    # One staging folder per model, kept when a download fails: huggingface_hub keeps the
    # partial file there and the next run resumes it instead of starting over.
    staging = folder / STAGING_DIRNAME
    if files is not None:
        downloaded = _download_hf(card, files, staging, folder, source)
    elif card.weights_source == "open_clip":
        downloaded = _download_open_clip(card, staging, folder, source)
    else:
        raise advised(UsageError(f"model '{card.name}' has no download source",
                                  describe_fixes(card.name)), "weights")
    # Atomic: the cache never holds a half-written file under a weights name.
    target = folder / downloaded.name
    os.replace(downloaded.resolve(), target)
    shutil.rmtree(staging, ignore_errors=True)
    _export_for_queries(card, target)
    return target


def _export_for_queries(card: ModelCard, weights: Path) -> None:
    # New weights get their text tower's ONNX export now, so their first query needs no torch.
    from vidsearch.model.query_text import export_for_queries

    export_for_queries(card, weights)


def _describe_source(card: ModelCard, files: HubFiles | None) -> str:
    if files is not None:
        return files.url(endpoint=hub_endpoint())
    return f"open_clip '{card.arch}' pretrained '{card.pretrained}'"


def _download_error(card: ModelCard, folder: Path, source: str, exc: BaseException
                    ) -> MissingWeightsError:
    return MissingWeightsError(
        f"no weights for model '{card.name}': none in {folder} and downloading {source} failed "
        f"({first_line(exc, 160)})", describe_fixes(card.name))


def _download_open_clip(card: ModelCard, staging: Path, folder: Path, source: str) -> Path:
    """A pretrained tag that is a plain URL, not a hub repo."""
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    config = get_pretrained_cfg(card.arch, card.pretrained or "")
    if not config:
        raise UsageError(f"open_clip has no pretrained tag '{card.pretrained}' for '{card.arch}'",
                         f"fix the model card {card.path or card.name}")
    try:
        path = download_pretrained(config, cache_dir=str(staging))
    except (OSError, RuntimeError, ValueError) as exc:
        raise _download_error(card, folder, source, exc) from exc
    if not path:
        raise _download_error(card, folder, source, RuntimeError("no download location"))
    return Path(path)


def _download_hf(card: ModelCard, files: HubFiles, staging: Path, folder: Path,
                 source: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    for name in files.filenames:
        try:
            with quiet_hub():
                return Path(hf_hub_download(files.repo, name, local_dir=str(staging)))
        except LocalEntryNotFoundError as exc:  # offline, or the hub is unreachable
            raise _download_error(card, folder, files.url(name, hub_endpoint()), exc) from exc
        except EntryNotFoundError:
            log.info("%s has no %s; trying the next file name", files.repo, name)
        except (OSError, ValueError) as exc:
            raise _download_error(card, folder, files.url(name, hub_endpoint()), exc) from exc
    raise _download_error(card, folder, source, FileNotFoundError(
        f"none of {', '.join(files.filenames)} in the repository"))


# --- reading and writing tensors ---


def load_state_file(path: Path | str, *, mapped: bool = False,
                    text: Callable[[str], bool] | bool = True) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from safetensors, or from a weights-only PyTorch file.

    `mapped`: tensors are views of one memory map of the file, read only where touched; right
    for taking a part (the text tower for a query) or for checking that the file loads.
    Otherwise each tensor gets its own memory, so a part the caller drops or replaces (bf16) is
    really freed: a mapping stays resident while any of its tensors lives.
    `text`: whether to keep the text tower's tensors, or a function of the file's layout that
    says so; a safetensors file's left-out tensors are never read.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    hint = UNREADABLE_HINT
    if suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu",
                           backend="mmap" if mapped else "pread") as file:
                names = list(file.keys())
                left_out = _left_out_text(names, text)
                state: Any = {name: file.get_tensor(name) for name in names
                              if name not in left_out}
        except (SafetensorError, OSError, ValueError) as exc:
            raise CannotRunError.about(
                path, f"not a readable safetensors file ({first_line(exc, 200)})", hint) from exc
    elif suffix in (".bin", ".pt", ".pth"):
        try:
            # weights_only: a pickle that wants to build anything but tensors is refused.
            state = _torch_load(path, mapped)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
                zipfile.BadZipFile) as exc:
            raise CannotRunError.about(path, f"refused to load ({first_line(exc, 200)})", hint) from exc
    else:
        raise UsageError(f"{path}: unknown weights format",
                         f"expected one of {', '.join(WEIGHT_SUFFIXES)}")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CannotRunError.about(path, "not a state dict of named tensors", hint)
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    left_out = _left_out_text(list(state), text)
    return {key: value for key, value in state.items() if key not in left_out}


# Where each layout keeps the text tower (open_clip CLIP, or CustomTextCLIP's `text.`).
_OPEN_CLIP_TEXT = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.",
                   "text_projection", "text.")
_TEXT_PREFIXES = {
    "open_clip": _OPEN_CLIP_TEXT,
    "clip4clip": tuple("clip." + prefix for prefix in _OPEN_CLIP_TEXT),
    "hf_clip": ("text_model.", "text_projection."),
}


def _left_out_text(names: list[str], text: Callable[[str], bool] | bool) -> set[str]:
    layout = detect_layout(dict.fromkeys(names))
    keep = text(layout) if callable(text) else text
    if keep:
        return set()
    return {name for name in names if name.startswith(_TEXT_PREFIXES[layout])}


def _torch_load(path: Path, mapped: bool) -> Any:
    import torch

    if mapped:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            # Files from before torch's zip format cannot be mapped: read them whole.
    return torch.load(path, map_location="cpu", weights_only=True)


def save_state_file(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write safetensors atomically (temp file + rename)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state.items()}
    staging = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(staging), metadata={"format": "pt"})
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


# --- layouts ---


# --- fingerprints ---


def weights_fingerprint(path: Path | str) -> str:
    """sha256 of the file, remembered per (path, size, mtime_ns) so it is hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    cache_file = weights_cache_dir() / FINGERPRINTS_FILENAME
    cache = _read_fingerprints(cache_file)
    entry = cache.get(str(path))
    if (isinstance(entry, dict) and entry.get("size") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns and isinstance(entry.get("sha256"), str)):
        return entry["sha256"]
    with path.open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    cache[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
    _write_fingerprints(cache_file, cache)
    return sha


def _read_fingerprints(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable fingerprint cache %s (%s)", cache_file, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_fingerprints(cache_file: Path, cache: dict[str, Any]) -> None:
    # A cache that cannot be written only costs a re-hash next time.
    staging: Path | None = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".fingerprints-", dir=cache_file.parent)
        staging = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(cache, handle, indent=1, sort_keys=True)
        os.replace(staging, cache_file)
    except OSError as exc:
        log.warning("cannot update fingerprint cache %s (%s)", cache_file, exc)
        if staging is not None:
            staging.unlink(missing_ok=True)
