"""A file the user asked for gets the permissions any new file of theirs gets, and its name
only when no file took that name meanwhile (unless it is to be replaced)."""

from __future__ import annotations

import errno
import os

import pytest

from vidsearch.atomic import partial_file_beside, publish
from vidsearch.errors import CannotRunError, UsageError


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield 0o022
    os.umask(previous)


def test_the_partial_file_has_the_umask_permissions_and_the_real_suffix(tmp_path, umask_022):
    out = tmp_path / "wave.mp4"
    first, second = partial_file_beside(out), partial_file_beside(out)
    assert first != second and first.parent == out.parent
    assert first.name.startswith(".wave.") and first.name.endswith(".partial.mp4")
    assert first.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert not out.exists()


def test_a_folder_that_is_not_there_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(CannotRunError) as caught:
        partial_file_beside(tmp_path / "missing" / "wave.mp4")
    assert caught.value.path == str(tmp_path / "missing" / "wave.mp4")
    assert "cannot write here" in caught.value.reason


def finished_partial(out, text="ours"):
    partial = partial_file_beside(out)
    partial.write_text(text)
    return partial


def test_publishing_names_the_file_and_leaves_no_partial(tmp_path):
    out = tmp_path / "wave.mp4"
    publish(finished_partial(out), out, overwrite=False)
    assert out.read_text() == "ours"
    assert [p.name for p in tmp_path.iterdir()] == ["wave.mp4"]


def test_a_file_that_appeared_meanwhile_is_kept_unless_replacing_was_asked(tmp_path):
    out = tmp_path / "wave.mp4"
    partial = finished_partial(out)
    out.write_text("theirs")  # another export, or the user, took the name while this ran
    with pytest.raises(UsageError, match="already exists") as caught:
        publish(partial, out, overwrite=False)
    assert caught.value.path == str(out)
    assert out.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["wave.mp4"]

    publish(finished_partial(out), out, overwrite=True)
    assert out.read_text() == "ours"
    assert [p.name for p in tmp_path.iterdir()] == ["wave.mp4"]


@pytest.mark.parametrize("taken", [False, True])
def test_without_hard_links_the_name_is_checked_then_renamed(tmp_path, monkeypatch, taken):
    def no_links(source, target):  # as on FAT or an SMB share
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "wave.mp4"
    partial = finished_partial(out)
    if taken:
        out.write_text("theirs")
        with pytest.raises(UsageError, match="already exists"):
            publish(partial, out, overwrite=False)
    else:
        publish(partial, out, overwrite=False)
    assert out.read_text() == ("theirs" if taken else "ours")
    assert [p.name for p in tmp_path.iterdir()] == ["wave.mp4"]


def test_a_folder_that_cannot_take_the_file_is_one_line_and_no_partial(tmp_path, monkeypatch):
    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "link", read_only)
    out = tmp_path / "wave.mp4"
    with pytest.raises(CannotRunError, match="cannot write here") as caught:
        publish(finished_partial(out), out, overwrite=False)
    assert caught.value.path == str(out)
    assert list(tmp_path.iterdir()) == []
