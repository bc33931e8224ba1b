"""Files and folders that cannot be read, link to themselves, vanish or are still being written."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.faults.conftest import cli, library_state
from vidsearch import scan


def test_unreadable_file_and_folder_are_reported_and_stored_videos_kept(
        zygote, tiny_model, videos, media, tmp_path, capsys):
    folder = videos / "private"
    folder.mkdir()
    shutil.copy2(media / "good.mp4", folder / "inside.mp4")
    assert cli(capsys, "index", videos)[0] == 0

    locked = videos / "locked.mp4"
    shutil.copy2(media / "long.mp4", locked)
    locked.chmod(0)
    folder.chmod(0)
    try:
        if zygote.can_read(locked):
            pytest.skip("cannot drop the privilege to read any file here")
        run = zygote.run("index", videos, logs=tmp_path / "logs")
        assert run.wait() == 1, run.out + run.err
        assert "Traceback" not in run.out + run.err
        assert f"failed: {locked}: cannot read the file: Permission denied" in run.out
        assert f"failed: {folder}: Permission denied" in run.out
        stats, problems = library_state()
        assert problems == []
        # The video behind the closed folder is not taken for deleted.
        assert stats.videos == 2 and "removed 0" in run.out
        assert [path for path, _ in stats.failures] == [str(locked)]
    finally:
        folder.chmod(0o755)
        locked.chmod(0o644)
    # Readable again: retried although the file did not change, because reading it failed,
    # not decoding it.
    code, out, err = cli(capsys, "index", videos)
    assert code == 0, out + err
    assert "indexed 1 video (" in out
    stats, _ = library_state()
    assert stats.videos == 3 and stats.failed == 0


def test_symlink_loops_end_and_each_video_is_indexed_once(tiny_model, videos, capsys):
    (videos / "sub").mkdir()
    os.symlink(videos, videos / "sub" / "up")  # folder loop through the parent
    os.symlink("..", videos / "sub" / "dots")
    os.symlink("self.mp4", videos / "self.mp4")  # a name that resolves to itself
    code, out, err = cli(capsys, "index", videos, videos / "sub")
    assert code == 1, out + err
    assert "indexed 1 video (" in out
    assert f"failed: {videos / 'self.mp4'}: Too many levels of symbolic links" in out
    stats, problems = library_state()
    assert problems == [] and stats.videos == 1


@pytest.mark.parametrize("when", ["before hashing", "before decoding"])
def test_a_file_deleted_between_scan_and_decode(tiny_model, videos, media, capsys, when):
    doomed = videos / "doomed.mp4"
    shutil.copy2(media / "long.mp4", doomed)
    real_hash = scan.content_hash

    def hash_then_delete(path, size=None):
        if path == str(doomed) and when == "before hashing":
            doomed.unlink()
        digest = real_hash(path, size)
        if path == str(doomed):
            doomed.unlink()
        return digest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan, "content_hash", hash_then_delete)
        code, out, err = cli(capsys, "index", videos)
    assert code == 1, out + err
    assert "indexed 1 video (" in out
    assert f"failed: {doomed}: " in out and "No such file or directory" in out
    stats, problems = library_state()
    assert problems == [] and stats.videos == 1
    # Gone for good: the next run drops the record of the failure.
    code, out, err = cli(capsys, "index", videos)
    assert code == 0, out + err
    assert library_state()[0].failed == 0


@pytest.mark.parametrize("source", ["long.mp4", "long-faststart.mp4"])
def test_a_file_still_being_written_is_retried_once_it_changes(tiny_model, videos, media, capsys,
                                                               source):
    """A recorder writes the frames first and (without faststart) the index last."""
    data = (media / source).read_bytes()
    growing = videos / "recording.mp4"
    growing.write_bytes(data[: len(data) // 2])
    code, out, err = cli(capsys, "index", videos)
    assert code == 1, out + err
    assert f"failed: {growing}: " in out

    with open(growing, "ab") as handle:
        handle.write(data[len(data) // 2:])
    code, out, err = cli(capsys, "index", videos)
    assert code == 0, out + err
    assert "indexed 1 video (" in out
    stats, problems = library_state()
    assert problems == [] and stats.videos == 2 and stats.failed == 0
    assert stats.frames == 3 + 12


def test_a_file_that_grows_between_scan_and_decode_is_redone_next_time(
        tiny_model, videos, media, capsys):
    data = (media / "long-faststart.mp4").read_bytes()
    growing = videos / "recording.mp4"
    growing.write_bytes(data[: len(data) // 2])
    real_hash = scan.content_hash

    def finish_after_hashing(path, size=None):
        digest = real_hash(path, size)
        if path == str(growing) and growing.stat().st_size < len(data):
            growing.write_bytes(data)
            os.utime(growing, ns=(time.time_ns(), time.time_ns() + 10**9))
        return digest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan, "content_hash", finish_after_hashing)
        cli(capsys, "index", videos)  # whatever this run saw, it stored the size it scanned
    code, out, err = cli(capsys, "index", videos)
    assert code == 0, out + err
    assert "indexed 1 video (" in out  # seen as changed: redone from the whole file
    stats, problems = library_state()
    assert problems == [] and stats.videos == 2 and stats.frames == 3 + 12
