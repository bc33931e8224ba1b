"""What every command shares: options, logging, error printing, opening the library and model."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from vidsearch.errors import VidsearchError, advice_of

_SURROGATE = re.compile("[\ud800-\udfff]")


def shared_options() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--db", type=Path, default=None,
        help="library database file (default: VIDSEARCH_DB or the user data folder)",
    )
    shared.add_argument("-v", "--verbose", action="count", default=0,
                        help="log what is being done (-vv: and debugging detail)")
    shared.add_argument("-q", "--quiet", action="store_true", help="log only problems")
    return shared


def model_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--model", default=None,
                         help="model card name (default: the one set by `vidsearch models use`)")
    options.add_argument("--weights", type=Path, default=None,
                         help="use this weights file (safetensors or .bin) instead of the cache")
    options.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                         help="where the model runs (auto: CUDA when available)")
    options.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"],
                         default=None,
                         help="frame encoder precision (default: VIDSEARCH_PRECISION, else auto: "
                              "fp16 on CUDA; on a CPU bf16 when a quick check finds it faster "
                              "and faithful, else fp32)")
    return options


def indexing_options() -> argparse.ArgumentParser:
    """How clips are cut and batched: shared by `index` and `watch`."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--window", type=float, default=10.0,
                         help="clip length in seconds (default 10)")
    options.add_argument("--stride", type=float, default=5.0,
                         help="seconds between clip starts (default 5)")
    options.add_argument("--batch-size", type=int, default=None,
                         help="frames per encoder batch (default: 32 on CPU, 128 on CUDA)")
    options.add_argument("--fast-decode", action="store_true",
                         help="faster decoding, slightly different vectors: where keyframes "
                              "come every second or so (phone and camera files) sample the "
                              "keyframe nearest each second instead of the frame on it, and "
                              "skip the deblocking filter (default: exact frames)")
    return options


def index_options_from(args: argparse.Namespace):
    from vidsearch.indexer import IndexOptions

    from vidsearch.errors import UsageError

    options = IndexOptions(window=args.window, stride=args.stride, batch_size=args.batch_size,
                           fast_decode=args.fast_decode)
    try:
        options.validate()
    except UsageError as exc:
        # The library speaks of windows and strides; the flags that set them are the CLI's.
        raise UsageError(exc.message, f"{exc.hint}: set --window and --stride" if exc.hint
                         else "set --window and --stride") from exc
    return options


def add_command(subparsers, name: str, *, help: str, description: str, examples: str,
                parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=help, description=description, epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter, parents=parents,
    )


