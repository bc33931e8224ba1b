"""The model an image query gets on a CPU: the image tower's checked ONNX export (and, where
the query has words too, the text tower's), so `find --image` imports no torch.

None where an export is missing, failed its check or cannot be loaded: the caller then loads
the full torch model, which makes the export for the next query
(`vidsearch.query_models.QueryModels.for_image`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidsearch.config import load_settings
from vidsearch.errors import CannotRunError, first_line
from vidsearch.model.cards import ModelCard, load_card
from vidsearch.model.exports import export_path, preprocess_path, read_check
from vidsearch.model.locate import locate_model
from vidsearch.model.pixels import Preprocess
from vidsearch.model.protocols import TextEncoder
from vidsearch.model.query_text import open_text_export
from vidsearch.model.text_spec import plain_text_config

log = logging.getLogger(__name__)

# One picture through ViT-B/32 is ~10x the work of a caption: a second thread halves it on a
# quiet machine (72 -> 42 ms here), and with spinning off it costs little on a busy one.
IMAGE_QUERY_THREADS = min(2, os.cpu_count() or 1)


class OnnxQueryModel:
    """A `QueryModel` (model/protocols.py) on exports alone; it cannot re-rank."""

    can_rerank = False
    device = "cpu"

    def __init__(self, card: ModelCard, fingerprint: str, embed_dim: int, image,
                 text: TextEncoder | None) -> None:
        self.card = card
        self.fingerprint = fingerprint
        self.embed_dim = embed_dim
        self._image = image
        self._text = text

    @property
    def image_runtime(self) -> str:
        return self._image.runtime

    @property
    def has_text(self) -> bool:
        return self._text is not None

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        return self._image.embed_image(image)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self._text is None:
            raise RuntimeError("this query model was loaded without a text tower")
        return self._text.embed_texts(texts)

    def rerank(self, text: str, windows: Sequence[np.ndarray]) -> np.ndarray:
        raise RuntimeError("re-ranking needs the full model")


def load_query_image_model(name: str | None = None, *, weights: Path | str | None = None,
                           offline: bool = False, texts: bool = False,
                           precision: str = "fp32") -> OnnxQueryModel | None:
    """Image queries (and text, with `texts`) on exports; None where torch must serve.
    `precision` "auto" lets the picture's runtime be measured (query_image_runtime.py)."""
    card = load_card(name or load_settings().active_model)
    located = locate_model(card.name, weights=weights, offline=offline)
    image, problem = _open_image_export(located.fingerprint,
                                        card.arch if precision == "auto" else None)
    if image is None:
        _check_torch_can_serve(card, "image", problem, located.fingerprint)
        log.info("image queries with %s run on torch: %s", card.name, problem)
        return None
    text = None
    if texts:
        config = plain_text_config(card)
        text, problem = (open_text_export(card, located.fingerprint, config) if config
                         else (None, "its text tower is not exported"))
        if text is None:
            _check_torch_can_serve(card, "text", problem, located.fingerprint)
            log.info("queries of images and words with %s run on torch: %s", card.name,
                     problem)
            return None
    log.info("image queries with %s run on %s (%s)", card.name, image.runtime, image.graph)
    return OnnxQueryModel(card, located.fingerprint, card.embed_dim, image, text)


def _check_torch_can_serve(card: ModelCard, tower: str, problem: str, fingerprint: str) -> None:
    """On a query-only install (no torch), one line saying what to copy, not a traceback."""
    if importlib.util.find_spec("torch") is not None:
        return
    raise CannotRunError(
        f"image queries with {card.name} need its ONNX exports or torch: {problem} "
        f"({export_path(fingerprint, tower, 'onnx')}), and torch is not installed",
        "copy the exports folder of the cache from a machine with torch, where `vidsearch "
        "index` or any image search makes it, or install torch")


def _open_image_export(fingerprint: str, arch: str | None):
    path = export_path(fingerprint, "image", "onnx")
    check = read_check(path)
    if check is None:
        return None, "no ONNX export of the image tower yet"
    if not check.passed:
        return None, f"its image export gave min cosine {check.min_cosine:.6f} against torch"
    preprocess = Preprocess.read(preprocess_path(path))
    if preprocess is None:
        return None, "its image export has no pixel record yet"
    try:
        from vidsearch.model.onnx_image import OnnxImageEncoder

        return OnnxImageEncoder(path, preprocess, IMAGE_QUERY_THREADS, arch), ""
    except ImportError as exc:
        return None, f"onnxruntime is not installed ({first_line(exc, 120)})"
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own unrelated types
        return None, f"its image export {path} cannot be loaded ({first_line(exc, 160)})"
