import itertools
import json
import logging

import numpy as np
import pytest

from vidsearch.model.precision import (MIN_COSINE, MIN_SPEEDUP, PrecisionChoice,
                                       choose_cpu_precision, decide_cpu_precision,
                                       describe_choice, fast_bf16_feature, probe_frames)
from vidsearch.model.verdicts import MAX_CHECKS, is_close, remembered_verdict


def remember(cache, key, measure):
    return remembered_verdict(cache, key, measure, PrecisionChoice, "CPU precision",
                              line=MIN_SPEEDUP, cosine_floor=MIN_COSINE)


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
    assert remember(cache, "model-a|cpu", measure).use_bf16
    assert remember(cache, "model-a|cpu", measure).use_bf16
    assert len(calls) == 1
    remember(cache, "model-b|cpu", measure)
    assert len(calls) == 2
    cache.write_text("not json")
    assert remember(cache, "model-a|cpu", measure).use_bf16
    assert len(calls) == 3


def _remember(model, use_bf16: bool) -> None:
    """Record a verdict for the model's architecture, as an earlier run would have."""
    import json

    from vidsearch.config import cache_dir
    from vidsearch.model.precision import machine_key

    key = machine_key(f"{model.card.arch}|{model.module.patch}")
    (cache_dir() / "cpu_precision.json").parent.mkdir(parents=True, exist_ok=True)
    (cache_dir() / "cpu_precision.json").write_text(json.dumps(
        {key: {"use_bf16": use_bf16, "speedup": 2.0, "min_cosine": 0.9999,
               "line": MIN_SPEEDUP}}))


@pytest.mark.parametrize("use_bf16", [True, False])
def test_a_bf16_verdict_gives_the_image_tower_bf16_weights_and_leaves_text_in_fp32(
        tiny_model, use_bf16, monkeypatch):
    import torch

    from vidsearch.model import load_model, precision

    # As on a CPU with bf16 arithmetic, where a remembered verdict is looked up at all.
    monkeypatch.setattr(precision, "fast_bf16_feature", lambda: "amx_bf16")
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


# --- the CPU's features decide first ---

X86_WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n"
X86_WITH_AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
ARM_WITH_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize("cpuinfo, capability, feature", [
    (X86_WITHOUT_BF16, "AVX512", None),
    (X86_WITH_AMX, "AVX512", "amx_bf16"),
    (ARM_WITH_BF16, "DEFAULT", "bf16"),
    ("", "AVX2", None),          # no cpuinfo: torch's kernel level answers
    ("", "AVX512", "unknown"),   # may have it: measured
])
def test_the_cpu_features_say_whether_bf16_can_win(cpuinfo, capability, feature):
    assert fast_bf16_feature(cpuinfo, capability) == feature


def test_a_cpu_without_bf16_arithmetic_gets_fp32_without_any_timing(tmp_path, caplog):
    def measure():
        raise AssertionError("timed bf16 on a CPU that cannot run it fast")

    cache = tmp_path / "cpu_precision.json"
    with caplog.at_level(logging.INFO, logger="vidsearch.model.precision"):
        choice = decide_cpu_precision(cache, "model-a|cpu", measure, cpu_feature=lambda: None)
    assert not choice.use_bf16
    assert "no bf16 arithmetic" in caplog.text
    assert not cache.exists()


def test_a_cpu_with_bf16_arithmetic_is_measured(tmp_path):
    choice = decide_cpu_precision(tmp_path / "c.json", "k", lambda: PrecisionChoice(True, 3.0, 1.0),
                                  cpu_feature=lambda: "amx_bf16")
    assert choice.use_bf16


def test_the_real_model_on_a_cpu_without_bf16_never_times(tiny_model, monkeypatch):
    from vidsearch.model import load_model, precision

    monkeypatch.setattr(precision, "fast_bf16_feature", lambda: None)
    monkeypatch.setattr(precision, "choose_cpu_precision",
                        lambda *args, **kwargs: pytest.fail("timed bf16 on a CPU without it"))
    model = load_model(tiny_model, precision="auto")
    model.embed_frames(probe_frames(model.image_size, 2))
    assert model.precision == "fp32"


@pytest.mark.parametrize("speedup, use_bf16, words", [
    (1 / 4.5, False, "bf16 is 4.5x slower here: using fp32"),
    (5.0, True, "bf16 is 5.0x faster here: using bf16"),
    (1.1, False, "bf16 is only 1.1x faster here: using fp32"),
])
def test_the_verdict_is_said_plainly(speedup, use_bf16, words):
    assert describe_choice(PrecisionChoice(use_bf16, speedup, 0.999)) == words


def test_a_slow_bf16_is_logged_as_slower_not_as_faster(caplog):
    encode, clock = fake_encoder(1.0, 4.5, bf16_noise=0.0)
    with caplog.at_level(logging.INFO, logger="vidsearch.model.precision"):
        choose_cpu_precision(encode, 32, clock=clock)
    assert "bf16 is 4.5x slower here: using fp32" in caplog.text
    assert "faster" not in caplog.text


def test_a_close_verdict_is_measured_again_a_few_times_then_kept(tmp_path):
    measured = []

    def measure():
        measured.append(1)
        return PrecisionChoice(False, 1.2, 0.999)  # just under the 1.3x line: close

    cache = tmp_path / "cpu_precision.json"
    for _ in range(MAX_CHECKS + 2):
        choice = remember(cache, "k", measure)
    assert len(measured) == MAX_CHECKS
    assert choice.checks == MAX_CHECKS
    record = json.loads(cache.read_text())["k"]
    assert record["margin"] == pytest.approx(1.2 / MIN_SPEEDUP, abs=1e-3)


def test_a_clear_verdict_is_measured_once():
    def close(choice):
        return is_close(choice, MIN_SPEEDUP, MIN_COSINE)

    assert not close(PrecisionChoice(False, 0.2, 0.999))
    assert not close(PrecisionChoice(True, 4.0, 0.999))
    assert not close(PrecisionChoice(False, 1.3, 0.5))  # drifting vectors: never bf16
    assert close(PrecisionChoice(True, 1.4, 0.999))
