"""The `e` screen: ask which folder the selected hit's clip is exported into."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from vidsearch.display import printable
from vidsearch.tui.widgets.path_suggester import PathSuggester


class ExportFolderScreen(ModalScreen[Path | None]):
    """Dismisses with the folder typed (`~` expanded), or None when cancelled or left empty.
    The box starts with `folder`, the last one used."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

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

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
