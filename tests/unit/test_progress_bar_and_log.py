"""The live bar and the log share stderr: a log line goes above the bar, never into its line,
and a run with nothing to index shows no bar."""

from __future__ import annotations

import io
import logging
import re
import sys

from rich.console import Console

from vidsearch.cli.common import CurrentStderrHandler
from vidsearch.cli.progress import RichProgress


def test_the_log_writes_to_stderr_as_it_is_when_the_record_comes(monkeypatch):
    handler = CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler.emit(logging.makeLogRecord({"msg": "one"}))
    monkeypatch.setattr(sys, "stderr", second)  # what rich's live display does while it is up
    handler.emit(logging.makeLogRecord({"msg": "two"}))
    assert (first.getvalue(), second.getvalue()) == ("one\n", "two\n")


def test_a_log_line_during_the_bar_is_a_line_of_its_own(monkeypatch):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system=None)
    monkeypatch.setattr(sys, "stderr", screen)
    logger = logging.getLogger("tests.progress-and-log")
    handler = CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        progress = RichProgress()
        progress.bar = type(progress.bar)(*progress.bar.columns, console=console,
                                          transient=True, redirect_stderr=True)
        with progress:
            progress.start(1, 10.0)
            progress.advanced(5.0)
            logger.warning("initial sync: indexed 0")
    finally:
        logger.removeHandler(handler)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).replace("\r", "\n")
    assert "initial sync: indexed 0" in shown.splitlines()  # the whole line, no bar in it


def test_nothing_to_index_shows_no_bar():
    progress = RichProgress()
    progress.start(0, 0.0)
    assert progress.task is None and not progress.bar.tasks
