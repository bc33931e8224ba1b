"""Model name -> ready `VideoTextModel`; and saving a trained model as a user model.

One path for every model: read the card, resolve the weights file, build the open_clip backbone
from its architecture (registering an inline config first), load the weights in whatever
layout they come in, wrap in CLIP4Clip, move to the device.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidsearch.errors import UsageError
from vidsearch.model.cards import USER_WEIGHTS_FILENAME, ModelCard, write_card
from vidsearch.model.clip4clip import CLIP4Clip
# Importable from here too, where callers have always found them.
from vidsearch.model.devices import PRECISIONS, pick_autocast, pick_device  # noqa: F401
from vidsearch.model.fit import misfit_detail
from vidsearch.model.hf_text import (copy_text_files, hf_text_repo, make_hf_tokenizer,
                                     rebuild_embedding_ids, text_tower_options)
from vidsearch.model.locate import LocatedModel, compute_fingerprint, locate_model
from vidsearch.model.memory import return_freed_memory
from vidsearch.model.video_text import VideoTextModel
from vidsearch.model.weights import (
    convert_hf_clip_to_open_clip,
    MissingWeightsError,
    detect_layout,
    backbone_state,
    load_state_file,
    misfit_error,
    save_state_file,
    weights_fingerprint,
)

log = logging.getLogger(__name__)

# Inline configs this process registered with open_clip, so a changed config re-registers.
_registered_configs: dict[str, dict[str, Any]] = {}


def load_model(name: str | None = None, *, device: str = "auto", weights: Path | str | None = None,
               precision: str = "fp32", offline: bool = False,
               text: bool = True) -> VideoTextModel:
    """The model the app uses: `name` (default: the active model setting) on `device`.

    `precision` and `offline` are the caller's: the faces pass what `config.read_run_settings()`
    and the flags say ("auto" picks by device and CPU); the library never reads the environment.
    `text=False` leaves the text tower out (indexing never uses it: a quarter of ViT-B/32's
    memory).
    """
    torch_device = pick_device(device)
    pick_autocast(precision, torch_device)  # an unknown precision fails before any download
    return load_located(locate_model(name, weights=weights, offline=offline), device=torch_device,
                        precision=precision, text=text)


def load_located(located: LocatedModel, *, device: torch.device, precision: str,
                 text: bool = True) -> VideoTextModel:
    """The last steps of `load_model`, for a model already located (see `ModelOnDemand`)."""
    card, path, torch_device = located.card, located.weights, device
    autocast_dtype = pick_autocast(precision, torch_device)
    module = build_module(card, Path(path), text=text)
    module.to(torch_device).eval()
    # Hashed again (a cache hit unless the file changed since it was located).
    fingerprint = compute_fingerprint(card, weights_fingerprint(path))
    log.info("loaded model %s from %s on %s (%s)", card.name, path, torch_device, fingerprint)
    model = VideoTextModel(card=card, module=module, tokenizer=make_tokenizer(card),
                           device=torch_device, autocast_dtype=autocast_dtype,
                           probe_cpu_precision=precision == "auto",
                           fingerprint=fingerprint, **read_preprocess(module.clip))
    if precision == "bf16" and torch_device.type == "cpu":
        model.use_bf16_frames()
    return_freed_memory()
    return model


def save_model(model: VideoTextModel | CLIP4Clip, card: ModelCard, folder: Path | str) -> Path:
    """Save as a user model: `folder/card.toml` + `folder/model.safetensors` (full state).

    The folder's name is the model's name (as `models_dir()/NAME` expects); the written card
    says `weights_source = "local"`, `weights_layout = "clip4clip"` and records what the module
    really is (header, patch), so `load_model(NAME)` rebuilds it exactly. A Hugging Face text
    tower's config and tokenizer go along, in `folder/text`.
    """
    module = model.module if isinstance(model, VideoTextModel) else model
    folder = Path(folder)
    if folder.name != card.name:
        raise ValueError(f"a model named '{card.name}' must be saved in a folder of that name")
    saved = replace(
        card,
        weights_source="local",
        weights_layout="clip4clip",
        hf_repo=None,
        hf_filename=None,
        quick_gelu=resolve_quick_gelu(card),
        header=module.header_name,
        shortlist_header=module.header.name if module.can_rerank else card.shortlist_header,
        patch=module.patch,
        embed_dim=module.embed_dim,
        extra=copy.deepcopy(card.extra),
    )
    copy_text_files(card, folder)
    save_state_file(module.state_dict(), folder / USER_WEIGHTS_FILENAME)
    write_card(saved, folder)
    return folder


def build_module(card: ModelCard, state: dict[str, torch.Tensor] | Path | None = None, *,
                 source: Path | str = "<weights>", backbone_only: bool = False,
                 text: bool = True, shapes_only: bool = False) -> CLIP4Clip:
    """CLIP4Clip for `card`, with `state` (any supported layout) loaded; random if None.

    `state` may be a weights file: the model is then built without weights (no memory, no
    random initialisation) and takes the file's tensors over, so the weights are never in
    memory twice (that doubled the peak memory of loading).
    `backbone_only` takes just the CLIP weights from a full CLIP4Clip state, so a fine-tune
    can start a new header (built from those weights) on top of an earlier fine-tune.
    `text=False` leaves the text tower out; from a file its tensors are not even read where
    the header does not start from them (its weights are in the file, or it has none).
    `shapes_only`: `state` holds meta tensors and the module is built on the meta device,
    to check names and shapes alone (see `fit.check_weights_fit`).
    """
    from_file = isinstance(state, Path)

    def text_needed(layout: str) -> bool:
        return text or not (layout == "clip4clip" and not backbone_only or card.header == "meanP")

    clip, config = create_backbone(card, unloaded=from_file or shapes_only)
    if from_file:
        source = state
        state = load_state_file(source, text=text_needed)
    layout = detect_layout(state) if state is not None else None
    if layout is not None and layout != card.weights_layout:
        log.info("%s is in %s layout (card says %s)", source, layout, card.weights_layout)
    if layout == "clip4clip" and backbone_only:
        state = backbone_state(state)
        layout = "open_clip"
    text_left_out = layout is not None and not text_needed(layout)
    try:
        if layout == "hf_clip":
            state = convert_hf_clip_to_open_clip(state)
            layout = "open_clip"
        if layout == "open_clip":
            if text_left_out:
                drop_text_tower(clip)
            load_backbone_state(clip, state)
            if from_file:
                check_loaded(clip)
    except (ValueError, RuntimeError) as exc:
        raise _misfit_error(card, source, exc) from exc
    # With the backbone still unloaded, the header is built unloaded too (its init copies text
    # layers) and gets its weights with the backbone's just below.
    unloaded = from_file and layout == "clip4clip" or shapes_only
    try:
        with torch.device("meta") if unloaded else contextlib.nullcontext():
            module = CLIP4Clip(clip, embed_dim=config["embed_dim"], header=card.header,
                               patch=card.patch, shortlist_header=card.shortlist_header)
    except ValueError as exc:
        raise UsageError(f"model '{card.name}': {exc}", f"fix the model card {card.path or ''}".strip()) from exc
    if layout == "clip4clip":
        if text_left_out:
            drop_text_tower(clip)
        try:
            _load_exactly(module, state)
            if from_file:
                check_loaded(module)
        except (ValueError, RuntimeError) as exc:
            raise _misfit_error(card, source, exc) from exc
    if not text:
        drop_text_tower(clip)  # where the header's initialisation needed it
    return module


def release_weights(module: nn.Module) -> None:
    """Free a module's parameters and saved buffers: they move to the meta device (keeping
    shapes and dtypes) for loaded tensors to be assigned in their place. Buffers no state dict
    carries (a causal attention mask) are computed at construction and stay."""
    saved = set(module.state_dict(keep_vars=True))
    unsaved = {name: buffer for name, buffer in module.named_buffers() if name not in saved}
    module.to("meta")
    for name, buffer in unsaved.items():
        _set_buffer(module, name, buffer)


def check_loaded(module: nn.Module) -> None:
    unloaded = [name for name, tensor in [*module.named_parameters(), *module.named_buffers()]
                if tensor.is_meta]
    if unloaded:
        raise ValueError(f"missing keys {unloaded[:5]}")


def _set_buffer(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, attribute = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    owner._buffers[attribute] = tensor


def _rebuild_unsaved_buffers(module: nn.Module) -> bool:
    """Compute the unsaved buffers of a model built on the meta device, where each is one whose
    construction is known: open_clip's causal attention masks (-inf above the diagonal, as its
    `build_causal_mask`) or a Hugging Face text tower's embedding ids; False when some other
    buffer is there, which only a real construction can make."""
    saved = set(module.state_dict(keep_vars=True))
    rebuilt: dict[str, torch.Tensor] = {}
    for name, buffer in module.named_buffers():
        if name in saved:
            continue
        value = _causal_mask(name, buffer)
        if value is None:
            value = rebuild_embedding_ids(name, buffer)
        if value is None:
            return False
        rebuilt[name] = value
    for name, value in rebuilt.items():
        _set_buffer(module, name, value)
    return True


def _causal_mask(name: str, buffer: torch.Tensor) -> torch.Tensor | None:
    square = buffer.ndim == 2 and buffer.shape[0] == buffer.shape[1]
    if name.rpartition(".")[2] != "attn_mask" or not square or not buffer.is_floating_point():
        return None
    size = buffer.shape[0]
    return torch.full((size, size), float("-inf"), dtype=buffer.dtype).triu_(1)


def drop_text_tower(clip: nn.Module) -> None:
    """Free the text tower of a model that will only encode frames."""
    names = ("text",) if getattr(clip, "text", None) is not None else (
        "transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection",
        "attn_mask")
    for name in names:
        if hasattr(clip, name):
            setattr(clip, name, None)


def _misfit_error(card: ModelCard, source: Path | str, exc: BaseException) -> MissingWeightsError:
    return misfit_error(card, source, misfit_detail(exc))


def create_backbone(card: ModelCard, *, unloaded: bool = False
                    ) -> tuple[nn.Module, dict[str, Any]]:
    """An open_clip model for the card's architecture, and its config.

    Randomly initialised; or, `unloaded`, with its parameters on the meta device, for weights
    to be assigned (building ViT-B/32 that way takes 0.07 s instead of 1.25 s and no memory).
    """
    import open_clip

    if card.open_clip_config is not None:
        register_config(card.arch, card.open_clip_config)
    config = open_clip.get_model_config(card.arch)
    if config is None:
        raise UsageError(f"model '{card.name}': open_clip has no architecture '{card.arch}'",
                         f"fix the model card {card.path or ''}".strip())
    if config.get("embed_dim") != card.embed_dim:
        raise UsageError(f"model '{card.name}': card says embed_dim {card.embed_dim}, "
                         f"{card.arch} has {config.get('embed_dim')}", "fix the model card")
    overrides: dict[str, Any] = {}
    tag = _pretrained_config(card)
    if "mean" in tag and "std" in tag:
        overrides = {"mean": tag["mean"], "std": tag["std"]}
    options = {"pretrained": None, "precision": "fp32", "force_preprocess_cfg": overrides,
               "quick_gelu": resolve_quick_gelu(card), **text_tower_options(card, config)}
    if unloaded:
        with _quiet_open_clip(), torch.device("meta"):
            clip = open_clip.create_model(card.arch, device="meta", **options)
        if _rebuild_unsaved_buffers(clip):
            return clip, config
        log.debug("%s has buffers only a real construction makes; building it on the CPU",
                  card.arch)
    with _quiet_open_clip():
        clip = open_clip.create_model(card.arch, device="cpu", **options)
    if unloaded:
        release_weights(clip)
    return clip, config


def register_config(arch: str, config: dict[str, Any]) -> None:
    """Make an inline card config known to open_clip under `arch` (tokenizer lookups too)."""
    import open_clip

    if _registered_configs.get(arch) == config:
        return
    existing = open_clip.get_model_config(arch)
    if existing is not None and arch not in _registered_configs and existing != config:
        raise UsageError(f"inline config may not redefine open_clip's '{arch}'",
                         "give the inline architecture its own name")
    with tempfile.TemporaryDirectory(prefix="vidsearch-arch-") as folder:
        path = Path(folder) / f"{arch}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        # open_clip reads the file at once; the registry keeps the parsed config.
        open_clip.add_model_config(path)
    _registered_configs[arch] = copy.deepcopy(config)


def resolve_quick_gelu(card: ModelCard) -> bool:
    """The card's setting, else the pretrained tag's, else the inline config's, else False."""
    if card.quick_gelu is not None:
        return card.quick_gelu
    tag = _pretrained_config(card)
    if "quick_gelu" in tag:
        return bool(tag["quick_gelu"])
    return bool((card.open_clip_config or {}).get("quick_gelu", False))


