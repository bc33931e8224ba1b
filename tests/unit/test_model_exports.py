"""The export cache: paths per fingerprint, atomic writes, checks that must be readable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidsearch import config
from vidsearch.model.exports import (ExportCheck, check_path, export_path, read_check,
                                     write_export)

CHECK = ExportCheck(min_cosine=0.99999, samples=12, passed=True, runtime="onnxruntime",
                    versions={"onnxruntime": "1.0"}, created_at="2026-12-02T14:00:00+00:00")


def test_paths_sit_under_the_cache_per_fingerprint_and_tower():
    path = export_path("tiny-0123", "text", "onnx")
    assert path == config.cache_dir() / "exports" / "tiny-0123" / "text.onnx"
    assert check_path(path).name == "text.check.json"
    assert check_path(export_path("tiny-0123", "image", "xml")).name == "image.check.json"
    with pytest.raises(ValueError):
        export_path("tiny-0123", "audio", "onnx")
    with pytest.raises(ValueError):
        export_path("tiny-0123", "text", "pt")


def test_a_written_export_reads_back_with_its_check():
    path = export_path("fp", "text", "onnx")
    assert read_check(path) is None
    write_export(path, lambda tmp: tmp.write_bytes(b"graph"), CHECK)
    assert path.read_bytes() == b"graph"
    assert read_check(path) == CHECK
    assert sorted(p.name for p in path.parent.iterdir()) == ["text.check.json", "text.onnx"]


def test_side_files_move_with_the_graph():
    path = export_path("fp", "image", "xml")

    def write(tmp):
        tmp.write_text("<xml/>")
        tmp.with_suffix(".bin").write_bytes(b"weights")

    write_export(path, write, CHECK)
    assert sorted(p.name for p in path.parent.iterdir()) == ["image.bin", "image.check.json",
                                                             "image.xml"]


def test_a_failed_write_leaves_the_old_export_and_no_temporary_files():
    path = export_path("fp", "text", "onnx")
    write_export(path, lambda tmp: tmp.write_bytes(b"old"), CHECK)

    def failing(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError):
        write_export(path, failing, CHECK)
    assert path.read_bytes() == b"old"
    assert read_check(path) == CHECK
    assert sorted(p.name for p in path.parent.iterdir()) == ["text.check.json", "text.onnx"]


@pytest.mark.parametrize("text", ["", "{not json", json.dumps({"min_cosine": 1.0}), "[1, 2]"])
def test_an_unreadable_check_means_never_checked(text):
    path = export_path("fp", "text", "onnx")
    write_export(path, lambda tmp: tmp.write_bytes(b"graph"), CHECK)
    check_path(path).write_text(text)
    assert read_check(path) is None


def test_a_check_without_its_graph_is_ignored():
    path = export_path("fp", "text", "onnx")
    write_export(path, lambda tmp: tmp.write_bytes(b"graph"), CHECK)
    path.unlink()
    assert read_check(path) is None


def test_the_module_imports_no_torch_or_runtime():
    code = ("import sys, vidsearch.model.exports\n"
            "print([m for m in ('torch', 'onnxruntime', 'openvino', 'onnx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
