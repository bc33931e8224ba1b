"""The console script's exit: quick where torch was imported, with every byte of output and the
command's exit code; the usual exit while another thread still works."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import sys, threading, time
import torch  # what makes the quick exit worth it
from vidsearch import cli

def main():
    for number in range(20000):
        print(f"line {number}")
    if sys.argv[1] == "thread":
        def late_write():
            time.sleep(0.5)
            open(sys.argv[2], "w").write("written")
        threading.Thread(target=late_write).start()  # not a daemon: the exit must wait
    return 3

cli.main = main
cli.entry()
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_the_quick_exit_keeps_the_output_and_the_exit_code():
    result = run("plain")
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 20000 and lines[-1] == "line 19999"


def test_a_thread_still_running_gets_the_usual_exit(tmp_path):
    target = tmp_path / "late.txt"
    result = run("thread", str(target))
    assert result.returncode == 3, result.stderr
    assert target.read_text() == "written"
