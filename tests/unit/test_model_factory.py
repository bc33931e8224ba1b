"""load_model / save_model and the numpy-facing VideoTextModel, on the tiny random model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fixtures.tiny_model import install_tiny_model, make_tiny_card
from vidsearch import config
from vidsearch.errors import CannotRunError, UsageError, advice_of
from vidsearch.model import load_model, save_model
from vidsearch.model.cards import load_card
from vidsearch.model.pixels import fit_square


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("VIDSEARCH_MODEL", raising=False)


def _frames(count: int, seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _install(**kwargs) -> str:
    return install_tiny_model(config.models_dir(), **kwargs)


def test_tiny_model_loads_through_the_real_path():
    name = _install()
    folder = config.models_dir() / name
    assert sorted(p.name for p in folder.iterdir()) == ["card.toml", "model.safetensors"]
    model = load_model(name, device="cpu")
    assert (model.device, model.image_size, model.embed_dim) == ("cpu", 64, 64)
    assert (model.temporal_context, model.can_rerank) == (0, False)
    assert model.fingerprint.startswith("tiny-")


def test_default_name_comes_from_the_settings(monkeypatch):
    _install(name="chosen")
    monkeypatch.setenv("VIDSEARCH_MODEL", "chosen")
    assert load_model().card.name == "chosen"


def test_texts_are_normalised_float32_and_distinct():
    model = load_model(_install())
    vectors = model.embed_texts(["a dog catching a frisbee", "snow on a mountain", ""])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert abs(float(vectors[0] @ vectors[1])) < 0.999
    assert model.embed_texts([]).shape == (0, 64)
    with pytest.raises(TypeError):
        model.embed_texts("one string")


@pytest.mark.slow
def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    name = _install(header="seqTransf", seed=3)
    first = load_model(name)
    card = load_card(name)
    card.name = "copy"
    card.extra = {"note": "saved again"}
    save_model(first, card, config.models_dir() / "copy")
    second = load_model("copy")
    frames = _frames(6)
    texts = ["a", "a red car"]
    np.testing.assert_array_equal(first.embed_texts(texts), second.embed_texts(texts))
    feats = first.embed_frames(frames)
    np.testing.assert_array_equal(feats, second.embed_frames(frames))
    np.testing.assert_array_equal(first.aggregate([feats[:4], feats]), second.aggregate([feats[:4], feats]))
    assert second.card.header == "seqTransf" and second.card.extra == {"note": "saved again"}
    # Same weights under another name: another fingerprint (the name is part of it).
    assert first.fingerprint != second.fingerprint


def test_saving_needs_a_folder_named_like_the_model(tmp_path):
    model = load_model(_install())
    with pytest.raises(ValueError, match="folder of that name"):
        save_model(model, model.card, tmp_path / "elsewhere")


@pytest.mark.slow
def test_fingerprint_changes_with_weights_and_header():
    a = load_model(_install(name="a", seed=0)).fingerprint
    assert load_model("a").fingerprint == a
    _install(name="a", seed=1)
    assert load_model("a").fingerprint != a
    _install(name="a", seed=0, header="seqLSTM")
    assert load_model("a").fingerprint != a


def test_weights_override_and_missing_local_weights(tmp_path):
    name = _install()
    weights_file = config.models_dir() / name / "model.safetensors"
    moved = tmp_path / "moved.safetensors"
    weights_file.rename(moved)
    with pytest.raises(CannotRunError) as caught:
        load_model(name)
    assert name in str(caught.value) and "name another weights file" in str(caught.value)
    assert advice_of(caught.value) == "weights"  # the CLI adds --weights FILE
    assert load_model(name, weights=moved).embed_texts(["x"]).shape == (1, 64)


def test_frames_of_many_videos_can_share_a_batch():
    model = load_model(_install())
    frames = _frames(7)
    together = model.embed_frames(frames)
    assert together.dtype == np.float32 and together.shape == (7, 64)
    one_by_one = np.concatenate([model.embed_frames(frames[i:i + 1]) for i in range(7)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    # Raw features, not normalised: the indexer normalises in the header.
    assert not np.allclose(np.linalg.norm(together, axis=1), 1.0)


def test_embed_frames_drops_context_rows():
    model = load_model(_install())
    frames = _frames(6)
    full = model.embed_frames(frames)
    np.testing.assert_allclose(model.embed_frames(frames, context=(2, 1)), full[2:5], atol=1e-5)
    with pytest.raises(ValueError, match="context"):
        model.embed_frames(frames, context=(4, 3))


def test_frames_must_be_uint8_at_the_model_size():
    model = load_model(_install())
    with pytest.raises(TypeError):
        model.embed_frames(_frames(2).astype(np.float32))
    with pytest.raises(ValueError, match="64, 64, 3"):
        model.embed_frames(_frames(2, size=32))


def _train_side_taps(name: str) -> None:
    """Give a saved 3d model nonzero neighbour taps, as training would."""
    from safetensors.torch import load_file, save_file

    path = config.models_dir() / name / "model.safetensors"
    state = load_file(str(path))
    key = "clip.visual.conv1.conv.weight"
    generator = torch.Generator().manual_seed(0)
    state[key][:, :, 0] = torch.randn(state[key][:, :, 0].shape, generator=generator) * 0.05
    state[key][:, :, 2] = torch.randn(state[key][:, :, 2].shape, generator=generator) * 0.05
    save_file(state, str(path))


def test_3d_sequences_can_be_encoded_in_pieces_with_context():
    name = _install(name="deep", patch="3d")
    _train_side_taps(name)
    model = load_model(name)
    assert model.temporal_context == 1
    frames = _frames(9, seed=2)
    whole = model.embed_frames(frames)
    # The indexer's way: pieces overlapping by one context frame on each side.
    first = model.embed_frames(frames[:5], context=(0, 1))
    second = model.embed_frames(frames[3:], context=(1, 0))
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-5)
    # Internal batching must not cut the temporal context either.
    model.frame_batch = 2
    np.testing.assert_allclose(model.embed_frames(frames), whole, atol=1e-5)
    # And the neighbours matter: frame 4 alone is not frame 4 in its sequence.
    assert np.abs(model.embed_frames(frames[4:5]) - whole[4:5]).max() > 1e-4


def test_aggregate_pads_masks_and_samples_long_windows():
    model = load_model(_install(header="seqLSTM"))
    feats = model.embed_frames(_frames(30, seed=4))
    short, long = feats[:3], feats
    vectors = model.aggregate([short, long])
    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], model.aggregate([short])[0], atol=1e-5)
    picked = np.linspace(0, 29, num=12).round().astype(int)
    np.testing.assert_allclose(vectors[1], model.aggregate([long[picked]])[0], atol=1e-5)
    assert model.aggregate([]).shape == (0, 64)
    with pytest.raises(ValueError):
        model.aggregate([np.zeros((0, 64), np.float32)])


def test_embed_image_resizes_the_short_side_and_crops_the_centre():
    model = load_model(_install())
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    vector = model.embed_image(image)
    assert vector.shape == (64,) and vector.dtype == np.float32
    crop = fit_square(image, 64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(vector, model.embed_frames(crop[None])[0], atol=1e-6)
    # An image already at the model size passes through untouched.
    frame = _frames(1)[0]
    np.testing.assert_array_equal(fit_square(frame, 64), frame)
    # A flat grey image stays flat grey after resizing (no ringing at the borders).
    grey = np.full((100, 300, 3), 128, np.uint8)
    np.testing.assert_array_equal(fit_square(grey, 64), np.full((64, 64, 3), 128, np.uint8))


@pytest.mark.slow
def test_rerank_needs_a_tight_model():
    loose = load_model(_install())
    with pytest.raises(UsageError, match="cannot re-rank"):
        loose.rerank("a dog", [np.zeros((3, 64), np.float32)])
    tight = load_model(_install(name="tight", header="tightTransf"))
    assert tight.can_rerank
    feats = tight.embed_frames(_frames(8, seed=6))
    scores = tight.rerank("a dog", [feats[:3], feats[3:], feats])
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert len(set(scores.tolist())) == 3
    # Index vectors of a tight model come from its loose shortlist header (meanP).
    expected = feats[:3] / np.linalg.norm(feats[:3], axis=1, keepdims=True)
    expected = expected.mean(axis=0)
    np.testing.assert_allclose(tight.aggregate([feats[:3]])[0], expected / np.linalg.norm(expected),
                               atol=1e-5)


def test_device_and_precision_choices():
    name = _install()
    with pytest.raises(UsageError, match="unknown device"):
        load_model(name, device="tpu")
    with pytest.raises(UsageError, match="precision"):
        load_model(name, precision="fp8")
    with pytest.raises(UsageError, match="fp16 needs a CUDA"):
        load_model(name, device="cpu", precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(CannotRunError, match="CUDA"):
            load_model(name, device="cuda")


@pytest.mark.slow
@pytest.mark.parametrize("patch", ["2d", "3d"])
def test_bf16_on_cpu_stays_within_1e_2_cosine_of_fp32(patch):
    name = _install(header="seqTransf", patch=patch)
    exact, fast = load_model(name), load_model(name, precision="bf16")
    assert fast.precision == "bf16"
    frames = _frames(4, seed=7)
    for a, b in [(exact.embed_frames(frames), fast.embed_frames(frames)),
                 (exact.embed_texts(["a dog", "rain"]), fast.embed_texts(["a dog", "rain"]))]:
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() > 1 - 1e-2


def test_inline_configs_may_not_shadow_open_clip_architectures():
    from vidsearch.model.factory import build_module

    card = make_tiny_card()
    card.arch = "ViT-B-32"
    with pytest.raises(UsageError, match="may not redefine"):
        build_module(card)


def test_a_new_header_can_start_from_a_fine_tuned_backbone():
    from vidsearch.model.factory import build_module
    from vidsearch.model.weights import load_state_file

    name = _install(seed=4)
    state = load_state_file(config.models_dir() / name / "model.safetensors")
    card = load_card(name)
    card.header = "seqTransf"
    with pytest.raises(CannotRunError, match="do not fit"):
        build_module(card, state)  # the saved model has no seqTransf weights
    module = build_module(card, state, backbone_only=True)
    torch.testing.assert_close(module.clip.logit_scale, state["clip.logit_scale"])
    saved_layer = {key.split("resblocks.0.", 1)[1]: value for key, value in state.items()
                   if key.startswith("clip.transformer.resblocks.0.")}
    for key, value in module.header.transformer[0].state_dict().items():
        assert torch.equal(value, saved_layer[key])


@pytest.mark.parametrize("meta_build", [True, False], ids=["meta-build", "cpu-build-released"])
@pytest.mark.parametrize("header,patch", [("seqTransf", "2d"), ("tightTransf", "3d")])
def test_loading_from_a_file_takes_its_tensors_over_and_rebuilds_unsaved_buffers(
        header, patch, meta_build, monkeypatch):
    from vidsearch.model import factory
    from vidsearch.model.factory import build_module
    from vidsearch.model.weights import load_state_file

    if not meta_build:  # as for an architecture with buffers only a real construction makes
        monkeypatch.setattr(factory, "_rebuild_unsaved_buffers", lambda module: False)

    name = _install(header=header, patch=patch)
    card = load_card(name)
    path = config.models_dir() / name / "model.safetensors"
    from_file = build_module(card, path)
    from_dict = build_module(card, load_state_file(path))
    want = dict(from_dict.state_dict())
    got = dict(from_file.state_dict())
    assert got.keys() == want.keys()
    for key in want:
        assert not got[key].is_meta and got[key].dtype == want[key].dtype, key
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)
    # The causal mask is not in the file: it must be the model's own, not left unloaded.
    torch.testing.assert_close(from_file.clip.attn_mask, from_dict.clip.attn_mask)


def test_a_half_precision_file_loads_into_fp32_weights(tmp_path):
    from vidsearch.model.factory import build_module
    from vidsearch.model.weights import load_state_file, save_state_file

    name = _install()
    card = load_card(name)
    state = load_state_file(config.models_dir() / name / "model.safetensors")
    half = tmp_path / "half.safetensors"
    save_state_file({key: value.half() if value.is_floating_point() else value
                     for key, value in state.items()}, half)
    module = build_module(card, half)
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    torch.testing.assert_close(module.clip.logit_scale, state["clip.logit_scale"].half().float())


@pytest.mark.slow
def test_a_model_loaded_without_text_encodes_the_same_frames_and_says_why_text_fails(
        weights_read):
    name = _install(header="seqTransf")
    full = load_model(name)
    weights_read.clear()
    frames_only = load_model(name, text=False)
    # The header's weights are in the file: the text tower's are never read.
    assert weights_read
    assert not [key for key in weights_read if key.startswith("clip.transformer.")]
    frames = _frames(5, seed=3)
    np.testing.assert_array_equal(full.embed_frames(frames), frames_only.embed_frames(frames))
    windows = [full.embed_frames(frames)[:3], full.embed_frames(frames)[2:]]
    np.testing.assert_array_equal(full.aggregate(windows), frames_only.aggregate(windows))
    text_params = sum(p.numel() for p in full.module.clip.transformer.parameters())
    saved = (sum(p.numel() for p in full.module.parameters())
             - sum(p.numel() for p in frames_only.module.parameters()))
    assert saved >= text_params
    with pytest.raises(RuntimeError, match="without its text tower"):
        frames_only.embed_texts(["a dog"])
