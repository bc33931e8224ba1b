"""The CLIP4Clip module: 3D patch initialisation, frame masking, similarity, loss."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from tests.fixtures.tiny_model import build_tiny_module
from vidsearch.model.clip4clip import CLIP4Clip, TemporalPatchEmbed, symmetric_loss


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_HOME", str(tmp_path / "home"))


def _pixels(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _as_3d(module_2d: CLIP4Clip) -> CLIP4Clip:
    """The same backbone weights, wrapped with the 3D patch."""
    return CLIP4Clip(copy.deepcopy(module_2d.clip), embed_dim=module_2d.embed_dim,
                     header="meanP", patch="3d").eval()


def test_3d_patch_starts_equal_to_2d_and_diverges_after_one_step():
    flat = build_tiny_module(patch="2d", seed=5)
    deep = _as_3d(flat)
    assert isinstance(deep.clip.visual.conv1, TemporalPatchEmbed)
    pixels = _pixels(2, 5)
    with torch.no_grad():
        expected = flat.encode_frames(pixels)
        torch.testing.assert_close(deep.encode_frames(pixels), expected, atol=1e-5, rtol=0)

    kernel = deep.clip.visual.conv1.conv.weight
    optimiser = torch.optim.SGD([kernel], lr=1.0)
    deep.encode_frames(pixels).pow(2).sum().backward()
    assert kernel.grad[:, :, 0].abs().sum() > 0  # the side taps learn from the neighbours
    optimiser.step()
    with torch.no_grad():
        moved = deep.encode_frames(pixels)
    assert (moved - expected).abs().max() > 1e-3


def test_3d_frames_see_their_neighbours_once_trained():
    deep = _as_3d(build_tiny_module(seed=5))
    with torch.no_grad():
        deep.clip.visual.conv1.conv.weight[:, :, 0].normal_(std=0.05)  # previous-frame tap
        deep.clip.visual.conv1.conv.weight[:, :, 2].normal_(std=0.05)  # next-frame tap
    pixels = _pixels(1, 4)
    changed = pixels.clone()
    changed[0, 3] += 1.0  # touch only the last frame
    with torch.no_grad():
        before, after = deep.encode_frames(pixels), deep.encode_frames(changed)
    diff = (before - after).abs().amax(dim=-1)[0]
    assert diff[0] == 0 and diff[1] == 0  # out of reach of a 3-frame kernel
    assert diff[2] > 1e-4 and diff[3] > 1e-4


def test_3d_padding_behaves_like_the_end_of_the_video():
    deep = _as_3d(build_tiny_module(seed=5))
    with torch.no_grad():
        deep.clip.visual.conv1.conv.weight.normal_(std=0.05)
    pixels = _pixels(1, 3)
    padded = torch.cat([pixels, _pixels(1, 2, seed=9)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        alone = deep.encode_frames(pixels)
        with_padding = deep.encode_frames(padded, mask)
    torch.testing.assert_close(with_padding[:, :3], alone, atol=1e-5, rtol=0)
    assert torch.equal(with_padding[:, 3:], torch.zeros_like(with_padding[:, 3:]))


def test_3d_needs_a_vit_patch_conv():
    clip = build_tiny_module().clip
    clip.visual.conv1 = nn.Identity()
    with pytest.raises(ValueError, match="3d patch"):
        CLIP4Clip(clip, embed_dim=64, patch="3d")


def test_2d_frames_are_independent():
    module = build_tiny_module(seed=6)
    pixels = _pixels(2, 3)
    with torch.no_grad():
        together = module.encode_frames(pixels)
        alone = module.encode_frames(pixels[:1, 1:2])
    torch.testing.assert_close(together[:1, 1:2], alone, atol=1e-5, rtol=0)


def test_similarity_uses_clip_logit_scale():
    module = build_tiny_module(seed=7)
    text = torch.randn(3, 64)
    clips = torch.nn.functional.normalize(torch.randn(4, 64), dim=-1)
    with torch.no_grad():
        module.clip.logit_scale.fill_(math.log(100.0))
        logits = module.similarity(text, clips)
    cosines = torch.nn.functional.normalize(text, dim=-1) @ clips.t()
    torch.testing.assert_close(logits, 100.0 * cosines, atol=1e-4, rtol=1e-5)


def test_forward_gives_a_square_logit_matrix_that_trains():
    module = build_tiny_module(header="seqTransf", seed=8).train()
    tokens = torch.zeros(3, 77, dtype=torch.long)
    tokens[:, 0], tokens[:, 1], tokens[:, 2] = 49406, torch.tensor([320, 321, 322]), 49407
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    logits = module(tokens, _pixels(3, 3), mask)
    assert logits.shape == (3, 3)
    loss = module.symmetric_loss(logits)
    loss.backward()
    assert module.header.transformer[0].attn.in_proj_weight.grad is not None


@pytest.mark.parametrize("batch", [1, 2, 5, 16])
def test_loss_of_constant_logits_is_log_b(batch):
    logits = torch.full((batch, batch), 3.7)
    torch.testing.assert_close(symmetric_loss(logits), torch.tensor(math.log(batch)))


def test_loss_is_symmetric_and_rewards_the_diagonal():
    logits = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(symmetric_loss(logits), symmetric_loss(logits.t()))
    assert symmetric_loss(torch.eye(6) * 10) < symmetric_loss(torch.zeros(6, 6))
    # Both directions count: a matrix good for captions but bad for clips is not free.
    skew = torch.zeros(3, 3)
    skew[:, 0] = -5.0
    skew[0, 0] = 5.0
    rows_only = torch.nn.functional.cross_entropy(skew, torch.arange(3))
    assert not torch.isclose(symmetric_loss(skew), rows_only)


def test_loss_needs_a_square_matrix():
    with pytest.raises(ValueError, match="square"):
        symmetric_loss(torch.zeros(2, 3))


@pytest.mark.parametrize("custom_text", [False, True])
def test_token_features_at_the_end_token_are_the_caption_feature(custom_text):
    """The tight header's per-token text path agrees with CLIP's pooled caption vector,
    for both open_clip text layouts (CLIP keeps the text tower at top level, CustomTextCLIP
    in `.text`)."""
    from tests.fixtures.tiny_model import make_tiny_card
    from vidsearch.model.factory import build_module

    card = make_tiny_card(header="tightTransf")
    if custom_text:
        card.arch = "vidsearch-tiny-custom-text"
        card.open_clip_config["custom_text"] = True
    torch.manual_seed(0)
    module = build_module(card).eval()
    assert hasattr(module.clip, "text") == custom_text
    tokens = torch.zeros(2, 77, dtype=torch.long)
    tokens[:, 0], tokens[0, 1:3], tokens[0, 3] = 49406, torch.tensor([320, 1929]), 49407
    tokens[1, 1] = 49407
    with torch.no_grad():
        features, mask = module.encode_text_tokens(tokens)
        pooled = module.encode_text(tokens)
    assert mask.sum(dim=1).tolist() == [4, 2]
    torch.testing.assert_close(features[torch.arange(2), tokens.argmax(dim=-1)], pooled,
                               atol=1e-5, rtol=0)
    tower = module.clip.text.transformer if custom_text else module.clip.transformer
    for key, value in tower.resblocks[0].state_dict().items():
        assert torch.equal(module.tight.transformer[0].state_dict()[key], value)
