"""`VideoTextModel`: the numpy-facing model the indexer, search and TUI use.

Callers hand in uint8 frames and lists of strings and get float32 arrays back; batching, pixel
normalisation, devices and autocast stay in here, so nothing above needs torch types.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsearch.errors import UsageError
from vidsearch.model.cards import ModelCard
from vidsearch.model.clip4clip import CLIP4Clip
from vidsearch.model.image_runtime import CPU_FRAME_BATCH
from vidsearch.model.memory import return_freed_memory
from vidsearch.model.pixels import Preprocess, fit_square
from vidsearch.model.pooling import mean_pool, sample_window

log = logging.getLogger(__name__)

TEXT_BATCH = 256
WINDOW_BATCH = 256


class VideoTextModel:
    """A loaded model: embed captions, frames and images; aggregate clips; re-rank.

    Attributes the rest of the app relies on: `card`, `fingerprint` (changes whenever stored
    vectors would), `device` ("cpu"/"cuda"), `image_size` (the square side frames must have),
    `embed_dim`, `temporal_context` (neighbour frames a frame needs on each side: 0 for the 2d
    patch, 1 for 3d), `can_rerank` (a tightTransf model).
    """

    def __init__(self, *, card: ModelCard, module: CLIP4Clip, tokenizer: Callable[..., Any],
                 device: torch.device, autocast_dtype: torch.dtype | None, fingerprint: str,
                 image_size: int, mean: Sequence[float], std: Sequence[float],
                 frame_batch: int | None = None, probe_cpu_precision: bool = False) -> None:
        self.card = card
        self.module = module
        self.tokenizer = tokenizer
        self._device = torch.device(device)
        self.autocast_dtype = autocast_dtype
        # On a CPU bf16 means bf16 *weights* in the image tower: autocast re-casts every weight
        # on every call and ran slower than fp32 here, while bf16 weights ran 2x faster.
        self._frame_dtype = torch.float32
        # precision "auto" on a CPU: measured on the first frames to encode (see precision.py),
        # so a text query never pays for the measurement.
        self._probe_cpu_precision = probe_cpu_precision and self._device.type == "cpu"
        # fp32 frames on a CPU may run faster in ONNX Runtime (image_runtime.py): measured when
        # an indexer asks (`prefer_fastest_image_runtime`), never for a query.
        self._probe_image_runtime = False
        self._image_runtime: Callable[[np.ndarray], np.ndarray] | None = None
        self._image_runtime_name = "torch"
        self.fingerprint = fingerprint
        self.image_size = int(image_size)
        self.preprocess = Preprocess(self.image_size, tuple(mean), tuple(std))
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self._device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self._device).view(1, 3, 1, 1)
        self.frame_batch = frame_batch or (
            256 if self._device.type == "cuda" else CPU_FRAME_BATCH)

    @property
    def device(self) -> str:
        return self._device.type

    @property
    def embed_dim(self) -> int:
        return self.module.embed_dim

    @property
    def temporal_context(self) -> int:
        return 1 if self.module.patch == "3d" else 0

    @property
    def can_rerank(self) -> bool:
        return self.module.can_rerank

    @property
    def frames_per_clip(self) -> int:
        return self.card.frames_per_clip

    def __repr__(self) -> str:
        return f"VideoTextModel({self.card.name!r}, device={self.device!r}, {self.fingerprint})"

    # --- text ---

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Captions -> L2-normalised float32 [N, D]."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not one string")
        out = [np.zeros((0, self.embed_dim), dtype=np.float32)]
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = self._tokenize(texts[start:start + TEXT_BATCH])
            with self._inference():
                features = self.module.encode_text(tokens)
            out.append(_to_numpy(F.normalize(features.float(), dim=-1)))
        return np.concatenate(out)

    def _tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self._device)

    # --- frames ---

    def embed_frames(self, frames: np.ndarray, context: tuple[int, int] = (0, 0)) -> np.ndarray:
        """uint8 RGB frames [N, S, S, 3] (S = image_size) -> raw float32 features [N-l-r, D].

        2d: frames are independent; a batch may mix videos. 3d: the N frames are one
        consecutive run of one video; the first `l` and last `r` = `context` frames only lend
        their neighbours temporal context and get no row. A run's true first/last frame, with
        no context given, sees zero padding (the start or end of the video).
        """
        self._check_frames(frames)
        if self._probe_cpu_precision:
            self._pick_cpu_precision()
        if self._probe_image_runtime:
            self._pick_image_runtime()
        left, right = (int(value) for value in context)
        count = frames.shape[0]
        if left < 0 or right < 0 or left + right > count:
            raise ValueError(f"context {context} does not fit {count} frames")
        stop = count - right
        out = [np.zeros((0, self.embed_dim), dtype=np.float32)]
        step = self.frame_batch
        for start in range(left, stop, step):
            end = min(start + step, stop)
            if self.module.patch == "3d":
                # Each output frame needs one neighbour per side; encode those as well.
                lo, hi = max(0, start - 1), min(count, end + 1)
                features = self._encode_sequence(frames[lo:hi])[start - lo:end - lo]
            else:
                features = self._encode_independent(frames[start:end])
            out.append(features)
        return np.concatenate(out)

    def _pick_cpu_precision(self) -> None:
        from vidsearch.config import cache_dir
        from vidsearch.model.precision import (CHOICES_FILE, choose_cpu_precision,
                                               decide_cpu_precision, machine_key)

        self._probe_cpu_precision = False
        towers = {False: self.module.clip.visual}

        def encode(frames: np.ndarray, bf16: bool) -> np.ndarray:
            if bf16 and True not in towers:
                towers[True] = _bf16_copy(towers[False])
            self.module.clip.visual = towers[bf16]
            self._frame_dtype = torch.bfloat16 if bf16 else torch.float32
            return self._encode_any(frames)

        choice = decide_cpu_precision(cache_dir() / CHOICES_FILE,
                                      machine_key(f"{self.card.arch}|{self.module.patch}"),
                                      lambda: choose_cpu_precision(encode, self.image_size))
        # Popped, not looked up: a tower left in `towers` would outlive the memory trim below.
        self.module.clip.visual = towers.pop(False)
        self._frame_dtype = torch.float32
        if choice.use_bf16:
            if self._probe_image_runtime:
                # A bf16 run may encode with the export too (OpenVINO), which is made from
                # the fp32 tower: now, before the tower turns bf16.
                self.export_image_for_queries()
            self.use_bf16_frames(towers.pop(True, None))

    def prefer_fastest_image_runtime(self) -> None:
        """Encode fp32 frames with the image tower's ONNX export where it is measured faster
        and agrees with torch (image_runtime.py), from the next frames on. Only with precision
        "auto" on a CPU and the 2d patch: a precision asked for by name runs in torch."""
        self._probe_image_runtime = (self._probe_cpu_precision and self.module.patch == "2d"
                                     and self.autocast_dtype is None)

    def _pick_image_runtime(self) -> None:
        from vidsearch.config import cache_dir
        from vidsearch.model.image_runtime import (CHOICES_FILE, RUNTIME_NAMES,
                                                   pick_image_runtime)
        from vidsearch.model.precision import machine_key

        self._probe_image_runtime = False
        precision = "bf16" if self._frame_dtype == torch.bfloat16 else "fp32"
        self._image_runtime = pick_image_runtime(
            machine_key=machine_key(
                f"{self.card.arch}|{self.module.patch}|{RUNTIME_NAMES[precision]}"),
            cache_file=cache_dir() / CHOICES_FILE, precision=precision,
            **self._image_export_inputs())
        if self._image_runtime is not None:
            self._image_runtime_name = RUNTIME_NAMES[precision]
            # The runtime holds its own copy of the weights, and every frame now goes there:
            # torch's copy would only add a third of ViT-B/32's memory to the run.
            self.module.clip.visual.to("meta")
            return_freed_memory()

    def export_image_for_queries(self) -> None:
        """Make the image tower's checked ONNX export (with its pixel record) where there is
        none, so the next image query needs no torch (model/query_image.py). Never raises: a
        problem is logged, and image queries go on in torch."""
        from vidsearch.model.image_runtime import checked_export

        if (self.module.patch != "2d" or self._frame_dtype != torch.float32
                or self._image_runtime is not None):
            return  # no export for these (image_runtime.py), or one is already in use
        try:
            checked_export(**self._image_export_inputs())
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not fail the query
            log.info("no ONNX export of the image tower for queries (%s: %s)",
                     type(exc).__name__, exc)

    def _image_export_inputs(self) -> dict[str, Any]:
        from vidsearch.model.image_runtime import PROBE_FRAMES, export_image_tower
        from vidsearch.model.precision import probe_frames

        clip, size = self.module.clip, self.image_size

        def torch_encode(pixels: np.ndarray) -> np.ndarray:
            with self._inference():  # in the tower's own precision, as frames are encoded
                return _to_numpy(clip.encode_image(torch.from_numpy(pixels).to(self._frame_dtype)))

        return {"fingerprint": self.fingerprint, "preprocess": self.preprocess,
                "export": lambda path: export_image_tower(clip, size, path),
                "torch_encode": torch_encode,
                "probe": self.preprocess.normalise(probe_frames(size, PROBE_FRAMES)),
                "threads": torch.get_num_threads()}

    @property
    def image_runtime(self) -> str:
        return self._image_runtime_name if self._image_runtime is not None else "torch"

    def use_bf16_frames(self, tower: torch.nn.Module | None = None) -> None:
        """Encode frames with the image tower in bf16 (CPU): `tower`, a bf16 copy the probe
        made, or else the tower itself converted in place (a tensor at a time, so fp32 and bf16
        weights are never all in memory together)."""
        if self._device.type != "cpu":
            raise ValueError("bf16 image-tower weights are for the CPU; CUDA uses autocast")
        if tower is not None:
            self.module.clip.visual = tower
        else:
            self.module.clip.visual.to(torch.bfloat16)
        self._frame_dtype = torch.bfloat16
        self._probe_cpu_precision = False
        return_freed_memory()

    @property
    def precision(self) -> str:
        if self._probe_cpu_precision:
            return "auto"
        if self._frame_dtype == torch.bfloat16:
            return "bf16"
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def _encode_any(self, frames: np.ndarray) -> np.ndarray:
        if self.module.patch == "3d":
            return self._encode_sequence(frames)
        return self._encode_independent(frames)

    def _encode_independent(self, frames: np.ndarray) -> np.ndarray:
        if self._image_runtime is not None:
            # numpy pixels, as an index run without torch makes them (onnx_frames.py)
            pixels = self.preprocess.normalise(frames)
            return np.asarray(self._image_runtime(pixels), dtype=np.float32)
        pixels = self._normalise(frames)
        with self._inference():
            features = self.module.encode_frames(pixels.unsqueeze(1))
        return _to_numpy(features[:, 0].float())

    def _encode_sequence(self, frames: np.ndarray) -> np.ndarray:
        pixels = self._normalise(frames)
        with self._inference():
            features = self.module.encode_frames(pixels.unsqueeze(0))
        return _to_numpy(features[0].float())

    def _check_frames(self, frames: np.ndarray) -> None:
        size = self.image_size
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise TypeError("frames must be a uint8 numpy array")
        if frames.ndim != 4 or frames.shape[1:] != (size, size, 3):
            raise ValueError(f"frames must be [N, {size}, {size}, 3], got {frames.shape}")

    def _normalise(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [N, S, S, 3] -> normalised float [N, 3, S, S] on the device."""
        tensor = torch.from_numpy(np.ascontiguousarray(frames))
        if self._device.type == "cuda":
            tensor = tensor.pin_memory().to(self._device, non_blocking=True)
        pixels = tensor.permute(0, 3, 1, 2).float().div_(255.0)
        return ((pixels - self._mean) / self._std).to(self._frame_dtype)

    # --- images ---

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        """An HxWx3 uint8 RGB image of any size -> raw float32 features [D].

        Fitted to the model's square (`pixels.fit_square`, as the ONNX query path does), then
        encoded exactly like one frame.
        """
        return self.embed_frames(fit_square(image, self.image_size)[np.newaxis])[0]

    # --- clips ---

    def aggregate(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Raw frame features of clips ([T_i, D] each) -> normalised clip vectors [W, D].

        Uses the index header (for tightTransf models: its shortlist header). A window longer
        than `frames_per_clip` is sampled uniformly down to that many frames.
        """
        if getattr(self.module.header, "name", None) == "meanP":
            # The arithmetic of the header, in numpy: the same clip vectors as an index run
            # whose frames went through ONNX Runtime without torch (onnx_frames.py).
            return mean_pool(windows, self.card.frames_per_clip, self.embed_dim)
        out = [np.zeros((0, self.embed_dim), dtype=np.float32)]
        for start in range(0, len(windows), WINDOW_BATCH):
            features, mask = self._pad(windows[start:start + WINDOW_BATCH])
            with self._inference():
                vectors = self.module.aggregate(features, mask)
            out.append(_to_numpy(vectors.float()))
        return np.concatenate(out)

    def rerank(self, text: str, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Tight-header scores of `text` against each window ([T_i, D] raw frame features).

        Higher is better; the scores order a shortlist and are not cosines.
        """
        if not self.can_rerank:
            raise UsageError(f"model '{self.card.name}' cannot re-rank (header {self.card.header})",
                             "re-ranking needs a tightTransf model")
        tokens = self._tokenize([text])
        out = [np.zeros((0,), dtype=np.float32)]
        for start in range(0, len(windows), WINDOW_BATCH):
            features, mask = self._pad(windows[start:start + WINDOW_BATCH])
            with self._inference():
                scores = self.module.rerank(tokens, features, mask)
            out.append(_to_numpy(scores.float()))
        return np.concatenate(out)

    def _pad(self, windows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        picked = [self._sample(np.asarray(window, dtype=np.float32)) for window in windows]
        length = max(len(window) for window in picked)
        features = np.zeros((len(picked), length, self.embed_dim), dtype=np.float32)
        mask = np.zeros((len(picked), length), dtype=bool)
        for row, window in enumerate(picked):
            features[row, :len(window)] = window
            mask[row, :len(window)] = True
        return (torch.from_numpy(features).to(self._device),
                torch.from_numpy(mask).to(self._device))

    def _sample(self, window: np.ndarray) -> np.ndarray:
        return sample_window(window, self.card.frames_per_clip, self.embed_dim)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        with torch.inference_mode():
            if self.autocast_dtype is None:
                yield
            else:
                with torch.autocast(device_type=self._device.type, dtype=self.autocast_dtype):
                    yield


def _bf16_copy(tower: torch.nn.Module) -> torch.nn.Module:
    """A bf16 copy of `tower` that never holds a second fp32 copy of its weights."""
    memo: dict[int, Any] = {}
    for tensor in [*tower.parameters(), *tower.buffers()]:
        if tensor.is_floating_point():
            cast = tensor.detach().to(torch.bfloat16)
            memo[id(tensor)] = torch.nn.Parameter(cast, requires_grad=False) if isinstance(
                tensor, torch.nn.Parameter) else cast
    return copy.deepcopy(tower, memo).eval()


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()
