"""Library messages name settings in words; the command line adds the flag that changes one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import argparse

import pytest

import vidsearch
from vidsearch.cli import build_parser
from vidsearch.cli.common import SETTING_FLAGS, print_error
from vidsearch.errors import CannotRunError, advised
from vidsearch.model.weights import MissingWeightsError

from tests.train.test_messages import FLAG, string_literals

PACKAGE = Path(vidsearch.__file__).parent
FACES = {"cli", "tui", "__main__.py"}
# A player's own command line (mpv's `--start=`), not a vidsearch flag that happens to share it.
OTHER_PROGRAMS = {"player.py"}


def our_flags() -> set[str]:
    """Every long option any vidsearch command takes (a player's own `--start` is not ours)."""
    flags: set[str] = set()
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            flags.update(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return flags - {"--help"}


def test_no_library_string_below_the_faces_names_a_flag():
    ours = our_flags()
    assert {"--db", "--weights", "--model", "--device"} <= ours
    named = [f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
             for path in sorted(PACKAGE.rglob("*.py"))
             if path.relative_to(PACKAGE).parts[0] not in FACES | OTHER_PROGRAMS
             for line, text in string_literals(path)
             if any(flag in ours for flag in FLAG.findall(text))]
    assert not named


@pytest.mark.parametrize("advice", sorted(SETTING_FLAGS))
def test_the_cli_adds_the_flag_of_the_advised_setting(advice, capsys):
    print_error(advised(CannotRunError("it failed", "change the setting"), advice))
    assert capsys.readouterr().err.strip() == (
        f"vidsearch: error: it failed (change the setting: {SETTING_FLAGS[advice]})")


def test_an_error_without_advice_is_printed_as_it_is(capsys):
    print_error(CannotRunError("it failed", "do this"))
    assert capsys.readouterr().err.strip() == "vidsearch: error: it failed (do this)"


def test_missing_weights_advise_the_weights_setting(capsys):
    print_error(MissingWeightsError("no weights", "name another weights file"))
    assert "--weights FILE" in capsys.readouterr().err


def test_a_file_that_is_not_a_library_names_the_db_flag(tmp_path):
    not_a_library = tmp_path / "notes.db"
    not_a_library.write_text("shopping list\n" * 200)
    result = subprocess.run([sys.executable, "-m", "vidsearch", "status", "--db", str(not_a_library)],
                            capture_output=True, text=True, env={"VIDSEARCH_HOME": str(tmp_path / "home"),
                                                                "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    assert "not a vidsearch library" in result.stderr
    assert result.stderr.rstrip().endswith("--db PATH)")
