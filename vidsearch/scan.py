"""Finding video files on disk and recognising them again.

`scan` walks folders the way a user expects a library to be walked: recursively, following
symlinked folders once (a loop is visited once, not forever), skipping hidden folders and files.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 20
TAIL_BYTES = 1 << 10


@dataclass(frozen=True)
class FileState:
    """A file as seen on disk now: what decides whether stored vectors are still valid."""

    path: str
    size: int
    mtime_ns: int


def stat_file(path: str) -> FileState | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileState(path, st.st_size, st.st_mtime_ns)


def content_hash(path: str, size: int | None = None) -> str:
    """A cheap fingerprint of a file's content: first 1 MiB, last 1 KiB and the size.

    Reading the whole of a multi-GB video to notice a rename would cost more than re-indexing
    it; this partial hash tells renamed files apart from different ones in practice.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size is None:
            size = os.fstat(handle.fileno()).st_size
        digest.update(handle.read(HEAD_BYTES))
        if size > HEAD_BYTES:
            handle.seek(max(HEAD_BYTES, size - TAIL_BYTES))
            digest.update(handle.read(TAIL_BYTES))
    digest.update(str(size).encode())
    return digest.hexdigest()[:32]


def is_unchanged(record, state: FileState) -> bool:
    """Whether what is stored for a file (`record`: any object with `size` and `mtime_ns`)
    still describes it as it is on disk: the same size and modification time."""
    return (record is not None and record.size == state.size
            and record.mtime_ns == state.mtime_ns)


def is_touched_only(record, state: FileState) -> bool:
    """Whether a file whose mtime moved (`touch`, a copy that kept the bytes, a backup tool)
    still holds what `record` was made from: the same size and content hash. Reads 1 MiB, far
    cheaper than embedding the file again. Only a stored success counts: a failure is retried
    whenever the file's time changes."""
    if (record is None or record.size != state.size or record.status != "ok"
            or record.content_hash is None):
        return False
    try:
        return content_hash(state.path, state.size) == record.content_hash
    except OSError:
        return False  # the indexer will record why it cannot read it


def keep_if_touched(store, record, state: FileState) -> bool:
    """If only the file's mtime moved (`is_touched_only`), store the new one in `store` (a
    `Store`) and return True: its vectors are still right. Used by `index` and `watch` alike."""
    if not is_touched_only(record, state):
        return False
    store.refresh_mtime(state.path, state.mtime_ns)
    log.info("unchanged %s (only its modification time moved)", state.path)
    return True


def is_gone(path: str) -> bool:
    """Whether nothing is at `path` any more: only a definite "no such file", since a folder
    that cannot be read hides files that may well still be there."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def folder_prefix(folder: str) -> str:
    """What every path inside `folder` starts with: the folder and one separator, so that
    `/a/bc/x` is not taken for a path inside `/a/b`."""
    return folder.rstrip(os.sep) + os.sep


def is_under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` itself or lies anywhere inside it."""
    return path == folder or path.startswith(folder_prefix(folder))


def is_under_any(path: str, folders: Iterable[str]) -> bool:
    return any(is_under(path, folder) for folder in folders)


def rebase(path: str, old: str, new: str) -> str:
    """`path`, inside folder `old`, as it is named once `old` has moved to `new`."""
    if path == old:
        return new
    return folder_prefix(new) + path[len(folder_prefix(old)):]


def absolute(path: str | os.PathLike[str]) -> str:
    """A path as the library stores it: absolute, symlinks and `~` left as given (a folder
    named on the command line means what `index` made of the same words)."""
    return os.path.abspath(os.fspath(path))


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def scan(
    roots: Iterable[Path],
    is_video: Callable[[str], bool],
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[FileState]:
    """Yield every video file under `roots` (a root may also be a single file), each once."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    for root in roots:
        root_path = absolute(root)
        if os.path.isfile(root_path):
            state = stat_file(root_path)
            if state and root_path not in seen_files:
                seen_files.add(root_path)
                yield state
            continue
        for state in _walk(root_path, is_video, seen_dirs, on_error):
            if state.path not in seen_files:
                seen_files.add(state.path)
                yield state


def _walk(top, is_video, seen_dirs, on_error) -> Iterator[FileState]:
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            _report(on_error, folder, exc)
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            _report(on_error, folder, exc)
            continue
        for entry in entries:
            if is_hidden(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=True) and is_video(entry.path):
                    state = stat_file(entry.path)
                    if state:
                        yield state
            except OSError as exc:
                _report(on_error, entry.path, exc)


def _report(on_error, path: str, exc: OSError) -> None:
    reason = exc.strerror or str(exc)
    log.warning("cannot read %s: %s", path, reason)
    if on_error:
        on_error(path, reason)
