"""The demo behind ``make demo``: segment an object in a generated image from one click."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from samstream.errors import InvalidInputError


def generated_image(size: tuple[int, int] = (480, 640), seed: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """A textured background with a few shapes; returns the image and a click inside the main shape."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([60 + 40 * np.sin(xx / 23.0), 90 + 30 * np.cos(yy / 17.0), 120 + 0 * xx], -1)
    img += rng.normal(0, 6, img.shape)
    cy, cx, r = h // 2, w // 2, min(h, w) // 5
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    img[disc] = [235, 70, 60]
    square = (abs(yy - h // 4) < h // 10) & (abs(xx - w // 5) < h // 10)
    img[square] = [50, 200, 90]
    return img.clip(0, 255).astype(np.uint8), (cx, cy)


def run_demo(out_dir: str | Path, model_name: str | None = None, force: bool = False) -> dict:
    """Segment the generated image's disc from one click; write image, mask and overlay PNGs."""
    import samstream
    from samstream.checkpoints import cached_path
    from samstream.io.overlay import overlay, write_png_atomic
    from samstream.registry import get_variant

    out = Path(out_dir)
    names = ["image.png", "mask.png", "overlay.png", "result.json"]
    if out.exists() and not force and any((out / n).exists() for n in names):
        raise InvalidInputError(f"out: {out} already holds demo outputs; pass --force to overwrite them")
    name = model_name or "sam2.1-tiny"
    variant = get_variant(name)
    if cached_path(variant).exists():
        model, weights = samstream.load_model(name, device="auto", allow_download=False), name
    else:
        model, weights = samstream.build_model(name, device="auto", seed=0), "random (no checkpoint cached)"
    image, (x, y) = generated_image()
    start = time.perf_counter()
    pred = samstream.ImagePredictor(model)
    pred.set_image(image)
    result = pred.predict(points=[[x, y]], labels=[1], multimask=True)
    best = int(np.argmax(result.scores))
    seconds = time.perf_counter() - start
    mask = result.masks[best]
    write_png_atomic(image, out / "image.png")
    write_png_atomic(mask.astype(np.uint8), out / "mask.png", palette=True)
    write_png_atomic(overlay(image, {1: mask}), out / "overlay.png")
    summary = {"model": name, "weights": weights, "click": [x, y], "score": float(result.scores[best]),
               "mask_area": int(mask.sum()), "seconds": round(seconds, 3), "outputs": [str(out / n) for n in names]}
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "result.json")
    return summary
