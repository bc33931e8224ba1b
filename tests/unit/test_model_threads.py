"""One thread policy per process kind, set by the face that starts the work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from vidsearch.model.factory import pick_device
from vidsearch.model.threads import threads_for, use_threads_for, use_threads_if_loaded


@pytest.fixture
def restored_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_each_kind_has_its_count():
    assert threads_for("query") == 1
    assert threads_for("index") == (os.cpu_count() or 1)
    assert threads_for("train") == (os.cpu_count() or 1)
    with pytest.raises(ValueError):
        threads_for("serve")  # type: ignore[arg-type]


def test_use_threads_for_sets_torch(restored_threads):
    torch.set_num_threads(2)
    assert use_threads_for("query") == 1
    assert torch.get_num_threads() == 1


def test_use_threads_if_loaded_sets_a_loaded_torch(restored_threads):
    torch.set_num_threads(2)
    assert use_threads_if_loaded("query") == 1
    assert torch.get_num_threads() == 1


def test_use_threads_if_loaded_never_imports_torch():
    code = ("import sys\n"
            "from vidsearch.model.threads import use_threads_if_loaded\n"
            "assert use_threads_if_loaded('query') == 1\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_picking_a_device_leaves_threads_alone(restored_threads):
    torch.set_num_threads(1)
    pick_device("cpu")
    assert torch.get_num_threads() == 1


def test_search_imports_no_torch():
    code = "import sys, vidsearch.search; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
