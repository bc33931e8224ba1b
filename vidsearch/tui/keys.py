"""The key list, kept in one place: the help screen shows it, the README section quotes it."""

from __future__ import annotations

KEYS: list[tuple[str, str]] = [
    ("Enter", "in the search box: search; on a result: open it in the player at its best moment"),
    ("↑ ↓ PgUp PgDn Home End", "move through the results (or click a row; click it again to open)"),
    ("c", "copy “path at H:MM:SS” of the selected result"),
    ("/", "back to the search box"),
    ("Esc", "leave the search box (to the results, if there are any)"),
    ("i", "search by an example image (asks for a file path)"),
    ("? or F1", "this help: all keys (F1 also while typing in the search box)"),
    ("q", "quit (Ctrl+Q works everywhere, even while typing in the search box)"),
]
