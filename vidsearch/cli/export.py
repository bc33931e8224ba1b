"""`vidsearch export PATH --start S --end E -o OUT`: a span of a video as a file of its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidsearch.cli import common


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "export",
        help="cut a span out of a video into a new file",
        description="Cut START to END out of a video, sound included. By default the packets "
                    "are copied as they are (fast, lossless), so the cut begins at the keyframe "
                    "at or before START; --exact re-encodes the video to begin on START's "
                    "frame.",
        examples="  vidsearch export ~/Videos/beach.mp4 --start 1:02 --end 1:15 -o wave.mp4\n"
                 "  vidsearch export beach.mp4 --start 62.5 --end 75 -o wave.mp4 --exact",
        parents=[shared],
    )
    parser.add_argument("path", type=Path, help="the video to cut")
    parser.add_argument("--start", type=parse_time, required=True, metavar="TIME",
                        help="where the cut begins: seconds (62.5) or [H:]MM:SS as `find` "
                             "prints it")
    parser.add_argument("--end", type=parse_time, required=True, metavar="TIME",
                        help="where the cut ends, in the same form")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="the file to write (its suffix picks the container: .mp4, .mkv, "
                             ".mov)")
    parser.add_argument("--exact", action="store_true",
                        help="re-encode the video so the cut is frame-exact (slower)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def parse_time(text: str) -> float:
    """Seconds from `62.5`, `1:02.5` or `0:01:02`; argparse turns the ValueError into a usage
    message naming the flag."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds (62.5) or [H:]MM:SS")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds (62.5) or [H:]MM:SS") from None
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a time of 0 or more")
    return seconds


def run(args: argparse.Namespace) -> int:
    from vidsearch import display
    from vidsearch.errors import UsageError
    from vidsearch.export import export_clip

    source = args.path.expanduser()
    out = args.output.expanduser()
    if not source.exists():
        raise UsageError.about(source, "no such file", "check the path")
    if out.exists() and not out.is_dir() and not args.force:
        raise UsageError.about(out, "already exists", "add --force to replace it, or choose "
                                                      "another -o")
    result = export_clip(source, args.start, args.end, out, exact=args.exact,
                         overwrite=args.force)
    if args.json:
        common.print_json({"source": str(source), "output": str(result.path),
                           "start": result.start, "end": result.end, "exact": result.exact})
    else:
        early = "" if result.exact or result.start >= args.start - 1e-3 else \
            f" (from the keyframe at {display.format_time(result.start)}; --exact cuts on the frame)"
        common.say(f"wrote {display.printable(str(result.path))}: "
                   f"{display.format_span(result.start, result.end)} of "
                   f"{display.printable(display.home_relative(str(source)))}{early}")
    return 0
