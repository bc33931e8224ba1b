"""`vidsearch tui`: browse search results in the terminal."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from vidsearch.cli import common


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "tui",
        help="search and browse the library in a terminal UI",
        description="A full-screen search: type a description, browse the hits with their\n"
                    "best frame, press Enter to open one in your player at that moment.\n"
                    "Press ? inside for every key.",
        examples="  vidsearch tui\n"
                 "  vidsearch tui --db ~/other-library.db --model clip-vit-b-32-openai",
        parents=[shared, common.model_options()],
    )
    parser.add_argument("-k", type=int, default=20, help="hits per search (default 20)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import config
    from vidsearch.errors import UsageError

    if args.k <= 0:
        raise UsageError("-k must be at least 1")
    config.load_settings()  # a broken settings file is reported here, before the screen opens
    with _log_to_file(config.cache_dir() / "tui.log", verbose=args.verbose):
        from vidsearch.tui.backend import LibraryBackend

        db_path = common.db_path(args)
        backend = LibraryBackend(db_path, model=args.model,
                                 device=args.device, weights=args.weights,
                                 precision=args.precision)
        backend.start_warm_up()  # before Textual's import: ~0.3 s the model load runs beside
        # Importing the app probes the terminal's graphics support, which logs (with a
        # traceback when the terminal does not answer): into the file, not over the screen.
        from vidsearch.tui.app import create_app

        app = create_app(db_path, backend=backend, k=args.k)
        try:
            app.run()
        finally:
            backend.close()
    return 0


@contextlib.contextmanager
def _log_to_file(path: Path, *, verbose: bool) -> Iterator[None]:
    """Send log lines to a file while the screen is up: a line written to the terminal would
    tear through the UI. The usual stderr handlers come back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        handler.close()
