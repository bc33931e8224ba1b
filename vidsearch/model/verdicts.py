"""Verdicts measured once per machine (CPU precision, the image tower's runtime), kept in a small
JSON file in the user cache so the next run does not measure again."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def read_verdicts(cache_file: Path) -> dict[str, Any]:
    """Every verdict recorded in `cache_file`, by key; none when the file is missing or is not
    such a record (a damaged cache is measured again, never an error)."""
    try:
        known = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def write_verdicts(cache_file: Path, known: dict[str, Any], what: str) -> None:
    """Replace `cache_file` with `known` whole (a reader never sees half a file); a cache that
    cannot be written costs a measurement next time, nothing more."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + ".tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError as exc:
        log.debug("cannot record the %s in %s: %s", what, cache_file, exc)
