"""`vidsearch watch FOLDER...`: index, then keep the library current while files come and go."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from vidsearch.cli import common

log = logging.getLogger(__name__)


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "watch",
        help="index folders, then keep the index current as files change",
        description=(
            "Bring the library in line with the folders (like `index`), then follow the\n"
            "filesystem: new and changed videos are indexed once they stop changing, renamed and\n"
            "moved ones keep their vectors, deleted ones are dropped. Stop with Ctrl-C."
        ),
        examples="  vidsearch watch ~/Videos\n  vidsearch watch /mnt/nas/videos --poll 30 "
                 "--settle 20",
        parents=[shared, common.model_options(), common.indexing_options()],
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="FOLDER",
                        help="folders to watch (recursively)")
    parser.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                        help="index a file once its size and time stay unchanged this long "
                             "(default 5)")
    parser.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                        help="look for changes every SECONDS instead of waiting for events "
                             "(for network shares, where events do not arrive)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch.store import writer_lock

    check_arguments(args)
    options = common.index_options_from(args)
    if not (args.quiet or args.verbose):
        # Watching is a log of actions: show them even on a terminal.
        logging.getLogger("vidsearch").setLevel(logging.INFO)
    db = common.db_path(args)
    # The lock first: a second writer is refused at once, before it loads a model.
    with writer_lock(db):
        report = watch(args, db, options)
    log.info("stopped: indexed %d, moved %d, removed %d, failed %d", report.indexed,
             report.moved, report.removed, report.failed)
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    from vidsearch.errors import UsageError

    for path in args.paths:
        if not path.exists():
            raise UsageError(f"{path}: no such folder", "check the path")
        if not path.is_dir():
            raise UsageError(f"{path}: not a folder", "watch the folder that holds it")
    if args.settle < 0:
        raise UsageError("--settle must be zero or more seconds")
    if args.poll is not None and args.poll <= 0:
        raise UsageError("--poll must be a positive number of seconds")


def watch(args: argparse.Namespace, db: Path, options):
    from vidsearch.cli.progress import JobLog, make_progress
    from vidsearch.index_progress import SilentProgress
    from vidsearch.indexer import Indexer
    from vidsearch.store import open_store
    from vidsearch.watcher import Watcher

    # As `index`: checked now, loaded when a video needs encoding, the same engine chosen.
    model = common.model_on_demand(args)
    stop = threading.Event()
    with open_store(db) as store:
        progress = make_progress(quiet=args.quiet)
        indexer = Indexer(store, model, options, progress)
        with Watcher(indexer, args.paths, settle=args.settle, poll=args.poll) as watcher, \
                stop_on_signals(stop, watcher):
            try:
                with progress:
                    watcher.start()
                # From here on each action is its own log line (a bar would only flicker
                # between them); a long job is announced as it starts, and one that lasts
                # gets a progress line every half minute.
                indexer.progress = SilentProgress() if args.quiet else JobLog(job_namer(db))
                watcher.run_forever(stop)
            except KeyboardInterrupt:
                # Raised by the signal handler while a video was being stored: that
                # transaction was rolled back, every other video is whole.
                log.info("interrupted while indexing; the unfinished video will be indexed "
                         "next time")
        return watcher.report


def job_namer(db: Path) -> Callable[[int], str]:
    """What the watcher is indexing, as `status` says it: the file it recorded in its state
    (`store.watching`) just before handing the job to the indexer, which tells progress only
    how many videos there are."""
    from vidsearch.display import count, printable
    from vidsearch.store import read_watch_state

    def name(videos: int) -> str:
        state = read_watch_state(db)
        if state is None or state.file is None:
            return count(videos, "video")  # the state could not be written: a count will do
        return printable(state.file) + (f" and {state.more} more" if state.more else "")

    return name


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, watcher) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the watch: between jobs at once, during indexing by interrupting
    it (the video being stored is rolled back). A second signal does not interrupt the
    shutdown itself."""

    def handle(signum, frame) -> None:
        first = not stop.is_set()
        stop.set()
        if first and watcher.indexing:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
