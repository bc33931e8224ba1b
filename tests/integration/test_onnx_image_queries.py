"""Image queries on the image tower's ONNX export: the first one on torch makes it, the next
import no torch and find the same hits; an export without its pixel record, or one that failed
its check, sends the query to torch."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.fixtures.tiny_model import install_tiny_model
from tests.fixtures.videos import extract_frame
from tests.integration.test_onnx_queries import run_command
from vidsearch import config, search
from vidsearch.cli import main
from vidsearch.model import query_image
from vidsearch.model.exports import check_path, export_path, preprocess_path, read_check
from vidsearch.model.pixels import Preprocess
from vidsearch.query_models import QueryModels
from vidsearch.store import open_store

pytestmark = pytest.mark.slow  # torch models, exports and CLI subprocesses


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory, video_cache):
    """A home with the tiny model, two indexed videos and two query pictures; no export."""
    root = tmp_path_factory.mktemp("onnx-image")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"VIDSEARCH_HOME": str(root / "home"), "VIDSEARCH_MODEL": "tiny",
                            "VIDSEARCH_PRECISION": "fp32", "HF_HUB_OFFLINE": "1"}.items():
            patch.setenv(name, value)
        patch.delenv("VIDSEARCH_DB", raising=False)
        install_tiny_model(config.models_dir(), name="tiny", seed=7)
        videos = root / "Videos"
        videos.mkdir()
        for name in ("alpha.mp4", "beta.mp4"):
            shutil.copy2(video_cache / name, videos)
        assert main(["index", str(videos), "-q"]) == 0
    # Not the model's square: the query path must fit them as the torch one does.
    Image.fromarray(extract_frame(videos / "alpha.mp4", 7)).save(root / "home" / "alpha7.png")
    Image.fromarray(extract_frame(videos / "beta.mp4", 3)).resize((300, 170)).save(
        root / "home" / "beta3.jpg")
    return root / "home"


@pytest.fixture
def home(indexed_home, isolated_home, monkeypatch, caplog):
    shutil.copytree(indexed_home, isolated_home)
    caplog.set_level(logging.INFO, logger="vidsearch")
    monkeypatch.setenv("VIDSEARCH_MODEL", "tiny")
    return isolated_home


def image_export():
    return export_path(query_image.locate_model("tiny").fingerprint, "image", "onnx")


def spans(hits):
    return [(h["path"], h["start"], h["end"], h["best_moment"]) for h in hits]


def test_the_first_image_query_exports_and_the_next_imports_no_torch(home):
    picture = str(home / "alpha7.png")
    first, modules = run_command("find", "--image", picture, "--json", "-k", "4")
    assert first.returncode == 0, first.stderr
    assert "torch" in modules and "WARNING" not in first.stderr
    check = read_check(image_export())
    assert check is not None and check.passed and check.min_cosine >= 0.9999
    assert Preprocess.read(preprocess_path(image_export())).image_size == 64

    second, modules = run_command("find", "--image", picture, "--json", "-k", "4")
    assert second.returncode == 0, second.stderr
    assert not {"torch", "open_clip", "torchvision"} & set(modules)
    assert "onnxruntime" in modules
    by_torch, by_onnx = (json.loads(r.stdout)["hits"] for r in (first, second))
    assert spans(by_onnx) == spans(by_torch)
    assert by_onnx[0]["path"].endswith("alpha.mp4") and abs(by_onnx[0]["best_moment"] - 7) <= 1
    np.testing.assert_allclose([h["score"] for h in by_onnx], [h["score"] for h in by_torch],
                               atol=1e-4)


def test_words_and_pictures_together_need_no_torch_once_both_are_exported(home):
    picture = str(home / "beta3.jpg")
    # A plain text query makes the text export, an image query the image one.
    for args in (["find", "a red square"], ["find", "--image", picture]):
        assert run_command(*args)[0].returncode == 0
    first, _ = run_command("find", "a red square", "--add", picture, "--json")
    result, modules = run_command("find", "a red square", "--add", picture, "--json")
    assert result.returncode == 0, result.stderr
    assert not {"torch", "open_clip"} & set(modules)
    assert spans(json.loads(result.stdout)["hits"]) == spans(json.loads(first.stdout)["hits"])


def test_onnx_and_torch_rank_pictures_alike(home):
    from vidsearch.model import load_model

    torch_model = load_model("tiny", device="cpu", precision="fp32")
    torch_model.export_image_for_queries()
    onnx_model = query_image.load_query_image_model("tiny")
    assert isinstance(onnx_model, query_image.OnnxQueryModel)
    rng = np.random.default_rng(3)
    pictures = [np.asarray(Image.open(home / "alpha7.png").convert("RGB")),
                np.asarray(Image.open(home / "beta3.jpg").convert("RGB")),
                rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)]
    with open_store(config.default_db_path(), create=False) as store:
        for picture in pictures:
            a, b = torch_model.embed_image(picture), onnx_model.embed_image(picture)
            assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= 0.9999
            by_torch, by_onnx = (search.search_image(store, m, picture, k=5)
                                 for m in (torch_model, onnx_model))
            assert [(h.path, h.start, h.end, h.best_moment) for h in by_onnx] == \
                [(h.path, h.start, h.end, h.best_moment) for h in by_torch]


def test_an_export_without_its_pixel_record_gets_one_and_keeps_its_graph(home):
    from vidsearch.model import load_model

    load_model("tiny", device="cpu", precision="fp32").export_image_for_queries()
    preprocess_path(image_export()).unlink()  # as `index` wrote exports before queries used them
    written = image_export().stat().st_mtime_ns
    assert query_image.load_query_image_model("tiny") is None

    model = QueryModels("tiny", device="cpu", precision="fp32").for_image()
    assert not isinstance(model, query_image.OnnxQueryModel)  # this query: torch
    assert image_export().stat().st_mtime_ns == written  # the graph was not made again
    assert isinstance(QueryModels("tiny", device="cpu", precision="fp32").for_image(),
                      query_image.OnnxQueryModel)


def test_a_failed_check_keeps_image_queries_on_torch_and_makes_no_new_export(home):
    from vidsearch.model import load_model

    load_model("tiny", device="cpu", precision="fp32").export_image_for_queries()
    check_file = check_path(image_export())
    check_file.write_text(json.dumps({**json.loads(check_file.read_text()), "passed": False,
                                      "min_cosine": 0.95}))
    written = image_export().stat().st_mtime_ns
    picture = str(home / "alpha7.png")
    result, modules = run_command("find", "--image", picture, "--json")
    assert result.returncode == 0, result.stderr
    assert "torch" in modules
    assert image_export().stat().st_mtime_ns == written
    assert read_check(image_export()).passed is False


def test_without_onnxruntime_image_queries_run_on_torch(home, monkeypatch):
    import sys

    from vidsearch.model import load_model

    load_model("tiny", device="cpu", precision="fp32").export_image_for_queries()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert query_image.load_query_image_model("tiny") is None


def test_a_query_only_install_without_the_image_export_says_what_to_copy(home, monkeypatch,
                                                                          capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without torch
    assert main(["find", "--image", str(home / "alpha7.png"), "-k", "3"]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no traceback
    assert str(image_export()) in lines[0] and "torch is not installed" in lines[0]
    assert "copy the exports folder" in lines[0]
