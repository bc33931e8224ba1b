"""The Textual app and `create_app`, the factory both `vidsearch tui` and the tests use.

Everything the app does to the outside world comes in through the factory: the backend
(library + model), the player template and the function that starts the player. Tests pass
fakes for each; nothing in here checks whether it runs under a test.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from textual.app import App
from textual.screen import Screen

from vidsearch import player
from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.tui.backend import Backend, LibraryBackend
from vidsearch.tui.messages import hit_label
from vidsearch.tui.screens.main import MainScreen
from vidsearch.display import printable

log = logging.getLogger(__name__)

DEFAULT_K = 20

PlayerRunner = Callable[[Sequence[str]], object]


class VidsearchApp(App[None]):
    CSS_PATH = "vidsearch.tcss"
    TITLE = "vidsearch"

    def __init__(self, backend: Backend, *, player_template: Sequence[str] = (),
                 run_player: PlayerRunner = player.launch,
                 which: player.Which = shutil.which, k: int = DEFAULT_K,
                 db_option: Path | None = None) -> None:
        super().__init__()
        self.db_option = db_option  # the --db it was started with, repeated in the hints
        self.backend = backend
        self.player_template = list(player_template)
        self.run_player = run_player
        self.which = which
        self.k = k

    def get_default_screen(self) -> Screen:
        return MainScreen()

    def open_hit(self, hit: Hit) -> None:
        """Start the player at the hit's best moment; problems become a notification."""
        if not os.path.exists(hit.path):
            # A player would fail with its own, vaguer message (or open an empty window).
            self.notify(f"{printable(hit.path)} is gone (moved or deleted since it was "
                        "indexed); `vidsearch index` or a running `watch` updates the library",
                        title="cannot open", severity="error", markup=False, timeout=8)
            return
        try:
            argv = player.build_argv(hit.path, hit.best_moment, self.player_template,
                                     which=self.which)
            self.run_player(argv)
        except VidsearchError as exc:
            self.notify(f"{exc.message}. {exc.hint or ''}".strip(), title="cannot open",
                        severity="error", markup=False, timeout=8)
            return
        self.notify(f"opening {hit_label(hit)}", markup=False)


def create_app(db_path: Path | None = None, *, backend: Backend | None = None,
               model: str | None = None, device: str = "auto", weights: Path | None = None,
               precision: str | None = None,
               player_template: Sequence[str] | None = None,
               run_player: PlayerRunner = player.launch, which: player.Which = shutil.which,
               k: int = DEFAULT_K) -> VidsearchApp:
    """The app over the library at `db_path` (default: the configured one), or over `backend`.

    Settings are read here, once: a broken settings file is the caller's error to report
    before the screen takes over the terminal.
    """
    from vidsearch import config

    # Hints repeat --db only when it matters: the default (or VIDSEARCH_DB, which the next
    # command in the same shell sees too) needs no flag.
    db_option = Path(db_path) if db_path else None
    if db_option is not None and db_option == config.default_db_path():
        db_option = None
    if player_template is None:
        player_template = config.load_settings().player
    if backend is None:
        backend = LibraryBackend(Path(db_path) if db_path else config.default_db_path(),
                                 model=model, device=device, weights=weights,
                                 precision=precision)
    return VidsearchApp(backend, player_template=player_template, run_player=run_player,
                        which=which, k=k, db_option=db_option)
