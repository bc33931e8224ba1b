"""What a fine-tune's steps leave behind: each epoch's record and result, where training
stands between epochs (the best epoch so far among it), and the run's final result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vidsearch.metrics import BothWays


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    metrics: dict[str, Any] | None = None


@dataclass
class FinetuneResult:
    name: str
    base: str
    folder: Path
    saved: bool
    interrupted: bool
    epochs_done: int
    best_epoch: int
    before: BothWays | None
    after: BothWays | None
    history: list[EpochRecord]
    device: str
    seconds: float
    val_clips: int = 0  # what the best epoch was picked on (0: no validation)


@dataclass(frozen=True)
class Best:
    """The best epoch so far (0: the untouched start), its score, metrics and tensors."""

    epoch: int
    score: list[float]
    metrics: BothWays | None
    state: dict[str, torch.Tensor]


@dataclass
class Standing:
    """Where training stands after the last finished step; what --resume carries on from."""

    before: BothWays | None
    best: Best
    history: list[EpochRecord] = field(default_factory=list)
    pairs_done: int = 0

    @property
    def epochs_done(self) -> int:
        return self.history[-1].epoch if self.history else 0


@dataclass(frozen=True)
class EpochResult:
    """What one epoch ended with."""

    record: EpochRecord
    metrics: BothWays | None
    improved: bool  # it is the new best


def history_columns(history: list[EpochRecord]) -> dict[str, list[float]]:
    """Per-epoch numbers as one list per column: compact in a TOML card."""
    columns: dict[str, list[float]] = {"epoch": [r.epoch for r in history],
                                       "loss": [round(r.loss, 4) for r in history]}
    for way in ("t2v", "v2t"):
        if all(r.metrics for r in history):
            columns[f"{way}_r1"] = [r.metrics[way]["r1"] for r in history]
    return columns
