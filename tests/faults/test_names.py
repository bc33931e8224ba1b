"""File names are data: spaces, quotes, brackets, emoji, newlines and bytes that are not UTF-8
are indexed, kept exactly, and printed without breaking output or the program.

Chosen representation: the store keeps the exact bytes of every name. Text output shows a name
through `vidsearch.display.printable` (a newline as `\\n`, an undecodable byte as `\\xNN`).
JSON keeps the exact name: an undecodable byte is the lone surrogate os.fsdecode gives it,
written as a `\\udcNN` escape, so `os.fsencode(json.loads(...)["path"])` is the file's bytes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys

import numpy as np
import pytest

from tests.faults.conftest import library_state
from vidsearch.cli import main
from vidsearch.display import printable

NAMES = [b"with space.mp4", b"quo\"te's.mp4", b"[bracket] (1).mp4", "emoji \U0001f3ac.mp4".encode(),
         "\u6f22\u5b57 \u0639\u0631\u0628\u064a.mp4".encode(), b"new\nline.mp4",
         b"latin-1 \xe9t\xe9.mp4", b"\xff\xfe.mp4"]
BROKEN = b"broken \xff.mp4"
# An AVI is decoded by decord, whose C API takes only UTF-8 paths.
AVI = b"caf\xe9.avi"


def run(monkeypatch, *args) -> tuple[int, str, str]:
    """The CLI with stdout as a UTF-8 terminal or pipe has it: strict, so text that cannot be
    encoded raises instead of being quietly replaced as pytest's capture would."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="\n")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("COLUMNS", "400")  # no folding of long paths in rich tables
    code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
    out.flush()
    text = out.buffer.getvalue().decode("utf-8")
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    return code, text, err.getvalue()


@pytest.mark.slow
def test_odd_names_are_indexed_kept_exactly_and_printed(tiny_model, media, tmp_path,
                                                        monkeypatch):
    folder = os.fsencode(tmp_path / "Videos")
    os.mkdir(folder)
    paths = [os.path.join(folder, name) for name in NAMES]
    for path in paths:
        shutil.copyfile(media / "good.mp4", path)
    paths.append(os.path.join(folder, AVI))
    shutil.copyfile(media / "good.avi", paths[-1])
    broken = os.path.join(folder, BROKEN)
    with open(broken, "wb") as handle:
        handle.write(np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())

    code, out, err = run(monkeypatch, "index", folder)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert f"indexed {len(paths)} videos" in out and "failed 1" in out
    assert f"failed: {printable(os.fsdecode(broken))}: cannot open" in out

    stats, problems = library_state()
    assert problems == [] and stats.videos == len(paths)
    assert [os.fsencode(path) for path, _ in stats.failures] == [broken]

    code, out, err = run(monkeypatch, "find", "a dog", "--json", "-k", "50")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert sorted(os.fsencode(hit["path"]) for hit in hits) == sorted(paths)

    code, out, err = run(monkeypatch, "find", "a dog", "-k", "50")
    assert code == 0, err
    for path in paths:
        assert printable(os.fsdecode(path)) in out
    assert "\\n" in out and "\\xff" in out

    code, out, err = run(monkeypatch, "status", "--json")
    assert code == 0, err
    assert [os.fsencode(f["path"]) for f in json.loads(out)["failed"]] == [broken]
    code, out, err = run(monkeypatch, "status")
    assert code == 0, err
    assert printable(os.fsdecode(broken)) in out

    # Unchanged on the next run: every name matched its stored row exactly.
    code, out, err = run(monkeypatch, "index", folder)
    assert code == 0, out + err
    assert f"skipped {len(paths) + 1} unchanged" in out
