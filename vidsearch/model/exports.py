"""Where exported graphs of a model's towers live, and the parity check each one carries.

`config.cache_dir() / "exports" / <weights fingerprint> / <tower>.<ext>` (tower "text" or
"image"; ext "onnx", or "xml" for OpenVINO), beside `<tower>.check.json`: how the export
compared with torch when it was made. An export without a passed check is not used. Written
atomically (a temporary name in the same folder, then a replace), so a reader never sees half
a graph. No torch here: a query process reads these without it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vidsearch import config

log = logging.getLogger(__name__)

TOWERS = ("text", "image")
EXTENSIONS = ("onnx", "xml")


@dataclass(frozen=True)
class ExportCheck:
    min_cosine: float  # lowest cosine between the export's and torch's vectors
    samples: int  # how many inputs were compared
    passed: bool
    runtime: str  # what ran the export for the check ("onnxruntime", "openvino")
    versions: dict  # library versions at export time (torch, the runtime, ...)
    created_at: str  # ISO 8601, UTC


def export_path(fingerprint: str, tower: str, ext: str) -> Path:
    if tower not in TOWERS:
        raise ValueError(f"unknown tower {tower!r}; choose from {TOWERS}")
    if ext not in EXTENSIONS:
        raise ValueError(f"unknown export format {ext!r}; choose from {EXTENSIONS}")
    return config.cache_dir() / "exports" / fingerprint / f"{tower}.{ext}"


def check_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.check.json")


def read_check(path: Path) -> ExportCheck | None:
    """The check recorded beside the export at `path`; None when it, or the export, is
    missing or unreadable (then the export is made again)."""
    if not path.exists():
        return None
    try:
        data = json.loads(check_path(path).read_text(encoding="utf-8"))
        return ExportCheck(**data)
    except (OSError, ValueError, TypeError) as exc:
        log.debug("no usable check beside %s: %s", path, exc)
        return None


def write_export(path: Path, write: Callable[[Path], None], check: ExportCheck) -> None:
    """`write(tmp)` writes the export to a temporary path in the same folder; it then replaces
    `path`, and the check is written beside it last, so a check always describes the graph
    next to it. OpenVINO's `.xml` comes with a `.bin` of the same stem: `write` may write one
    beside `tmp` (same stem) and it is moved along."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-") as tmp_dir:
        tmp = Path(tmp_dir) / path.name
        write(tmp)
        for companion in sorted(Path(tmp_dir).glob(f"{tmp.stem}.*")):
            if companion != tmp:
                os.replace(companion, path.with_name(companion.name))
        os.replace(tmp, path)
        check_tmp = Path(tmp_dir) / check_path(path).name
        check_tmp.write_text(json.dumps(asdict(check), indent=1), encoding="utf-8")
        os.replace(check_tmp, check_path(path))
