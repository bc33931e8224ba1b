"""A combined query: its parts (texts and images, each added or subtracted), the search box's
syntax for them and for filters, and the one vector they make.

Like rclip, the query vector is the normalised sum of the normalised parts, a subtracted part
counting negatively, so every part weighs the same whatever its length or kind. Pure: whether
a value names an image file is asked of the caller, who knows the disk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidsearch.errors import UsageError

# Written where the syntax is explained: the TUI's help screen, the README.
BOX_SYNTAX = [
    ("beach +sunset -people", "clips of a beach, more of a sunset, fewer people"),
    ('+"golden hour" -"a crowd"', "quotes keep a phrase together"),
    ("+~/Pictures/dog.jpg", "a + or - value naming an image file adds or subtracts the image"),
    ("dog in:~/Videos/2024 in:~/Phone", "only videos under these folders"),
    ("dog after:2023-12 before:2024-02", "recorded Dec 2023 to Feb 2024 (dates as 2024, "
                                         "2024-06, 2024-06-01 or ISO time)"),
    ("dog per-video:2", "no more than 2 hits from one video"),
]
# A term: an optional sign, then a quoted phrase (closed, or running to the end) or a word.
_TERM = re.compile(r'([+-]?)(?:"([^"]*)(?:"|$)|(\S+))')
# A filter: its key, a colon, then a quoted value or a word; only at the start of a term.
_FILTER = re.compile(r'(?<!\S)(in|after|before|per-video):(?:"([^"]*)(?:"|$)|(\S+))')
# Below this the parts cancel out: the sum points nowhere in particular.
MIN_NORM = 1e-6


@dataclass(frozen=True)
class Part:
    """One part of a query: a text, or the path of an image, added (+1) or subtracted (-1)."""

    value: str
    sign: int = 1
    is_image: bool = False


@dataclass(frozen=True)
class BoxFilters:
    """The filters written in the search box, as written (folders and dates are read by the
    search core, which knows the disk and the calendar)."""

    folders: tuple[str, ...] = ()
    after: str | None = None
    before: str | None = None
    per_video: int | None = None


def split_filters(text: str) -> tuple[str, BoxFilters]:
    """The search box's text without its filters (`in:FOLDER`, repeatable; `after:DATE`,
    `before:DATE`, `per-video:N`), and the filters."""
    found: dict[str, list[str]] = {"in": [], "after": [], "before": [], "per-video": []}

    def take(match: re.Match) -> str:
        key, quoted, word = match.groups()
        found[key].append(quoted if quoted is not None else word)
        return ""

    rest = _FILTER.sub(take, text)
    for key in ("after", "before", "per-video"):
        if len(found[key]) > 1:
            raise UsageError(f"{key}: is given {len(found[key])} times", "give it once")
    per_video = None
    if found["per-video"]:
        value = found["per-video"][0]
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"per-video:{value} is not a number of hits", "e.g. per-video:2")
        per_video = int(value)
    first = {key: values[0] if values else None for key, values in found.items()}
    return " ".join(rest.split()), BoxFilters(tuple(found["in"]), first["after"],
                                             first["before"], per_video)


def filter_terms(text: str) -> tuple[str, str]:
    """The search box's text without its filters, and its filters as they are written: a
    search that is not typed (an image, "more like this") shows what it is beside them."""
    written = " ".join(match.group(0) for match in _FILTER.finditer(text))
    return " ".join(_FILTER.sub("", text).split()), written


def parts_from(text: str | None, add: Iterable[str] = (), subtract: Iterable[str] = (), *,
               is_image: Callable[[str], bool]) -> list[Part]:
    """The parts of a query given as a text and lists of values to add and to subtract (the
    command line's way); a value that `is_image` says names an image file is that image."""
    parts = [Part(text)] if text is not None else []
    parts += [Part(value, 1, is_image(value)) for value in add]
    parts += [Part(value, -1, is_image(value)) for value in subtract]
    return parts


def parse_box(text: str, *, is_image: Callable[[str], bool]) -> list[Part]:
    """The search box's syntax: plain words (and "quoted phrases") make the main text, in
    order; `+term` adds and `-term` subtracts a word, a "quoted phrase" or an image file.
    A sign inside a word (t-shirt) or alone (rock - paper) is just text."""
    plain: list[str] = []
    signed: list[Part] = []
    for match in _TERM.finditer(text):
        sign, phrase, word = match.groups()
        value = phrase if phrase is not None else word
        if sign and value.strip():
            signed.append(Part(value, 1 if sign == "+" else -1, is_image(value)))
        else:
            plain.append(value)
    main = " ".join(value for value in plain if value.strip('+-" '))
    return ([Part(main)] if main else []) + signed


def check_parts(parts: Sequence[Part]) -> None:
    """Something to look for: subtracting alone has nothing to subtract from."""
    if not parts:
        raise UsageError("the query is empty", 'say what to look for, e.g. "a dog"')
    if not any(part.sign > 0 for part in parts):
        raise UsageError("the query only says what to leave out",
                         'say what to look for too, e.g. "beach -people"')


def combine(vectors: np.ndarray, signs: Sequence[int]) -> np.ndarray:
    """The normalised sum of the normalised rows of `vectors`, each times its sign."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    rows = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    total = (np.asarray(signs, dtype=np.float32)[:, None] * rows).sum(axis=0)
    norm = float(np.linalg.norm(total))
    if norm < MIN_NORM:
        raise UsageError("the parts of the query cancel each other out",
                         "subtract something other than what you add")
    return total / norm

