"""Turning paths and times into display text that cannot break the screen (CLI and TUI).

File names are data, not markup: they go into rich `Text` objects, never into markup strings,
and characters that would move the cursor or reorder the line (C0/C1 controls, bidi overrides,
undecodable bytes) are shown as visible escapes instead.
"""

from __future__ import annotations

import os
import unicodedata

from rich.text import Text

# Bidi embedding/override/isolate controls: they would reorder the rest of the row, columns
# included. Plain right-to-left letters are fine and stay as they are.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every character that could break a terminal line replaced by an escape."""
    if text.isprintable() and not _BIDI_CONTROLS.intersection(text):
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    category = unicodedata.category(char)
    if category == "Cs":
        # os.fsdecode maps an undecodable byte b to the lone surrogate U+DC00+b.
        code = ord(char)
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    if category in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def literal(text: str, style: str = "") -> Text:
    """A rich Text that shows `text` exactly (no markup, no emoji codes), made printable."""
    return Text(printable(text), style=style, no_wrap=True, overflow="ellipsis")


def format_time(seconds: float) -> str:
    """H:MM:SS, the way video players show positions."""
    total = int(round(max(0.0, seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_span(start: float, end: float) -> str:
    return f"{format_time(start)}–{format_time(end)}"


def count(number: int, noun: str) -> str:
    """`1 video`, `3 videos`: the nouns we count all take a plain -s."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def home_relative(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


def wrapped_path(path: str, width: int) -> Text:
    """`path` as lines of at most `width` cells, broken after a separator where one falls in
    the line; a name longer than the line breaks after a space in it, and is cut only where
    it has none."""
    parts = [part + os.sep for part in path.split(os.sep)]
    parts[-1] = parts[-1][:-len(os.sep)]
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and Text(line + part).cell_len > width:
            lines.append(line)
            line = ""
        line += part
        while Text(line).cell_len > width:  # one name longer than the line
            space = line.rfind(" ", 1, width + 1)  # what comes before it fits the line
            if space > 0:
                lines.append(line[:space])
                line = line[space + 1:]
            else:
                lines.append(line[:width])
                line = line[width:]
    lines.append(line)
    return Text("\n".join(line for line in lines if line))


def shorten_folder(folder: str, width: int) -> str:
    """`folder` in at most `width` cells, keeping its end (the part that tells folders apart)."""
    folder = printable(home_relative(folder))
    if Text(folder).cell_len <= width:
        return folder
    parts = folder.split(os.sep)
    # Drop leading components until it fits; keep at least the last one, cut if need be.
    for first in range(1, len(parts)):
        candidate = "…" + os.sep + os.sep.join(parts[first:])
        if Text(candidate).cell_len <= width:
            return candidate
    last = parts[-1]
    while last and Text("…" + last).cell_len > width:
        last = last[1:]
    return "…" + last


def truncate(text: str, width: int) -> Text:
    """A one-line Text of at most `width` cells, ending in an ellipsis when cut."""
    shown = literal(text)
    shown.truncate(width, overflow="ellipsis")
    return shown
