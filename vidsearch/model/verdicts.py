"""Verdicts measured once per machine (CPU precision, the image tower's runtimes), kept in a small
JSON file in the user cache so the next run does not measure again; one measured close to its
line is measured again on the next runs, a few times at most."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

V = TypeVar("V", bound="Verdict")


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


# A verdict whose speedup is within this factor of its line is close: a busy machine can tip
# it either way, so it is measured again on the next runs, up to MAX_CHECKS measurements.
CLOSE_FACTOR = 1.5
MAX_CHECKS = 3


class Verdict(Protocol):
    speedup: float  # the candidate's throughput over the reference's
    min_cosine: float  # their agreement, on the worst probe frame
    checks: int  # how many measurements this verdict has had


def is_close(verdict: Verdict, line: float, cosine_floor: float) -> bool:
    """Faithful, and with a speedup within CLOSE_FACTOR of `line` either way."""
    margin = verdict.speedup / line
    return verdict.min_cosine >= cosine_floor and 1 / CLOSE_FACTOR <= margin <= CLOSE_FACTOR


def _recorded(known: dict[str, Any], key: str, kind: type[V], line: float) -> V | None:
    """The verdict recorded for `key`, if it was decided against this `line`."""
    record = known.get(key)
    if not (isinstance(record, dict) and record.get("line") == line):
        return None
    try:
        return kind(**{k: v for k, v in record.items() if k not in ("margin", "line")})
    except TypeError:
        return None  # a record of another shape: measure again


def _settled(verdict: V | None, line: float, cosine_floor: float) -> bool:
    return verdict is not None and not (is_close(verdict, line, cosine_floor)
                                        and verdict.checks < MAX_CHECKS)


def settled_verdict(cache_file: Path, key: str, kind: type[V], *, line: float,
                    cosine_floor: float) -> V | None:
    """The verdict `remembered_verdict` would return without measuring; None where it would
    measure (so a caller can tell, before loading anything, which way the next run goes)."""
    verdict = _recorded(read_verdicts(cache_file), key, kind, line)
    return verdict if _settled(verdict, line, cosine_floor) else None


def remembered_verdict(cache_file: Path, key: str, measure: Callable[[], V], kind: type[V],
                       what: str, *, line: float, cosine_floor: float) -> V:
    """The verdict recorded for `key` in `cache_file`, measured and recorded if absent, if it
    was decided against another `line` (the speedup it had to reach), or if it was close
    (`is_close`) and has been measured fewer than MAX_CHECKS times; stored with its margin
    (speedup over the line) and the line."""
    known = read_verdicts(cache_file)
    previous = _recorded(known, key, kind, line)
    if _settled(previous, line, cosine_floor):
        return previous
    choice = measure()
    if previous is not None:
        choice = replace(choice, checks=previous.checks + 1)
        log.info("%s measured again (the last verdict was close: %.2fx the line)", what,
                 previous.speedup / line)
    known[key] = {**asdict(choice), "margin": round(choice.speedup / line, 3), "line": line}
    write_verdicts(cache_file, known, what)
    return choice
