"""A file the user asked for, written whole or not at all: a new file beside it, renamed onto
it once complete (exports and timelines)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vidsearch.errors import CannotRunError


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
