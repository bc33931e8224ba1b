"""The `?` screen: every key and what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from vidsearch.tui.keys import KEYS


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key in KEYS:
            table.add_row(key.keys, key.meaning)
        with Vertical(id="help"):
            yield Static("vidsearch: keys", id="help-title", markup=False)
            yield Static(table, id="help-keys")
            yield Static("Esc or ? to close", id="help-close", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
