"""The store package works without torch, and only the store reads SQLite's exceptions.
Checked in fresh interpreters, where sys.modules is honest."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_opening_and_searching_a_library_imports_no_torch(tmp_path):
    modules = imported_after(
        "import numpy as np\n"
        "from vidsearch.store import open_store\n"
        f"with open_store({str(tmp_path / 'lib.db')!r}) as store:\n"
        "    store.prepare_for_model('fp', 'm', 8)\n"
        "    store.nearest_clips(np.ones(8, np.float32), 3)\n"
        "    store.check_integrity()\n")
    assert "vidsearch.store.library" in modules and "apsw" in modules
    assert not {m for m in modules if m == "torch" or m.startswith("torch.")}


def apsw_imports(source: Path) -> list[int]:
    """Line numbers of every `import apsw` in a file, at the top or inside a function."""
    lines = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "apsw"
                                                for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "apsw":
            lines.append(node.lineno)
    return lines


@pytest.mark.slow
def test_only_the_store_imports_apsw():
    package = REPO / "vidsearch"
    importers = {str(path.relative_to(package)): apsw_imports(path)
                 for path in package.rglob("*.py")}
    outside = {name: lines for name, lines in importers.items()
               if lines and not name.startswith("store/")}
    assert outside == {}
    assert importers["store/errors.py"]  # the check finds imports where there are some
