"""A file the user asked for gets the permissions any new file of theirs gets."""

from __future__ import annotations

import os

import pytest

from vidsearch.atomic import partial_file_beside
from vidsearch.errors import CannotRunError


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
