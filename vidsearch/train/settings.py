"""What one fine-tune is asked to do (`FinetuneSettings`), the recipe's defaults for it, and
the checks on it. No torch: the CLI reads the defaults for its --help."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from vidsearch.errors import UsageError, VidsearchError, advice_of, advised  # noqa: F401 (re-exported for train/)
from vidsearch.model.cards import HEADER_NAMES, PATCHES


@dataclass(frozen=True)
class RecipeDefaults:
    """The recipe's numbers where the user says nothing; the settings and the CLI read them."""

    epochs: int = 5
    lr: float = 1e-4  # the header's new weights
    clip_lr: float = 1e-7  # CLIP's own; larger rates erase what CLIP knows
    weight_decay: float = 0.2
    warmup: float = 0.1  # share of all steps
    max_words: int = 32
    val_fraction: float = 0.1
    seed: int = 0
    cpu_batch: int = 32
    cuda_batch: int = 128  # the paper's; halved on out-of-memory until it fits
    frozen_batch: int = 256


DEFAULTS = RecipeDefaults()


class SettingError(UsageError):
    """One setting has a value the recipe cannot use. `setting` names the FinetuneSettings
    field and `reason` says what is wrong with its value, so a front end can put its own name
    for the parameter (a CLI flag) in front; `other` names a second setting the reason ends
    with ("name must differ from base"). Its advice key is the setting unless given."""

    def __init__(self, setting: str, reason: str, hint: str | None = None, *,
                 other: str | None = None, advice: str | None = None) -> None:
        super().__init__(f"{setting} {reason}" + (f" {other}" if other else ""), hint)
        self.setting = setting
        self.reason = reason
        self.other = other
        self.advice = advice or setting


@dataclass
class FinetuneSettings:
    """What one fine-tune does; recorded in the model card and reused by --resume."""

    base: str
    name: str
    labels: str
    val: str | None = None  # a separate validation labels file
    val_fraction: float = DEFAULTS.val_fraction  # else this share, whole videos at a time
    header: str | None = None  # None: the base model's
    patch: str | None = None
    epochs: int = DEFAULTS.epochs
    batch_size: int | None = None  # None: what suits the device
    lr: float = DEFAULTS.lr
    clip_lr: float = DEFAULTS.clip_lr
    weight_decay: float = DEFAULTS.weight_decay
    warmup: float = DEFAULTS.warmup
    max_words: int = DEFAULTS.max_words
    freeze_backbone: bool = False
    seed: int = DEFAULTS.seed
    device: str = "auto"
    offline: bool = False  # the run's, not the recipe's: never download the base's weights

    def validate(self) -> None:
        """Raise SettingError (or UsageError) for the first setting the recipe cannot use."""
        per_setting = [
            ("epochs", self.epochs >= 1, f"{self.epochs} must be at least 1"),
            ("batch_size", self.batch_size is None or self.batch_size >= 2,
             f"{self.batch_size} must be at least 2 (the loss contrasts pairs)"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), f"{self.lr:g} must be positive"),
            ("clip_lr", self.clip_lr >= 0 and math.isfinite(self.clip_lr),
             f"{self.clip_lr:g} must be 0 or more"),
            ("val_fraction", 0 <= self.val_fraction < 1,
             f"{self.val_fraction:g} must be in [0, 1)"),
        ]
        for setting, ok, reason in per_setting:
            if not ok:
                raise SettingError(setting, reason)
        checks = [
            (self.weight_decay >= 0, "weight decay must be 0 or more"),
            (0 <= self.warmup < 1, "warm-up must be a fraction below 1"),
            (self.max_words >= 3, "captions need at least 3 tokens"),
            (self.header is None or self.header in HEADER_NAMES,
             f"unknown header {self.header!r}; use one of {', '.join(HEADER_NAMES)}"),
            (self.patch is None or self.patch in PATCHES,
             f"unknown patch {self.patch!r}; use one of {', '.join(PATCHES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
