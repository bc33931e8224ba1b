"""Sim headers: meanP arithmetic, order sensitivity, padding invariance, initialisation, tight."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.tiny_model import TINY_CONFIG, build_tiny_module
from vidsearch.model.cards import HEADER_NAMES, LOOSE_HEADER_NAMES
from vidsearch.model.heads import HEADERS, MeanP, SeqTransf, build_header

DIM = TINY_CONFIG["embed_dim"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def modules():
    """One tiny CLIP4Clip per header, random but seeded."""
    return {name: build_tiny_module(header=name, seed=1) for name in HEADER_NAMES}


def _frames(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, length, DIM, generator=torch.Generator().manual_seed(seed))


def test_registry_matches_the_names_cards_accept():
    assert tuple(HEADERS) == HEADER_NAMES
    assert {name for name, cls in HEADERS.items() if cls.loose} == set(LOOSE_HEADER_NAMES)


def test_unknown_header_name_is_refused(modules):
    with pytest.raises(ValueError, match="unknown sim header"):
        build_header("maxP", modules["meanP"].clip, DIM)


def test_meanp_is_the_normalised_mean_of_normalised_frames(modules):
    frames = _frames(3, 7)
    mask = torch.ones(3, 7, dtype=torch.bool)
    expected = F.normalize(F.normalize(frames, dim=-1).mean(dim=1), dim=-1)
    got = modules["meanP"].aggregate(frames, mask)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # The mean of normalised vectors, not of raw ones: scaling one frame changes nothing.
    scaled = frames.clone()
    scaled[:, 0] *= 50
    torch.testing.assert_close(modules["meanP"].aggregate(scaled, mask), expected, atol=1e-6, rtol=0)


def test_meanp_ignores_frame_order(modules):
    frames = _frames(2, 9)
    mask = torch.ones(2, 9, dtype=torch.bool)
    order = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(modules["meanP"].aggregate(frames[:, order], mask),
                               modules["meanP"].aggregate(frames, mask), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["seqLSTM", "seqTransf"])
def test_sequence_headers_depend_on_frame_order(modules, name):
    frames = _frames(2, 9)
    mask = torch.ones(2, 9, dtype=torch.bool)
    with torch.no_grad():
        forward = modules[name].aggregate(frames, mask)
        backward = modules[name].aggregate(frames.flip(1), mask)
    assert (forward - backward).abs().max() > 1e-4


@pytest.mark.parametrize("name", LOOSE_HEADER_NAMES)
def test_padding_does_not_change_clip_vectors(modules, name):
    frames = _frames(1, 5)
    padded = torch.cat([frames, torch.full((1, 4, DIM), 1e6)], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 4])
    with torch.no_grad():
        alone = modules[name].aggregate(frames, torch.ones(1, 5, dtype=torch.bool))
        with_padding = modules[name].aggregate(padded, mask)
    torch.testing.assert_close(with_padding, alone, atol=1e-5, rtol=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(LOOSE_HEADER_NAMES),
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    extra=st.integers(0, 6),
    seed=st.integers(0, 2**16),
    garbage=st.sampled_from([0.0, -3.0, 1e4, float("nan"), float("inf")]),
)
def test_padding_invariance_over_random_batches(modules, name, lengths, extra, seed, garbage):
    """A clip's vector depends only on its real frames, whatever else shares its batch."""
    width = max(lengths) + extra
    frames = torch.full((len(lengths), width, DIM), garbage)
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    reference = []
    for row, length in enumerate(lengths):
        real = _frames(1, length, seed + row)
        frames[row, :length] = real[0]
        mask[row, :length] = True
        with torch.no_grad():
            reference.append(modules[name].aggregate(real, torch.ones(1, length, dtype=torch.bool)))
    with torch.no_grad():
        batched = modules[name].aggregate(frames, mask)
    assert torch.isfinite(batched).all()
    torch.testing.assert_close(batched, torch.cat(reference), atol=1e-5, rtol=0)


