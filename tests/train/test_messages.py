"""Library messages name settings; `vidsearch finetune` words its advice in flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from vidsearch import config
from vidsearch.cli import finetune as finetune_cli
from vidsearch.errors import VidsearchError
from vidsearch.train import checkpoint, labels, recipe, target
from vidsearch.train.labels import LabelledClip, Labels, Span
from vidsearch.train.settings import FinetuneSettings, SettingError

TRAIN = Path(labels.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string in the module that is not a docstring (messages, hints, notes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_no_library_string_in_train_names_a_flag():
    named = [f"{path.name}:{line}: {text!r}" for path in sorted(TRAIN.glob("*.py"))
             for line, text in string_literals(path) if FLAG.search(text)]
    assert not named


def cli_error(exc: VidsearchError) -> VidsearchError:
    """What `vidsearch finetune`'s wrapper raises for a library error."""
    def fail(_args):
        raise exc

    original = finetune_cli._run
    finetune_cli._run = fail
    try:
        with pytest.raises(VidsearchError) as caught:
            finetune_cli.run(SimpleNamespace())
    finally:
        finetune_cli._run = original
    return caught.value


def caught(call) -> VidsearchError:
    with pytest.raises(VidsearchError) as error:
        call()
    return error.value


def settings(**changes) -> FinetuneSettings:
    return FinetuneSettings(**{"base": "tiny", "name": "family", "labels": "l.csv", **changes})


def test_name_equal_to_base_is_worded_in_flags(isolated_home):
    error = caught(lambda: target.check_target(settings(name="tiny"), resume=False,
                                               overwrite=False))
    assert isinstance(error, SettingError) and "--" not in str(error)
    shown = cli_error(error)
    assert shown.message == "--name must differ from --base"
    assert shown.hint == "pick another --name" and shown.exit_code == 2


def test_a_taken_name_and_a_builtin_name(isolated_home):
    resume = config.models_dir() / "family" / checkpoint.RESUME_DIR
    resume.mkdir(parents=True)
    (resume / "state.json").write_text("{}", encoding="utf-8")  # an interrupted run
    error = caught(lambda: target.check_target(settings(), resume=False, overwrite=False))
    assert "--" not in str(error)
    shown = cli_error(error)
    assert shown.message == "model 'family' already exists" and shown.exit_code == 2
    assert shown.hint == "pick another --name, --resume an interrupted run, or --overwrite"
    error = caught(lambda: target.check_target(settings(name="clip4clip-webvid150k"),
                                               resume=False, overwrite=False))
    assert "--" not in str(error) and cli_error(error).hint == "pick another --name"


def test_an_unreadable_resume_state(tmp_path):
    (tmp_path / checkpoint.RESUME_DIR).mkdir()
    (tmp_path / checkpoint.RESUME_DIR / "state.json").write_text("{nope", encoding="utf-8")
    error = caught(lambda: checkpoint.read_resume_state(tmp_path))
    assert "--" not in str(error)
    shown = cli_error(error)
    assert "unreadable resume state" in shown.message and shown.exit_code == 2
    assert shown.hint == "start again without --resume (add --overwrite to replace the model)"


def test_one_video_cannot_be_split(tmp_path):
    video = tmp_path / "a.mp4"
    one = Labels(tmp_path / "l.csv", [LabelledClip(Span(video, 0, 4), ["x"], [2]),
                                      LabelledClip(Span(video, 4, 8), ["y"], [3])])
    error = caught(lambda: labels.split_by_video(one, 0.5, 0))
    assert "--" not in str(error)
    assert cli_error(error).hint == ("label clips from 2 or more videos, pass --val FILE, "
                                     "or --val-fraction 0")


def test_a_3d_model_stays_3d():
    base = SimpleNamespace(header_name="meanP", patch="3d")
    error = caught(lambda: recipe.prepare_module(base, "meanP", "2d", "meanP"))
    assert "--" not in str(error)
    shown = cli_error(error)
    assert shown.message == "a 3d-patch model cannot become 2d again"
    assert shown.hint == "fine-tune it with --patch 3d, or start from a 2d model"


def test_an_error_without_advice_passes_through_unchanged():
    error = VidsearchError("something", "do this")
    assert cli_error(error) is error


def test_the_cpu_estimate_counts_the_epochs_left_and_names_the_flag():
    text = finetune_cli.estimate_text(3.1, 24, backbone_frozen=False)
    assert "one epoch takes about 3 s (24 epochs left: 74 s)" in text
    assert "--freeze-backbone" in text
    assert "--freeze-backbone" not in finetune_cli.estimate_text(3.1, 1, backbone_frozen=True)
    assert "(1 epoch left: 3 s)" in finetune_cli.estimate_text(3.1, 1, backbone_frozen=True)


def test_a_tiny_epoch_is_under_a_second_not_about_0_s():
    text = finetune_cli.estimate_text(0.2, 2, backbone_frozen=True)
    assert "one epoch takes under a second (2 epochs left: under a second)" in text
    assert "0 s" not in text
