"""A panel in place of the results: what happened and what to do next."""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.widgets import Static

from vidsearch.errors import VidsearchError
from vidsearch.display import printable

Kind = Literal["info", "warning", "error"]


class MessagePanel(Static):
    def show(self, title: str, message: str = "", hint: str | None = None,
             kind: Kind = "info") -> None:
        for name in ("info", "warning", "error"):
            self.set_class(name == kind, f"-{name}")
        text = Text(printable(title), style="bold")
        if message:
            text.append("\n\n")
            text.append(printable(message))
        if hint:
            text.append("\n\n→ ", style="bold")
            text.append(printable(hint))
        self.update(text)

    def show_error(self, error: VidsearchError, title: str) -> None:
        self.show(title, error.message, error.hint, kind="error")