def test_holes_in_the_mask_count_as_removed_frames(modules):
    frames = _frames(1, 6)
    mask = torch.tensor([[True, False, True, True, False, True]])
    kept = frames[:, mask[0]]
    for name in LOOSE_HEADER_NAMES:
        with torch.no_grad():
            torch.testing.assert_close(
                modules[name].aggregate(frames, mask),
                modules[name].aggregate(kept, torch.ones(1, 4, dtype=torch.bool)),
                atol=1e-5, rtol=0)


def test_a_clip_without_real_frames_is_an_error(modules):
    with pytest.raises(ValueError, match="at least one real frame"):
        modules["meanP"].aggregate(_frames(1, 3), torch.zeros(1, 3, dtype=torch.bool))


def test_seqtransf_starts_from_clip_text_weights(modules):
    module = modules["seqTransf"]
    header = module.header
    assert isinstance(header, SeqTransf)
    assert len(header.transformer) == 4
    text_layers = module.clip.transformer.resblocks
    for index, layer in enumerate(text_layers):  # the tiny text tower has 2 layers
        ours, theirs = header.transformer[index].state_dict(), layer.state_dict()
        assert ours.keys() == theirs.keys()
        for key in ours:
            torch.testing.assert_close(ours[key], theirs[key], atol=0, rtol=0)
    # Layers the text tower does not have start random, not as copies.
    assert not torch.equal(header.transformer[2].attn.in_proj_weight, text_layers[0].attn.in_proj_weight)
    torch.testing.assert_close(header.frame_position_embeddings.weight,
                               module.clip.positional_embedding, atol=0, rtol=0)
    # Copies, not shared storage: training the header must not move the text tower.
    assert header.transformer[0].attn.in_proj_weight.data_ptr() != text_layers[0].attn.in_proj_weight.data_ptr()


def test_meanp_has_no_parameters(modules):
    assert isinstance(modules["meanP"].header, MeanP)
    assert not list(modules["meanP"].header.parameters())


def test_tight_model_indexes_with_its_shortlist_header(modules):
    tight = modules["tightTransf"]
    assert isinstance(tight.header, MeanP)
    assert tight.can_rerank and not modules["meanP"].can_rerank


def _tokens(module) -> torch.Tensor:
    ids = torch.zeros(1, 77, dtype=torch.long)
    ids[0, 0], ids[0, 1:4], ids[0, 4] = 49406, torch.tensor([320, 1929, 269]), 49407
    return ids


def test_tight_rerank_with_zeroed_output_layer_is_constant(modules):
    module = build_tiny_module(header="tightTransf", seed=2)
    with torch.no_grad():
        module.tight.out.weight.zero_()
        module.tight.out.bias.fill_(0.25)
        scores = module.rerank(_tokens(module), _frames(6, 5), torch.ones(6, 5, dtype=torch.bool))
    torch.testing.assert_close(scores, torch.full((6,), 0.25), atol=0, rtol=0)


def test_tight_rerank_order_comes_from_the_head(modules):
    module = build_tiny_module(header="tightTransf", seed=2)
    frames, mask = _frames(8, 5, seed=4), torch.ones(8, 5, dtype=torch.bool)
    with torch.no_grad():
        module.tight.out.bias.zero_()
        scores = module.rerank(_tokens(module), frames, mask)
        assert scores.unique().numel() == 8
        module.tight.out.weight.neg_()  # flip the head: the ranking must flip with it
        flipped = module.rerank(_tokens(module), frames, mask)
    torch.testing.assert_close(flipped, -scores, atol=1e-6, rtol=0)
    assert torch.equal(scores.argsort(), flipped.argsort().flip(0))


def test_tight_scores_ignore_padded_frames(modules):
    module = modules["tightTransf"]
    frames = _frames(1, 4)
    padded = torch.cat([frames, torch.full((1, 3, DIM), float("nan"))], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 3])
    with torch.no_grad():
        alone = module.rerank(_tokens(module), frames, torch.ones(1, 4, dtype=torch.bool))
        with_padding = module.rerank(_tokens(module), padded, mask)
    torch.testing.assert_close(with_padding, alone, atol=1e-5, rtol=0)
