"""`ModelOnDemand`: a model whose weights load only when a frame needs encoding.

`vidsearch index` on an unchanged library only compares files with the store and checks that
the library was made by this model; loading ViT-B/32 for that took 8 s of an 8 s run. What the
comparison needs (the card, the device, the fingerprint of card and weights) is known without
building the model; the weights load once there is a frame to encode. Decoding needs only the
frame size, which the architecture's config gives: asking for it starts the load in the
background, so the first videos decode while open_clip is imported and the weights are read
(seconds on a CPU), and the first frame to encode waits for what is left of the load.

Where this machine's verdicts have settled on ONNX Runtime for the frames (index_runtime.py),
the "load" opens that export instead, and the run never imports torch.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidsearch.errors import CannotRunError
from vidsearch.model.image_runtime import RUNTIME_NAMES
from vidsearch.model.index_runtime import cuda_may_be_present, plan_onnx_indexing
from vidsearch.model.locate import LocatedModel, locate_model
from vidsearch.model.onnx_frames import OnnxFrameEncoder
from vidsearch.model.text_spec import open_clip_config_file
from vidsearch.model.threads import threads_for, use_threads_if_loaded

if TYPE_CHECKING:
    from vidsearch.model.video_text import VideoTextModel

log = logging.getLogger(__name__)


class ModelOnDemand:
    """Stands in for a `VideoTextModel` where an `Indexer` uses it (a `FrameEncoder`).

    Problems that would stop the load (unknown model, missing weights, no CUDA, an unknown
    precision) are raised here, at once, as `load_model` would raise them: both take the same
    steps, this one stops before building the model. On a CPU, safetensors weights are checked
    by their header, so torch is first imported by the load.
    """

    def __init__(self, name: str | None = None, *, device: str = "auto",
                 weights: Path | str | None = None, precision: str = "fp32",
                 offline: bool = False, text: bool = True) -> None:
        # The CPU, whatever torch would say, with a precision a CPU takes: nothing here needs
        # torch, which the background load imports while the first videos decode.
        cpu = ((device == "cpu" or (device == "auto" and not cuda_may_be_present()))
               and precision in ("auto", "fp32", "bf16"))
        if not cpu:
            self._check_torch_options(device, precision)  # before any download
        located = locate_model(name, weights=weights, offline=offline)
        self.card = located.card
        self.fingerprint = located.fingerprint
        self.embed_dim = self.card.embed_dim
        self._located = located
        self._onnx = plan_onnx_indexing(
            self.card, self.fingerprint, device=device, precision_name=precision,
            image_size=self._known_image_size()) if cpu else None
        if self._onnx is not None:
            self.device = "cpu"  # its export stands for these weights (their fingerprint)
        elif cpu and located.weights.suffix == ".safetensors":
            self._check_weights_header()
            self.device = "cpu"
        else:
            self.device = self._check_torch_options(device, precision).type
            self._check_weights()
        self._load_options = {"device": device, "precision": precision, "text": text}
        self._threads = threads_for("index")
        self._threads_set = threading.local()
        self._model: VideoTextModel | OnnxFrameEncoder | None = None
        self._loading: Future[VideoTextModel | OnnxFrameEncoder] | None = None
        self._lock = threading.Lock()  # decoder threads may ask for image_size together

    @staticmethod
    def _check_torch_options(device: str, precision: str):
        from vidsearch.model.devices import pick_autocast, pick_device

        torch_device = pick_device(device)
        pick_autocast(precision, torch_device)
        return torch_device

    def _check_weights_header(self) -> None:
        """What the load would refuse, from the safetensors header: an unreadable or cut-short
        file, tensors that do not fit the card (never stricter than the load)."""
        from vidsearch.model.fit import describe_unusable
        from vidsearch.model.weights import UNREADABLE_HINT, misfit_error

        path = self._located.weights
        unreadable = describe_unusable(path)
        if unreadable is not None:
            raise CannotRunError.about(path, unreadable, UNREADABLE_HINT)
        misfit = describe_unusable(path, self.card)
        if misfit is not None:
            raise misfit_error(self.card, path, misfit)

    def _check_weights(self) -> None:
        from vidsearch.model.weights import load_state_file

        load_state_file(self._located.weights, mapped=True)  # refuses what the load would

    @property
    def located(self) -> LocatedModel:
        """The card, weights file and fingerprint, for workers that load the same model."""
        return self._located

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> VideoTextModel | OnnxFrameEncoder:
        """The loaded model, loading it here or waiting for the background load; a load that
        failed raises its error here, in the caller's thread."""
        with self._lock:
            if self._model is None:
                self._model = self._loading.result() if self._loading else self._load()
        if not getattr(self._threads_set, "done", False):
            # torch's thread count holds per thread, and torch may have been imported by the
            # background load: set it in each thread that encodes.
            use_threads_if_loaded("index")
            self._threads_set.done = True
        return self._model

    def _load(self) -> VideoTextModel | OnnxFrameEncoder:
        if self._onnx is not None:
            log.info("encoding %s frames with %s's image export on %s (%.2fx torch on this "
                     "machine): torch is not loaded", self._onnx.frames, self.card.name,
                     RUNTIME_NAMES[self._onnx.frames], self._onnx.speedup)
            return OnnxFrameEncoder(card=self.card, fingerprint=self.fingerprint,
                                    graph=self._onnx.graph, preprocess=self._onnx.preprocess,
                                    threads=self._threads, frames=self._onnx.frames)
        from vidsearch.model.factory import load_located

        log.info("loading model %s", self.card.name)
        options = dict(self._load_options)
        options["device"] = self._check_torch_options(options["device"], options["precision"])
        model = load_located(self._located, **options)
        # Indexing is where frames are many: worth measuring a faster runtime.
        model.prefer_fastest_image_runtime()
        if model.fingerprint != self.fingerprint:
            raise CannotRunError(f"{self._located.weights}: the weights "
                                 "changed during the run", "run the command again")
        if self._known_image_size() not in (None, model.image_size):
            raise CannotRunError(f"{self.card.name}: the model takes {model.image_size}-pixel "
                                 f"frames, its config says {self._known_image_size()}",
                                 "report this: the card's config is wrong")
        return model

    def _start_loading(self) -> None:
        with self._lock:
            if self._model is not None or self._loading is not None:
                return
            future: Future[VideoTextModel | OnnxFrameEncoder] = Future()
            self._loading = future

        def load() -> None:
            try:
                future.set_result(self._load())
            except BaseException as exc:  # handed to whoever asks for the model
                future.set_exception(exc)

        # A daemon: Ctrl-C during the load must not wait for it to finish.
        threading.Thread(target=load, name="model-load", daemon=True).start()

    def _known_image_size(self) -> int | None:
        """The frame side the architecture's config names, None where it does not say one."""
        config = self.card.open_clip_config or open_clip_config_file(self.card.arch)
        size = (config or {}).get("vision_cfg", {}).get("image_size")
        return size if isinstance(size, int) else None

    @property
    def image_size(self) -> int:
        size = self._known_image_size()
        if size is None:
            return self.model.image_size
        self._start_loading()
        return size

    @property
    def temporal_context(self) -> int:
        return self.model.temporal_context

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)) -> np.ndarray:
        return self.model.embed_frames(frames, context)

    def aggregate(self, windows) -> np.ndarray:
        return self.model.aggregate(windows)
