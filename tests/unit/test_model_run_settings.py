"""Environment variables are read in config.py only, and passed down as arguments."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vidsearch import config
from vidsearch.errors import CannotRunError
from vidsearch.model.cards import load_card
from vidsearch.model.weights import resolve_weights

PACKAGE = Path(__file__).resolve().parents[2] / "vidsearch"


def test_run_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("VIDSEARCH_PRECISION", "bf16")
    monkeypatch.setenv("VIDSEARCH_OFFLINE", "yes")
    assert config.read_run_settings() == config.RunSettings(precision="bf16", offline=True)
    monkeypatch.delenv("VIDSEARCH_PRECISION")
    assert config.read_run_settings().precision == "auto"


def test_offline_is_an_argument_not_a_lookup(monkeypatch):
    # Nothing in the environment says offline: the argument alone refuses the download.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("VIDSEARCH_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with pytest.raises(CannotRunError, match="offline mode forbids"):
        resolve_weights(load_card("clip4clip-webvid150k"), offline=True)


def test_only_config_reads_the_environment():
    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")))
    assert readers == ["config.py"]


def test_only_the_faces_read_the_run_settings():
    """Library calls take precision and offline as arguments (defaults fp32, online); only
    the faces read the environment's settings and pass them down."""
    def reads(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and any(
                    alias.name == "read_run_settings" for alias in node.names):
                return True
            if isinstance(node, ast.Attribute) and node.attr == "read_run_settings":
                return True
        return False

    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if reads(path))
    assert readers == ["cli/common.py", "tui/backend.py"]
