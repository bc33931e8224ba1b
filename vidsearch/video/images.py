"""Still images as the encoder takes them (a query by example picture)."""

from __future__ import annotations

from os import PathLike

import numpy as np
from PIL import Image, ImageOps

from vidsearch.errors import UsageError


def load_image(path: str | PathLike[str]) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3], upright per its EXIF orientation.

    Raises UsageError when the file cannot be read as an image: the user named it as a query.
    """
    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            return np.array(upright.convert("RGB"), dtype=np.uint8)  # writable, for torch
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as err:
        hint = "use a JPEG, PNG or WebP file"
        raise UsageError.about(path, f"cannot read as an image ({err})", hint) from err
