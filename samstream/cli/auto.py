"""``samstream auto IMAGE... --out DIR``: automatic masks, a COCO JSON and overlay PNGs."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from samstream.amg.options import GeneratorOptions
from samstream.cli.common import (Reporter, add_out, load_model, non_negative_int, nothing_found_note, positive_int,
                                  require_file, unit_float)
from samstream.errors import InvalidInputError

COCO_FILE = "annotations.json"
# command-line option -> GeneratorOptions field; the defaults shown in --help are the library's
GENERATOR_OPTIONS = {
    "points_per_side": "points_per_side",
    "points_per_batch": "points_per_batch",
    "pred_iou_thresh": "pred_iou_thresh",
    "stability_thresh": "stability_score_thresh",
    "box_nms_thresh": "box_nms_thresh",
    "crop_layers": "crop_n_layers",
    "min_area": "min_mask_region_area",
}


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``auto`` to the command line's subparsers ``sub`` (``common`` adds the model options)."""
    p = common(sub.add_parser(
        "auto", help="segment everything in one or many images (automatic mask generation)",
        description=f"Automatic masks for each IMAGE: {COCO_FILE} (COCO instances with RLE) and "
                    "STEM_overlay.png per image in --out; with --per-mask also STEM_masks/<k>.png, one "
                    "0/1 PNG per mask in the order of the COCO annotations."))
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    add_generator_options(p)
    p.add_argument("--per-mask", action="store_true", help="also write STEM_masks/<k>.png, one PNG per mask")
    add_out(p)
    p.set_defaults(func=run)


def add_generator_options(p: argparse.ArgumentParser) -> None:
    """The options of GENERATOR_OPTIONS, shared with `samstream batch auto`."""
    d = GeneratorOptions()  # the library's defaults, written once (samstream.amg.options)
    p.add_argument("--points-per-side", type=positive_int, default=d.points_per_side,
                   help=f"grid of point prompts per side (default {d.points_per_side})")
    p.add_argument("--points-per-batch", type=positive_int, default=d.points_per_batch,
                   help=f"point prompts decoded at once; bounds memory (default {d.points_per_batch})")
    p.add_argument("--pred-iou-thresh", type=unit_float, default=d.pred_iou_thresh,
                   help=f"keep masks whose predicted IoU is above this (default {d.pred_iou_thresh:g})")
    p.add_argument("--stability-thresh", type=unit_float, default=d.stability_score_thresh,
                   help=f"keep masks whose stability score is at least this (default {d.stability_score_thresh:g})")
    p.add_argument("--box-nms-thresh", type=unit_float, default=d.box_nms_thresh,
                   help=f"box IoU above which a lower-scored duplicate is dropped (default {d.box_nms_thresh:g})")
    p.add_argument("--crop-layers", type=non_negative_int, default=d.crop_n_layers,
                   help=f"layers of image crops (default {d.crop_n_layers})")
    p.add_argument("--min-area", type=non_negative_int, default=d.min_mask_region_area,
                   help=f"remove islands and fill holes smaller than this many pixels (default {d.min_mask_region_area})")


def _check_images(paths: list[str]) -> list[str]:
    stems: dict[str, str] = {}
    for path in paths:
        stem = Path(path).stem
        if stem in stems:
            raise InvalidInputError(f"IMAGE: {path!r} and {stems[stem]!r} have the same name; their overlays would clash")
        stems[stem] = path
    return list(stems)


def output_names(stems: list[str], per_mask: bool) -> list[str]:
    names = [COCO_FILE] + [f"{s}_overlay.png" for s in stems]
    return names + ([f"{s}_masks/" for s in stems] if per_mask else [])


def run(args: argparse.Namespace) -> int:
    """Run ``samstream auto``: check every image, generate each one's masks, write the outputs
    through a staging folder; returns the exit code (0; errors raise).
    """
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.amg import MaskGenerator
    from samstream.io.labels import write_label_png
    from samstream.io.outputs import staged_output
    from samstream.io.overlay import overlay, write_png_atomic
    from samstream.io.rle import write_coco_json
    from samstream.rgb import to_rgb

    report = Reporter(args)
    stems = _check_images(args.images)
    for path in args.images:  # every image readable before any work: a bad one fails the run up front
        # NOTE(lead): to_rgb is today's loader; the one documented `to_rgb` replaces it when it lands
        to_rgb(require_file(path, "IMAGE", "an image file"), "IMAGE")
    options = GeneratorOptions(**{field: getattr(args, opt) for opt, field in GENERATOR_OPTIONS.items()})
    with staged_output(args.out, output_names(stems, args.per_mask), args.force) as staging:
        model, _ = load_model(args)
        generator = MaskGenerator(model, options)
        start = time.perf_counter()
        images, annotations, total = [], [], 0
        for path, stem in report.progress(list(zip(args.images, stems)), len(stems), "images"):
            image = np.array(to_rgb(path, "IMAGE"))  # a writable copy
            records = generator.generate(image)
            masks = {i + 1: r["segmentation"] for i, r in enumerate(records)}  # binary_mask records: (H, W) bool
            write_png_atomic(overlay(image, masks), staging / f"{stem}_overlay.png")
            if args.per_mask:
                for k, mask in masks.items():
                    write_label_png(staging / f"{stem}_masks" / f"{k:04d}.png", mask.astype(np.uint8))
            images.append((Path(path).name, image.shape[0], image.shape[1]))
            annotations.append(records)
            total += len(records)
            report.event({"event": "image", "image": path, "masks": len(records)})
        write_coco_json(staging / COCO_FILE, images, annotations)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    note = nothing_found_note(generator.counts, args.pred_iou_thresh, args.stability_thresh)
    if note is not None:
        report.note(note)
    report.summary(f"{len(images)} image(s), {total} masks, {seconds:.2f} s -> {out}",
                   {"images": len(images), "masks": total, "seconds": round(seconds, 3), "out": str(out),
                    "candidates": asdict(generator.counts), **({"note": note} if note else {})})
    return 0
