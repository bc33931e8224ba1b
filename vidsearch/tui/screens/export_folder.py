"""The `e` screen: ask which folder the selected hit's clip is exported into."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from vidsearch.display import printable
from vidsearch.tui.screens.image_query import PathPrompt
from vidsearch.tui.widgets.path_suggester import PathSuggester


class ExportFolderScreen(PathPrompt):
    """The folder to export a clip into; the box starts with `folder`, the last one used."""

    def __init__(self, clip: str, folder: Path | None = None) -> None:
        super().__init__()
        self.clip = clip
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(id="export-query"):
            yield Static(f"Export {printable(self.clip)} into a folder", id="export-title",
                         markup=False)
            yield Input(value=str(self.folder) if self.folder else "",
                        placeholder="folder to write the clip into, e.g. ~/Desktop",
                        id="export-folder", suggester=PathSuggester(files=False))
            yield Static("→ completes the path · Enter to export · Esc to cancel",
                         id="export-help", markup=False)
