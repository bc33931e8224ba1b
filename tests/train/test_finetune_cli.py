"""`vidsearch finetune` and `vidsearch eval` on generated videos, as a user runs them."""

from __future__ import annotations

import json
import tomllib

import pytest
from safetensors.torch import load_file

from tests.conftest import run_cli
from vidsearch import config
from vidsearch.cli import main
from vidsearch.train import loop

# OpenMP threads that spin while waiting make small models several times slower on a busy
# machine (and CI machines are busy); sleeping waiters cost nothing when it is idle.
QUIET_THREADS = {"OMP_WAIT_POLICY": "PASSIVE"}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def read_card(name: str) -> dict:
    return tomllib.loads((config.models_dir() / name / "card.toml").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_finetune_then_eval_then_index_with_it(tiny, dataset, capsys):
    done = run_cli("finetune", str(dataset.train_csv), "--val", str(dataset.val_csv),
                   "--base", tiny, "--name", "family", "--epochs", "2", "--batch-size", "8",
                   "--clip-lr", "1e-4", "--device", "cpu", env_extra=QUIET_THREADS)
    assert done.returncode == 0, done.stderr
    assert "training labels: 16 clips, 16 captions from 4 videos" in done.stdout
    for text in ("text->video", "video->text", "before", "after (epoch", "R@1", "MnR",
                 "saved model 'family'", "vidsearch models use family"):
        assert text in done.stdout
    assert "one epoch takes " in done.stderr  # the CPU estimate
    assert "(2 epochs left:" in done.stderr
    assert "Traceback" not in done.stderr
    # 16 validation clips: one moves R@1 by 6.2 points, and the user is told so, with a way out.
    assert ("the best epoch was picked on 16 validation clips; one clip moves R@1 by 6.2 "
            "points") in done.stderr and "--val FILE" in done.stderr

    card = read_card("family")
    assert (card["base"], card["header"], card["patch"]) == ("tiny", "meanP", "2d")
    # Epoch lines give R@1 in the tables' unit: percent.
    for epoch, r1 in zip(card["extra"]["history"]["epoch"], card["extra"]["history"]["t2v_r1"]):
        assert f"epoch {epoch}: loss " in done.stderr
        assert f"text->video R@1 {100 * r1:.1f}%" in done.stderr
    record = card["extra"]["finetune"]
    assert record["finished"] and record["epochs_done"] == 2 and record["clip_lr"] == 1e-4
    assert record["lr"] == 1e-4 and record["weight_decay"] == 0.2 and record["max_words"] == 32
    assert len(record["data_fingerprint"]) > 16
    assert set(card["extra"]["metrics_before"]) == {"t2v", "v2t"}
    assert not (config.models_dir() / "family" / ".resume").exists()
    assert "model.safetensors" in {p.name for p in (config.models_dir() / "family").iterdir()}

    evaluated = run_cli("eval", str(dataset.val_csv), "--model", "family", "--json",
                        env_extra=QUIET_THREADS)
    assert evaluated.returncode == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    assert document["model"] == "family" and document["clips"] == 16
    after = card["extra"]["metrics_after"]
    for way in ("t2v", "v2t"):
        assert document[way]["r1"] == pytest.approx(after[way]["r1"])
        assert document[way]["mean_rank"] == pytest.approx(after[way]["mean_rank"])

    code, out, _ = cli(capsys, "models")
    assert code == 0 and "family" in out
    videos = dataset.val_csv.parent / "videos"
    assert cli(capsys, "models", "use", "tiny")[0] == 0
    assert cli(capsys, "index", str(videos))[0] == 0
    assert cli(capsys, "models", "use", "family")[0] == 0
    code, out, err = cli(capsys, "index", str(videos))
    assert code == 0, err
    assert "indexed 12 videos" in out and "skipped 0" in out  # new fingerprint: re-embedded


@pytest.mark.slow
def test_eval_prints_a_table(tiny, dataset, capsys):
    code, out, err = cli(capsys, "eval", str(dataset.val_csv), "--model", tiny)
    assert code == 0, err
    assert "text->video" in out and "video->text" in out and "queries" in out


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_epoch_and_resume_finishes_the_same_model(tiny, dataset, capsys,
                                                                        monkeypatch):
    args = ["finetune", str(dataset.train_csv), "--val", str(dataset.val_csv), "--base", tiny,
            "--header", "seqTransf", "--freeze-backbone", "--lr", "1e-2", "--epochs", "4",
            "--batch-size", "8", "--device", "cpu"]
    assert cli(capsys, *args, "--name", "straight")[0] == 0

    real_epoch = loop._train_one_epoch

    def stop_after_two(run, standing, epoch):
        result = real_epoch(run, standing, epoch)
        if epoch == 2:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(loop, "_train_one_epoch", stop_after_two)
    code, out, _ = cli(capsys, *args, "--name", "halted")
    assert code == 130
    assert "interrupted: continue with" in out and "--resume" in out
    record = read_card("halted")["extra"]["finetune"]
    assert (record["finished"], record["interrupted"], record["epochs_done"]) == (False, True, 2)
    assert (config.models_dir() / "halted" / ".resume" / "state.json").is_file()

    monkeypatch.setattr(loop, "_train_one_epoch", real_epoch)
    code, out, err = cli(capsys, "finetune", str(dataset.train_csv), "--base", tiny,
                         "--name", "halted", "--resume")
    assert code == 0, err
    assert "resuming after epoch 2 of 4" in err
    assert "(2 epochs left:" in err and "(4 epochs left:" not in err
    record = read_card("halted")["extra"]["finetune"]
    assert (record["finished"], record["epochs_done"]) == (True, 4)
    assert read_card("halted")["extra"]["history"]["epoch"] == [1, 2, 3, 4]
    straight = load_file(config.models_dir() / "straight" / "model.safetensors")
    resumed = load_file(config.models_dir() / "halted" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert (straight[key] - resumed[key]).abs().max() < 1e-5, key


@pytest.mark.slow
def test_refusals_are_usage_errors(tiny, dataset, capsys):
    base = [str(dataset.train_csv), "--base", tiny, "--epochs", "1", "--device", "cpu"]
    code, _, err = cli(capsys, "finetune", *base, "--freeze-backbone")
    assert code == 2 and "--freeze-backbone with header" in err and "leaves nothing to train" in err
    assert "drop --freeze-backbone" in err  # the CLI's advice, in flags
    code, _, err = cli(capsys, "finetune", *base, "--name", "clip4clip-webvid150k")
    assert code == 2 and "built-in model" in err
    code, _, err = cli(capsys, "finetune", *base, "--name", "fresh", "--resume")
    assert code == 2 and "nothing to resume" in err
    code, _, err = cli(capsys, "finetune", *base, "--epochs", "0")
    assert code == 2 and "--epochs 0" in err
    code, _, err = cli(capsys, "finetune", *base, "--val-fraction", "0")
    assert code == 0, err
    code, _, err = cli(capsys, "finetune", *base, "--val-fraction", "0")
    assert code == 2 and "already exists" in err
    assert cli(capsys, "finetune", *base, "--val-fraction", "0", "--overwrite")[0] == 0


@pytest.mark.slow
def test_without_validation_the_last_epoch_is_kept(tiny, dataset, capsys):
    code, out, err = cli(capsys, "finetune", str(dataset.train_csv), "--base", tiny,
                         "--name", "blind", "--val-fraction", "0", "--epochs", "2",
                         "--device", "cpu")
    assert code == 0, err
    assert "no validation split" in out and "from epoch 2 of 2" in out
    extra = read_card("blind")["extra"]
    assert "metrics_after" not in extra and extra["finetune"]["best_epoch"] == 2


@pytest.mark.slow
def test_bad_labels_through_the_real_cli(tiny, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("video,caption,when\nnope.mp4,,\n", encoding="utf-8")
    done = run_cli("finetune", str(labels), "--base", tiny, env_extra=QUIET_THREADS)
    assert done.returncode == 2
    assert f"{labels}:1: unknown column(s) 'when'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "nothing was trained" in done.stderr
    done = run_cli("eval", str(labels), "--model", tiny, env_extra=QUIET_THREADS)
    assert done.returncode == 2 and f"{labels}:1: unknown column(s) 'when'" in done.stderr
    assert "nothing was trained" not in done.stderr and "no model was loaded" in done.stderr
    done = run_cli("eval", str(tmp_path / "missing.csv"), env_extra=QUIET_THREADS)
    assert done.returncode == 2 and "no such file" in done.stderr


@pytest.mark.parametrize(("header", "patch", "frozen"), [
    ("seqLSTM", "2d", True), ("tightTransf", "2d", True), ("seqTransf", "3d", False),
    ("tightTransf", "2d", False),
])
@pytest.mark.slow
def test_every_header_and_patch_trains_saves_and_evaluates(tiny, dataset, capsys, header, patch,
                                                           frozen):
    name = f"{header}-{patch}"
    # No validation: the epoch is kept even where it scores below the base (which, with
    # validation, would be saved in its place).
    code, out, err = cli(capsys, "finetune", str(dataset.train_csv), "--val-fraction", "0",
                         "--base", tiny, "--name", name, "--header",
                         header, "--patch", patch, "--epochs", "1", "--batch-size", "8",
                         "--clip-lr", "1e-4", "--device", "cpu",
                         *(["--freeze-backbone"] if frozen else []))
    assert code == 0, err
    card = read_card(name)
    assert (card["header"], card["patch"]) == (header, patch)
    code, out, err = cli(capsys, "eval", str(dataset.val_csv), "--model", name, "--json")
    assert code == 0, err
    assert json.loads(out)["t2v"]["queries"] == 16


@pytest.mark.parametrize("header_args", [[], ["--header", "seqTransf", "--freeze-backbone"]])
@pytest.mark.slow
def test_when_no_epoch_beats_the_base_the_saved_model_is_the_base(tiny, dataset, capsys,
                                                                  monkeypatch, header_args):
    real_score = loop.score_key
    # Every epoch scores below the start, whatever it learnt.
    monkeypatch.setattr(loop, "score_key",
                        lambda metrics, epoch: real_score(metrics, 0) if epoch == 0
                        else [-1.0 - epoch])
    code, out, err = cli(capsys, "finetune", str(dataset.train_csv), "--val",
                         str(dataset.val_csv), "--base", tiny, "--name", "copy", "--epochs", "1",
                         "--batch-size", "8", "--clip-lr", "1e-4", "--lr", "1e-2",
                         "--device", "cpu", *header_args)
    assert code == 0, err
    assert "no epoch beat the base model 'tiny' on the validation labels; saved model 'copy'" \
        in out and "is an exact copy of it" in out
    assert "trained 1 epoch in " in out
    base = load_file(config.models_dir() / tiny / "model.safetensors")
    saved = load_file(config.models_dir() / "copy" / "model.safetensors")
    assert base.keys() == saved.keys()
    for key in base:
        assert base[key].equal(saved[key]), key
    card = read_card("copy")
    assert card["header"] == "meanP" and card["extra"]["finetune"]["best_epoch"] == 0
    scored = {}
    for name in (tiny, "copy"):
        code, out, err = cli(capsys, "eval", str(dataset.val_csv), "--model", name, "--json")
        assert code == 0, err
        scored[name] = {way: json.loads(out)[way] for way in ("t2v", "v2t")}
    assert scored["copy"] == scored[tiny]
    # "before" in the table and the card is the base model as `eval` scores it.
    for way in ("t2v", "v2t"):
        assert card["extra"]["metrics_before"][way]["r1"] == pytest.approx(scored[tiny][way]["r1"])
        assert card["extra"]["metrics_before"][way]["mean_rank"] == pytest.approx(
            scored[tiny][way]["mean_rank"])


def test_a_second_eval_of_the_same_labels_and_model_encodes_nothing(tiny, dataset, capsys,
                                                                   monkeypatch):
    code, first, err = cli(capsys, "eval", str(dataset.val_csv), "--model", tiny, "--json")
    assert code == 0, err

    def no_encoding(*args, **kwargs):
        raise AssertionError("the frame vectors of these spans were encoded already")

    from vidsearch.train import encode, evaluate, frozen

    for module in (encode, evaluate, frozen):
        monkeypatch.setattr(module, "encode_clip_frames", no_encoding)
    code, second, err = cli(capsys, "eval", str(dataset.val_csv), "--model", tiny, "--json")
    assert code == 0, err
    assert json.loads(second) == json.loads(first)
