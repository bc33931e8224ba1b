"""Once this machine's verdicts have settled on ONNX Runtime for the frames, `index` imports no
torch and stores exactly the vectors the torch-loaded run stores; until then torch is loaded,
and it makes the export the next run needs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.test_onnx_queries import run_command
from tests.unit.test_model_index_runtime import FAST, FP32, record
from vidsearch.model.cards import load_card
from vidsearch.model.exports import export_path, read_check
from vidsearch.model.locate import locate_model
from vidsearch.store import open_store

pytestmark = pytest.mark.slow  # CLI subprocesses, a torch model and its export

TORCH_MODULES = {"torch", "open_clip", "torchvision"}


def stored_vectors(db) -> dict[str, list[bytes]]:
    with open_store(db, create=False) as store:
        frames = store.conn.execute(
            "SELECT v.path, f.vector FROM frames f JOIN videos v ON v.id = f.video_id "
            "ORDER BY v.path, f.t").fetchall()
        clips = store.conn.execute(
            "SELECT v.path, c.embedding FROM clips c JOIN videos v ON v.id = c.video_id "
            "ORDER BY v.path, c.start, c.end").fetchall()
    out: dict[str, list[bytes]] = {}
    for kind, rows in (("frames", frames), ("clips", clips)):
        for path, blob in rows:
            out.setdefault(f"{kind} {path}", []).append(bytes(blob))
    return out


def index_into(db, videos, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_DB", str(db))
    result, modules = run_command("index", str(videos), "--json")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    return json.loads(result.stdout), set(modules)


def test_settled_verdicts_index_without_torch_and_store_the_same_vectors(
        tiny_model, library, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_PRECISION", "auto")
    card = load_card(tiny_model)
    # As earlier runs on this machine left them: fp32 (asked only where the CPU has bf16),
    # then ONNX Runtime clearly ahead of torch.
    record(card, runtime=FAST, cpu_precision=FP32)
    graph = export_path(locate_model(tiny_model).fingerprint, "image", "onnx")

    first, modules = index_into(tmp_path / "first.db", library, monkeypatch)
    assert TORCH_MODULES <= modules  # no export yet: torch loads and makes it
    assert read_check(graph).passed

    second, modules = index_into(tmp_path / "second.db", library, monkeypatch)
    assert not TORCH_MODULES & modules
    assert "onnxruntime" in modules
    assert len(second["indexed"]) == len(first["indexed"]) == 3
    assert second["frames_sampled"] == first["frames_sampled"] > 0
    assert stored_vectors(tmp_path / "second.db") == stored_vectors(tmp_path / "first.db")

    # The same text query finds the same clips in both (the first on torch, which makes the
    # text export, the second on it: scores agree to the export's check).
    hits = []
    for db in ("first.db", "second.db"):
        monkeypatch.setenv("VIDSEARCH_DB", str(tmp_path / db))
        result, _ = run_command("find", "a red square", "--json", "-k", "5")
        assert result.returncode == 0, result.stderr
        hits.append(json.loads(result.stdout)["hits"])
    assert [(h["path"], h["start"], h["end"]) for h in hits[0]] == \
        [(h["path"], h["start"], h["end"]) for h in hits[1]] and hits[0]
    np.testing.assert_allclose([h["score"] for h in hits[0]], [h["score"] for h in hits[1]],
                               atol=1e-5)


def test_an_unchanged_library_is_checked_without_torch(tiny_model, library, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("VIDSEARCH_PRECISION", "auto")
    record(load_card(tiny_model), runtime=FAST, cpu_precision=FP32)
    index_into(tmp_path / "library.db", library, monkeypatch)  # torch: makes the export
    again, modules = index_into(tmp_path / "library.db", library, monkeypatch)
    assert again["indexed"] == [] and len(again["skipped"]) == 3
    assert not TORCH_MODULES & modules


def test_a_precision_asked_for_by_name_loads_torch(tiny_model, library, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_PRECISION", "auto")
    record(load_card(tiny_model), runtime=FAST, cpu_precision=FP32)
    index_into(tmp_path / "a.db", library, monkeypatch)
    monkeypatch.setenv("VIDSEARCH_PRECISION", "fp32")
    _, modules = index_into(tmp_path / "b.db", library, monkeypatch)
    assert TORCH_MODULES <= modules
    # torch's fp32 tower against its ONNX export: the same vectors, within the export's check
    a, b = stored_vectors(tmp_path / "a.db"), stored_vectors(tmp_path / "b.db")
    assert a.keys() == b.keys()
    for key in a:
        x, y = (np.stack([np.frombuffer(blob, np.float16).astype(np.float32) for blob in rows])
                for rows in (a[key], b[key]))
        cosines = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
        assert cosines.min() >= 0.999, key
