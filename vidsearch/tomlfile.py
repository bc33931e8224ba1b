"""The one way vidsearch writes TOML files (settings, model cards): tomlkit, atomically.

tomlkit edits a parsed document in place, so a user's comments, tables and keys this version
does not know survive a change to one setting. The file is replaced by a rename, so a reader
never sees it half-written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from vidsearch.errors import UsageError


def read_document(path: Path) -> tomlkit.TOMLDocument:
    """The file as an editable document; an empty one when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError.about(path, f"cannot read it ({exc})", "fix or delete the file") from exc
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise UsageError.about(path, f"not valid TOML ({exc})", "fix or delete the file") from exc


def dumps(data: dict[str, Any]) -> str:
    """TOML text for plain data; None values are left out (TOML has no null)."""
    return tomlkit.dumps(_without_none(data))


def write_document(path: Path, document: tomlkit.TOMLDocument | dict[str, Any]) -> None:
    """Replace `path` with `document`, atomically (temp file in the same folder + rename)."""
    text = document.as_string() if isinstance(document, tomlkit.TOMLDocument) else dumps(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _without_none(value) if isinstance(value, dict) else value
            for key, value in data.items() if value is not None}
