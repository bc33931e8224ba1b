"""The `?` screen: every key and what it does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from vidsearch.query import BOX_SYNTAX
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
        syntax = Table.grid(padding=(0, 2))
        syntax.add_column(style="bold", no_wrap=True)
        syntax.add_column()
        for example, meaning in BOX_SYNTAX:
            syntax.add_row(Text(example), Text(meaning))
        with Vertical(id="help"):
            yield Static("vidsearch: keys", id="help-title", markup=False)
            yield Static(table, id="help-keys")
            yield Static("In the search box", id="help-syntax-title", markup=False)
            yield Static(syntax, id="help-syntax")
            yield Static("Esc or ? to close", id="help-close", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
