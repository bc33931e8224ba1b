"""The text-only query path must give the full model's caption vectors, without open_clip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.fixtures.tiny_model import install_tiny_model
from vidsearch import config
from vidsearch.model import load_model
from vidsearch.model.text_query import load_text_query_model

CAPTIONS = ["a dog catching a frisbee", "", "grandma blowing out candles on a cake " * 12,
            "雪の中の猫", "a"]


@pytest.mark.slow
@pytest.mark.parametrize("header", ["meanP", "seqTransf"])
def test_text_only_vectors_equal_the_full_models(header):
    name = install_tiny_model(config.models_dir(), name=f"t-{header}".lower(), header=header,
                              seed=4)
    full = load_model(name, device="cpu")
    fast = load_text_query_model(name)
    assert fast is not None
    assert fast.fingerprint == full.fingerprint
    np.testing.assert_allclose(fast.embed_texts(CAPTIONS), full.embed_texts(CAPTIONS), atol=1e-5)


@pytest.mark.slow
def test_text_only_path_matches_open_clips_vit_b_32_layout():
    """The real ViT-B-32 text config (width 512, 12 layers, quick GELU), random weights."""
    import torch

    from vidsearch.model.cards import ModelCard
    from vidsearch.model.factory import build_module, save_model

    card = ModelCard(name="b32", arch="ViT-B-32", weights_source="local",
                     weights_layout="clip4clip", quick_gelu=True, embed_dim=512)
    torch.manual_seed(0)
    save_model(build_module(card), card, config.models_dir() / "b32")
    fast = load_text_query_model("b32")
    full = load_model("b32", device="cpu")
    np.testing.assert_allclose(fast.embed_texts(CAPTIONS), full.embed_texts(CAPTIONS), atol=1e-5)


@pytest.mark.slow
def test_text_only_path_does_not_import_open_clip(tiny_model):
    code = (
        "import sys\n"
        "from vidsearch.model.text_query import load_text_query_model\n"
        "m = load_text_query_model()\n"
        "assert m is not None\n"
        "m.embed_texts(['a dog'])\n"
        "print(sorted(n for n in ('open_clip', 'torchvision', 'timm') if n in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_unrecognised_text_towers_fall_back_to_the_full_model(tiny_model):
    from vidsearch.model.cards import load_card
    from vidsearch.model.text_spec import plain_text_config as _plain_text_config

    card = load_card(tiny_model)
    assert _plain_text_config(card) is not None
    card.open_clip_config["text_cfg"]["hf_model_name"] = "some/bert"
    assert _plain_text_config(card) is None
    assert _plain_text_config(load_card("pe-core-b16")) is None


def test_skipping_caption_padding_changes_nothing():
    import torch

    from tests.fixtures.tiny_model import build_tiny_module, make_tiny_card
    from vidsearch.model.factory import make_tokenizer

    module = build_tiny_module(seed=2)
    tokens = make_tokenizer(make_tiny_card())(CAPTIONS)
    with torch.no_grad():
        truncated = module.encode_text(tokens)
        untruncated = module.clip.encode_text(tokens)
    assert module._causal_argmax_text()
    torch.testing.assert_close(truncated, untruncated, atol=1e-5, rtol=1e-5)
