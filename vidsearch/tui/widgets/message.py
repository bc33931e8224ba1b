"""A panel in place of the results: what happened and what to do next."""

from __future__ import annotations

from enum import Enum

from rich.text import Text
from textual.widgets import Static

from vidsearch.display import printable



class PanelKind(Enum):
    """How serious the panel's news is; the value names its CSS class (`-error`)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class MessagePanel(Static):
    def show(self, title: str, message: str = "", hint: str | None = None,
             kind: PanelKind = PanelKind.INFO) -> None:
        for each in PanelKind:
            self.set_class(each is kind, f"-{each.value}")
        text = Text(printable(title), style="bold")
        if message:
            text.append("\n\n")
            text.append(printable(message))
        if hint:
            text.append("\n\n→ ", style="bold")
            text.append(printable(hint))
        self.update(text)
