"""`vidsearch status --check`: the library's consistency as a command, exit 1 on problems."""

from __future__ import annotations

import json

import apsw
import pytest

from tests.conftest import run_cli
from vidsearch import config


@pytest.mark.slow
def test_check_passes_on_a_fresh_library_and_names_each_broken_invariant(tiny_model, library):
    indexed = run_cli("index", str(library))
    assert indexed.returncode == 0, indexed.stderr

    clean = run_cli("status", "--check")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no problems found" in clean.stdout

    conn = apsw.Connection(str(config.default_db_path()))
    conn.execute("DELETE FROM clip_bits WHERE video_id = (SELECT min(id) FROM videos)")
    conn.execute("UPDATE clips SET embedding = NULL WHERE id = (SELECT max(id) FROM clips)")
    conn.execute("DELETE FROM frame_bits WHERE video_id = (SELECT max(id) FROM videos)")
    conn.execute("UPDATE frames SET vector = NULL WHERE id = (SELECT min(id) FROM frames)")
    conn.close()

    broken = run_cli("status", "--check")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert broken.stdout.splitlines() == [
        "problem: 1 frames without a vector",
        "problem: 1 videos whose frames are missing from the shortlist bits",
        "problem: 1 clips without a vector",
        "problem: 1 clips missing from the shortlist bits",
    ]
    as_json = run_cli("status", "--check", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["problems"] == [
        "1 frames without a vector", "1 videos whose frames are missing from the shortlist bits",
        "1 clips without a vector", "1 clips missing from the shortlist bits"]


@pytest.mark.slow
def test_check_without_a_library_is_the_usual_error(isolated_home):
    missing = run_cli("status", "--check")
    assert missing.returncode == 3
    assert "no library here yet" in missing.stderr
