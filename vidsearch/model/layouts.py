"""Checkpoint layouts: which one a state dict has (our CLIP4Clip module, transformers'
CLIPModel, open_clip's CLIP), the backbone's part of ours, and transformers' names converted to
open_clip's one to one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def backbone_state(state: dict[str, Any]) -> dict[str, Any]:
    """The CLIP backbone's tensors of a full CLIP4Clip state, in open_clip layout."""
    return {key[len("clip."):]: value for key, value in state.items() if key.startswith("clip.")}


def detect_layout(state: dict[str, Any]) -> str:
    """'clip4clip' (our full module), 'hf_clip' (transformers CLIPModel) or 'open_clip'."""
    if any(key.startswith("clip.") for key in state) and any(
        key.startswith("clip.visual.") or key.startswith("header.") for key in state
    ):
        return "clip4clip"
    if any(key.startswith(("text_model.", "vision_model.")) for key in state):
        return "hf_clip"
    return "open_clip"


_HF_LAYER = re.compile(r"encoder\.layers\.(\d+)\.(.+)")
_HF_LAYER_PARTS = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
_HF_TOWER_PARTS = {
    "text": {
        "embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias",
    },
    "vision": {
        "embeddings.class_embedding": "visual.class_embedding",
        "embeddings.patch_embedding.weight": "visual.conv1.weight",
        "embeddings.position_embedding.weight": "visual.positional_embedding",
        "pre_layrnorm.weight": "visual.ln_pre.weight",  # sic: transformers' spelling
        "pre_layrnorm.bias": "visual.ln_pre.bias",
        "post_layernorm.weight": "visual.ln_post.weight",
        "post_layernorm.bias": "visual.ln_post.bias",
    },
}


def convert_hf_clip_to_open_clip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers `CLIPModel` names -> open_clip `CLIP` names, one to one.

    q/k/v projections merge into open_clip's packed `in_proj`; the projections are Linear
    weights [out, in] in transformers but plain matrices [in, out] in open_clip, hence the
    transposes. Unknown keys raise ValueError so a wrong file never loads half-way.
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    packed: dict[str, dict[str, torch.Tensor]] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue  # a buffer transformers once saved; open_clip computes positions itself
        if key == "logit_scale":
            out["logit_scale"] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.t().contiguous()
        elif key == "visual_projection.weight":
            out["visual.proj"] = value.t().contiguous()
        elif key.startswith(("text_model.", "vision_model.")):
            tower = "text" if key.startswith("text_model.") else "vision"
            rest = key.split(".", 1)[1]
            prefix = "" if tower == "text" else "visual."
            if rest in _HF_TOWER_PARTS[tower]:
                out[_HF_TOWER_PARTS[tower][rest]] = value
                continue
            match = _HF_LAYER.fullmatch(rest)
            if match is None:
                unknown.append(key)
                continue
            layer, part = match.groups()
            block = f"{prefix}transformer.resblocks.{layer}."
            qkv = re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", part)
            if qkv:
                which, kind = qkv.groups()
                packed.setdefault(f"{block}attn.in_proj_{kind}", {})[which] = value
                continue
            module, _, kind = part.rpartition(".")
            if module not in _HF_LAYER_PARTS:
                unknown.append(key)
                continue
            out[f"{block}{_HF_LAYER_PARTS[module]}.{kind}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"not a CLIPModel state dict: unexpected keys {', '.join(unknown[:5])}")
    for key, parts in packed.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"incomplete attention weights for {key}")
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out
