"""The text encoder a query gets: the model's checked ONNX export where there is one (no torch
imported), else the torch text tower, which then makes the export for the next query.

Where the export is missing, failed its check, cannot be loaded or cannot be made, queries
still run, on torch, and the log says why once per process and model (the TUI searches many
times; one warning is enough). Cards whose text tower is not the plain CLIP one have no export
and go on to the full model, as before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vidsearch.config import load_settings
from vidsearch.errors import CannotRunError, VidsearchError, first_line
from vidsearch.model.cards import ModelCard, load_card
from vidsearch.model.exports import export_path, read_check
from vidsearch.model.locate import compute_fingerprint, locate_model
from vidsearch.model.text_spec import plain_text_config

if TYPE_CHECKING:
    from vidsearch.model.protocols import TextEncoder

log = logging.getLogger(__name__)

_told: set[str] = set()  # fingerprints whose torch fallback was logged in this process
# Why there is no export to run, where exporting again would not help or needs no warning.
_MISSING = "no ONNX export yet"
_FAILED_CHECK = "the export failed its check"


def load_query_text_model(name: str | None = None, *, weights: Path | str | None = None,
                          offline: bool = False) -> TextEncoder | None:
    """A text encoder for queries on the CPU, or None where only the full model will do."""
    card = load_card(name or load_settings().active_model)
    config = plain_text_config(card)
    if config is None:
        log.info("text queries with %s use the full model: its text tower is not the plain "
                 "CLIP one that is exported to ONNX", card.name)
        return None
    located = locate_model(card.name, weights=weights, offline=offline)
    model, problem = open_text_export(card, located.fingerprint, config)
    if model is not None:
        return model
    try:
        from vidsearch.model.text_query import load_text_query_model
    except ImportError as exc:  # a query-only install: ONNX Runtime and no torch
        raise CannotRunError(
            f"text queries with {card.name} need its ONNX export or torch: {problem} "
            f"({export_path(located.fingerprint, 'text', 'onnx')}), and torch cannot be "
            f"imported ({first_line(exc, 80)})",
            "copy the exports folder of the cache from a machine with torch, where any "
            "text search makes it, or install torch") from exc
    torch_model = load_text_query_model(card.name, weights=located.weights, offline=offline)
    if torch_model is None or problem is _FAILED_CHECK:
        return torch_model
    # Missing (the first query after indexing) or unloadable: make it for the next query.
    failure = _export(torch_model, problem)
    if failure is not None:
        _tell_once(located.fingerprint, card, failure)
    elif problem is not _MISSING:
        _tell_once(located.fingerprint, card, f"{problem}; it is made again for the next query")
    return torch_model


def export_for_queries(card: ModelCard, weights: Path) -> None:
    """Make the text tower's ONNX export for weights just downloaded or imported, so the first
    query is already quick. Never raises: a problem is logged, and queries use torch."""
    if plain_text_config(card) is None:
        return
    from vidsearch.model.weights import weights_fingerprint

    fingerprint = compute_fingerprint(card, weights_fingerprint(weights))
    if read_check(export_path(fingerprint, "text", "onnx")) is not None:
        return
    try:
        from vidsearch.model.text_query import load_text_query_model

        torch_model = load_text_query_model(card.name, weights=weights, offline=True)
    except ImportError as exc:  # no torch here: queries will ask for the export then
        log.info("no ONNX export made for %s: %s", card.name, first_line(exc, 80))
        return
    except VidsearchError as exc:
        _tell_once(fingerprint, card, f"its text tower cannot be exported ({exc})")
        return
    if torch_model is not None:
        problem = _export(torch_model, _MISSING)
        if problem is not None:
            _tell_once(fingerprint, card, problem)


def open_text_export(card: ModelCard, fingerprint: str, config: dict
                     ) -> tuple[TextEncoder | None, str]:
    """The export as a model; else None and why (`_MISSING`, `_FAILED_CHECK`, or what is
    wrong with it)."""
    path = export_path(fingerprint, "text", "onnx")
    check = read_check(path)
    if check is None:
        return None, _MISSING
    if not check.passed:
        _tell_once(fingerprint, card, f"its ONNX export {path} gave min cosine "
                                      f"{check.min_cosine:.6f} against torch in its check "
                                      f"(made with {check.versions})")
        return None, _FAILED_CHECK
    try:
        from vidsearch.model.onnx_text import OnnxTextModel

        model = OnnxTextModel(card, fingerprint, path, embed_dim=config["embed_dim"],
                              context_length=config["text_cfg"]["context_length"])
    except ImportError as exc:
        return None, f"onnxruntime is not installed ({first_line(exc, 120)})"
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own unrelated types
        return None, f"its ONNX export {path} cannot be loaded ({first_line(exc, 160)})"
    log.info("text queries with %s run on ONNX Runtime (%s)", card.name, path)
    return model, ""


def _export(torch_model, problem: str) -> str | None:
    """Make the export; None when it now exists and passed, else what went wrong."""
    try:
        from vidsearch.model.text_export import MIN_COSINE, export_text_tower

        check = export_text_tower(torch_model)
    except VidsearchError as exc:
        return f"{problem}, and exporting failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - torch.onnx, onnx and onnxruntime raise anything
        return f"{problem}, and exporting failed ({first_line(exc, 160)})"
    if not check.passed:
        return (f"its new ONNX export gave min cosine {check.min_cosine:.6f} against torch, "
                f"below the {MIN_COSINE} it must reach")
    return None


def _tell_once(fingerprint: str, card: ModelCard, problem: str) -> None:
    if fingerprint not in _told:
        _told.add(fingerprint)
        log.warning("text queries with %s run on torch, slower to start: %s", card.name,
                    problem)
