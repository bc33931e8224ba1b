"""`vidsearch find QUERY`: text (or example image) to clips."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from vidsearch.cli import common


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "find",
        help="search the library by a description or an example image",
        description="Find the clips that best match a description (or an example frame).",
        examples='  vidsearch find "dog catching a frisbee"\n'
                 '  vidsearch find "birthday cake candles" -k 20 --json\n'
                 "  vidsearch find --image frame.png\n"
                 '  vidsearch find "a beach" --add sunset --subtract people\n'
                 '  vidsearch find "fireworks" --in ~/Videos/2024 --after 2024-06 '
                 "--before 2024-08 --per-video 2\n"
                 "  vidsearch find --like ~/Videos/trip.mp4 --at 95\n"
                 '  vidsearch find "goal celebration" --preview\n'
                 '  vidsearch find "first steps" -k 20 --timeline first-steps.otio',
        parents=[shared, common.model_options()],
    )
    parser.add_argument("query", nargs="?", help="what happens in the clip you want")
    parser.add_argument("--image", type=Path, default=None, help="search by an example image")
    parser.add_argument("-k", type=int, default=10, help="number of hits (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--rerank", type=int, default=0, metavar="N",
                        help="re-score the top N hits with the model's tight header")
    parser.add_argument("--preview", action="store_true",
                        help="draw each hit's best moment under its row (on a terminal only: "
                             "iTerm2 images, Kitty or Sixel graphics where it speaks them, else "
                             "half blocks)")
    parser.add_argument("--timeline", type=Path, default=None, metavar="FILE",
                        help="also write the hits as an editing timeline: FILE.otio "
                             "(OpenTimelineIO) or FILE.edl (CMX 3600), one clip per hit")
    parser.add_argument("--force", action="store_true",
                        help="let --timeline replace a file that exists")
    combined = parser.add_argument_group(
        "combined queries", "the query vector is the normalised sum of the normalised parts")
    combined.add_argument("--add", action="append", default=[], metavar="TEXT|IMAGE",
                          help="add this to the query (a path to an image file adds the "
                               "image); repeatable")
    combined.add_argument("--subtract", action="append", default=[], metavar="TEXT|IMAGE",
                          help="subtract this from the query; repeatable")
    combined.add_argument("--like", type=Path, default=None, metavar="VIDEO",
                          help="clips like the stored clip of this indexed video (no model "
                               "is loaded)")
    combined.add_argument("--at", type=float, default=None, metavar="SECONDS",
                          help="with --like: the clip at this time (default: the middle)")
    filters = parser.add_argument_group("filters", "applied before the top -k cut")
    filters.add_argument("--in", dest="folders", action="append", type=Path, default=[],
                         metavar="FOLDER", help="only videos under this folder; repeatable")
    filters.add_argument("--after", metavar="DATE",
                         help="only videos recorded on or after DATE (2024, 2024-06, "
                              "2024-06-01 or an ISO timestamp; local time)")
    filters.add_argument("--before", metavar="DATE",
                         help="only videos recorded before the end of DATE (--before 2024-06 "
                              "includes June)")
    filters.add_argument("--per-video", type=int, default=None, metavar="N",
                         help="at most N hits from one video")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import search
    from vidsearch.store import open_store

    filters = check_usage(args)
    image = load_query_image(args.image) if args.image is not None else None
    parts = search.parts_from(args.query, args.add, args.subtract)
    db = common.db_path(args)
    document = {"query": args.query, "image": str(args.image) if args.image else None,
                "add": args.add, "subtract": args.subtract}
    with open_store(db, create=False) as store:
        with naming_flag("--in"):
            search.check_folders(store, filters)
        if args.like is not None:
            # Stored vectors only: no model loads, so no thread policy to set either.
            source = search.like_source(store, str(args.like), args.at)
            hits = search.search_like(store, source, k=args.k, filters=filters)
            model_name = store.get_meta("model_name")
            document["like"] = {"path": source.path, "start": source.start, "end": source.end}
        else:
            model, hits = run_query(args, store, image, parts, filters)
            model_name = model.card.name
        if args.timeline is not None:
            document["timeline"] = str(write_timeline(store, hits, args.timeline,
                                                      overwrite=args.force))
    if args.json:
        common.print_json({**document, "model": model_name, "hits": [h.to_json() for h in hits]})
    elif args.preview:
        from vidsearch.cli import preview

        print_table(hits, below=preview.picture_maker())
    else:
        print_table(hits)
    if args.timeline is not None and not args.json:
        from vidsearch.display import count, home_relative, printable

        common.say(f"wrote the timeline {printable(home_relative(document['timeline']))} "
                   f"({count(len(hits), 'clip')})")
    return 0


def write_timeline(store, hits, path: Path, *, overwrite: bool) -> Path:
    from vidsearch import timeline

    rates = {}
    for hit in hits:
        details = store.video_details(hit.video_id)
        rates[hit.video_id] = details["fps"] if details else None
    return timeline.write_hits(hits, rates, path.expanduser(), overwrite=overwrite)


def run_query(args: argparse.Namespace, store, image, parts, filters):
    """A query that needs the model: (the model, the hits)."""
    from vidsearch import search

    model = common.query_models(args).for_query(parts, image=image is not None,
                                                rerank=bool(args.rerank))
    if image is not None:
        return model, search.search_image(store, model, image, k=args.k, filters=filters)
    if args.add or args.subtract:
        return model, search.search_parts(store, model, parts, k=args.k, filters=filters)
    return model, search.search_text(store, model, args.query, k=args.k, rerank=args.rerank,
                                     filters=filters)


@contextlib.contextmanager
def naming_flag(flag: str):
    """The library's usage errors name what is wrong; the flag that asked for it is ours."""
    from vidsearch.errors import UsageError

    try:
        yield
    except UsageError as exc:
        raise UsageError(f"{flag} {exc.message}", exc.hint) from exc


