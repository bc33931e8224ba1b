"""A file the user asked for, written whole or not at all: a new file beside it, renamed onto
it once complete (exports and timelines), never over a file that was not to be replaced."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from vidsearch.errors import CannotRunError, UsageError


def partial_file_beside(path: Path) -> Path:
    """An empty new file next to `path`, `.STEM.XXXXXXXX.partial.SUFFIX` (the real suffix
    last: writers pick the format by it), with the permissions any new file gets under the
    user's umask, not `mkstemp`'s 0600: once renamed, it is the user's file."""
    for _ in range(100):
        name = path.parent / f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}"
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return name
        except FileExistsError:
            continue
        except OSError as err:
            raise CannotRunError.about(path, f"cannot write here ({err.strerror})",
                                       "check that the folder exists and is writable") from err
    raise CannotRunError.about(path, "cannot find a free temporary name beside it",
                               "remove the .partial files left in that folder")


def publish(partial: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished `partial` its real name `path`; the partial name is gone either way.

    Without `overwrite` the last step is a hard link, which the file system refuses when `path`
    exists: a file that appeared while the work ran (another export to the same name, the user's
    own file) is never replaced, which a check made before the work cannot promise. File systems
    without hard links (FAT, some network shares) get the check just before a rename instead.
    """
    try:
        if overwrite:
            os.replace(partial, path)
            return
        try:
            os.link(partial, path)
        except FileExistsError:
            raise _exists(path) from None
        except OSError as err:
            if err.errno not in _NO_HARD_LINKS:
                raise
            if os.path.lexists(path):
                raise _exists(path) from None
            os.replace(partial, path)
    except OSError as err:
        raise CannotRunError.about(path, f"cannot write here ({err.strerror})",
                                   "check that the folder is writable") from err
    finally:
        if os.path.lexists(partial):
            os.unlink(partial)


# What link(2) answers where the file system has no hard links (or forbids them to this user).
_NO_HARD_LINKS = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                  errno.EMLINK, errno.ENOSYS}


def _exists(path: Path) -> UsageError:
    return UsageError.about(path, "already exists (it appeared while this ran)",
                            "choose another name, or allow replacing it")
