"""`vidsearch find QUERY`: text (or example image) to clips."""

from __future__ import annotations

import argparse
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
                             "Kitty or Sixel graphics where it speaks them, else half blocks)")
    parser.add_argument("--timeline", type=Path, default=None, metavar="FILE",
                        help="also write the hits as an editing timeline: FILE.otio "
                             "(OpenTimelineIO) or FILE.edl (CMX 3600), one clip per hit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import search
    from vidsearch.model.threads import use_threads_for
    from vidsearch.store import open_store

    check_usage(args)
    image = load_query_image(args.image) if args.image is not None else None
    db = common.db_path(args)
    with open_store(db, create=False) as store:
        use_threads_for("query")
        if image is not None:
            model = common.load_model(args)
            hits = search.search_image(store, model, image, k=args.k)
        else:
            model = common.load_model(args) if args.rerank else common.load_query_model(args)
            hits = search.search_text(store, model, args.query, k=args.k, rerank=args.rerank)
        if args.timeline is not None:
            write_timeline(store, hits, args.timeline)
    if args.json:
        document = {"query": args.query, "image": str(args.image) if args.image else None,
                    "model": model.card.name, "hits": [h.to_json() for h in hits]}
        common.print_json(document)
    elif args.preview:
        from vidsearch.cli import preview

        print_table(hits, below=preview.picture_maker())
    else:
        print_table(hits)
    return 0


def write_timeline(store, hits, path: Path) -> None:
    import logging

    from vidsearch import timeline

    rates = {}
    for hit in hits:
        details = store.video_details(hit.video_id)
        rates[hit.video_id] = details["fps"] if details else None
    written = timeline.write_hits(hits, rates, path.expanduser())
    logging.getLogger(__name__).info("wrote the timeline of %d hits to %s", len(hits), written)


def check_usage(args: argparse.Namespace) -> None:
    """Every mistake in the flags, found before the library is opened or a model loads."""
    from vidsearch.errors import UsageError

    if (args.query is None) == (args.image is None):
        raise UsageError("give either a QUERY or --image FILE", 'e.g. vidsearch find "a dog"')
    if args.k < 1:
        raise UsageError(f"-k {args.k}: must be at least 1", "e.g. -k 10")
    if args.timeline is not None:
        from vidsearch import timeline

        timeline.check_suffix(args.timeline)
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


def load_query_image(path: Path):
    from vidsearch import video
    from vidsearch.errors import UsageError

    if not path.exists():
        raise UsageError.about(path, "no such file", "check the path")
    return video.load_image(path)


# Cells the other columns take (#, clip, best moment, score, with rich's padding): the file
# column gets the rest of the line.
OTHER_COLUMNS_WIDTH = 43
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
    file_width = max(MIN_FILE_WIDTH, console.width - OTHER_COLUMNS_WIDTH)
    if below is None:
        console.print(_hits_table(hits, file_width))
    else:
        # One table per row, every column at a fixed width so the rows still line up; the
        # file column takes what the others and rich's padding and rules leave of the line.
        widths = [len(str(len(hits))), 0, max(len(_clip(h)) for h in hits),
                  len("best moment"), len("score")]
        widths[1] = file_width = max(MIN_FILE_WIDTH,
                                     console.width - sum(widths) - TABLE_OVERHEAD)
        for rank, hit in enumerate(hits, start=1):
            console.print(_hits_table([hit], file_width, first_rank=rank, widths=widths,
                                      show_header=rank == 1))
            drawn = below(hit)
            if drawn is not None:
                console.print(drawn)
    hint = open_hint(hits[0])
    if hint:
        console.print(Text(f"open the best hit: {hint}", style="dim"))


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
            f"{hit.score:.3f}",
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
