"""What training reports as it goes (`TrainProgress`): stages, steps, notes, the CPU estimate;
the CLI draws it, tests may record it, `SilentProgress` only logs."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class TrainProgress(Protocol):
    """What training reports; the CLI draws it, tests may record it."""

    def stage(self, description: str, total: int | None) -> None: ...
    def advance(self, count: int = 1, status: str = "") -> None: ...
    def note(self, text: str) -> None: ...
    def estimate(self, epoch_seconds: float, epochs_left: int, backbone_frozen: bool) -> None:
        """Training runs on a CPU: how long an epoch takes and how many are left (the one
        under way included); the front end words it (and what would be faster)."""


class SilentProgress:
    def stage(self, description: str, total: int | None) -> None:
        pass

    def advance(self, count: int = 1, status: str = "") -> None:
        pass

    def note(self, text: str) -> None:
        log.info("%s", text)

    def estimate(self, epoch_seconds: float, epochs_left: int, backbone_frozen: bool) -> None:
        log.info("training on the CPU: about %.0f s per epoch, %d epochs left", epoch_seconds,
                 epochs_left)
