"""`vidsearch finetune labels.csv`: adapt a model to the user's own labelled clips."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path

from vidsearch.cli import common
from vidsearch.cli.progress import RichBar
from vidsearch.errors import UsageError, VidsearchError
from vidsearch.model.cards import HEADER_NAMES, PATCHES
from vidsearch.train.settings import DEFAULTS, SettingError, advice_of

log = logging.getLogger(__name__)

MAX_PROBLEMS_SHOWN = 200
# Below this many validation clips one clip moves R@1 by more than 2 points: an epoch can look
# best by chance.
FEW_VAL_CLIPS = 50

EXAMPLES = """\
  vidsearch finetune labels.csv --check            # validate every row, train nothing
  vidsearch finetune labels.csv --name family      # 5 epochs, paper defaults
  vidsearch finetune labels.csv --header seqTransf --freeze-backbone   # fast on a CPU
  vidsearch finetune labels.csv --val held_out.csv --epochs 10
  vidsearch finetune labels.csv --name family --resume   # after Ctrl-C
  vidsearch finetune --feedback --freeze-backbone --header seqTransf   # the TUI's + and - marks
  vidsearch finetune labels.csv --feedback          # both, read as one
  vidsearch models use family && vidsearch index ~/Videos

labels.csv (UTF-8, header required; start/end in seconds or [H:]MM:SS[.ms]):
  video,caption,start,end
  birthday.mp4,grandma blowing out candles,1:02,1:09
  park/max.mov,our dog Max catching a frisbee,,
"""


HELP_HINT = "see `vidsearch finetune --help`"
# The library's advice (its errors' advice keys) given as flags.
FLAG_HINTS = {
    "freeze_backbone": "pick --header seqTransf, seqLSTM or tightTransf, or drop "
                       "--freeze-backbone",
    "start_afresh": "start again without --resume (add --overwrite to replace the model)",
    "one_video": "label clips from 2 or more videos, pass --val FILE, or --val-fraction 0",
    "out_of_memory": "use --freeze-backbone, or a smaller model",
    "loss_not_finite": "lower --lr and --clip-lr, or use --device cpu",
    "labels_changed": "resume with the same labels, or start again with --overwrite",
    "patch_3d": "fine-tune it with --patch 3d, or start from a 2d model",
    "another_name": "pick another --name",
    "name_taken": "pick another --name, --resume an interrupted run, or --overwrite",
    "labels": "fix the lines listed and run again; nothing was trained",
}


def show_number(value: float) -> str:
    """1e-07 -> '1e-7', 0.0001 -> '1e-4', 0.2 -> '0.2': how the paper writes its rates."""
    text = f"{value:g}"
    if value and abs(value) < 1e-3 or "e" in text:
        text = re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:.0e}")
    return text


def recipe_summary() -> str:
    d = DEFAULTS
    return (f"model. The recipe follows CLIP4Clip: CLIP weights at {show_number(d.clip_lr)}, "
            f"new header weights at\n{show_number(d.lr)}, weight decay "
            f"{show_number(d.weight_decay)}, {d.warmup:.0%} warm-up then cosine, up to 12 "
            "frames per clip at 1 fps.")


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "finetune",
        help="fine-tune a model on your own captioned clips",
        description=(
            "Train a model on labels.csv (video, caption, optional start/end), evaluate it on\n"
            "held-out videos before and after each epoch, and save the best epoch as a new\n"
            + recipe_summary()
        ),
        examples=EXAMPLES,
        parents=[shared],
    )
    parser.add_argument("labels", type=Path, nargs="?", default=None,
                        help="labels.csv: video,caption[,start,end[,negative]]")
    add_feedback_flag(parser, "train on the marks made with + and - in `vidsearch tui` "
                              "(alone or with LABELS); - marks are hard negatives")
    parser.add_argument("--base", default=None,
                        help="model to start from (default: the active model)")
    parser.add_argument("--name", default=None,
                        help="name of the new model (default: BASE-LABELS, e.g. "
                             "clip4clip-webvid150k-labels)")
    parser.add_argument("--header", choices=HEADER_NAMES, default=None,
                        help="similarity header (default: the base model's)")
    parser.add_argument("--patch", choices=PATCHES, default=None,
                        help="2d or 3d patch embedding (default: the base model's)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                        help="passes over the labels (%(default)s)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"pairs per step (default: {DEFAULTS.cuda_batch} on CUDA, halved "
                             f"until it fits; {DEFAULTS.cpu_batch} on a CPU; "
                             f"{DEFAULTS.frozen_batch} with --freeze-backbone)")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr,
                        help="learning rate of the header's new weights "
                             f"({show_number(DEFAULTS.lr)})")
    parser.add_argument("--clip-lr", type=float, default=DEFAULTS.clip_lr,
                        help=f"learning rate of the CLIP weights ({show_number(DEFAULTS.clip_lr)}; "
                             "larger ones erase what CLIP knows)")
    val = parser.add_mutually_exclusive_group()
    val.add_argument("--val", type=Path, default=None, metavar="FILE",
                     help="held-out labels to evaluate on (no video may be in both files)")
    val.add_argument("--val-fraction", type=float, default=DEFAULTS.val_fraction,
                     help="else hold out about this share of the clips, whole videos at a "
                          f"time ({show_number(DEFAULTS.val_fraction)}; 0 trains without "
                          "evaluating)")
    parser.add_argument("--freeze-backbone", action="store_true",
                        help="train only the header, on cached frame vectors (fast on a CPU)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed,
                        help="random seed (%(default)s)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to train (auto: CUDA when available)")
    parser.add_argument("--check", action="store_true",
                        help="validate labels.csv (and --val) and exit")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run of --name with its settings")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model of the same --name")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except SettingError as exc:
        raise flag_error(exc) from exc
    except VidsearchError as exc:
        if advice_of(exc) in FLAG_HINTS:
            # The same error (kind, exit code, message, file); only its advice is in flags.
            exc.hint = FLAG_HINTS[advice_of(exc)]
        raise


def flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")


def flag_error(exc: SettingError) -> UsageError:
    """The library's error about a setting, with the flag that sets it named."""
    hint = FLAG_HINTS.get(exc.advice) or exc.hint or HELP_HINT
    other = f" {flag(exc.other)}" if exc.other else ""
    return UsageError(f"{flag(exc.setting)} {exc.reason}{other}", hint)


