"""The `i` screen: ask for the path of an example image to search by; the one-path dialog it
shares with the `e` screen."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from vidsearch.tui.widgets.path_suggester import PathSuggester

# What the image search reads (Pillow); other files are not offered while typing the path.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


class PathPrompt(ModalScreen[Path | None]):
    """A dialog that asks for one path: dismisses with the path typed (`~` expanded), or None
    when cancelled or left empty. Subclasses compose the box."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ImagePathScreen(PathPrompt):
    """The path of an example image to search by."""

    def compose(self) -> ComposeResult:
        with Vertical(id="image-query"):
            yield Static("Search by an example image", id="image-title", markup=False)
            yield Input(placeholder="path to a JPEG, PNG or WebP file", id="image-path",
                        suggester=PathSuggester(IMAGE_SUFFIXES))
            yield Static("→ completes the path · Enter to search · Esc to cancel",
                         id="image-help", markup=False)
