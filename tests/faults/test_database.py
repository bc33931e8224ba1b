"""What is at the database path is never made worse: foreign and damaged files are refused and
left byte for byte as they were; old libraries are migrated, newer ones refused."""

from __future__ import annotations

import json
import shutil

import apsw
import numpy as np
import pytest

from tests.faults.conftest import assert_one_clean_line, cli, default_db, wait_for
from tests.unit.test_store import make_version_1_library
from vidsearch.store import schema_version


def commands(library):
    return [("index", library), ("find", "a dog"), ("status",)]


def checkpointed_library(capsys, library, target):
    """A real library in one file (WAL folded in), copied to `target`."""
    assert cli(capsys, "index", library)[0] == 0
    conn = apsw.Connection(str(default_db()))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(default_db(), target)
    return target


def damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2:]
    elif how == "pages overwritten":
        # Keep the header and the first page (schema) readable: the damage is found later.
        rng = np.random.default_rng(3)
        start = 4096
        data[start:] = rng.integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("content", [b"", b"my holiday notes, not a database\n" * 200,
                                     bytes(range(256)) * 64], ids=["empty", "text", "binary"])
def test_a_file_that_is_not_a_library_is_refused_and_left_alone(tiny_model, library, capsys,
                                                               content):
    db = default_db()
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(content)
    for command in commands(library):
        code, out, err = cli(capsys, *command)
        if not content and command[0] == "index":
            # An empty file is an empty SQLite database: indexing into it is fine.
            assert code == 0, err
            return
        assert code == 3, (command, out, err)
        line = assert_one_clean_line(err)
        assert str(db) in line and "not a vidsearch library" in line
        assert db.read_bytes() == content


@pytest.mark.parametrize("how", ["truncated", "pages overwritten"])
def test_a_damaged_library_is_a_clean_error_and_is_not_written(tiny_model, library, tmp_path,
                                                               capsys, how):
    saved = checkpointed_library(capsys, library, tmp_path / "saved.db")
    damage(saved, how)
    before = saved.read_bytes()
    for command in commands(library):
        shutil.copyfile(saved, default_db())
        for side in ("-wal", "-shm"):
            default_db().with_name(default_db().name + side).unlink(missing_ok=True)
        code, out, err = cli(capsys, *command)
        assert code == 3, (command, out, err)
        line = assert_one_clean_line(err)
        assert str(default_db()) in line and "damaged" in line, line
        assert default_db().read_bytes() == before, command


@pytest.mark.slow
def test_damage_found_only_by_a_query_is_a_clean_error(tiny_model, library, tmp_path, capsys):
    """The header and the tables read on opening are fine; the clips table is garbage."""
    db = checkpointed_library(capsys, library, tmp_path / "saved.db")
    conn = apsw.Connection(str(db))
    pages = [row[0] for row in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'clips' AND pagetype = 'leaf'")]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert pages
    with open(db, "r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * page_size)
            handle.write(b"\xa5" * page_size)
    shutil.copyfile(db, default_db())
    before = default_db().read_bytes()
    code, out, err = cli(capsys, "find", "a dog")
    assert code == 3, out + err
    line = assert_one_clean_line(err)
    assert str(default_db()) in line and "damaged" in line, line
    assert default_db().read_bytes() == before


def test_a_library_from_a_newer_vidsearch_is_refused_by_every_command(tiny_model, library,
                                                                     capsys):
    assert cli(capsys, "index", library)[0] == 0
    conn = apsw.Connection(str(default_db()))
    conn.execute("INSERT INTO migrations VALUES ('m999_from_the_future', 0)")
    conn.close()
    for command in commands(library):
        code, _, err = cli(capsys, *command)
        assert code == 3, command
        line = assert_one_clean_line(err)
        assert "newer" in line and "upgrade vidsearch" in line
    assert applied_migrations(default_db())[-1] == "m999_from_the_future"


def applied_migrations(db) -> list[str]:
    conn = apsw.Connection(str(db))
    try:
        return [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    finally:
        conn.close()


@pytest.mark.slow
def test_an_old_library_survives_a_kill_during_its_migration_then_migrates(
        zygote, tiny_model, library, tmp_path, capsys):
    old = default_db()
    old.parent.mkdir(parents=True, exist_ok=True)
    make_version_1_library(old)
    paused = tmp_path / "paused"
    # Killed at the second write of the migration: its transaction is open, half done.
    child = zygote.run("status", logs=tmp_path / "logs",
                       pause={"statement": 2, "paused": str(paused)})
    wait_for(lambda: paused.exists() or child.poll() is not None, what="the migration")
    assert child.kill() == -9, child.err
    assert applied_migrations(old) == ["m001_initial"]

    code, out, err = cli(capsys, "status", "--json")
    assert code == 0, err
    assert json.loads(out)["videos"] == 1
    assert len(applied_migrations(old)) == schema_version()
    # The old vectors belong to another model: find says so, index re-embeds.
    code, _, err = cli(capsys, "find", "a dog")
    assert code == 3 and "indexed with model 'model-a'" in assert_one_clean_line(err)
    code, out, err = cli(capsys, "index", library)
    assert code == 0 and "indexed 3 videos" in out, err
