"""`finetune --feedback` and `eval --feedback` on marks like the TUI writes them."""

from __future__ import annotations

import csv
import json
import tomllib

import pytest

from vidsearch import config
from vidsearch.cli import main
from vidsearch.train import loop
from vidsearch.train.feedback import Mark, append_mark


def other_way(caption: str) -> str:
    return caption.replace("left", "right") if "left" in caption else \
        caption.replace("right", "left")


def rows_of(labels_csv) -> list[dict]:
    with labels_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["video"] = str((labels_csv.parent / row["video"]).resolve())
    return rows


@pytest.fixture
def feedback(dataset, isolated_home):
    """Every training clip marked right for its caption and wrong for the other direction's;
    the two clips of one held-out video marked wrong only (they answer nothing)."""
    path = config.feedback_path()
    for row in rows_of(dataset.train_csv):
        start, end = float(row["start"]), float(row["end"])
        append_mark(path, Mark(row["video"], row["caption"], start, end, False))
        append_mark(path, Mark(row["video"], other_way(row["caption"]), start, end, True))
    for row in rows_of(dataset.val_csv)[:2]:
        append_mark(path, Mark(row["video"], "a red square moving right",
                               float(row["start"]), float(row["end"]), True))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_finetune_on_feedback_alone_trains_with_its_wrong_answers(tiny, feedback, capsys,
                                                                   monkeypatch):
    shapes = []
    real_loss = loop.contrastive_loss

    def recording(logits, *args):
        shapes.append(tuple(logits.shape))
        return real_loss(logits, *args)

    monkeypatch.setattr(loop, "contrastive_loss", recording)
    code, out, err = cli(capsys, "finetune", "--feedback", "--base", tiny, "--header",
                         "seqTransf", "--freeze-backbone", "--epochs", "1", "--batch-size", "8",
                         "--val-fraction", "0", "--device", "cpu")
    assert code == 0, err
    assert "training labels: 18 clips, 16 captions, 18 wrong answers from 5 videos" in out
    assert "saved model 'tiny-feedback'" in out
    # Every batch of 8 captions brings clips marked wrong for them as extra columns.
    assert shapes and all(columns > rows for rows, columns in shapes), shapes
    card = tomllib.loads((config.models_dir() / "tiny-feedback" / "card.toml").read_text())
    record = card["extra"]["finetune"]
    assert record["train_wrong_answers"] == 18 and record["labels"] == str(feedback)
    assert card["description"].startswith(f"{tiny} fine-tuned on feedback.csv (")


@pytest.mark.slow
def test_feedback_with_a_labels_file_is_read_as_one(tiny, dataset, feedback, capsys):
    code, out, err = cli(capsys, "finetune", str(dataset.val_csv), "--feedback", "--base",
                         tiny, "--val-fraction", "0", "--check")
    assert code == 0, err
    # The two val clips marked wrong are spans val.csv labels too: one clip each. The first is
    # val.csv's "a red square moving right", marked wrong for just that: the later file wins.
    assert "training labels: 32 clips, 31 captions, 18 wrong answers from 12 videos" in out


@pytest.mark.slow
def test_eval_on_feedback_reports_metrics(tiny, feedback, capsys):
    code, out, err = cli(capsys, "eval", "--feedback", "--model", tiny, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["labels"] == str(feedback)
    assert document["clips"] == 18 and document["wrong_answers"] == 18
    # Captions rank all 18 clips; only the 16 clips with a right answer ask for captions.
    assert document["t2v"]["queries"] == 16 and document["v2t"]["queries"] == 16
    assert 1 <= document["t2v"]["mean_rank"] <= 18


def test_a_bad_feedback_row_is_named_with_its_file_and_line(tiny, isolated_home, capsys):
    path = config.feedback_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("video,caption,start,end,negative\n/nowhere/a.mp4,a dog,0,4,maybe\n"
                    "/nowhere/b.mp4,a dog,0,4,1\n", encoding="utf-8")
    code, _out, err = cli(capsys, "eval", "--feedback", "--model", tiny)
    assert code == 2
    assert f"{path}:2: negative: 'maybe' is neither 1" in err
    assert f"{path}:3: /nowhere/b.mp4: no such file" in err
    assert "Traceback" not in err


def test_no_feedback_yet_says_how_to_make_some(tiny, capsys):
    code, _out, err = cli(capsys, "finetune", "--feedback", "--base", tiny)
    assert code == 2 and "no feedback yet" in err and "vidsearch tui" in err
    code, _out, err = cli(capsys, "eval")
    assert code == 2 and "give a labels.csv, --feedback, or both" in err
