"""The model folder a fine-tune writes: which names it may take, what it may replace, and the
settings of an interrupted run found there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from vidsearch.config import models_dir
from vidsearch.errors import UsageError
from vidsearch.model.cards import CARD_FILENAME, USER_WEIGHTS_FILENAME, list_cards
from vidsearch.train import checkpoint
from vidsearch.train.settings import FinetuneSettings, SettingError, advised


def check_target(settings: FinetuneSettings, *, resume: bool, overwrite: bool) -> Path:
    """The model folder to write; refuses to clobber a model or shadow a builtin one."""
    # The same rule as model cards' names: they become folder names under models_dir().
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", settings.name):
        raise UsageError(f"'{settings.name}' is not a valid model name",
                         "use letters, digits, '.', '_' and '-' only")
    folder = models_dir() / settings.name
    builtin = [card for card in list_cards()
               if card.name == settings.name and card.folder != folder]
    if builtin:
        raise advised(UsageError(f"'{settings.name}' is the name of a built-in model",
                                 "pick another name"), "another_name")
    if settings.name == settings.base and not resume:
        raise SettingError("name", "must differ from", "pick another name", other="base",
                           advice="another_name")
    if resume:
        if not checkpoint.has_resume(folder):
            raise UsageError(f"nothing to resume for '{settings.name}'",
                             "no interrupted fine-tune of that name has a finished epoch")
        return folder
    exists = (folder / CARD_FILENAME).exists() or checkpoint.has_resume(folder)
    if exists and not overwrite:
        raise advised(UsageError(f"model '{settings.name}' already exists",
                                 "pick another name, resume an interrupted run, or replace "
                                 "the model"), "name_taken")
    return folder


def clear_target(folder: Path) -> None:
    """Remove what an earlier fine-tune of this name left (only once the new one can start)."""
    for name in (CARD_FILENAME, USER_WEIGHTS_FILENAME):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(checkpoint.resume_folder(folder), ignore_errors=True)


def resumed_settings(name: str, device: str) -> FinetuneSettings:
    """The settings of an interrupted run (only the device may change)."""
    state = checkpoint.read_resume_state(models_dir() / name)
    settings = FinetuneSettings.from_dict(state.settings)
    settings.device = device
    return settings
