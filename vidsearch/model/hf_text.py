"""A card's Hugging Face text tower (XLM-R and the like): its config and tokenizer files, found
or fetched once into the cache beside the weights, and open_clip pointed at them.

open_clip builds such a tower by name (`AutoConfig.from_pretrained("xlm-roberta-base")`) and
tokenises with `AutoTokenizer.from_pretrained` of the same name: both reach the hub on every
build, and the build also downloads the tower's own pretrained weights, which the CLIP
checkpoint replaces at once. Here the tower is built from a local folder, without those weights,
so a model whose files are in place runs offline. No torch or open_clip import at module level:
`locate` calls this before anything is loaded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from vidsearch.config import weights_cache_dir
from vidsearch.errors import CannotRunError, UsageError, first_line
from vidsearch.model.cards import ModelCard
from vidsearch.model.hub import HubFiles, check_hub_reachable, hub_endpoint, quiet_hub
from vidsearch.model.text_spec import open_clip_config_file

log = logging.getLogger(__name__)

TEXT_DIRNAME = "text"  # in a model's weights cache folder (or a user model's own folder)
CONFIG_FILENAME = "config.json"
# A tokenizer is one of these (in this order of preference): the fast tokenizer's own file, or
# the sentencepiece model transformers converts from.
TOKENIZER_FILENAMES = ("tokenizer.json", "sentencepiece.bpe.model")
# Special-token settings some repos keep apart; transformers' defaults serve where absent.
OPTIONAL_FILENAMES = ("tokenizer_config.json", "special_tokens_map.json")
STAGING_DIRNAME = ".download"


def architecture_config(card: ModelCard) -> dict[str, Any] | None:
    """The card's open_clip model config: its inline one, or open_clip's file for the arch,
    read without importing open_clip (4 s of torchvision and timm)."""
    if card.open_clip_config is not None:
        return card.open_clip_config
    return open_clip_config_file(card.arch)


def hf_text_repo(config: dict[str, Any] | None) -> str | None:
    """The hub repo of the tokenizer (and tower config) an open_clip config names; None for
    open_clip's own text transformers."""
    text_cfg = (config or {}).get("text_cfg", {})
    return text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name") or None


def ensure_text_files(card: ModelCard, *, offline: bool = False) -> Path | None:
    """The folder holding the card's text config and tokenizer, fetched into the weights cache
    when no copy is found (never when `offline`). None for a card whose text tower is not a
    Hugging Face one."""
    repo = hf_text_repo(architecture_config(card))
    if repo is None:
        return None
    _need_transformers(card)
    found = find_text_files(card, repo)
    if found is not None:
        return found
    folder = text_folder(card)
    if offline:
        raise CannotRunError(
            f"model '{card.name}': its text tower's config and tokenizer are not in {folder}, "
            "and offline mode forbids downloading them", _fetch_hint(repo, folder))
    try:
        check_hub_reachable()
    except OSError as exc:
        raise CannotRunError(
            f"model '{card.name}': its text tower's config and tokenizer are not in {folder}, "
            f"and {hub_endpoint()} cannot be reached ({first_line(exc, 120)})",
            _fetch_hint(repo, folder)) from exc
    return _download(card, repo, folder)


def find_text_files(card: ModelCard, repo: str) -> Path | None:
    """A complete copy of the files: the model's own folder, the weights cache (the model's or
    its base's, for a fine-tune), else the Hugging Face cache that transformers fills."""
    candidates = [text_folder(card)]
    if card.weights_source == "local" and card.folder is not None:
        candidates.insert(0, card.folder / TEXT_DIRNAME)
    if card.base:
        candidates.append(weights_cache_dir() / card.base / TEXT_DIRNAME)
    candidates.append(_hf_cache_folder(repo))
    return next((folder for folder in candidates if folder is not None and _complete(folder)),
                None)


def text_folder(card: ModelCard) -> Path:
    """Where downloads put the files: beside the weights, so one folder holds the model."""
    return weights_cache_dir() / card.name / TEXT_DIRNAME


def copy_text_files(card: ModelCard, folder: Path) -> None:
    """Copy the card's text config and tokenizer into a user model's `folder/text`, so a saved
    model is whole on its own (moved to another machine, or its base's cache cleared)."""
    repo = hf_text_repo(architecture_config(card))
    if repo is None:
        return
    source, target = _require(card, repo), folder / TEXT_DIRNAME
    if source.resolve() == target.resolve():
        return
    staging = folder / f".{TEXT_DIRNAME}.saving"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        # Files, not the HF cache's symlinks to its blobs; no staging folders of a download.
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".*"))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise CannotRunError(f"cannot copy {source} to {target} ({exc})",
                             "check free space and permissions") from exc


