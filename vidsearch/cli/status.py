"""`vidsearch status`: what the library holds, and what a running `watch` is doing."""

from __future__ import annotations

import argparse
import datetime

from vidsearch.cli import common


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "status",
        help="show what the library holds",
        description="Database, model, number of videos, hours, clips and failures.\n"
                    "With --check, the library's consistency instead: exit 1 when there are "
                    "problems.",
        examples="  vidsearch status\n  vidsearch status --json\n  vidsearch status --videos\n"
                 "  vidsearch status --check",
        parents=[shared],
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--videos", action="store_true",
                        help="also list every video: when it was recorded (its tags, else its "
                             "file's time), its length and its path, oldest first")
    parser.add_argument("--check", action="store_true",
                        help="check the library's consistency (SQLite's own check and "
                             "vidsearch's); print each problem, exit 1 when there are any")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import dates
    from vidsearch.display import format_time, printable
    from vidsearch.store import open_store, read_watch_state

    db = common.db_path(args)
    with open_store(db, create=False) as store:
        if args.check:
            return report_problems(db, store.check_integrity(), as_json=args.json)
        stats = store.stats()
        listing = store.list_videos() if args.videos else []
    watching = read_watch_state(db)
    size = db.stat().st_size
    recorded = stats.recorded
    last = (datetime.datetime.fromtimestamp(stats.last_indexed).isoformat(timespec="seconds")
            if stats.last_indexed else None)
    if args.json:
        common.print_json({"database": str(db), "size_bytes": size, "model": stats.model_name,
                           "model_fingerprint": stats.model_fingerprint, "videos": stats.videos,
                           "hours": stats.hours, "clips": stats.clips, "frames": stats.frames,
                           "failed": [{"path": p, "reason": r} for p, r in stats.failures],
                           "last_indexed": last,
                           "recorded_from": dates.format_time(recorded[0]) if recorded else None,
                           "recorded_to": dates.format_time(recorded[1]) if recorded else None,
                           **({"video_list": [
                               {"path": v.path, "duration": v.duration,
                                "recorded_at": dates.format_time(v.recorded_at)}
                               for v in listing]} if args.videos else {}),
                           "watch": _watch_json(watching)})
        return 0
    lines = [
        f"database:     {printable(str(db))} ({common.format_size(size)})",
        f"model:        {stats.model_name or '-'}",
        f"videos:       {stats.videos} ({format_time(stats.hours * 3600)} of video)",
        f"clips:        {stats.clips}",
        f"frames:       {stats.frames}",
        f"failed:       {stats.failed}",
        f"last indexed: {last or 'never'}",
        f"recorded:     {_day(recorded[0])} to {_day(recorded[1])}" if recorded else
        "recorded:     -",
        f"watch:        {watching.summary(printable) if watching else 'not running'}",
    ]
    print("\n".join(lines))
    for path, reason in stats.failures:
        common.say(f"  failed: {printable(path)}: {reason}")
    for video in listing:
        common.say_path(f"  {_day(video.recorded_at)}  {format_time(video.duration)}  ",
                        video.path)
    return 0


def _day(seconds: float | None) -> str:
    """A recording time as its local date: what a user filters by (`find --after`)."""
    from vidsearch import dates

    text = dates.format_time(seconds)
    return text[:10] if text else "-"


def _watch_json(watching) -> dict | None:
    if watching is None:
        return None
    return {"pid": watching.pid, "since": watching.since, "activity": watching.activity,
            "file": watching.file, "more": watching.more, "summary": watching.summary()}


def report_problems(db, problems: list[str], *, as_json: bool) -> int:
    from vidsearch.display import printable

    if as_json:
        common.print_json({"database": str(db), "problems": problems})
    elif problems:
        print("\n".join(f"problem: {problem}" for problem in problems))
    else:
        print(f"{printable(str(db))}: no problems found")
    return 1 if problems else 0
