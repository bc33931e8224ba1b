import itertools

import numpy as np
import pytest

from vidsearch.model.precision import (PrecisionChoice, choose_cpu_precision, probe_frames,
                                       remembered_choice)


def fake_encoder(fp32_seconds: float, bf16_seconds: float, bf16_noise: float):
    """An encoder whose cost and error we set; the fake clock advances by the cost."""
    now = itertools.count()
    clock_value = [0.0]
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3, 16))

    def encode(frames, bf16):
        next(now)
        clock_value[0] += bf16_seconds if bf16 else fp32_seconds
        features = frames.reshape(len(frames), -1, 3).mean(axis=1) @ weights
        if bf16:
            features = features + bf16_noise * rng.standard_normal(features.shape) * np.abs(
                features).mean()
        return features

    return encode, lambda: clock_value[0]


def test_bf16_is_chosen_when_fast_and_faithful():
    encode, clock = fake_encoder(1.0, 0.2, bf16_noise=0.001)
    choice = choose_cpu_precision(encode, 32, clock=clock)
    assert choice.use_bf16 and choice.speedup == pytest.approx(5.0)


def test_bf16_is_refused_when_slow():
    encode, clock = fake_encoder(1.0, 1.5, bf16_noise=0.0)
    assert not choose_cpu_precision(encode, 32, clock=clock).use_bf16


def test_bf16_is_refused_when_its_vectors_drift():
    encode, clock = fake_encoder(1.0, 0.2, bf16_noise=0.5)
    choice = choose_cpu_precision(encode, 32, clock=clock)
    assert not choice.use_bf16 and choice.min_cosine < 0.99


def test_probe_frames_are_fixed():
    np.testing.assert_array_equal(probe_frames(16), probe_frames(16))
    assert probe_frames(16).shape == (8, 16, 16, 3)


def test_the_real_model_settles_on_a_precision_at_its_first_frames(tiny_model):
    from vidsearch.model import load_model

    model = load_model(tiny_model, precision="auto")
    assert model.precision == "auto"
    model.embed_texts(["a query costs no probe"])
    assert model.precision == "auto"
    model.embed_frames(probe_frames(model.image_size, 2))
    assert model.precision in ("fp32", "bf16")
    assert load_model(tiny_model, precision="fp32").precision == "fp32"


def test_the_choice_is_measured_once_and_then_remembered(tmp_path):
    calls = []

    def measure():
        calls.append(1)
        return PrecisionChoice(True, 3.0, 0.999)

    cache = tmp_path / "cpu_precision.json"
    assert remembered_choice(cache, "model-a|cpu", measure).use_bf16
    assert remembered_choice(cache, "model-a|cpu", measure).use_bf16
    assert len(calls) == 1
    remembered_choice(cache, "model-b|cpu", measure)
    assert len(calls) == 2
    cache.write_text("not json")
    assert remembered_choice(cache, "model-a|cpu", measure).use_bf16
    assert len(calls) == 3


def _remember(model, use_bf16: bool) -> None:
    """Record a verdict for the model's architecture, as an earlier run would have."""
    import json

    from vidsearch.config import cache_dir
    from vidsearch.model.precision import machine_key

    key = machine_key(f"{model.card.arch}|{model.module.patch}")
    (cache_dir() / "cpu_precision.json").parent.mkdir(parents=True, exist_ok=True)
    (cache_dir() / "cpu_precision.json").write_text(json.dumps(
        {key: {"use_bf16": use_bf16, "speedup": 2.0, "min_cosine": 0.9999}}))


@pytest.mark.parametrize("use_bf16", [True, False])
def test_a_bf16_verdict_gives_the_image_tower_bf16_weights_and_leaves_text_in_fp32(
        tiny_model, use_bf16):
    import torch

    from vidsearch.model import load_model

    exact = load_model(tiny_model, precision="fp32")
    model = load_model(tiny_model, precision="auto")
    fp32_tower = model.module.clip.visual
    _remember(model, use_bf16)
    frames = probe_frames(model.image_size, 4)
    got, want = model.embed_frames(frames), exact.embed_frames(frames)

    visual_dtypes = {p.dtype for p in model.module.clip.visual.parameters()}
    text_dtypes = {p.dtype for p in model.module.clip.transformer.parameters()}
    assert text_dtypes == {torch.float32}
    if use_bf16:
        assert model.precision == "bf16" and visual_dtypes == {torch.bfloat16}
        cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert cosine.min() > 0.99 and not np.array_equal(got, want)
    else:
        assert model.precision == "fp32" and model.module.clip.visual is fp32_tower
        np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(model.embed_texts(["a dog"]), exact.embed_texts(["a dog"]))


def test_the_probe_puts_the_fp32_tower_back_exactly_when_bf16_is_refused(tiny_model, monkeypatch):
    from vidsearch.model import load_model
    from vidsearch.model import precision as precision_module

    monkeypatch.setattr(precision_module, "MIN_SPEEDUP", 1e9)  # bf16 can never win
    exact = load_model(tiny_model, precision="fp32")
    model = load_model(tiny_model, precision="auto")
    frames = probe_frames(model.image_size, 3)
    np.testing.assert_array_equal(model.embed_frames(frames), exact.embed_frames(frames))
    assert model.precision == "fp32"
