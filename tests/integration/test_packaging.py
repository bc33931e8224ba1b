"""What `pip install .` (not editable) ships."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_the_wheel_carries_the_model_cards_and_the_entry_point(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("vidsearch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for card in ("clip4clip-webvid150k", "clip-vit-b-32-openai", "pe-core-b16",
                 "xlm-roberta-vit-b-32"):
        assert f"vidsearch/cards/{card}.toml" in names
    assert "vidsearch = vidsearch.cli:entry" in scripts
    assert "vidsearch/tui/vidsearch.tcss" in names
    # Every module of the source tree, so a new package can never be left out of the wheel
    # (the hand-kept package list once left out video/ and store/).
    sources = {path.relative_to(REPO).as_posix() for path in (REPO / "vidsearch").rglob("*.py")}
    assert sources <= names, sorted(sources - names)
    assert not any(name.startswith("tests/") for name in names)
