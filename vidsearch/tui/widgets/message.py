"""A panel in place of the results: what happened and what to do next."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from vidsearch.display import count, format_time, printable
from vidsearch.tui.backend import LibraryStatus

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


def before_first_search(status: LibraryStatus, db_option: Path | None
                        ) -> tuple[str, str, str, PanelKind]:
    """What the panel says until the first search (title, message, hint, kind): how to fill an
    empty library, with the `--db` the app was started with, else what to type."""
    if status.videos == 0:
        command = "vidsearch index ~/Videos"
        if db_option is not None:
            command += f" --db {shlex.quote(str(db_option))}"
        return ("The library is empty", f"nothing is indexed in {status.db_path} yet",
                f"index some videos first: {command} (then press / and search)",
                PanelKind.WARNING)
    return ("Type what happens in the clip you want, then Enter",
            f"{count(status.videos, 'video')}, {format_time(status.hours * 3600)} of video, "
            f"indexed with {status.model}",
            "Esc then i searches by an example image; F1 lists every key", PanelKind.INFO)
