"""Face thumbnails for the report: read the key-frame crop, optionally de-identify it, encode it inline.

A report is often shared beyond the people allowed to see the client's face, so ``blur=True``
destroys the crop *before* encoding: the pixels are averaged into a coarse grid and then blurred,
and only that result is written. The original pixels never reach the HTML file.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

#: Side (px) of the longest edge of a thumbnail in the report.
THUMB_SIZE = 112
#: Blocks across the longest edge when pixelating: 6 blocks leave skin tone and lighting, no identity.
PIXEL_BLOCKS = 6
JPEG_QUALITY = 85


def deidentify(image: np.ndarray, *, blocks: int = PIXEL_BLOCKS) -> np.ndarray:
    """Pixelate ``image`` (H, W, 3 uint8) into ``blocks`` cells on its longest edge, then Gaussian-blur it.

    Pixelation alone keeps hard block edges that some de-pixelation attacks exploit; the blur
    (radius = one third of a block) removes them. Returns a new uint8 array of the same shape.

    >>> out = deidentify(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3))
    >>> out.shape, out.dtype.name
    ((64, 64, 3), 'uint8')
    """
    from PIL import Image, ImageFilter

    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")
    img = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    w, h = img.size
    scale = blocks / max(w, h)
    small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    big = small.resize((w, h), Image.Resampling.NEAREST)
    radius = max(w, h) / blocks / 3
    return np.asarray(big.filter(ImageFilter.GaussianBlur(radius)))


def thumbnail(image: np.ndarray, *, size: int = THUMB_SIZE, blur: bool = False) -> np.ndarray:
    """Shrink ``image`` to at most ``size`` px on its longest edge; de-identify it if ``blur``."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    if max(img.size) > size:
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img)
    return deidentify(arr) if blur else arr


def jpeg_data_uri(image: np.ndarray, *, quality: int = JPEG_QUALITY) -> str:
    """``data:image/jpeg;base64,...`` of an RGB uint8 image (JPEG keeps 112 px faces near 4 KB)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(
        buf, format="JPEG", quality=quality, optimize=True
    )
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def load_crop(root: Path, relative: str | None) -> tuple[np.ndarray | None, str | None]:
    """Read the crop at ``root / relative``; returns ``(image, problem)``, exactly one of them ``None``.

    Only files inside ``root`` are read: the path comes from a table that may have been edited
    or shared, and a report must not embed arbitrary files from the reader's disk.
    """
    from PIL import Image, UnidentifiedImageError

    if not relative:
        return None, "no crop"
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        return None, f"crop path {relative!r} points outside the output folder; not embedded"
    if not path.is_file():
        return None, f"crop file {relative} is missing"
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")), None
    except (UnidentifiedImageError, OSError) as exc:
        return None, f"crop file {relative} cannot be read ({exc.__class__.__name__})"
