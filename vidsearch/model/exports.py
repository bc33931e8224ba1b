"""The export cache: where a model's towers exported to ONNX or OpenVINO live, and their checks.

An exported graph belongs to one weights fingerprint, so it sits at
`cache_dir()/exports/<fingerprint>/<tower>.<ext>` (tower "text" or "image", ext "onnx" or
OpenVINO's "xml"), beside `<tower>.check.json`: how faithfully it reproduced torch when it was
made; the image tower's also has `image.preprocess.json` (its input size, mean and std). A graph without a readable check is never used. No torch or runtime is imported here, so
`status` and `models` can say what is exported for free.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vidsearch.config import cache_dir

log = logging.getLogger(__name__)

EXPORTS_DIRNAME = "exports"
TOWERS = ("text", "image")
EXTENSIONS = ("onnx", "xml")


@dataclass(frozen=True)
class ExportCheck:
    """The parity check an export passed (or failed) against torch when it was written."""

    min_cosine: float
    samples: int
    passed: bool
    runtime: str  # e.g. "onnxruntime", "openvino"
    versions: dict  # library name -> version, for the libraries that made and ran the graph
    created_at: str  # ISO 8601, UTC


def exports_dir() -> Path:
    return cache_dir() / EXPORTS_DIRNAME


def export_path(fingerprint: str, tower: str, ext: str) -> Path:
    if tower not in TOWERS:
        raise ValueError(f"tower must be one of {TOWERS}, not {tower!r}")
    if ext not in EXTENSIONS:
        raise ValueError(f"ext must be one of {EXTENSIONS}, not {ext!r}")
    return exports_dir() / fingerprint / f"{tower}.{ext}"


def check_path(path: Path) -> Path:
    """The check file beside the graph at `path` (`text.onnx` -> `text.check.json`)."""
    return path.with_name(f"{path.name.split('.', 1)[0]}.check.json")


def preprocess_path(path: Path) -> Path:
    """The image tower's pixel record beside its graph (`image.onnx` ->
    `image.preprocess.json`): what a query needs to prepare an image without torch."""
    return path.with_name(f"{path.name.split('.', 1)[0]}.preprocess.json")


def read_check(path: Path) -> ExportCheck | None:
    """The check of the graph at `path`; None when the graph or its check is missing or the
    check cannot be read (treated as never checked, so never used)."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(check_path(path).read_text(encoding="utf-8"))
        return ExportCheck(**{f.name: raw[f.name] for f in fields(ExportCheck)})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("unreadable export check beside %s: %s", path, exc)
        return None


def write_export(path: Path, write: Callable[[Path], None], check: ExportCheck) -> None:
    """Write a graph with `write(temporary_path)` and record `check` beside it.

    `write` works in a temporary folder inside the destination folder; each file it leaves
    (the graph, and any side file such as OpenVINO's `.bin` or ONNX external data) then
    replaces its namesake, the graph last and its check after it. The old check goes first,
    so a reader never pairs a new graph with an old check or sees half a file.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    try:
        write(staging / path.name)
        if not (staging / path.name).is_file():
            raise FileNotFoundError(f"the export wrote no {path.name}")
        check_path(path).unlink(missing_ok=True)
        for side in sorted(staging.iterdir()):
            if side.name != path.name:
                os.replace(side, folder / side.name)
        os.replace(staging / path.name, path)
        write_json(check_path(path), asdict(check))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    """`data` as JSON at `path`, whole or not at all (a reader may be another process)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