def check_usage(args: argparse.Namespace):
    """Every mistake in the flags, found before the library is opened or a model loads; the
    filters the flags ask for."""
    from vidsearch.errors import UsageError
    from vidsearch.search import Filters

    given = [what for what, value in (("a QUERY", args.query), ("--image", args.image),
                                      ("--like", args.like)) if value is not None]
    if len(given) != 1:
        raise UsageError("give one of a QUERY, --image FILE or --like VIDEO"
                         + (f", not {' and '.join(given)}" if given else ""),
                         'e.g. vidsearch find "a dog"')
    if (args.add or args.subtract) and args.query is None:
        raise UsageError("--add and --subtract combine with a QUERY",
                         'e.g. vidsearch find "a beach" --add sunset --subtract people')
    if args.at is not None and args.like is None:
        raise UsageError("--at needs --like VIDEO", "e.g. vidsearch find --like trip.mp4 --at 95")
    if args.rerank and (args.add or args.subtract):
        raise UsageError("--rerank re-scores a plain text query", "drop --add/--subtract or --rerank")
    if args.per_video is not None and args.per_video < 1:
        raise UsageError(f"--per-video {args.per_video}: must be at least 1", "e.g. --per-video 2")
    with naming_flag("--after/--before:"):
        filters = Filters.create(args.folders, args.after, args.before, args.per_video)
    if args.k < 1:
        raise UsageError(f"-k {args.k}: must be at least 1", "e.g. -k 10")
    if args.timeline is not None:
        from vidsearch import timeline

        target = args.timeline.expanduser()
        if not args.force and target.is_file():
            raise UsageError.about(target, "already exists",
                                   "add --force to replace it, or choose another name")
        timeline.check_target(target, overwrite=args.force)
    if args.rerank < 0:
        raise UsageError(f"--rerank {args.rerank}: must be 0 or more", "e.g. --rerank 20")
    if args.rerank:
        from vidsearch import config
        from vidsearch.model import cards

        # The card says its header: no need to load weights to know they cannot re-rank.
        card = cards.load_card(args.model or config.load_settings().active_model)
        if card.header != "tightTransf":
            raise UsageError(f"--rerank needs a model with a tightTransf header; "
                             f"'{card.name}' has {card.header}",
                             "drop --rerank, or pick such a model with --model")
    return filters


def load_query_image(path: Path):
    from vidsearch import video
    from vidsearch.errors import UsageError

    if not path.exists():
        raise UsageError.about(path, "no such file", "check the path")
    return video.load_image(path)


# Cells the other columns take (#, clip, best moment, score, with rich's padding): the file
# column gets the rest of the line.
MIN_FILE_WIDTH = 20
TABLE_OVERHEAD = 14  # a space either side of each of the 5 columns, 4 rules between them


def print_table(hits, below=None) -> None:
    """The hits as a table; with `below` (a hit -> a rich renderable or None), each row is
    followed by what it returns for that hit (the --preview picture), columns kept aligned."""
    from rich.console import Console
    from rich.text import Text

    console = Console()
    if not hits:
        console.print("no matches")
        return
    # Every column but the file's at the width its cells need, so the file column takes
    # exactly what is left of the line and its paths break where wrapped_path breaks them.
    widths = [len(str(len(hits))), 0, max(len(_clip(h)) for h in hits), len("best moment"),
              max(len("score"), *(len(_score(h)) for h in hits))]
    widths[1] = file_width = max(MIN_FILE_WIDTH, console.width - sum(widths) - TABLE_OVERHEAD)
    if below is None:
        console.print(_hits_table(hits, file_width, widths=widths))
    else:
        # One table per row, every column at a fixed width so the rows still line up.
        for rank, hit in enumerate(hits, start=1):
            console.print(_hits_table([hit], file_width, first_rank=rank, widths=widths,
                                      show_header=rank == 1))
            drawn = below(hit)
            if drawn is not None:
                console.print(drawn)
    hint = open_hint(hits[0])
    if hint:
        console.print(Text(f"open the best hit: {hint}", style="dim"))


def _score(hit) -> str:
    return f"{hit.score:.3f}"


def _clip(hit) -> str:
    from vidsearch import display

    return f"{display.format_time(hit.start)}-{display.format_time(hit.end)}"


def _hits_table(hits, file_width: int, *, first_rank: int = 1, widths=None,
                show_header: bool = True):
    from rich.table import Table

    from vidsearch import display

    fixed = widths or [None] * 5
    table = Table(show_edge=False, header_style="bold", show_header=show_header)
    table.add_column("#", justify="right", width=fixed[0])
    table.add_column("file", overflow="fold", max_width=file_width, width=fixed[1])
    table.add_column("clip", width=fixed[2])
    table.add_column("best moment", width=fixed[3])
    table.add_column("score", justify="right", width=fixed[4])
    for rank, hit in enumerate(hits, start=first_rank):
        table.add_row(
            str(rank),
            display.wrapped_path(display.printable(display.home_relative(hit.path)), file_width),
            _clip(hit),
            display.format_time(hit.best_moment),
            _score(hit),
        )
    return table


def open_hint(best) -> str | None:
    """The command that would open the best hit, as `tui` would: the configured player, else
    mpv or vlc, else the desktop's opener; None when there is none."""
    import shlex

    from vidsearch import config, display, player
    from vidsearch.errors import CannotRunError

    try:
        argv = player.build_argv(best.path, best.best_moment, config.load_settings().player)
    except CannotRunError:
        return None
    return shlex.join(display.printable(part) for part in argv)
