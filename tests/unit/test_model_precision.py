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