def _run(args: argparse.Namespace) -> int:
    from vidsearch import config
    from vidsearch.train.labels import LabelsError, load_split
    from vidsearch.train.settings import FinetuneSettings
    from vidsearch.model.threads import use_threads_for

    base = args.base or config.load_settings().active_model
    labels, feedback = labels_and_feedback(args)
    name = args.name or default_name(base, Path(labels))
    if args.resume:
        from vidsearch.train.target import resumed_settings  # imports torch

        settings = resumed_settings(name, args.device)
        settings.labels, settings.feedback = labels, feedback
        settings.val = str(args.val) if args.val else settings.val
    else:
        settings = FinetuneSettings(
            base=base, name=name, labels=labels, feedback=feedback,
            val=str(args.val) if args.val else None, val_fraction=args.val_fraction,
            header=args.header, patch=args.patch, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, clip_lr=args.clip_lr,
            freeze_backbone=args.freeze_backbone, seed=args.seed, device=args.device)
    settings.offline = common.run_settings(args).offline
    settings.validate()
    check_something_to_train(settings)
    try:
        files = [settings.labels] + ([settings.feedback] if settings.feedback else [])
        train, val = load_split(files, settings.val, settings.val_fraction, settings.seed)
    except LabelsError as exc:
        print_problems(exc)
        raise
    print_split(train, val)
    if args.check:
        return 0
    from vidsearch.train.loop import finetune  # torch: only once the request is known good

    with make_progress() as progress:
        use_threads_for("train")
        result = finetune(settings, train, val, progress=progress, resume=args.resume,
                          overwrite=args.overwrite)
    return report(result)


def add_feedback_flag(parser, help_text: str) -> None:
    """--feedback, shared by finetune and eval."""
    parser.add_argument("--feedback", action="store_true",
                        help=f"{help_text} (the file: feedback.csv in the vidsearch data folder)")


def labels_and_feedback(args: argparse.Namespace) -> tuple[str, str | None]:
    """(the first labels file, the feedback file when there is a LABELS as well): what the
    LABELS argument and --feedback ask for, the feedback file checked to exist."""
    if args.labels is None and not args.feedback:
        raise UsageError("no labels given", "give a labels.csv, --feedback, or both")
    if not args.feedback:
        return str(args.labels), None
    from vidsearch import config

    path = config.feedback_path()
    if not path.is_file():
        raise UsageError(f"{path}: no feedback yet",
                         "mark hits with + (a right answer) and - (a wrong one) in "
                         "`vidsearch tui` first")
    if args.labels is None:
        return str(path), None
    return str(args.labels), str(path)


# Headers with no weights of their own: with the backbone frozen there is nothing to train.
WEIGHTLESS_HEADERS = frozenset({"meanP"})


def check_something_to_train(settings) -> None:
    """--freeze-backbone with a weightless header, refused from the card before the model loads
    (the training loop checks it again on the module it builds)."""
    from vidsearch.errors import UsageError
    from vidsearch.model import cards

    if not settings.freeze_backbone:
        return
    header = settings.header or cards.load_card(settings.base).header
    if header in WEIGHTLESS_HEADERS:
        raise UsageError(f"--freeze-backbone with header {header} leaves nothing to train",
                         FLAG_HINTS["freeze_backbone"])


