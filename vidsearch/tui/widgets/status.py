"""The status bar: library size, model, database, and what a `watch` or `index` is doing."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from vidsearch.display import format_time, home_relative, printable
from vidsearch.tui.backend import LibraryStatus


class StatusBar(Static):
    def show_status(self, status: LibraryStatus) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if status.problem is not None:
            text.append("no readable library", style="bold red")
        else:
            text.append(f"{status.videos} video{'' if status.videos == 1 else 's'}", style="bold")
            text.append(f" · {format_time(status.hours * 3600)}")  # "0.0 h" told a new user nothing
            if status.failed:
                text.append(f" · {status.failed} failed", style="yellow")
        text.append("  │  model ")
        text.append(printable(status.model), style="bold")
        text.append("  │  ")
        if status.watching is not None:
            text.append(f"● {status.watching.summary(_short_path)}", style="bold green")
        elif status.writer_active:
            text.append("● an index is writing", style="bold green")
        else:
            text.append("○ no writer", style="dim")
        text.append("  │  ")
        text.append(printable(home_relative(str(status.db_path))), style="dim")
        self.update(text)


def _short_path(path: str) -> str:
    return printable(home_relative(path))
