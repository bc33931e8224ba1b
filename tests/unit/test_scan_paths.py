"""The path facts index and watch share: under a folder, moved with a folder, gone, unchanged."""

from __future__ import annotations

import os

import pytest

from vidsearch import scan as fs


@pytest.mark.parametrize("path, folder, under", [
    ("/a/b", "/a/b", True),
    ("/a/b/c.mp4", "/a/b", True),
    ("/a/b/c.mp4", "/a/b/", True),
    ("/a/b/x/y/c.mp4", "/a", True),
    ("/a/bc/c.mp4", "/a/b", False),  # a sibling that shares a prefix
    ("/a/bc", "/a/b", False),
    ("/a", "/a/b", False),
    ("/x.mp4", "/", True),
])
def test_is_under(path, folder, under):
    assert fs.is_under(path, folder) is under


def test_rebase_moves_paths_inside_the_folder_only():
    assert fs.rebase("/a/b/c.mp4", "/a/b", "/z") == "/z/c.mp4"
    assert fs.rebase("/a/b/x/c.mp4", "/a/b/", "/z/") == "/z/x/c.mp4"
    assert fs.rebase("/a/b", "/a/b", "/z") == "/z"


def test_is_gone_only_for_a_definite_absence(tmp_path):
    present = tmp_path / "a.mp4"
    present.write_bytes(b"x")
    assert not fs.is_gone(str(present))
    assert fs.is_gone(str(tmp_path / "missing.mp4"))
    assert fs.is_gone(str(present / "under-a-file.mp4"))  # ENOTDIR: nothing can be there
    looped = tmp_path / "loop"
    os.symlink(looped, looped)
    assert not fs.is_gone(str(looped / "x.mp4"))  # ELOOP: cannot tell, so not gone


def test_is_unchanged_compares_size_and_mtime(tmp_path):
    path = tmp_path / "a.mp4"
    path.write_bytes(b"xy")
    state = fs.stat_file(str(path))
    assert fs.is_unchanged(fs.FileState(state.path, state.size, state.mtime_ns), state)
    assert not fs.is_unchanged(fs.FileState(state.path, 3, state.mtime_ns), state)
    assert not fs.is_unchanged(fs.FileState(state.path, state.size, state.mtime_ns + 1), state)
    assert not fs.is_unchanged(None, state)
