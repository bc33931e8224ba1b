"""`ModelOnDemand`: a model whose weights load only when a frame needs encoding.

`vidsearch index` on an unchanged library only compares files with the store and checks that
the library was made by this model; loading ViT-B/32 for that took 8 s of an 8 s run. What the
comparison needs (the card, the device, the fingerprint of card and weights) is known without
building the model; the weights load on the first frame to encode.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from vidsearch.errors import CannotRunError
from vidsearch.model.factory import load_located, pick_autocast, pick_device
from vidsearch.model.locate import LocatedModel, locate_model
from vidsearch.model.video_text import VideoTextModel
from vidsearch.model.weights import load_state_file

log = logging.getLogger(__name__)


class ModelOnDemand:
    """Stands in for a `VideoTextModel` where an `Indexer` uses it (a `FrameEncoder`).

    Problems that would stop the load (unknown model, missing weights, no CUDA, an unknown
    precision) are raised here, at once, as `load_model` would raise them: both take the same
    steps, this one stops before building the model.
    """

    def __init__(self, name: str | None = None, *, device: str = "auto",
                 weights: Path | str | None = None, precision: str = "fp32",
                 offline: bool = False, text: bool = True) -> None:
        torch_device = pick_device(device)
        pick_autocast(precision, torch_device)
        located = locate_model(name, weights=weights, offline=offline)
        load_state_file(located.weights, mapped=True)  # refuses what the load would, reading little
        self.card = located.card
        self.fingerprint = located.fingerprint
        self.device = torch_device.type
        self.embed_dim = self.card.embed_dim
        self._located = located
        self._load_options = {"device": torch_device, "precision": precision, "text": text}
        self._model: VideoTextModel | None = None
        self._lock = threading.Lock()  # decoder threads may ask for image_size together

    @property
    def located(self) -> LocatedModel:
        """The card, weights file and fingerprint, for workers that load the same model."""
        return self._located

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> VideoTextModel:
        with self._lock:
            if self._model is None:
                log.info("loading model %s", self.card.name)
                self._model = load_located(self._located, **self._load_options)
                # Indexing is where frames are many: worth measuring a faster runtime.
                self._model.prefer_fastest_image_runtime()
                if self._model.fingerprint != self.fingerprint:
                    raise CannotRunError(f"{self._located.weights}: the weights "
                                         "changed during the run", "run the command again")
            return self._model
    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def temporal_context(self) -> int:
        return self.model.temporal_context

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)) -> np.ndarray:
        return self.model.embed_frames(frames, context)

    def aggregate(self, windows) -> np.ndarray:
        return self.model.aggregate(windows)
