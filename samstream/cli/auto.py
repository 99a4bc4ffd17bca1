"""``samstream auto IMAGE... --out DIR``: automatic masks, a COCO JSON and overlay PNGs."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from samstream.cli.common import Reporter, add_out, load_model, non_negative_int, positive_int, unit_float
from samstream.errors import InvalidInputError

COCO_FILE = "annotations.json"
# command-line option -> MaskGenerator keyword
GENERATOR_OPTIONS = {
    "points_per_side": "points_per_side",
    "pred_iou_thresh": "pred_iou_thresh",
    "stability_thresh": "stability_score_thresh",
    "crop_layers": "crop_n_layers",
    "min_area": "min_mask_region_area",
}


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = common(sub.add_parser(
        "auto", help="segment everything in one or many images (automatic mask generation)",
        description=f"Automatic masks for each IMAGE: {COCO_FILE} (COCO instances with RLE) and "
                    "STEM_overlay.png per image in --out."))
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--points-per-side", type=positive_int, default=32, help="grid of point prompts (default 32)")
    p.add_argument("--pred-iou-thresh", type=unit_float, default=0.8, help="keep masks above this predicted IoU")
    p.add_argument("--stability-thresh", type=unit_float, default=0.95, help="keep masks above this stability")
    p.add_argument("--crop-layers", type=non_negative_int, default=0, help="layers of image crops (default 0)")
    p.add_argument("--min-area", type=non_negative_int, default=0,
                   help="remove islands and fill holes smaller than this many pixels (default 0)")
    add_out(p)
    p.set_defaults(func=run)


def _check_images(paths: list[str]) -> list[str]:
    stems: dict[str, str] = {}
    for path in paths:
        stem = Path(path).stem
        if stem in stems:
            raise InvalidInputError(f"IMAGE: {path!r} and {stems[stem]!r} have the same name; their overlays would clash")
        stems[stem] = path
    return list(stems)


def _mask_of(record: dict[str, Any]) -> np.ndarray:
    from samstream.io.rle import decode_rle

    seg = record["segmentation"]
    return decode_rle(seg) if isinstance(seg, dict) else np.asarray(seg, dtype=bool)


def run(args: argparse.Namespace) -> int:
    import samstream.amg as amg
    from samstream.image.transforms import to_rgb_array
    from samstream.io.masks import prepare_output_dir
    from samstream.io.overlay import overlay, write_png_atomic
    from samstream.io.rle import write_coco_json

    report = Reporter(args)
    stems = _check_images(args.images)
    for path in args.images:
        if not Path(path).is_file():
            raise InvalidInputError(f"IMAGE: no such file {path!r}")
    out = prepare_output_dir(args.out, [COCO_FILE] + [f"{s}_overlay.png" for s in stems], args.force)
    model, _ = load_model(args)
    options = {kw: getattr(args, opt) for opt, kw in GENERATOR_OPTIONS.items()}
    generator = amg.MaskGenerator(model, **options)
    start = time.perf_counter()
    images, annotations, total = [], [], 0
    for path, stem in report.progress(list(zip(args.images, stems)), len(stems), "images"):
        image = np.array(to_rgb_array(path, "IMAGE"))  # a writable copy
        records = generator.generate(image)
        masks = {i + 1: _mask_of(r) for i, r in enumerate(records)}
        write_png_atomic(overlay(image, masks), out / f"{stem}_overlay.png")
        images.append((Path(path).name, image.shape[0], image.shape[1]))
        annotations.append(records)
        total += len(records)
        report.event({"event": "image", "image": path, "masks": len(records)})
    write_coco_json(out / COCO_FILE, images, annotations)
    seconds = time.perf_counter() - start
    report.summary(f"{len(images)} image(s), {total} masks, {seconds:.2f} s -> {out}",
                   {"images": len(images), "masks": total, "seconds": round(seconds, 3), "out": str(out)})
    return 0
