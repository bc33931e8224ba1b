"""Exported graphs live per weights fingerprint beside the check that vouches for them."""

from __future__ import annotations

import sys

import pytest

from vidsearch import config
from vidsearch.model.exports import ExportCheck, export_path, read_check, write_export

CHECK = ExportCheck(min_cosine=0.99999, samples=8, passed=True, runtime="openvino",
                    versions={"torch": "2.14.1"}, created_at="2026-12-02T15:00:00+00:00")


def test_exports_live_in_the_cache_per_fingerprint_and_tower():
    path = export_path("abc123", "image", "xml")
    assert path == config.cache_dir() / "exports" / "abc123" / "image.xml"
    with pytest.raises(ValueError):
        export_path("abc123", "audio", "onnx")
    with pytest.raises(ValueError):
        export_path("abc123", "text", "pt")


def test_an_export_and_its_companion_file_land_with_their_check():
    path = export_path("abc123", "image", "xml")

    def write(tmp):
        tmp.write_text("<graph/>")
        tmp.with_suffix(".bin").write_bytes(b"weights")

    write_export(path, write, CHECK)
    assert path.read_text() == "<graph/>"
    assert path.with_suffix(".bin").read_bytes() == b"weights"
    assert read_check(path) == CHECK
    assert sorted(p.name for p in path.parent.iterdir()) == ["image.bin", "image.check.json",
                                                             "image.xml"]


def test_a_failed_write_leaves_the_previous_export_whole():
    path = export_path("abc123", "text", "onnx")
    write_export(path, lambda tmp: tmp.write_bytes(b"old"), CHECK)

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_export(path, broken, CHECK)
    assert path.read_bytes() == b"old" and read_check(path) == CHECK
    assert sorted(p.name for p in path.parent.iterdir()) == ["text.check.json", "text.onnx"]


def test_no_check_or_a_damaged_one_reads_as_none():
    path = export_path("abc123", "text", "onnx")
    assert read_check(path) is None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"graph")
    assert read_check(path) is None  # no check beside it
    path.with_name("text.check.json").write_text("{not json")
    assert read_check(path) is None


def test_reading_exports_needs_no_torch():
    import subprocess

    code = ("import sys, vidsearch.model.exports; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
