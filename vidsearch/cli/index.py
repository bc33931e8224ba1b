"""`vidsearch index PATH...`: bring the library in line with folders of videos."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from vidsearch.cli import common

log = logging.getLogger(__name__)


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "index",
        help="index (or update the index of) folders of videos",
        description=(
            "Walk the folders, sample every video at 1 frame per second, embed short clips and\n"
            "store them. Unchanged files are skipped, changed ones re-done, vanished ones dropped."
        ),
        examples="  vidsearch index ~/Videos\n  vidsearch index ~/Videos /mnt/camera --window 6 "
                 "--stride 3\n  vidsearch index clip.mp4 --model clip-vit-b-32-openai",
        parents=[shared, common.model_options(), common.indexing_options()],
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="folders (searched recursively) or video files")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document: what was indexed, skipped, moved, "
                             "removed and failed, and the run's numbers")
    parser.add_argument("--cluster", metavar="ADDRESS", default=None,
                        help="decode and encode on Ray workers (pip install 'vidsearch[cluster]'):"
                             " a Ray address, 'auto' for the cluster this machine belongs to, or "
                             "'local' to start a Ray here; this machine still writes the library")
    parser.add_argument("--path-map", metavar="SRC=DST", action="append", default=[],
                        help="with --cluster: workers see files under SRC at DST instead "
                             "(repeatable; a worker's VIDSEARCH_PATH_MAP wins for that machine)")
    parser.add_argument("--videos-per-worker", metavar="N", type=int, default=0,
                        help="with --cluster: videos each worker takes at once, sharing its "
                             "encoder's batches (default: 4 on a GPU, 1 on a CPU)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # The wall time a user waits includes opening the library and loading the model, which
    # the indexer's own clock does not see.
    started = time.monotonic()
    from vidsearch.cli.progress import make_progress
    from vidsearch.errors import UsageError
    from vidsearch.indexer import Indexer
    from vidsearch.store import open_store, writer_lock

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder", "check the path")
    options = common.index_options_from(args)
    if args.path_map and not args.cluster:
        raise UsageError("--path-map only applies with --cluster", "add --cluster ADDRESS")
    if args.videos_per_worker and not args.cluster:
        raise UsageError("--videos-per-worker only applies with --cluster",
                         "add --cluster ADDRESS")
    if args.videos_per_worker < 0:
        raise UsageError("--videos-per-worker must be at least 1", "leave it out for the default")
    db = common.db_path(args)
    # The lock first: a second writer is refused at once, before it spends time on a model.
    with writer_lock(db):
        model = common.model_on_demand(args)
        with open_store(db) as store, make_progress(quiet=args.quiet or args.json) as progress:
            if args.cluster:
                indexer = _cluster_indexer(args, store, model, options, progress)
            else:
                indexer = Indexer(store, model, options, progress)
            report = indexer.sync(args.paths)
    wall = time.monotonic() - started
    workers = indexer.workers if args.cluster else None
    if args.json:
        document = summary_document(report, wall)
        if workers is not None:
            document["workers"] = [worker_document(worker) for worker in workers]
            document["weights_sent_to"] = indexer.weights_sent
        common.print_json(document)
    else:
        print_summary(report, wall)
        if workers is not None:
            print_workers(workers)
    return 1 if report.failed else 0


def _cluster_indexer(args, store, model, options, progress):
    """The indexer whose videos go to Ray workers: Ray is imported here and only here."""
    from vidsearch.cli.progress import WorkerLog
    from vidsearch.cluster import ClusterIndexer, ClusterOptions, PathMap
    from vidsearch.errors import UsageError

    try:
        path_map = PathMap.parse(args.path_map)
    except UsageError as exc:
        raise UsageError(f"--path-map: {exc.message}", exc.hint) from exc
    cluster = ClusterOptions(address=args.cluster, path_map=path_map, device=args.device,
                             precision=common.run_settings(args).precision,
                             videos_per_worker=args.videos_per_worker)
    return ClusterIndexer(store, model, options, progress, cluster=cluster,
                          events=None if args.quiet or args.json else WorkerLog())


def worker_document(worker) -> dict:
    return {
        "node": worker.node,
        "pid": worker.pid,
        "device": worker.device,
        "start_seconds": round(worker.start_seconds, 3),
        "model_load_seconds": round(worker.load_seconds, 3),
        "videos_at_once": worker.videos_at_once,
        "videos": worker.videos,
        "video_seconds": round(worker.video_seconds, 3),
        "busy_seconds": round(worker.busy_seconds, 3),
        "video_seconds_per_second": round(worker.rate, 3),
        "lost": worker.lost,
        "handed_over": worker.handed_over,
    }


def print_workers(workers) -> None:
    from vidsearch.display import count, printable

    for worker in workers:
        print(f"  worker {printable(worker.node)} (pid {worker.pid}, {worker.device}, ready in "
              f"{worker.start_seconds:.1f} s): {count(worker.videos, 'video')}, "
              f"{worker.rate:.2f} video-s/s", file=sys.stdout)


def summary_document(report, wall: float) -> dict:
    return {
        "indexed": report.indexed,
        "skipped": report.skipped_paths,
        "moved": [{"from": old, "to": new} for old, new in report.moved],
        "removed": report.removed,
        "failed": [{"path": path, "reason": reason} for path, reason in report.failed],
        "video_seconds": round(report.seconds_indexed, 3),
        "frames_sampled": report.frames,
        "frames_encoded": report.frames_encoded,
        "wall_seconds": round(wall, 3),
    }


def print_summary(report, wall: float) -> None:
    from vidsearch.display import count, format_time, printable

    # H:MM:SS, not hours: a first run on a few phone clips would say "0.00 h".
    common.say(
        f"indexed {count(len(report.indexed), 'video')} "
        f"({format_time(report.seconds_indexed)} of video, "
        f"{count(report.frames, 'frame')} sampled, {report.frames_encoded} encoded), "
        f"skipped {report.skipped} unchanged, moved {len(report.moved)}, "
        f"removed {len(report.removed)}, failed {len(report.failed)} "
        f"in {wall:.1f} s")
    for path, reason in report.failed:
        common.say(f"  failed: {printable(path)}: {reason}")
    if report.previously_failed:
        common.say(f"  {count(report.previously_failed, 'unchanged file')} failed before "
                   "(see `vidsearch status`)")
