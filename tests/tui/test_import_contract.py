"""Textual stays in `vidsearch.tui`: library modules (and the CLI parser) never import it, and
the TUI never imports the CLI. Checked in fresh interpreters, where sys.modules is honest."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

LIBRARY_MODULES = [
    "vidsearch.errors", "vidsearch.config", "vidsearch.store", "vidsearch.search",
    "vidsearch.indexer", "vidsearch.model", "vidsearch.model.factory", "vidsearch.video",
    "vidsearch.player", "vidsearch.thumbnails", "vidsearch.cli.common",
    "vidsearch.tui.backend",  # the TUI's own seam to the library stays Textual-free too
]


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def textual_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "textual" or m.startswith(("textual.",
                                                                         "textual_image")))


@pytest.mark.slow
def test_library_modules_do_not_import_textual():
    modules = imported_after("\n".join(f"import {name}" for name in LIBRARY_MODULES))
    assert set(LIBRARY_MODULES) <= modules
    assert textual_modules(modules) == []


def test_the_cli_parser_does_not_import_textual_until_tui_runs():
    modules = imported_after("from vidsearch.cli import build_parser\nbuild_parser()")
    assert "vidsearch.cli.tui" in modules
    assert textual_modules(modules) == []


@pytest.mark.slow
def test_the_tui_does_not_import_the_cli():
    modules = imported_after("import vidsearch.tui.app")
    assert "textual" in modules  # the probe itself works
    assert not any(m == "vidsearch.cli" or m.startswith("vidsearch.cli.") for m in modules)
