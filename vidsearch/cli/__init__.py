"""The `vidsearch` command: parse arguments, run one command, map errors to exit codes.

Each command lives in its own module with `register(subparsers, common)` and `run(args)`.
Heavy imports (torch, the model, the store) happen inside `run`, so `vidsearch --help` is fast.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import threading
from typing import NoReturn

from vidsearch import __version__
from vidsearch.cli import common, export, finetune, find, index, models, status, tui, watch
from vidsearch.cli import eval as eval_command  # `eval` alone would shadow the builtin
from vidsearch.errors import VidsearchError

COMMANDS = [index, find, export, status, models, watch, tui, finetune, eval_command]

EPILOG = """examples:
  vidsearch index ~/Videos
  vidsearch find "dog catching a frisbee"
  vidsearch find --image frame.png --json
  vidsearch export beach.mp4 --start 1:02 --end 1:15 -o wave.mp4
  vidsearch status
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidsearch",
        description="Search your own videos by what happens in them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vidsearch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    shared = common.shared_options()
    for command in COMMANDS:
        command.register(subparsers, shared)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Flushed here, not at exit: a reader that went away (`| head`) must surface as
            # BrokenPipeError below, not as a traceback printed while Python shuts down.
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 141  # what a shell reports for a process ended by SIGPIPE


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    common.configure_logging(args)
    try:
        return int(args.run(args) or 0)
    except VidsearchError as exc:
        common.print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        common.print_error(VidsearchError("interrupted", "run the same command again to go on"))
        return 130
    finally:
        logging.shutdown()


def entry() -> NoReturn:
    """The console script (and `python -m vidsearch`): `main`, then a quick exit where torch
    was imported. Python's own shutdown then tears down torch's thousands of modules, ~1 s at
    the end of every command that loaded a model (0.4 s for torch alone, 0.9 s more once
    torchvision has imported torch._dynamo), with nothing left to finalise: the command has
    closed its files and flushed its output. A thread still running keeps the usual exit."""
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    if "torch" not in sys.modules or any(not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()  # what the usual exit would run first (logging, file locks)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _silence_stdout() -> None:
    """Point stdout at devnull, so the interpreter's own flush at exit finds nothing to fail on
    (the recipe in Python's `signal` docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to do
        pass


if __name__ == "__main__":
    entry()
