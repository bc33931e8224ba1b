"""The disk fills up: one clear line, exit 3, and the library keeps everything it had; once
there is room again the same command finishes the job."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import apsw
import pytest

from tests.faults.conftest import assert_consistent, assert_one_clean_line, cli, snapshot


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs: a real full disk, with ENOSPC from the kernel."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small disk here ({mounted.stderr.strip()})")
    try:
        yield mount_point
    finally:
        # Lazy: a connection a failing test left open must not keep the mount busy.
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def fill(disk, leave: int):
    """Fill `disk` until `leave` bytes are free; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def check_kept(db, before) -> None:
    """Consistent, and every video it held before is still there, whole."""
    assert_consistent(db)
    after = snapshot(db)
    for path, video in before.items():
        assert path in after, path
        assert after[path].clips == video.clips, path
        assert len(after[path].frame_times) == len(video.frame_times), path


@pytest.mark.slow
def test_a_full_disk_stops_indexing_cleanly_and_loses_nothing(tiny_model, library, small_disk,
                                                              capsys):
    db = small_disk / "library.db"
    assert cli(capsys, "index", library / "alpha.mp4", "--db", db)[0] == 0
    before = snapshot(db)

    # Room for SQLite's shared-memory file and a few pages: the run starts, then fills it.
    filler = fill(small_disk, leave=48 * 1024)
    code, out, err = cli(capsys, "index", library, "--db", db)
    assert code == 3, out + err
    line = assert_one_clean_line(err)
    assert "full" in line and str(db) in line
    check_kept(db, before)

    filler.unlink()
    code, out, err = cli(capsys, "index", library, "--db", db)
    assert code == 0, out + err
    assert len(snapshot(db)) == 3
    check_kept(db, before)


def test_a_disk_full_before_the_run_starts_is_a_clean_error(tiny_model, library, small_disk,
                                                           capsys):
    db = small_disk / "library.db"
    assert cli(capsys, "index", library / "alpha.mp4", "--db", db)[0] == 0
    before = snapshot(db)
    filler = fill(small_disk, leave=0)
    for command in (("index", library), ("find", "a dog"), ("status",)):
        code, out, err = cli(capsys, *command, "--db", db)
        assert code == 3, (command, out, err)
        assert "the disk is full" in assert_one_clean_line(err)
    filler.unlink()
    check_kept(db, before)


@pytest.mark.slow
def test_sqlite_full_from_a_page_limit_is_the_same_clean_error(tiny_model, library, media, capsys,
                                                              tmp_path):
    """Where no small disk can be mounted: SQLITE_FULL from a page limit on each connection."""
    db = tmp_path / "library.db"
    assert cli(capsys, "index", library / "alpha.mp4", "--db", db)[0] == 0
    before = snapshot(db)
    # Its clips need new pages; the small videos may fit in the pages already there.
    shutil.copy2(media / "two-minutes.mp4", library / "two-minutes.mp4")

    def no_more_pages(connection) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(apsw, "connection_hooks", [*apsw.connection_hooks, no_more_pages])
        code, out, err = cli(capsys, "index", library, "--db", db)
    assert code == 3, out + err
    line = assert_one_clean_line(err)
    assert "full" in line and str(db) in line
    check_kept(db, before)
    assert str(library / "two-minutes.mp4") not in snapshot(db)

    code, out, err = cli(capsys, "index", library, "--db", db)
    assert code == 0, out + err
    assert len(snapshot(db)) == 4
    check_kept(db, before)