def text_tower_options(card: ModelCard, config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `open_clip.create_model` that build the HF text tower from the
    local files and without its pretrained weights (the CLIP checkpoint holds them); {} for
    open_clip's own text towers."""
    repo = hf_text_repo(config)
    if repo is None:
        return {}
    folder = _require(card, repo)
    text_cfg = dict(config["text_cfg"], hf_model_name=str(folder), hf_tokenizer_name=str(folder),
                    hf_model_pretrained=False)
    return {"text_cfg": text_cfg, "pretrained_text": False}


def make_hf_tokenizer(card: ModelCard, config: dict[str, Any]) -> Any:
    """open_clip's `HFTokenizer` over the local files, as `open_clip.get_tokenizer` would make
    it from the config (its context length, mode and keyword arguments)."""
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer

    folder = _require(card, hf_text_repo(config) or "")
    text_cfg = config.get("text_cfg", {})
    try:
        return HFTokenizer(str(folder),
                           context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
                           tokenizer_mode=text_cfg.get("tokenizer_mode"),
                           **text_cfg.get("tokenizer_kwargs", {}))
    except (OSError, ValueError) as exc:
        raise CannotRunError.about(
            folder, f"not a usable tokenizer for model '{card.name}' ({first_line(exc, 160)})",
            f"delete the folder and run again to fetch it, or {_fetch_hint(hf_text_repo(config) or '', folder)}"
        ) from exc


def rebuild_embedding_ids(name: str, buffer: Any) -> Any | None:
    """A transformers text embedding's unsaved id buffer [1, positions], as its constructor
    computes it (`position_ids` counts up, `token_type_ids` is zeros); None for any other
    buffer. Lets the tower be built on the meta device: XLM-R base's random initialisation on a
    CPU takes seconds and a gigabyte only to be replaced by the checkpoint."""
    import torch

    if buffer.ndim != 2 or buffer.shape[0] != 1 or buffer.dtype != torch.long:
        return None
    leaf = name.rpartition(".")[2]
    if leaf == "position_ids":
        return torch.arange(buffer.shape[1]).expand((1, -1))
    if leaf == "token_type_ids":
        return torch.zeros(tuple(buffer.shape), dtype=torch.long)
    return None


def _need_transformers(card: ModelCard) -> None:
    # open_clip builds the tower with transformers and would only say so mid-build.
    if importlib.util.find_spec("transformers") is None:
        raise CannotRunError(f"model '{card.name}' needs the transformers package for its text tower",
                             "pip install 'vidsearch[multilingual]'")


def _require(card: ModelCard, repo: str) -> Path:
    _need_transformers(card)
    found = find_text_files(card, repo)
    if found is None:
        folder = text_folder(card)
        raise CannotRunError(
            f"model '{card.name}': its text tower's config and tokenizer are not in {folder}",
            _fetch_hint(repo, folder))
    return found


def _complete(folder: Path) -> bool:
    return (folder / CONFIG_FILENAME).is_file() and any(
        (folder / name).is_file() for name in TOKENIZER_FILENAMES)


def _hf_cache_folder(repo: str) -> Path | None:
    """The snapshot folder of `repo` in the Hugging Face cache, where its config is cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(repo, CONFIG_FILENAME)
    except ValueError:  # not a valid repo id (a local path, say): nothing is cached under it
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def _fetch_hint(repo: str, folder: Path) -> str:
    files = HubFiles(repo, (CONFIG_FILENAME, TOKENIZER_FILENAMES[0]))
    urls = " and ".join(files.url(name, hub_endpoint()) for name in files.filenames)
    return f"download {urls} into {folder}, then run again"


def _download(card: ModelCard, repo: str, folder: Path) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    staging = folder / STAGING_DIRNAME
    fetched: list[Path] = []
    log.info("downloading the text config and tokenizer of %s from %s", card.name, repo)

    def fetch(name: str) -> bool:
        try:
            with quiet_hub():
                fetched.append(Path(hf_hub_download(repo, name, local_dir=str(staging))))
            return True
        except LocalEntryNotFoundError as exc:  # a subclass of the next: the hub went away
            error: Exception = exc
        except EntryNotFoundError:
            return False
        except (OSError, ValueError) as exc:  # the hub's HTTP errors are OSErrors
            error = exc
        raise CannotRunError(
            f"model '{card.name}': downloading {HubFiles(repo, (name,)).url(name, hub_endpoint())} "
            f"failed ({first_line(error, 160)})", _fetch_hint(repo, folder)) from error

    if not fetch(CONFIG_FILENAME) or not any(fetch(name) for name in TOKENIZER_FILENAMES):
        raise UsageError(f"model '{card.name}': {repo} on the hub has no {CONFIG_FILENAME} or "
                         f"no tokenizer ({', '.join(TOKENIZER_FILENAMES)})",
                         f"fix the model card {card.path or card.name}")
    for name in OPTIONAL_FILENAMES:
        fetch(name)
    # Each file moves into place whole; the config last, as it is what marks a folder complete.
    try:
        for path in sorted(fetched, key=lambda p: p.name == CONFIG_FILENAME):
            os.replace(path, folder / path.name)
    except OSError as exc:
        raise CannotRunError(f"cannot write {folder} ({exc})",
                             "check free space and permissions") from exc
    shutil.rmtree(staging, ignore_errors=True)
    return folder
