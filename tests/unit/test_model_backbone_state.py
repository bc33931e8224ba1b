"""Backbone weights get open_clip's own fix-ups: positional embeddings resized to the model."""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from tests.fixtures.tiny_model import TINY_ARCH, make_tiny_card
from vidsearch.model.factory import build_module


def _card_at(image_size: int):
    card = make_tiny_card()
    config = copy.deepcopy(card.open_clip_config)
    config["vision_cfg"]["image_size"] = image_size
    return replace(card, arch=f"{TINY_ARCH}-{image_size}px", open_clip_config=config,
                   weights_layout="open_clip")


def test_weights_of_another_grid_size_load_with_the_positions_resized():
    torch.manual_seed(0)
    small = build_module(_card_at(32)).clip  # 32 px / 16 px patches: a 2x2 grid + class token
    state = small.state_dict()
    assert state["visual.positional_embedding"].shape == (5, 64)

    module = build_module(_card_at(64), state)  # a 4x4 grid

    positions = module.clip.visual.positional_embedding
    assert positions.shape == (17, 64)
    source = state["visual.positional_embedding"]
    assert torch.equal(positions[0], source[0])  # the class token's position is kept as is
    # The grid is interpolated, not left random: its mean follows the source grid's.
    assert torch.allclose(positions[1:].mean(0), source[1:].mean(0), atol=0.05)
    assert torch.equal(module.clip.visual.conv1.weight, state["visual.conv1.weight"])
