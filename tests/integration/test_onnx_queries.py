"""Text queries on the ONNX export: same rankings as torch, no torch imported once it exists,
and a clean fall back to torch (said once) where it is missing, broken or unfaithful."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.fixtures.tiny_model import install_tiny_model
from vidsearch import config, search
from vidsearch.cli import main
from vidsearch.model import query_text
from vidsearch.model.exports import check_path, export_path, read_check
from vidsearch.model.onnx_text import OnnxTextModel
from vidsearch.model.text_query import TextQueryModel
from vidsearch.store import open_store

pytestmark = pytest.mark.slow  # torch models, exports and CLI subprocesses

CAPTIONS = ["a dog catching a frisbee", "birthday cake candles", "雪の中の猫", "a",
            "grandma blowing out the candles on a cake " * 10, "🐶🥏 !!"]
HEAVY = ("torch", "open_clip", "torchvision", "onnxruntime", "onnx", "av", "decord", "PIL")
# Runs the real CLI in a fresh interpreter and reports which heavy modules it imported.
RUNNER = ("import sys\n"
          "from vidsearch.cli import main\n"
          "try:\n"
          "    code = main(sys.argv[1:])\n"
          "except SystemExit as exit:\n"
          "    code = exit.code\n"
          f"print('MODULES', sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
          "sys.exit(code)\n")


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory, video_cache):
    """A home with the tiny model and two indexed videos, and no export: made once."""
    root = tmp_path_factory.mktemp("onnx")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"VIDSEARCH_HOME": str(root / "home"), "VIDSEARCH_MODEL": "tiny",
                            "VIDSEARCH_PRECISION": "fp32", "HF_HUB_OFFLINE": "1"}.items():
            patch.setenv(name, value)
        patch.delenv("VIDSEARCH_DB", raising=False)
        install_tiny_model(config.models_dir(), name="tiny", seed=7)
        videos = root / "Videos"
        videos.mkdir()
        shutil.copy2(video_cache / "alpha.mp4", videos)
        shutil.copy2(video_cache / "beta.mp4", videos)
        assert main(["index", str(videos), "-q"]) == 0
    return root / "home"


@pytest.fixture
def home(indexed_home, isolated_home, monkeypatch, caplog):
    shutil.copytree(indexed_home, isolated_home)
    # The in-process `index -q` above left the package logger at ERROR.
    caplog.set_level(logging.INFO, logger="vidsearch")
    monkeypatch.setenv("VIDSEARCH_MODEL", "tiny")
    monkeypatch.setattr(query_text, "_told", set())
    return isolated_home


def run_command(*args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    result = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    line = next(l for l in result.stderr.splitlines() if l.startswith("MODULES "))
    return result, eval(line.removeprefix("MODULES "))  # a list of names printed by repr


def text_export():
    located = query_text.locate_model("tiny")
    return export_path(located.fingerprint, "text", "onnx")


def test_the_first_query_exports_and_the_next_imports_no_torch_with_the_same_hits(home):
    first, modules = run_command("find", "a dog catching a frisbee", "--json", "-k", "3")
    assert first.returncode == 0, first.stderr
    assert "torch" in modules
    assert "WARNING" not in first.stderr  # a missing export is normal, not news
    check = read_check(text_export())
    assert check is not None and check.passed and check.min_cosine >= 0.9999
    assert check.runtime == "onnxruntime" and check.samples >= 12

    second, modules = run_command("find", "a dog catching a frisbee", "--json", "-k", "3")
    assert second.returncode == 0, second.stderr
    # A text query decodes nothing: no torch, and no video or image library either.
    assert not {"torch", "open_clip", "torchvision", "av", "decord", "PIL"} & set(modules)
    assert "onnxruntime" in modules
    torch_hits, onnx_hits = (json.loads(r.stdout)["hits"] for r in (first, second))
    assert [(h["path"], h["start"], h["end"], h["best_moment"]) for h in onnx_hits] == \
        [(h["path"], h["start"], h["end"], h["best_moment"]) for h in torch_hits]
    np.testing.assert_allclose([h["score"] for h in onnx_hits],
                               [h["score"] for h in torch_hits], atol=1e-5)


def test_status_models_and_help_import_neither_torch_nor_onnx(home):
    for args in (["status"], ["models"], ["--help"], ["find", "--help"]):
        result, modules = run_command(*args)
        assert result.returncode == 0, result.stderr
        assert modules == [], args


def test_onnx_and_torch_rank_every_caption_alike(home):
    from vidsearch.model.text_export import export_text_tower
    from vidsearch.model.text_query import load_text_query_model

    torch_model = load_text_query_model("tiny")
    assert export_text_tower(torch_model).passed
    onnx_model = query_text.load_query_text_model("tiny")
    assert isinstance(onnx_model, OnnxTextModel)
    vectors = [m.embed_texts(CAPTIONS) for m in (torch_model, onnx_model)]
    assert np.sum(vectors[0] * vectors[1], axis=-1).min() >= 0.9999
    with open_store(config.default_db_path(), create=False) as store:
        for caption in CAPTIONS:
            by_torch, by_onnx = (search.search_text(store, m, caption, k=5)
                                 for m in (torch_model, onnx_model))
            assert [(h.path, h.start, h.end, h.best_moment) for h in by_onnx] == \
                [(h.path, h.start, h.end, h.best_moment) for h in by_torch], caption
            np.testing.assert_allclose([h.score for h in by_onnx],
                                       [h.score for h in by_torch], atol=1e-5)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("vidsearch")]


def test_a_missing_export_is_made_by_torch_for_the_next_query(home, caplog):
    assert read_check(text_export()) is None
    assert isinstance(query_text.load_query_text_model("tiny"), TextQueryModel)
    assert read_check(text_export()).passed
    assert isinstance(query_text.load_query_text_model("tiny"), OnnxTextModel)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("damage", ["junk graph", "weights file gone"])
def test_a_corrupted_export_falls_back_once_and_is_made_again(home, caplog, damage):
    query_text.load_query_text_model("tiny")  # makes the export
    if damage == "junk graph":
        text_export().write_bytes(b"\x08\x07 not a graph")
    else:
        text_export().with_name("text.onnx.data").unlink()
    assert isinstance(query_text.load_query_text_model("tiny"), TextQueryModel)
    assert isinstance(query_text.load_query_text_model("tiny"), OnnxTextModel)
    [warning] = _warnings(caplog)
    assert "cannot be loaded" in warning and "made again" in warning


def test_a_failed_check_means_torch_with_one_warning_and_no_new_export(home, caplog):
    query_text.load_query_text_model("tiny")
    check_file = check_path(text_export())
    check = json.loads(check_file.read_text())
    check_file.write_text(json.dumps({**check, "passed": False, "min_cosine": 0.97}))
    graph_written = text_export().stat().st_mtime_ns
    for _ in range(3):  # the TUI asks again for every search
        assert isinstance(query_text.load_query_text_model("tiny"), TextQueryModel)
    [warning] = _warnings(caplog)
    assert "0.970000" in warning and "torch" in warning
    assert text_export().stat().st_mtime_ns == graph_written


def test_an_export_that_cannot_be_made_falls_back_with_one_warning(home, caplog, monkeypatch):
    from vidsearch.model import text_export as exporter

    def broken(tower, path):
        raise RuntimeError("exporter exploded\nwith a long traceback")

    monkeypatch.setattr(exporter, "_write_onnx", broken)
    for _ in range(2):
        assert isinstance(query_text.load_query_text_model("tiny"), TextQueryModel)
    [warning] = _warnings(caplog)
    assert "exporting failed (exporter exploded)" in warning
    assert read_check(text_export()) is None
    assert list(text_export().parent.iterdir()) == []  # no temporary files left


def test_without_onnxruntime_queries_run_on_torch(home, caplog, monkeypatch):
    query_text.load_query_text_model("tiny")  # the export exists
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    assert isinstance(query_text.load_query_text_model("tiny"), TextQueryModel)
    [warning] = _warnings(caplog)
    assert "onnxruntime is not installed" in warning


def test_a_text_tower_that_is_not_plain_clip_goes_to_the_full_model(home, caplog):
    card = config.models_dir() / "tiny" / "card.toml"
    card.write_text(card.read_text().replace("[open_clip_config.text_cfg]\n",
                                             '[open_clip_config.text_cfg]\nhf_model_name = "x/bert"\n'))
    assert query_text.load_query_text_model("tiny") is None
    assert not (config.cache_dir() / "exports").exists()
    assert _warnings(caplog) == []


def test_imported_weights_are_exported_at_once(isolated_home, tmp_path, monkeypatch):
    from vidsearch.model.weights import import_weights

    monkeypatch.setattr(query_text, "_told", set())
    install_tiny_model(tmp_path / "elsewhere", name="tiny")
    install_tiny_model(config.models_dir(), name="tiny")
    (config.models_dir() / "tiny" / "model.safetensors").unlink()
    import_weights("tiny", tmp_path / "elsewhere" / "tiny" / "model.safetensors")
    assert read_check(text_export()).passed


def test_without_torch_or_an_export_the_error_says_what_to_copy(home, monkeypatch, capsys):
    # As on a query-only install: importing the torch tower fails.
    monkeypatch.setitem(sys.modules, "vidsearch.model.text_query", None)
    assert main(["find", "a dog"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "need its ONNX export or torch" in err and "copy the exports folder" in err
    assert str(text_export()) in err
