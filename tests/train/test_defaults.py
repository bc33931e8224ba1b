"""The fine-tune defaults are one fact: the settings the loop runs with, the CLI's argparse
defaults and its --help text all come from `settings.DEFAULTS`."""

from __future__ import annotations

import dataclasses

import pytest

from vidsearch.cli import build_parser
from vidsearch.cli import finetune as finetune_cli
from vidsearch.train.settings import DEFAULTS, FinetuneSettings, SettingError


def finetune_help(capsys) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_the_settings_start_from_the_defaults():
    settings = FinetuneSettings(base="a", name="b", labels="c")
    for name in ("epochs", "lr", "clip_lr", "weight_decay", "warmup", "max_words",
                 "val_fraction", "seed"):
        assert getattr(settings, name) == getattr(DEFAULTS, name), name


def test_the_cli_parses_to_the_defaults():
    args = build_parser().parse_args(["finetune", "labels.csv"])
    for name in ("epochs", "lr", "clip_lr", "val_fraction", "seed"):
        assert getattr(args, name) == getattr(DEFAULTS, name), name


def test_the_help_shows_the_values_the_loop_uses(capsys, monkeypatch):
    # Other numbers than the shipped ones, so a help text written out by hand cannot pass.
    odd = dataclasses.replace(DEFAULTS, epochs=7, lr=3e-4, clip_lr=2e-6, val_fraction=0.25,
                              seed=11, weight_decay=0.05, warmup=0.2, cuda_batch=96,
                              cpu_batch=24, frozen_batch=512)
    monkeypatch.setattr(finetune_cli, "DEFAULTS", odd)
    text = finetune_help(capsys)
    for shown in ("passes over the labels (7)", "new weights (3e-4)", "CLIP weights (2e-6;",
                  "at a time (0.25;", "random seed (11)", "96 on CUDA", "24 on a CPU",
                  "512 with --freeze-backbone", "CLIP weights at 2e-6", "weights at 3e-4",
                  "weight decay 0.05", "20% warm-up"):
        assert shown in text, shown
    args = build_parser().parse_args(["finetune", "labels.csv"])
    assert (args.epochs, args.lr, args.clip_lr, args.val_fraction, args.seed) == (
        7, 3e-4, 2e-6, 0.25, 11)


def test_the_shipped_help_shows_the_papers_numbers(capsys):
    text = finetune_help(capsys)
    for shown in ("passes over the labels (5)", "new weights (1e-4)", "CLIP weights (1e-7;",
                  "at a time (0.1;", "CLIP weights at 1e-7", "10% warm-up"):
        assert shown in text, shown


def test_the_library_names_the_setting_and_the_cli_the_flag():
    with pytest.raises(SettingError) as caught:
        FinetuneSettings(base="a", name="b", labels="c", clip_lr=-1).validate()
    assert caught.value.setting == "clip_lr" and "--" not in str(caught.value)
    error = finetune_cli.flag_error(caught.value)
    assert str(error).startswith("--clip-lr -1 must be 0 or more")
    assert error.exit_code == 2
