"""`vidsearch eval labels.csv`: retrieval metrics of any model on the user's own labels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vidsearch.cli import common
from vidsearch.cli.finetune import add_feedback_flag


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "eval",
        help="measure a model on your own captioned clips (R@1/5/10, MdR, MnR)",
        description=(
            "Score every labelled clip against every caption of labels.csv and report how\n"
            "often the right clip (text->video) or caption (video->text) ranks first, in the\n"
            "top 5 and top 10, and its median and mean rank. Compare the shipped model with\n"
            "your fine-tune on labels neither was trained on."
        ),
        examples="  vidsearch eval held_out.csv\n"
                 "  vidsearch eval held_out.csv --model family --json\n"
                 "  vidsearch eval --feedback --model family   # on your + and - marks",
        parents=[shared, common.model_options()],
    )
    parser.add_argument("labels", type=Path, nargs="?", default=None,
                        help="labels.csv: video,caption[,start,end[,negative]]")
    add_feedback_flag(parser, "score on the marks made with + and - in `vidsearch tui` "
                              "(alone or with LABELS); - marks are distractors")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch.cli.finetune import labels_and_feedback, metric_cells, print_problems
    from vidsearch.train.evaluate import evaluate_labels
    from vidsearch.model.threads import use_threads_for
    from vidsearch.train.labels import LabelsError, load_labels_files

    first, feedback = labels_and_feedback(args)
    files = [first] + ([feedback] if feedback else [])
    try:
        labels = load_labels_files(files)
    except LabelsError as exc:
        print_problems(exc)
        exc.hint = "fix the lines listed and run again; no model was loaded or scored"
        raise
    use_threads_for("index")  # evaluation encodes every labelled video
    model = common.load_model(args)
    metrics = evaluate_labels(model, labels)
    if args.json:
        document = {"model": model.card.name, "fingerprint": model.fingerprint,
                    "labels": files[0], "clips": len(labels.clips),
                    "wrong_answers": len(labels.negative_pairs),
                    "captions": int(metrics.t2v.queries), **metrics.to_dict()}
        json.dump(document, sys.stdout, indent=2)
        print()
        return 0
    print_table(model.card.name, labels, metrics, metric_cells)
    return 0


def print_table(name: str, labels, metrics, metric_cells) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name} on {labels.source.name}: {labels.describe()}",
                  show_edge=False, header_style="bold")
    for column in ("direction", "R@1", "R@5", "R@10", "MdR", "MnR", "queries"):
        table.add_column(column, justify="left" if column == "direction" else "right")
    for label, result in (("text->video", metrics.t2v), ("video->text", metrics.v2t)):
        table.add_row(label, *metric_cells(result), str(result.queries))
    Console().print(table)
    from vidsearch.cli.finetune import METRICS_LEGEND

    common.say(METRICS_LEGEND)
