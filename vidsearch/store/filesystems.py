"""Whether a library file lies on a network file system, where SQLite's WAL is not safe.

WAL keeps its index in a memory-mapped `-shm` file that every connection shares; over NFS or
SMB the machines do not share that memory, and POSIX locks there are often advisory or broken,
so two machines can each believe they hold the write lock: the library is corrupted quietly.
The kernel names the file system: `statfs`'s f_type magic number on Linux (read through libc,
as `os.statvfs` leaves it out), with `/proc/self/mountinfo` as a second source (FUSE mounts,
such as sshfs, share one magic number and differ only there); `f_fstypename` on macOS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

# linux/magic.h and the file systems' own sources.
LINUX_NETWORK_MAGIC = {
    0x6969: "nfs",
    0x517B: "smb",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x564C: "ncp",
    0x5346414F: "afs",
    0x73757245: "coda",
    0x01021997: "9p",
    0x00C36400: "ceph",
    0x47504653: "gpfs",
    0x0BD00BD0: "lustre",
}
# mountinfo type names (and macOS f_fstypename) of network file systems.
NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "smb", "smb2", "smb3", "smbfs", "cifs", "ncpfs", "afs", "coda", "9p",
    "ceph", "gpfs", "lustre", "afpfs", "webdav", "davfs", "fuse.sshfs", "fuse.glusterfs",
    "fuse.cephfs", "fuse.rclone", "fuse.s3fs",
})
# struct statfs on macOS (64-bit inodes): f_fstypename follows 72 bytes of counts and ids.
_MACOS_FSTYPENAME_OFFSET = 72
_MACOS_FSTYPENAME_LEN = 16


def network_filesystem(path: Path | str) -> str | None:
    """The network file system `path` (or, before it exists, its nearest existing folder) is
    on, by name; None for a local one or one that cannot be told."""
    where = _existing(Path(os.path.abspath(path)))
    if sys.platform.startswith("linux"):
        magic = statfs_type(where)
        if magic in LINUX_NETWORK_MAGIC:
            return LINUX_NETWORK_MAGIC[magic]
        kind = mountinfo_type(where)
        return kind if kind in NETWORK_TYPES else None
    if sys.platform == "darwin":
        kind = macos_fstypename(where)
        return kind if kind in NETWORK_TYPES else None
    return None


def statfs_type(path: Path) -> int | None:
    """Linux `statfs(2)`'s f_type for `path`; None when the call is unavailable or fails."""
    libc = _libc()
    if libc is None:
        return None
    # struct statfs starts with f_type (a word); the buffer is larger than the struct.
    buffer = ctypes.create_string_buffer(256)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return None
    return ctypes.c_ulong.from_buffer(buffer).value & 0xFFFFFFFF


def mountinfo_type(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the mount holding `path`, from the longest mount point above it."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        fields, sep, rest = line.partition(" - ")
        parts = fields.split()
        if not sep or len(parts) < 5 or not rest.split():
            continue
        point = _unescape(parts[4])
        if (target == point or target.startswith(point.rstrip("/") + "/")) \
                and len(point) >= len(best):
            best, best_type = point, rest.split()[0]
    return best_type


def macos_fstypename(path: Path) -> str | None:
    libc = _libc()
    if libc is None:
        return None
    buffer = ctypes.create_string_buffer(2168)  # sizeof(struct statfs) on 64-bit macOS
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return None
    raw = buffer.raw[_MACOS_FSTYPENAME_OFFSET:_MACOS_FSTYPENAME_OFFSET + _MACOS_FSTYPENAME_LEN]
    return raw.split(b"\0", 1)[0].decode("ascii", "replace") or None


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or None, use_errno=True)
    except OSError:
        return None
    if not hasattr(libc, "statfs"):
        return None
    libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    libc.statfs.restype = ctypes.c_int
    return libc


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field
