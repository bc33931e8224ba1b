"""Image queries in OpenVINO with bf16 arithmetic where the CPU has it and it is measured faster
than ONNX Runtime: the same hits, the verdict remembered; ONNX Runtime everywhere else."""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest
from PIL import Image

from tests.integration.test_onnx_image_queries import home, image_export, indexed_home  # noqa: F401
from vidsearch import config, search
from vidsearch.model import precision, query_image, query_image_runtime
from vidsearch.model.exports import check_path, read_check
from vidsearch.store import open_store

pytestmark = pytest.mark.slow  # a torch model, its export, OpenVINO compiling it

pytest.importorskip("openvino")


@pytest.fixture
def exported(home, monkeypatch):  # noqa: F811 - the imported fixture
    from vidsearch.model import load_model

    load_model("tiny", device="cpu", precision="fp32").export_image_for_queries()
    return home


def bf16_cpu(monkeypatch, feature="avx512_bf16"):
    monkeypatch.setattr(precision, "fast_bf16_feature", lambda *args, **kwargs: feature)


def pictures(home):
    return [np.asarray(Image.open(home / "alpha7.png").convert("RGB")),
            np.asarray(Image.open(home / "beta3.jpg").convert("RGB"))]


def load():
    return query_image.load_query_image_model("tiny", precision="auto")


def test_a_precision_asked_for_by_name_never_measures(exported, monkeypatch):
    bf16_cpu(monkeypatch)
    monkeypatch.setattr(query_image_runtime, "MIN_SPEEDUP", 1e-9)
    model = query_image.load_query_image_model("tiny", precision="fp32")
    assert model.image_runtime == "onnxruntime"
    assert not (config.cache_dir() / query_image_runtime.CHOICES_FILE).exists()


def verdicts():
    return json.loads((config.cache_dir() / query_image_runtime.CHOICES_FILE).read_text())


def test_a_faster_faithful_openvino_serves_image_queries_with_the_same_hits(exported,
                                                                          monkeypatch):
    by_onnx = query_image.load_query_image_model("tiny", precision="fp32")
    assert by_onnx.image_runtime == "onnxruntime"
    bf16_cpu(monkeypatch)
    monkeypatch.setattr(query_image_runtime, "MIN_SPEEDUP", 1e-9)  # whatever the load
    by_openvino = load()
    assert by_openvino.image_runtime == "openvino"
    (record,) = verdicts().values()
    assert record["use_openvino"] and record["min_cosine"] >= query_image_runtime.MIN_COSINE
    with open_store(config.default_db_path(), create=False) as store:
        for picture in pictures(exported):
            a, b = by_onnx.embed_image(picture), by_openvino.embed_image(picture)
            assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= 0.9999
            hits = [[(h.path, h.start, h.end, h.best_moment)
                     for h in search.search_image(store, model, picture, k=5)]
                    for model in (by_onnx, by_openvino)]
            assert hits[0] == hits[1]

    # Remembered: the next query compiles OpenVINO alone, and opens no ONNX Runtime session.
    def no_session(*args):
        raise AssertionError("an ONNX Runtime session was opened")

    monkeypatch.setattr(query_image_runtime, "measure", no_session)
    monkeypatch.setattr("vidsearch.model.onnx_image.open_session", no_session)
    again = load()
    assert again.image_runtime == "openvino"
    np.testing.assert_array_equal(again.embed_image(pictures(exported)[0]),
                                  by_openvino.embed_image(pictures(exported)[0]))


def test_a_verdict_against_openvino_keeps_onnx_runtime(exported, monkeypatch):
    bf16_cpu(monkeypatch)
    monkeypatch.setattr(query_image_runtime, "MIN_SPEEDUP", 1e9)
    assert load().image_runtime == "onnxruntime"
    (record,) = verdicts().values()
    assert record["use_openvino"] is False


def test_a_cpu_without_bf16_never_imports_openvino(exported, monkeypatch):
    bf16_cpu(monkeypatch, feature=None)
    monkeypatch.delitem(sys.modules, "openvino", raising=False)
    assert load().image_runtime == "onnxruntime"
    assert "openvino" not in sys.modules
    assert not (config.cache_dir() / query_image_runtime.CHOICES_FILE).exists()


def test_without_openvino_or_when_it_fails_onnx_runtime_serves(exported, monkeypatch, caplog):
    bf16_cpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert load().image_runtime == "onnxruntime"
    monkeypatch.delitem(sys.modules, "openvino")

    def broken(*args):
        raise RuntimeError("compiler bug")

    monkeypatch.setattr(query_image_runtime, "openvino_bf16", broken)
    with caplog.at_level(logging.WARNING, logger="vidsearch"):
        model = load()
    assert model.image_runtime == "onnxruntime"
    assert "OpenVINO unavailable (RuntimeError: compiler bug)" in caplog.text
    assert model.embed_image(pictures(exported)[0]).shape == (model.embed_dim,)


def test_the_compiled_graph_is_cached_until_a_new_export_replaces_the_graph(exported):
    from vidsearch.model import load_model
    from vidsearch.model.image_runtime import openvino_bf16, openvino_cache

    graph = image_export()
    unread = graph.parent / "openvino-cache"  # where compiles of an older vidsearch left blobs
    unread.mkdir()
    (unread / "12174050744602430997.blob").write_bytes(b"an older compile")
    pixels = np.random.default_rng(3).standard_normal((2, 3, 64, 64)).astype(np.float32)
    compiled = openvino_bf16(graph, 1)(pixels)
    assert not unread.exists()
    cached = sorted(openvino_cache(graph).iterdir())
    assert cached, "compiling left nothing in the cache"
    np.testing.assert_array_equal(openvino_bf16(graph, 1)(pixels), compiled)
    assert sorted(openvino_cache(graph).iterdir()) == cached  # the second load used the cache

    check_path(graph).unlink()  # as when the export must be made again
    load_model("tiny", device="cpu", precision="fp32").export_image_for_queries()
    assert read_check(graph) is not None
    assert not openvino_cache(graph).exists()  # a blob of the old graph can never answer
