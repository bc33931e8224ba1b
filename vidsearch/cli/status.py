"""`vidsearch status`: what the library holds."""

from __future__ import annotations

import argparse
import datetime

from vidsearch.cli import common


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "status",
        help="show what the library holds",
        description="Database, model, number of videos, hours, clips and failures.",
        examples="  vidsearch status\n  vidsearch status --json",
        parents=[shared],
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch.display import printable
    from vidsearch.store import open_store

    db = common.db_path(args)
    with open_store(db, create=False) as store:
        stats = store.stats()
    size = db.stat().st_size
    last = (datetime.datetime.fromtimestamp(stats.last_indexed).isoformat(timespec="seconds")
            if stats.last_indexed else None)
    if args.json:
        common.print_json({"database": str(db), "size_bytes": size, "model": stats.model_name,
                           "model_fingerprint": stats.model_fingerprint, "videos": stats.videos,
                           "hours": stats.hours, "clips": stats.clips, "frames": stats.frames,
                           "failed": [{"path": p, "reason": r} for p, r in stats.failures],
                           "last_indexed": last})
        return 0
    lines = [
        f"database:     {printable(str(db))} ({common.format_size(size)})",
        f"model:        {stats.model_name or '-'}",
        f"videos:       {stats.videos} ({stats.hours:.2f} h)",
        f"clips:        {stats.clips}",
        f"frames:       {stats.frames}",
        f"failed:       {stats.failed}",
        f"last indexed: {last or 'never'}",
    ]
    print("\n".join(lines))
    for path, reason in stats.failures:
        print(f"  failed: {printable(path)}: {reason}")
    return 0
