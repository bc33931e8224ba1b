"""`common.say`: sentences wrapped at spaces on a terminal, whole lines in a pipe."""

from __future__ import annotations

import io
import os

from vidsearch.cli import common

SENTENCE = ("no epoch beat the base model 'family-base' on the validation labels; saved model "
            "'family' (/home/someone/.local/share/vidsearch/models/family) is an exact copy")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_lines_break_at_spaces_and_paths_stay_whole(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((40, 24)))
    screen = Terminal()
    common.say(SENTENCE, file=screen)
    lines = screen.getvalue().splitlines()
    assert len(lines) > 2
    assert all(len(line) <= 40 for line in lines
               if "/home/someone/.local/share/vidsearch/models/family" not in line)
    assert " ".join(line.strip() for line in lines) == SENTENCE  # no word cut or lost
    assert any("(/home/someone/.local/share/vidsearch/models/family)" in line for line in lines)


def test_in_a_pipe_a_line_stays_one_line():
    pipe = io.StringIO()
    common.say(SENTENCE, file=pipe)
    assert pipe.getvalue() == SENTENCE + "\n"


def test_a_path_after_a_prefix_goes_on_under_itself_on_a_terminal(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((50, 24)))
    monkeypatch.setenv("HOME", "/home/someone")
    path = "/home/someone/Videos/trip/hike with a long name for wrapping tests.mp4"
    prefix = "  2026-12-04  0:00:30  "
    screen = Terminal()
    common.say_path(prefix, path, file=screen)
    lines = screen.getvalue().splitlines()
    assert lines == [prefix + "~/Videos/trip/",
                     " " * len(prefix) + "hike with a long name for",
                     " " * len(prefix) + "wrapping tests.mp4"]
    assert all(len(line) <= 50 for line in lines)
    pipe = io.StringIO()
    common.say_path(prefix, path, file=pipe)
    assert pipe.getvalue() == prefix + "~/Videos/trip/hike with a long name for wrapping tests.mp4\n"


def test_an_error_wraps_at_spaces_on_a_terminal_and_is_one_line_in_a_pipe(monkeypatch):
    from vidsearch.errors import UsageError

    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((80, 24)))
    error = UsageError("bad.csv: 1 problem in the labels file",
                       "fix the lines listed and run again; no model was loaded or scored")
    for stream, many_lines in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr("sys.stderr", stream)
        common.print_error(error)
        lines = stream.getvalue().splitlines()
        assert (len(lines) > 1) == many_lines
        assert all(len(line) <= 80 for line in lines) or not many_lines
        assert " ".join(line.strip() for line in lines) == (
            "vidsearch: error: bad.csv: 1 problem in the labels file (fix the lines listed "
            "and run again; no model was loaded or scored)")
