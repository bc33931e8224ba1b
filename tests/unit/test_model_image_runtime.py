"""The image tower in ONNX Runtime where it is measured faster and agrees with torch; torch
otherwise, and whenever anything about the export goes wrong."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from vidsearch.model import image_runtime, precision
from vidsearch.model.exports import export_path, read_check
from vidsearch.model.verdicts import MAX_CHECKS, remembered_verdict


@pytest.fixture
def frames(tiny_model):
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)


def indexing_model(name):
    from vidsearch.model import load_model

    model = load_model(name, device="cpu", precision="auto", text=False)
    model.prefer_fastest_image_runtime()
    return model


@pytest.fixture(autouse=True)
def cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(precision, "fast_bf16_feature", lambda *args: None)


@pytest.mark.slow
def test_a_faster_faithful_export_is_used_and_reused(tiny_model, frames, monkeypatch):
    from vidsearch.model import load_model

    reference = load_model(tiny_model, device="cpu", precision="fp32",
                           text=False).embed_frames(frames)
    monkeypatch.setattr(image_runtime, "MIN_SPEEDUP", 1e-9)  # whatever the machine's load
    model = indexing_model(tiny_model)
    vectors = model.embed_frames(frames)
    assert model.image_runtime == "onnxruntime"
    assert next(model.module.clip.visual.parameters()).is_meta  # torch's copy let go
    np.testing.assert_allclose(vectors, reference, rtol=0, atol=1e-5)
    # An image query through the same model takes the same path.
    np.testing.assert_allclose(model.embed_image(frames[0]), reference[0], rtol=0, atol=1e-5)
    check = read_check(export_path(model.fingerprint, "image", "onnx"))
    assert check.passed and check.min_cosine >= image_runtime.MIN_COSINE
    assert check.samples == image_runtime.PROBE_FRAMES and check.runtime == "onnxruntime"

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(image_runtime, "export_image_tower", no_export)
    again = indexing_model(tiny_model)
    np.testing.assert_array_equal(again.embed_frames(frames), vectors)
    assert again.image_runtime == "onnxruntime"


@pytest.mark.slow
def test_an_export_that_disagrees_with_torch_is_not_used(tiny_model, frames, monkeypatch):
    monkeypatch.setattr(image_runtime, "MIN_SPEEDUP", 1e-9)
    monkeypatch.setattr(image_runtime, "MIN_COSINE", 1.5)  # no export can pass
    model = indexing_model(tiny_model)
    model.embed_frames(frames)
    assert model.image_runtime == "torch"
    assert read_check(export_path(model.fingerprint, "image", "onnx")).passed is False


def test_a_failing_export_leaves_torch_in_place(tiny_model, frames, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("exporter bug")

    monkeypatch.setattr(image_runtime, "export_image_tower", broken)
    model = indexing_model(tiny_model)
    with caplog.at_level(logging.WARNING):
        vectors = model.embed_frames(frames)
    assert model.image_runtime == "torch" and vectors.shape == (5, 64)
    assert "exporter bug" in caplog.text and "using torch" in caplog.text


def test_a_precision_asked_for_by_name_runs_in_torch_untimed(tiny_model, frames, monkeypatch):
    from vidsearch.model import load_model

    monkeypatch.setattr(image_runtime, "pick_image_runtime",
                        lambda **kwargs: pytest.fail("measured"))
    model = load_model(tiny_model, device="cpu", precision="fp32", text=False)
    model.prefer_fastest_image_runtime()
    model.embed_frames(frames)
    assert model.image_runtime == "torch"


def test_a_slower_runtime_is_not_chosen():
    ticks = iter([0.0, 1.0, 10.0, 11.5])  # torch 1 s, ONNX Runtime 1.5 s
    encode = lambda pixels: np.ones((len(pixels), 4), np.float32)  # noqa: E731
    choice = image_runtime.measure(encode, encode, np.zeros((4, 3, 8, 8), np.float32),
                                   clock=lambda: next(ticks))
    assert not choice.use_onnx and choice.speedup == pytest.approx(1 / 1.5)


@pytest.mark.parametrize("speedup, measurements", [(1.25, MAX_CHECKS), (0.6, 1), (2.5, 1)])
def test_a_close_runtime_verdict_is_measured_again_a_few_times(tmp_path, speedup, measurements):
    measured = []

    def measure():
        measured.append(speedup)
        return image_runtime.RuntimeChoice(speedup >= image_runtime.MIN_SPEEDUP, speedup, 1.0)

    cache = tmp_path / image_runtime.CHOICES_FILE
    for _ in range(MAX_CHECKS + 2):
        choice = remembered_verdict(cache, "vit|cpu", measure, image_runtime.RuntimeChoice,
                                    "image tower runtime", line=image_runtime.MIN_SPEEDUP,
                                    cosine_floor=image_runtime.MIN_COSINE)
    assert len(measured) == measurements and choice.checks == measurements
    assert json.loads(cache.read_text())["vit|cpu"]["margin"] == pytest.approx(
        speedup / image_runtime.MIN_SPEEDUP, abs=1e-3)


def test_a_verdict_decided_against_another_line_is_measured_again(tmp_path):
    measured = []

    def measure():
        measured.append(1)
        return image_runtime.RuntimeChoice(True, 1.27, 1.0)

    cache = tmp_path / image_runtime.CHOICES_FILE
    old = image_runtime.RuntimeChoice(False, 1.27, 1.0, checks=3)  # refused at a 1.3 line
    kind = image_runtime.RuntimeChoice
    remembered_verdict(cache, "k", lambda: old, kind, "r", line=1.3, cosine_floor=0.9999)
    choice = remembered_verdict(cache, "k", measure, kind, "r", line=1.15, cosine_floor=0.9999)
    assert measured and choice.use_onnx and choice.checks == 1
