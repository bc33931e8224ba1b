"""An index run skips torch only where every verdict it would reach is settled on ONNX Runtime
and the checked export with its pixel record is there; any doubt loads torch."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest

from vidsearch import config
from vidsearch.model import image_runtime, index_runtime, precision
from vidsearch.model.cards import load_card
from vidsearch.model.exports import ExportCheck, export_path, preprocess_path, write_export, \
    write_json
from vidsearch.model.pixels import Preprocess
from vidsearch.model.verdicts import MAX_CHECKS, remembered_verdict

FINGERPRINT = "tiny-fp"
FAST = image_runtime.RuntimeChoice(use_onnx=True, speedup=3.0, min_cosine=1.0)
FP32 = precision.PrecisionChoice(use_bf16=False, speedup=0.2, min_cosine=0.995)
CHECK = ExportCheck(min_cosine=0.999999, samples=16, passed=True, runtime="onnxruntime",
                    versions={}, created_at="2026-12-04T00:00:00+00:00")


@pytest.fixture
def card(tiny_model):
    return load_card(tiny_model)


def record(card, runtime=FAST, cpu_precision=None, runtime_name="onnxruntime"):
    """Verdicts as earlier runs on this machine left them."""
    remembered_verdict(config.cache_dir() / image_runtime.CHOICES_FILE,
                       precision.machine_key(f"{card.arch}|{card.patch}|{runtime_name}"),
                       lambda: runtime, image_runtime.RuntimeChoice, "image tower runtime",
                       line=image_runtime.MIN_SPEEDUP, cosine_floor=image_runtime.MIN_COSINE)
    if cpu_precision is not None:
        remembered_verdict(config.cache_dir() / precision.CHOICES_FILE,
                           precision.machine_key(f"{card.arch}|{card.patch}"),
                           lambda: cpu_precision, precision.PrecisionChoice, "CPU precision",
                           line=precision.MIN_SPEEDUP, cosine_floor=precision.MIN_COSINE)


def export(check=CHECK, size=64):
    graph = export_path(FINGERPRINT, "image", "onnx")
    write_export(graph, lambda tmp: tmp.write_bytes(b"graph"), check)
    write_json(preprocess_path(graph), asdict(Preprocess(size, (0.5,) * 3, (0.25,) * 3)))
    return graph


def plan(card, *, device="cpu", precision_name="auto", feature=None):
    return index_runtime.plan_onnx_indexing(card, FINGERPRINT, device=device,
                                            precision_name=precision_name, image_size=64,
                                            cpu_feature=lambda: feature)


def test_settled_verdicts_and_a_checked_export_make_a_run_without_torch(card):
    record(card)
    graph = export()
    found = plan(card)
    assert found.graph == graph and found.speedup == FAST.speedup
    assert found.preprocess == Preprocess(64, (0.5,) * 3, (0.25,) * 3)


@pytest.mark.parametrize("missing", ["verdict", "export", "pixel record"])
def test_anything_missing_loads_torch(card, missing):
    if missing != "verdict":
        record(card)
    graph = export() if missing != "export" else None
    if missing == "pixel record":
        preprocess_path(graph).unlink()
    assert plan(card) is None


def test_a_verdict_for_torch_or_one_still_to_be_measured_loads_torch(card):
    record(card, runtime=replace(FAST, use_onnx=False, speedup=0.6))
    export()
    assert plan(card) is None
    # 1.3x is within CLOSE_FACTOR of the line: measured again, by torch, next run
    record(card, runtime=replace(FAST, speedup=1.3))
    assert plan(card) is None


def test_a_close_verdict_measured_enough_times_is_settled(card):
    export()
    for _ in range(MAX_CHECKS):
        record(card, runtime=replace(FAST, speedup=1.3))
    assert plan(card) is not None


def test_a_failed_check_or_frames_of_another_size_load_torch(card):
    record(card)
    export(check=replace(CHECK, passed=False, min_cosine=0.9))
    assert plan(card) is None
    export(size=96)
    assert plan(card) is None


def test_a_cpu_with_bf16_needs_its_settled_fp32_verdict(card):
    record(card)
    export()
    assert plan(card, feature="avx512_bf16") is None  # bf16 not yet measured here
    record(card, cpu_precision=replace(FP32, use_bf16=True, speedup=2.5))
    assert plan(card, feature="avx512_bf16") is None  # bf16 frames are torch's
    (config.cache_dir() / precision.CHOICES_FILE).unlink()
    record(card, cpu_precision=FP32)
    assert plan(card, feature="avx512_bf16").frames == "fp32"


def test_bf16_frames_go_to_openvino_once_its_verdict_against_torch_bf16_is_settled(card):
    pytest.importorskip("openvino")
    export()
    record(card, cpu_precision=replace(FP32, use_bf16=True, speedup=2.5))
    assert plan(card, feature="avx512_bf16") is None  # ONNX Runtime's verdict is for fp32
    record(card, runtime=replace(FAST, speedup=1.3), runtime_name="openvino-bf16")
    assert plan(card, feature="avx512_bf16") is None  # close to the line: measured again
    (config.cache_dir() / image_runtime.CHOICES_FILE).unlink()
    record(card, runtime=FAST, runtime_name="openvino-bf16")
    found = plan(card, feature="avx512_bf16")
    assert found.frames == "bf16" and found.speedup == FAST.speedup


def test_options_asking_for_torch_load_torch(card, monkeypatch):
    record(card)
    export()
    assert plan(card, precision_name="fp32") is None
    assert plan(card, device="cuda") is None
    monkeypatch.setattr(index_runtime, "cuda_may_be_present", lambda: True)
    assert plan(card, device="auto") is None
    assert plan(card, device="cpu") is not None
    monkeypatch.setattr(index_runtime, "cuda_may_be_present", lambda: False)
    assert plan(card, device="auto") is not None


def test_other_patches_and_headers_load_torch(card):
    record(card)
    export()
    assert plan(replace(card, patch="3d")) is None
    assert plan(replace(card, header="seqTransf")) is None


def test_without_onnxruntime_torch_is_loaded(card, monkeypatch):
    import sys

    record(card)
    export()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert plan(card) is None
