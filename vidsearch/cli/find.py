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
                 "  vidsearch find --image frame.png",
        parents=[shared, common.model_options()],
    )
    parser.add_argument("query", nargs="?", help="what happens in the clip you want")
    parser.add_argument("--image", type=Path, default=None, help="search by an example image")
    parser.add_argument("-k", type=int, default=10, help="number of hits (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--rerank", type=int, default=0, metavar="N",
                        help="re-score the top N hits with the model's tight header")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import search
    from vidsearch.errors import UsageError
    from vidsearch.model.threads import use_threads_for
    from vidsearch.store import open_store

    if (args.query is None) == (args.image is None):
        raise UsageError("give either a QUERY or --image FILE", 'e.g. vidsearch find "a dog"')
    db = common.db_path(args)
    with open_store(db, create=False) as store:
        use_threads_for("query")
        if args.image is not None:
            from vidsearch import video

            model = common.load_model(args)
            hits = search.search_image(store, model, video.load_image(args.image), k=args.k)
        else:
            model = common.load_model(args) if args.rerank else common.load_query_model(args)
            hits = search.search_text(store, model, args.query, k=args.k, rerank=args.rerank)
    if args.json:
        document = {"query": args.query, "image": str(args.image) if args.image else None,
                    "model": model.card.name, "hits": [h.to_json() for h in hits]}
        common.print_json(document)
    else:
        print_table(hits)
    return 0


def print_table(hits) -> None:
    from rich.console import Console

    from vidsearch import display
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not hits:
        console.print("no matches")
        return
    table = Table(show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("file", overflow="fold")
    table.add_column("clip")
    table.add_column("best moment")
    table.add_column("score", justify="right")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank),
            Text(display.printable(display.home_relative(hit.path))),  # text, never markup
            f"{display.format_time(hit.start)}-{display.format_time(hit.end)}",
            display.format_time(hit.best_moment),
            f"{hit.score:.3f}",
        )
    console.print(table)
    best = hits[0]
    console.print(Text(f"open the best hit: mpv --start={best.best_moment:.0f} "
                       f"{_quote(display.printable(best.path))}", style="dim"))


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)