def default_name(base: str, labels: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", labels.stem).strip("-._") or "labels"
    return f"{base}-{stem}"


def print_problems(exc) -> None:
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        print(str(problem), file=sys.stderr)
    hidden = len(exc.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        print(f"... and {hidden} more", file=sys.stderr)


def print_split(train, val) -> None:
    common.say(f"training labels: {train.describe()}")
    if val is None:
        common.say("no validation split: nothing will be evaluated (the last epoch is kept)")
    else:
        common.say(f"validation labels: {val.describe()} (no video in both)")


def report(result) -> int:
    if result.before is not None or result.after is not None:
        print_metrics_table(result.before, result.after, result.best_epoch)
    if result.epochs_done == 0:
        common.say("interrupted before the first epoch finished; nothing was saved")
        return 130
    warn_if_few_val_clips(result.val_clips)
    epochs = "1 epoch" if result.epochs_done == 1 else f"{result.epochs_done} epochs"
    common.say(f"trained {epochs} in {format_duration(result.seconds)} on {result.device}")
    saved = f"saved model '{result.name}' ({result.folder})"
    if result.best_epoch == 0 and result.before is not None:
        common.say(f"no epoch beat the base model '{result.base}' on the validation labels; "
                   f"{saved} is an exact copy of it")
    else:
        common.say(f"{saved} from epoch {result.best_epoch} of {result.epochs_done}")
    if result.interrupted:
        common.say(f"interrupted: continue with `vidsearch finetune ... --name {result.name} "
                   "--resume`")
        return 130
    common.say(f"use it: vidsearch models use {result.name}  (the next `vidsearch index` "
               "re-embeds the library with it)")
    return 0


def warn_if_few_val_clips(clips: int) -> None:
    """The best epoch is only as sure as the clips it was picked on."""
    if not 0 < clips < FEW_VAL_CLIPS:
        return
    common.say(f"warning: the best epoch was picked on {clips} validation "
               f"{'clip' if clips == 1 else 'clips'}; one clip moves R@1 by {100 / clips:.1f} "
               "points, so the pick may be chance: pass --val FILE with more held-out labels, or "
               "label more clips", file=sys.stderr)


def print_metrics_table(before, after, best_epoch: int, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for column in ("direction", "model", "R@1", "R@5", "R@10", "MdR", "MnR"):
        table.add_column(column, justify="left" if column in ("direction", "model") else "right")
    rows = [("before", before), (f"after (epoch {best_epoch})", after)]
    for way, label in (("t2v", "text->video"), ("v2t", "video->text")):
        first = True
        for name, metrics in rows:
            if metrics is None:
                continue
            table.add_row(label if first else "", name, *metric_cells(getattr(metrics, way)))
            first = False
    Console().print(table)
    common.say(METRICS_LEGEND)


METRICS_LEGEND = ("R@K: % of queries whose right answer is in the top K (higher is better); "
                  "MdR/MnR: median/mean rank of the right answer (1 is best)")


def metric_cells(metrics) -> list[str]:
    return [f"{100 * metrics.r1:.1f}", f"{100 * metrics.r5:.1f}", f"{100 * metrics.r10:.1f}",
            f"{metrics.median_rank:g}", f"{metrics.mean_rank:.1f}"]


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def make_progress():
    return RichTrainProgress() if sys.stderr.isatty() else LogTrainProgress()


class LogTrainProgress:
    """Plain lines for logs and pipes: each stage, then at most one line every 10 s."""

    INTERVAL = 10.0

    def __init__(self) -> None:
        self.description = ""
        self.total: int | None = None
        self.done = 0
        self.last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def stage(self, description: str, total: int | None) -> None:
        self.description, self.total, self.done = description, total, 0
        self.last = time.monotonic()
        log.debug("%s", description)

    def advance(self, count: int = 1, status: str = "") -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= self.INTERVAL:
            self.last = now
            of = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s %s", self.description, self.done, of, status)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def estimate(self, epoch_seconds: float, epochs_left: int, backbone_frozen: bool) -> None:
        self.note(estimate_text(epoch_seconds, epochs_left, backbone_frozen))


class RichTrainProgress(RichBar):
    """One live bar per stage with the loss and rate; notes print above it."""

    def __init__(self) -> None:
        from rich.console import Console

        super().__init__("status", elapsed=True, console=Console(stderr=True))

    def stage(self, description: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(description, total=total, status="")

    def advance(self, count: int = 1, status: str = "") -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=count, status=status)

    def note(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False)

    def estimate(self, epoch_seconds: float, epochs_left: int, backbone_frozen: bool) -> None:
        self.note(estimate_text(epoch_seconds, epochs_left, backbone_frozen))


def estimate_text(epoch_seconds: float, epochs_left: int, backbone_frozen: bool) -> str:
    faster = "" if backbone_frozen else ", and so is --freeze-backbone"
    left = "1 epoch left" if epochs_left == 1 else f"{epochs_left} epochs left"
    return (f"training on the CPU: one epoch takes {_about(epoch_seconds)} "
            f"({left}: {rough_duration(epoch_seconds * epochs_left)}); a CUDA GPU is much "
            f"faster{faster}")


def _about(seconds: float) -> str:
    words = rough_duration(seconds)
    return words if words.startswith("under") else f"about {words}"


def rough_duration(seconds: float) -> str:
    if seconds < 0.5:
        return "under a second"  # "about 0 s" reads as a broken estimate
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
