"""The training recipe's pieces: schedule, optimiser groups, loss, headers, resume state."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.tiny_model import build_tiny_module
from vidsearch.errors import UsageError
from vidsearch.model.clip4clip import symmetric_loss
from vidsearch.train import checkpoint
from vidsearch.train.recipe import (build_param_groups, contrastive_loss, default_batch_size,
                                    freeze, hard_negatives, prepare_module, schedule)
from vidsearch.train.settings import FinetuneSettings


def test_schedule_warms_up_then_decays_to_zero():
    assert schedule(0.0, 0.1) == 0.0
    assert schedule(0.05, 0.1) == pytest.approx(0.5)
    assert schedule(0.1, 0.1) == pytest.approx(1.0)
    assert schedule(0.55, 0.1) == pytest.approx(0.5)
    assert schedule(1.0, 0.1) == pytest.approx(0.0)
    after = [schedule(p / 100, 0.1) for p in range(10, 101)]
    assert after == sorted(after, reverse=True)


def test_groups_follow_the_paper():
    module = build_tiny_module(header="seqTransf")
    freeze(module, backbone=False)
    groups = {g["name"]: g for g in build_param_groups(module, 1e-4, 1e-7, 0.2)}
    assert set(groups) == {"clip", "clip-no-decay", "header", "header-no-decay"}
    assert groups["header"]["lr"] == 1e-4 and groups["clip"]["lr"] == 1e-7
    assert groups["clip-no-decay"]["weight_decay"] == groups["header-no-decay"]["weight_decay"] == 0
    assert groups["clip"]["weight_decay"] == 0.2
    names = {id(p): n for n, p in module.named_parameters()}
    no_decay = [names[id(p)] for p in groups["clip-no-decay"]["params"]]
    decay = [names[id(p)] for p in groups["clip"]["params"]]
    assert "clip.logit_scale" in no_decay and "clip.visual.class_embedding" in no_decay
    assert all(n.endswith("bias") or ".ln_" in n or p.ndim < 2
               for n, p in module.named_parameters() if n in no_decay)
    assert "clip.visual.transformer.resblocks.0.attn.in_proj_weight" in decay
    # The 2D patch embedding never trains.
    assert not module.clip.visual.conv1.weight.requires_grad
    assert all(not n.startswith("clip.visual.conv1") for n in no_decay + decay)


def test_a_frozen_backbone_leaves_only_the_header():
    module = build_tiny_module(header="seqTransf")
    freeze(module, backbone=True)
    groups = build_param_groups(module, 1e-4, 1e-7, 0.2)
    assert {g["name"] for g in groups} == {"header", "header-no-decay"}


def test_a_3d_patch_trains_with_the_backbone():
    module = build_tiny_module(patch="3d")
    freeze(module, backbone=False)
    assert module.clip.visual.conv1.conv.weight.requires_grad


def test_the_loss_is_the_papers_when_pairs_are_distinct():
    logits = torch.randn(6, 6)
    ids = torch.arange(6)
    assert contrastive_loss(logits, ids, ids) == pytest.approx(float(symmetric_loss(logits)))


def test_repeated_captions_are_not_punished_as_negatives():
    # Pairs 0 and 1 share a caption: scoring both clips high for it is right, and the loss
    # must prefer that to pretending one of the two clips does not match its caption.
    both = torch.tensor([[9.0, 9.0, 0.0], [9.0, 9.0, 0.0], [0.0, 0.0, 9.0]])
    diagonal = torch.tensor([[9.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]])
    clips, captions = torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1])
    assert contrastive_loss(both, clips, captions) < contrastive_loss(diagonal, clips, captions)
    assert symmetric_loss(both) > symmetric_loss(diagonal)  # the paper's loss gets it wrong


@given(batch=st.integers(2, 6), extra=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_hard_negatives_raise_the_text_to_video_half_alone(batch, extra, seed):
    generator = torch.Generator().manual_seed(seed)
    own = torch.randn(batch, batch, generator=generator) * 3
    wrong = torch.randn(batch, extra, generator=generator) * 3
    ids = torch.arange(batch)
    plain = contrastive_loss(own, ids, ids)
    with_negatives = contrastive_loss(torch.cat([own, wrong], dim=1), ids, ids)
    # By hand: the wrong clips join each caption's softmax over clips with a target of 0; the
    # video->text half is the plain loss's.
    to_video = F.cross_entropy(torch.cat([own, wrong], dim=1), ids)
    to_text = F.cross_entropy(own.t(), ids)
    assert float(with_negatives) == pytest.approx(float((to_video + to_text) / 2), rel=1e-5)
    assert with_negatives > plain


def test_a_confusing_hard_negative_costs_more_and_is_pushed_down():
    own = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    ids = torch.arange(2)
    close = torch.tensor([[4.5], [0.0]], requires_grad=True)  # nearly the right answer's score
    far = torch.tensor([[-5.0], [0.0]])
    loss = contrastive_loss(torch.cat([own, close], dim=1), ids, ids)
    assert loss > contrastive_loss(torch.cat([own, far], dim=1), ids, ids)
    loss.backward()
    assert close.grad[0, 0] > 0  # a descent step lowers the wrong clip's score for caption 0


def test_hard_negatives_skip_the_batch_and_its_right_answers():
    right = {0: ["dog"], 1: ["cat"], 5: ["cat"], 6: [], 7: [], 8: []}
    wrong = {"dog": [1, 5, 6, 6], "cat": [7, 8], "owl": [9]}
    chosen = hard_negatives([0, 1], ["dog", "cat"], wrong, right.__getitem__, limit=3)
    # 1 is in the batch, 5 is a right answer to "cat", 6 is given once; "owl" is not asked.
    assert chosen == [6, 7, 8]
    assert hard_negatives([0, 1], ["dog", "cat"], wrong, right.__getitem__, limit=1) == [6]
    assert hard_negatives([0], ["dog"], {}, right.__getitem__, limit=4) == []


def test_mean_pooling_cannot_see_frame_order_and_seq_transf_can():
    frames = torch.randn(1, 5, 64)
    reverse = frames.flip(1)
    mask = torch.ones(1, 5, dtype=torch.bool)
    mean_p = build_tiny_module(header="meanP")
    torch.testing.assert_close(mean_p.aggregate(frames, mask), mean_p.aggregate(reverse, mask))
    seq = build_tiny_module(header="seqTransf")
    with torch.no_grad():
        seq.header.frame_position_embeddings.weight.normal_(std=1.0)
        gap = (seq.aggregate(frames, mask) - seq.aggregate(reverse, mask)).norm()
    assert gap > 1e-3


def test_a_new_header_shares_the_backbone():
    base = build_tiny_module(header="meanP")
    module = prepare_module(base, "seqTransf", "2d", "meanP")
    assert module.clip is base.clip and module.header_name == "seqTransf"
    assert prepare_module(base, "meanP", "2d", "meanP") is base
    inflated = prepare_module(build_tiny_module(), "meanP", "3d", "meanP")
    assert inflated.patch == "3d" and inflated.patch_embed is not None
    with pytest.raises(UsageError, match="cannot become 2d"):
        prepare_module(inflated, "meanP", "2d", "meanP")
    again = prepare_module(inflated, "seqTransf", "3d", "meanP")  # no second inflation
    assert again.patch == "3d" and again.patch_embed is inflated.patch_embed


def _step(module, optimizer) -> None:
    optimizer.zero_grad(set_to_none=True)
    module.aggregate(torch.randn(2, 3, 64), torch.ones(2, 3, dtype=torch.bool)).sum().backward()
    optimizer.step()


def test_optimizer_state_survives_safetensors(tmp_path):
    module = build_tiny_module(header="seqTransf")
    freeze(module, backbone=True)
    optimizer = torch.optim.AdamW(build_param_groups(module, 1e-3, 0, 0.2))
    _step(module, optimizer)
    state = checkpoint.ResumeState(settings={"seed": 1}, data_fingerprint="abc", epochs_done=1)
    last = checkpoint.trainable_state(module)
    checkpoint.save_resume(tmp_path / "m", last, last, optimizer, state)
    loaded, last_back, best_back, optimizer_state = checkpoint.load_resume(tmp_path / "m")
    assert loaded.epochs_done == 1 and loaded.settings == {"seed": 1}
    assert set(last_back) == set(last) and best_back is not None
    fresh = torch.optim.AdamW(build_param_groups(module, 1e-3, 0, 0.2))
    fresh.load_state_dict(optimizer_state)
    for parameter in module.header.parameters():
        torch.testing.assert_close(optimizer.state[parameter]["exp_avg"],
                                   fresh.state[parameter]["exp_avg"])


def test_best_tensors_already_saved_are_kept(tmp_path):
    module = build_tiny_module(header="seqTransf")
    freeze(module, backbone=True)
    optimizer = torch.optim.AdamW(build_param_groups(module, 1e-2, 0, 0.2))
    folder = tmp_path / "m"
    _step(module, optimizer)
    best = checkpoint.trainable_state(module)  # epoch 1, the best
    checkpoint.save_resume(folder, best, best, optimizer,
                           checkpoint.ResumeState(settings={}, data_fingerprint="abc",
                                                  epochs_done=1, best_epoch=1))
    _step(module, optimizer)
    last = checkpoint.trainable_state(module)  # epoch 2, no better
    assert any(not torch.equal(best[name], last[name]) for name in best)
    checkpoint.save_resume(folder, last, None, optimizer,
                           checkpoint.ResumeState(settings={}, data_fingerprint="abc",
                                                  epochs_done=2, best_epoch=1))
    _, last_back, best_back, _ = checkpoint.load_resume(folder)
    assert best_back is not None and set(best_back) == set(best)
    for name in best:
        torch.testing.assert_close(best_back[name], best[name], rtol=0, atol=0)
        torch.testing.assert_close(last_back[name], last[name], rtol=0, atol=0)


def test_settings_are_checked():
    good = FinetuneSettings(base="a", name="b", labels="c")
    good.validate()
    for change in ({"epochs": 0}, {"batch_size": 1}, {"lr": 0}, {"clip_lr": -1},
                   {"val_fraction": 1.0}, {"header": "lstm"}):
        with pytest.raises(UsageError):
            FinetuneSettings(base="a", name="b", labels="c", **change).validate()


def test_default_batch_sizes():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_batch_size(cpu, False, 1000) == 32
    assert default_batch_size(cuda, False, 1000) == 128
    assert default_batch_size(cpu, True, 1000) == 256
    assert default_batch_size(cuda, False, 20) == 20