def _pretrained_config(card: ModelCard) -> dict[str, Any]:
    if not card.pretrained:
        return {}
    from open_clip.pretrained import get_pretrained_cfg

    return dict(get_pretrained_cfg(card.arch, card.pretrained) or {})


class _DropRandomInitWarning(logging.Filter):
    # open_clip warns on the root logger that a model without `pretrained` is random; we load
    # weights right after, so the warning would only mislead users.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    root = logging.getLogger()
    quiet = _DropRandomInitWarning()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def load_backbone_state(clip: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load an open_clip-layout state dict, fixed up the way open_clip's `load_checkpoint` does
    it (which only takes a file path, and loads without `assign`): its own helpers where it
    has them, so the two cannot drift; its few inline fix-ups copied below."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import (convert_to_custom_text_state_dict, resize_pos_embed,
                                 resize_text_pos_embed)

    state = convert_state_dict(clip, dict(state))
    if "positional_embedding" in state and not hasattr(clip, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for name in ("logit_scale", "logit_bias"):
        value, target = state.get(name), getattr(clip, name, None)
        if value is not None and target is not None and value.ndim != target.ndim:
            state[name] = value.reshape(target.shape)
    if getattr(clip, "logit_bias", None) is not None and "logit_bias" not in state:
        state["logit_bias"] = torch.zeros(clip.logit_bias.shape)
    state.pop("text.transformer.embeddings.position_ids", None)
    resize_pos_embed(state, clip)  # weights trained at another image size
    if _text_positions(clip) is not None:  # not where the text tower was left out
        resize_text_pos_embed(state, clip)
    _load_exactly(clip, state)


def _text_positions(clip: nn.Module) -> torch.Tensor | None:
    positions = getattr(clip, "positional_embedding", None)
    text = getattr(clip, "text", None)
    return positions if positions is not None else getattr(text, "positional_embedding", None)


def _load_exactly(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load `state`; into a released module (see `release_weights`) by taking its tensors over,
    cast to the module's dtypes (files often hold fp16)."""
    targets = module.state_dict(keep_vars=True)
    assign = any(tensor.is_meta for tensor in targets.values())
    if assign:
        state = {key: _like(value, targets[key]) if key in targets else value
                 for key, value in state.items()}
    result = module.load_state_dict(state, strict=False, assign=assign)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError("; ".join(
            f"{len(keys)} {kind} keys ({', '.join(keys[:2])}{', ...' if len(keys) > 2 else ''})"
            for kind, keys in (("missing", result.missing_keys),
                               ("unexpected", result.unexpected_keys)) if keys))


def _like(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if value.is_floating_point() and target.is_floating_point():
        value = value.to(target.dtype)
    return value.contiguous()


def make_tokenizer(card: ModelCard) -> Any:
    """The architecture's real open_clip tokenizer (SimpleTokenizer for inline configs; a
    Hugging Face one from its local files for HF text towers)."""
    import open_clip

    if card.open_clip_config is not None:
        register_config(card.arch, card.open_clip_config)
    config = open_clip.get_model_config(card.arch)
    if hf_text_repo(config) is not None:
        return make_hf_tokenizer(card, config)
    return open_clip.get_tokenizer(card.arch)


def read_preprocess(clip: nn.Module) -> dict[str, Any]:
    """image_size, mean and std as open_clip recorded them on the model."""
    from open_clip.model import get_model_preprocess_cfg

    config = get_model_preprocess_cfg(clip)
    size = config.get("size", 224)
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise UsageError(f"non-square input size {tuple(size)} is not supported")
        size = size[0]
    return {"image_size": int(size), "mean": tuple(config["mean"]), "std": tuple(config["std"])}
