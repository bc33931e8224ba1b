"""bf16 frames through the image export in OpenVINO where this machine's verdicts chose it:
the torch-loaded run makes the export from the fp32 tower before the tower turns bf16, and the
torch-free run that follows encodes exactly as it does."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.unit.test_model_index_runtime import FP32, record
from vidsearch.model import image_runtime, on_demand, precision
from vidsearch.model.cards import load_card
from vidsearch.model.exports import export_path, read_check

pytestmark = pytest.mark.slow  # torch models, an export, OpenVINO compiling it

pytest.importorskip("openvino")


@pytest.fixture
def frames():
    return np.random.default_rng(11).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_bf16_frames_on_openvino_with_and_without_torch(tiny_model, frames, monkeypatch):
    from vidsearch.model import load_model

    reference = load_model(tiny_model, device="cpu", precision="fp32",
                           text=False).embed_frames(frames)
    monkeypatch.setattr(precision, "fast_bf16_feature", lambda *args, **kwargs: "avx512_bf16")
    monkeypatch.setattr(image_runtime, "MIN_SPEEDUP", 1e-9)  # whatever the machine's load
    record(load_card(tiny_model), cpu_precision=replace(FP32, use_bf16=True, speedup=2.5))

    model = load_model(tiny_model, device="cpu", precision="auto", text=False)
    model.prefer_fastest_image_runtime()
    by_torch_run = model.embed_frames(frames)
    assert (model.precision, model.image_runtime) == ("bf16", "openvino-bf16")
    assert read_check(export_path(model.fingerprint, "image", "onnx")).passed
    assert cosines(by_torch_run, reference).min() >= 0.99  # bf16's own line (precision.py)

    free = on_demand.ModelOnDemand(tiny_model, device="cpu", precision="auto", text=False)
    assert free.image_size == 64
    by_free_run = free.embed_frames(frames)
    assert (free.model.precision, free.model.image_runtime) == ("bf16", "openvino-bf16")
    np.testing.assert_allclose(by_free_run, by_torch_run, rtol=0, atol=1e-5)


def test_without_an_export_a_bf16_run_stays_on_torch(tiny_model, frames, monkeypatch):
    from vidsearch.model import load_model

    monkeypatch.setattr(precision, "fast_bf16_feature", lambda *args, **kwargs: "avx512_bf16")
    monkeypatch.setattr(image_runtime, "MIN_SPEEDUP", 1e-9)
    record(load_card(tiny_model), cpu_precision=replace(FP32, use_bf16=True, speedup=2.5))
    # An exporter that fails: the bf16 run finds no export and keeps its torch tower.
    monkeypatch.setattr(image_runtime, "export_image_tower",
                        lambda *args: (_ for _ in ()).throw(RuntimeError("exporter bug")))
    model = load_model(tiny_model, device="cpu", precision="auto", text=False)
    model.prefer_fastest_image_runtime()
    assert model.embed_frames(frames).shape == (5, model.embed_dim)
    assert (model.precision, model.image_runtime) == ("bf16", "torch")
