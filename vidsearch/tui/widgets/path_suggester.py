"""Completion of file paths as they are typed, for Textual's `Input(suggester=...)`."""

from __future__ import annotations

import os

from textual.suggester import Suggester


class PathSuggester(Suggester):
    """Suggests the first entry of the typed folder that starts with the typed name: a folder
    gets a trailing separator (so the next Tab goes on inside it), and only files whose suffix
    is in `suffixes` are offered. What the user typed (a `~`, say) is kept as typed."""

    def __init__(self, suffixes: frozenset[str] = frozenset(), *, files: bool = True) -> None:
        # No cache: the folder can change while the dialog is open (a screenshot just saved).
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = suffixes
        self.files = files  # False: folders only (where to put an export)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        folder, prefix = os.path.split(value)
        listed = os.path.expanduser(folder) if folder else "."
        try:
            with os.scandir(listed) as entries:
                names = sorted(self._candidates(entries, prefix))
        except OSError:
            return None  # a folder that does not exist (yet) or cannot be read: no suggestion
        return os.path.join(folder, names[0]) if names else None

    def _candidates(self, entries, prefix: str):
        for entry in entries:
            name = entry.name
            # Hidden entries only when asked for with a leading dot, as shells complete them.
            if not name.startswith(prefix) or (name.startswith(".") and not prefix[:1] == "."):
                continue
            try:
                if entry.is_dir():
                    yield name + os.sep
                elif self.files and (not self.suffixes
                                     or os.path.splitext(name)[1].lower() in self.suffixes):
                    yield name
            except OSError:
                continue
