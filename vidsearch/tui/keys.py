"""The key list, kept in one place: the help screen shows it, the README section quotes it.
(The search box's syntax is `vidsearch.query.BOX_SYNTAX`, shown beside it.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyHelp:
    """One row of the help: a key (or keys doing the same), and what it does."""

    keys: str
    meaning: str


KEYS: list[KeyHelp] = [
    KeyHelp("Enter",
            "in the search box: search; on a result: open it in the player at its best moment"),
    KeyHelp("↑ ↓ PgUp PgDn Home End",
            "move through the results (or click a row; click it again to open)"),
    KeyHelp("c", "copy “path at H:MM:SS” of the selected result"),
    KeyHelp("e", "export the selected result's clip into a folder (asks which)"),
    KeyHelp("/", "back to the search box"),
    KeyHelp("Esc", "leave the search box (to the results, if there are any)"),
    KeyHelp("i", "search by an example image (asks for a file path; → completes it), "
                 "within the filters in the search box"),
    KeyHelp("m", "more like this: clips like the selected result (from stored vectors, no "
                 "model needed), within the filters in the search box"),
    KeyHelp("+ -", "a right / wrong answer to the words searched (- hides it)"),
    KeyHelp("? or F1", "this help: all keys (F1 also while typing in the search box)"),
    KeyHelp("q", "quit (Ctrl+Q works everywhere, even while typing in the search box)"),
]
