"""Still images as the encoder takes them (a query by example picture)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from vidsearch.errors import UsageError

# What Pillow reads that people keep photos and frame grabs in.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def is_image_file(value: str) -> bool:
    """Whether `value` names an existing image file (by its extension), so that a query part
    that names one is that image and not its words."""
    path = Path(value).expanduser()
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def load_image(path: str | PathLike[str]) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3], upright per its EXIF orientation.

    Raises UsageError when the file cannot be read as an image: the user named it as a query.
    """
    from PIL import Image, ImageOps  # here: a text query asks `is_image_file` alone

    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            return np.array(upright.convert("RGB"), dtype=np.uint8)  # writable, for torch
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as err:
        hint = "use a JPEG, PNG or WebP file"
        raise UsageError.about(path, f"cannot read as an image ({err})", hint) from err