class CurrentStderrHandler(logging.StreamHandler):
    """Writes each record to `sys.stderr` as it is at that moment: while a progress bar is up,
    rich has put a proxy there that prints the line above the bar; a handler holding the
    stream it started with would write into the bar's line instead."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current sys.stderr


def configure_logging(args: argparse.Namespace) -> None:
    """One policy for every command: stderr carries warnings and errors; -v adds what is being
    done (INFO), -vv debugging detail, -q leaves only errors. Results go to stdout."""
    verbosity = getattr(args, "verbose", 0) or 0
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    # Other libraries (open_clip, huggingface_hub) log chatty INFO lines: theirs show at -vv.
    logging.basicConfig(level=logging.DEBUG if verbosity >= 2 else max(level, logging.WARNING),
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        handlers=[CurrentStderrHandler()])
    logging.getLogger("vidsearch").setLevel(level)
    # Progress lines (when stderr is not a terminal) are what a long run shows, not chatter;
    # but -q is asked by scripts that want errors alone, so progress stays quiet there too.
    quiet = getattr(args, "quiet", False)
    logging.getLogger("vidsearch.progress").setLevel(level if quiet else min(level, logging.INFO))


# The flag for each setting the library's errors advise changing (`errors.advised`): the
# library's hints name the setting in words, and the command line adds how to change it.
SETTING_FLAGS = {
    "db": "--db PATH",
    "device": "--device",
    "model": "--model NAME",
    "precision": "--precision",
    "weights": "--weights FILE",
    "poll": "--poll SECONDS",
}


def print_error(exc: VidsearchError) -> None:
    text = f"vidsearch: error: {exc.message}"
    hint = exc.hint
    flag = SETTING_FLAGS.get(advice_of(exc) or "")
    if flag:
        hint = f"{hint}: {flag}" if hint else flag
    if hint:
        text += f" ({hint})"
    say(_one_line(text), file=sys.stderr)  # one line in a pipe; at spaces on a terminal


def _one_line(text: str) -> str:
    return " ".join(text.split())


def print_json(document: dict) -> None:
    """One JSON document on stdout, non-ASCII text as itself.

    A file name that is not UTF-8 reaches here with lone surrogates (os.fsdecode's escape for
    each undecodable byte), which no UTF-8 stream can write. They go out as \\udcNN escapes:
    valid JSON, and `os.fsencode(json.loads(text)["path"])` gives back the exact bytes.
    """
    text = json.dumps(document, ensure_ascii=False, indent=2)
    sys.stdout.write(_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def db_path(args: argparse.Namespace) -> Path:
    from vidsearch import config

    return Path(args.db).expanduser() if args.db else config.default_db_path()


def run_settings(args: argparse.Namespace):
    """The environment's settings (read here, once per command), a --precision flag winning."""
    from dataclasses import replace

    from vidsearch.config import read_run_settings

    settings = read_run_settings()
    precision = getattr(args, "precision", None)  # not every command has the flag
    return replace(settings, precision=precision) if precision else settings


def load_model(args: argparse.Namespace, model_name: str | None = None, *, text: bool = True):
    from vidsearch.model import load_model as load

    run = run_settings(args)
    return load(model_name or args.model, device=args.device, weights=args.weights,
                precision=run.precision, offline=run.offline, text=text)


def model_on_demand(args: argparse.Namespace):
    """For indexing: checked at once, its weights loaded only if a video needs encoding."""
    from vidsearch.model.on_demand import ModelOnDemand

    run = run_settings(args)
    return ModelOnDemand(args.model, device=args.device, weights=args.weights,
                         precision=run.precision, offline=run.offline, text=False)


def query_models(args: argparse.Namespace):
    """The models this process's queries need, each loaded on first need."""
    from vidsearch.query_models import QueryModels

    run = run_settings(args)
    return QueryModels(args.model, device=args.device, weights=args.weights,
                       precision=run.precision, offline=run.offline)


def say_path(prefix: str, path: str, *, file=None) -> None:
    """`prefix` and then `path` (from `~`): on a terminal the path breaks after its separators
    (or at spaces in a long name) and goes on under itself; in a pipe, one line."""
    import shutil

    from vidsearch.display import home_relative, printable, wrapped_path

    stream = file or sys.stdout
    shown = printable(home_relative(path))
    if not stream.isatty():
        print(prefix + shown, file=stream)
        return
    room = max(20, shutil.get_terminal_size().columns - len(prefix))
    lines = wrapped_path(shown, room).plain.split("\n")
    print("\n".join([prefix + lines[0], *(" " * len(prefix) + line for line in lines[1:])]),
          file=stream)


def say(text: str, *, file=None) -> None:
    """A sentence for a person: on a terminal, wrapped at spaces to its width (the terminal
    itself would cut words in half); in a pipe, one line per line, for scripts. Paths and
    commands are never broken."""
    import shutil
    import textwrap

    stream = file or sys.stdout
    if stream.isatty():
        width = shutil.get_terminal_size().columns
        text = "\n".join(textwrap.fill(line, width, subsequent_indent="  ",
                                       break_long_words=False, break_on_hyphens=False)
                         for line in text.splitlines())
    print(text, file=stream)


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
