"""A new user's first hour: pipes, usage errors, output that reads well at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from vidsearch.cli import main


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """The CLI writing to a reader that has already gone (`| head` after its lines): the read
    end is closed before the process starts, so every write fails, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "vidsearch", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=300)
    finally:
        os.close(write_end)


def indexed(library, capsys) -> None:
    assert main(["index", str(library)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("args", [["--help"], ["find", "--help"]])
def test_help_into_a_closed_pipe_ends_quietly(args):
    # argparse already swallows the write error; this guards the flush added around it.
    result = run_into_closed_pipe(*args)
    assert result.stderr == ""
    assert result.returncode in (0, 141)


def test_status_and_find_into_a_closed_pipe_end_quietly(tiny_model, library, capsys):
    indexed(library, capsys)
    for args in (["status"], ["find", "a red square"], ["find", "a red square", "--json"]):
        result = run_into_closed_pipe(*args)
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, args
        assert result.stderr == "", args
        # 141 is ours (what a shell shows for SIGPIPE); rich's own console exits 1 the same way.
        assert result.returncode in (1, 141), args
