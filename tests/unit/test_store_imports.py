"""The store package works without torch, and only the store reads SQLite's exceptions.
Checked in fresh interpreters, where sys.modules is honest."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


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


def test_indexer_search_and_cli_common_do_not_import_apsw():
    modules = imported_after("import vidsearch.indexer, vidsearch.search, vidsearch.cli.common")
    assert "vidsearch.indexer" in modules
    assert "apsw" not in modules
