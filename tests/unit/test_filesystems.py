"""Network file systems are told apart from local ones, and writers refused on them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.faults.conftest import assert_one_clean_line, cli
from vidsearch.errors import CannotRunError, advice_of
from vidsearch.store import LibraryReadOnlyError, VideoMeta, filesystems, open_store

# Local file systems a test folder may be on, by their mountinfo name.
LOCAL_MAGIC = {"ext4": 0xEF53, "ext3": 0xEF53, "ext2": 0xEF53, "tmpfs": 0x01021994,
               "overlay": 0x794C7630, "xfs": 0x58465342, "btrfs": 0x9123683E}

linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/mountinfo"), reason="Linux")


@linux_only
@pytest.mark.parametrize("where", ["tmp_path", "/dev/shm"])
def test_the_real_call_names_a_local_file_system(where, tmp_path):
    path = tmp_path if where == "tmp_path" else Path(where)
    if not path.is_dir():
        pytest.skip(f"no {where} here")
    kind = filesystems.mountinfo_type(path)
    magic = filesystems.statfs_type(path)
    assert kind in LOCAL_MAGIC, kind
    assert magic == LOCAL_MAGIC[kind]
    assert filesystems.network_filesystem(path) is None
    # A library that does not exist yet is judged by the folder it would be created in.
    assert filesystems.network_filesystem(path / "not" / "yet" / "library.db") is None


def test_mountinfo_gives_the_longest_mount_above_a_path(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /mnt/my\\040nas rw,relatime shared:2 - fuse.sshfs host:/ rw\n"
        "41 22 0:51 / /mnt/my rw shared:3 - nfs4 server:/export rw\n")
    assert filesystems.mountinfo_type(Path("/mnt/my nas/videos/x.db"), mountinfo) == "fuse.sshfs"
    assert filesystems.mountinfo_type(Path("/mnt/my/x.db"), mountinfo) == "nfs4"
    assert filesystems.mountinfo_type(Path("/mnt/mystery/x.db"), mountinfo) == "ext4"


@pytest.fixture
def on_nfs(monkeypatch):
    """statfs reports NFS's magic number for every path, as it does on an NFS mount."""
    if not os.path.exists("/proc/self/mountinfo"):
        monkeypatch.setattr(filesystems.sys, "platform", "linux")
    monkeypatch.setattr(filesystems, "statfs_type", lambda path: 0x6969)


def test_a_faked_nfs_type_is_named(on_nfs, tmp_path):
    assert filesystems.network_filesystem(tmp_path / "library.db") == "nfs"


def test_writers_are_refused_on_a_network_file_system(on_nfs, tmp_path):
    with pytest.raises(CannotRunError) as caught:
        open_store(tmp_path / "library.db")
    assert "network file system (nfs)" in caught.value.message
    assert advice_of(caught.value) == "db"  # the CLI adds its --db flag
    assert not (tmp_path / "library.db").exists()


def test_index_says_why_in_one_line(tiny_model, library, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(filesystems, "statfs_type", lambda path: 0xFF534D42)
    monkeypatch.setattr(filesystems.sys, "platform", "linux")
    code, _out, err = cli(capsys, "index", library, "--db", tmp_path / "lib.db")
    assert code == 3
    line = assert_one_clean_line(err)
    assert str(tmp_path / "lib.db") in line and "cifs" in line and "--db" in line


def test_readers_get_a_snapshot_only_while_nobody_writes(tmp_path, monkeypatch):
    db = tmp_path / "library.db"
    vectors = np.eye(4, dtype=np.float32)
    with open_store(db) as store:
        store.prepare_for_model("m-1", "m", 4)
        store.write_video("/v.mp4", size=1, mtime_ns=1, content_hash=None,
                          meta=VideoMeta(4.0, 1.0, 8, 8), frame_times=np.arange(4.0),
                          frame_vectors=vectors, clip_spans=[(0.0, 2.0), (2.0, 4.0)],
                          clip_vectors=vectors[:2])
    monkeypatch.setattr(filesystems, "statfs_type", lambda path: 0x6969)
    monkeypatch.setattr(filesystems.sys, "platform", "linux")
    with open_store(db, create=False) as store:
        assert store.model_fingerprint == "m-1"
        # Searches read the sign bits in a read transaction, which a snapshot allows.
        assert [m.start for m in store.nearest_clips(vectors[1], 1)] == [2.0]
        assert [m.t for m in store.nearest_frames(vectors[3], 1)] == [3.0]
        with pytest.raises(LibraryReadOnlyError):  # a snapshot is read-only
            store.record_failure("/x.mp4", size=1, mtime_ns=1, error="test")
    assert not db.with_name("library.db-shm").exists()
    db.with_name("library.db-wal").write_bytes(b"\0" * 32)
    with pytest.raises(CannotRunError) as caught:
        open_store(db, create=False)
    assert "being written" in caught.value.message
