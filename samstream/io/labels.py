"""Label PNGs: DAVIS-style indexed palette PNGs of object ids (read and written via Pillow).

The one writer of label maps in samstream: tracking outputs (:mod:`samstream.io.masks`),
dataset predictions (:mod:`samstream.eval.predict`) and SA-V ground truth folders all use
:func:`write_label_png`, which writes atomically through :mod:`samstream.files`.

A label PNG stores one object id per pixel: 0 is background, ``k`` is object ``k``. DAVIS and
SA-V save them as palette ("P") images whose pixel values are the ids; greyscale ("L", "1", "I;16",
"I") images holding ids are read the same way. Colour images are refused, since their colours would
have to be guessed back into ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError
from samstream.files import atomic_write

__all__ = ["davis_palette", "list_pngs", "read_label_png", "write_label_png"]

_ID_MODES = {"P", "L", "1", "I;16", "I"}


def read_label_png(path: str | Path) -> np.ndarray:
    """Read a label PNG as an ``(H, W)`` integer array of object ids (uint8, or wider if needed)."""
    with Image.open(path) as img:
        if img.mode not in _ID_MODES:
            raise InvalidInputError(
                f"{path}: expected an indexed (palette) or greyscale label PNG, "
                f"got mode {img.mode!r}"
            )
        labels = np.asarray(img)
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    return labels


def write_label_png(path: str | Path, labels: np.ndarray, palette: np.ndarray | None = None) -> Path:
    """Write an ``(H, W)`` array of ids in [0, 255] as an indexed PNG (DAVIS palette by default).

    A label PNG holds one byte per pixel, so object ids above 255 cannot be written: the message
    says so (the API's ids go up to 2**31 - 1, see :func:`samstream.prompt_rules.check_obj_id`).
    The file appears whole or not at all (:func:`samstream.files.atomic_write`).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InvalidInputError(f"labels: shape {labels.shape} is not (H, W)")
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise InvalidInputError(
            f"labels: ids must lie in [0, 255] for an indexed PNG, got [{labels.min()}, {labels.max()}]"
        )
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette((davis_palette() if palette is None else np.asarray(palette, np.uint8)).ravel().tolist())
    with atomic_write(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def list_pngs(folder: str | Path) -> list[str]:
    """Sorted names of the ``.png`` files in ``folder`` (empty if it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS / PASCAL VOC label PNGs, ``(256, 3)`` uint8."""
    ids = np.arange(256)
    palette = np.zeros((256, 3), dtype=np.uint8)
    for shift in range(8):  # bit 3*j+c of the id goes to bit 7-shift of channel c
        for channel in range(3):
            bit = (ids >> (3 * shift + channel)) & 1
            palette[:, channel] |= (bit << (7 - shift)).astype(np.uint8)
    return palette
