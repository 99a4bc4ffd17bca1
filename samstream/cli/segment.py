"""``samstream segment IMAGE --point X,Y[:LABEL] ... --box X0,Y0,X1,Y1 --out DIR``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from samstream.cli.common import Reporter, add_out, load_model, require_file
from samstream.cli.prompts import parse_box, parse_point
from samstream.errors import InvalidInputError, PromptError


def option_type(parse: Callable[[str, str], object], option: str) -> Callable[[str], object]:
    """An argparse ``type`` from a prompt parser (its errors become one-line usage errors)."""

    def convert(text: str) -> object:
        try:
            return parse(text, option)
        except PromptError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option}: ")) from None

    return convert


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``segment`` to the command line's subparsers ``sub`` (``common`` adds the model options)."""
    p = common(sub.add_parser(
        "segment", help="segment objects in an image from clicks and/or boxes",
        description="Segment one object in IMAGE from clicks and/or a box, or one object per box when --box is "
                    "given several times (a batch; clicks then cannot be combined with the boxes). Writes "
                    "STEM_mask.png (or STEM_mask0..2.png with --multimask; STEM_box1_mask.png, STEM_box2_mask.png, "
                    "... for several boxes), STEM_overlay.png and STEM.json (scores, boxes, COCO RLE) into --out."))
    # one image: its clicks and boxes are its pixels. Several (a shell glob) are taken here only to be
    # refused with that reason, where argparse would say "unrecognized arguments"
    p.add_argument("image", nargs="+", metavar="IMAGE", help="the image file (JPEG, PNG, ...); one: the clicks and "
                                                             "boxes are its pixels (`samstream auto` takes many)")
    p.add_argument("--point", action="append", default=[], type=option_type(parse_point, "--point"),
                   metavar="X,Y[:LABEL]", help="a click in pixels; LABEL 1 = object (default), 0 = background")
    p.add_argument("--box", action="append", default=[], type=option_type(parse_box, "--box"),
                   metavar="X0,Y0,X1,Y1", help="a box in pixels; repeat it to segment one object per box")
    p.add_argument("--multimask", action="store_true", help="write the three candidate masks, not only the best")
    add_out(p)
    p.set_defaults(func=run)


def output_names(stem: str, multimask: bool, boxes: int = 1) -> list[str]:
    if boxes > 1:
        masks = [f"{stem}_box{k}_mask.png" for k in range(1, boxes + 1)]
    else:
        masks = [f"{stem}_mask{k}.png" for k in range(3)] if multimask else [f"{stem}_mask.png"]
    return masks + [f"{stem}_overlay.png", f"{stem}.json"]


def check_prompts(args: argparse.Namespace) -> None:
    """Refuse several images and prompt combinations before any work (one line, exit 2)."""
    if len(args.image) > 1:
        shown = ", ".join(args.image[:3]) + (", ..." if len(args.image) > 3 else "")
        raise InvalidInputError(f"IMAGE: segment takes one image, got {len(args.image)} ({shown}): its clicks and "
                                "boxes are pixels of that image; run it once per image, or `samstream auto IMAGE...` "
                                "for every object of many images")
    if not args.point and not args.box:
        raise PromptError("--point/--box: give at least one click or a box")
    if len(args.box) > 1 and args.point:
        raise PromptError(f"--box: {len(args.box)} boxes and --point clicks: with several boxes (one object each) "
                          "give no clicks, or give one box with the clicks")
    if len(args.box) > 1 and args.multimask:
        raise PromptError(f"--multimask: not with {len(args.box)} boxes; each box gives its best mask")


def run(args: argparse.Namespace) -> int:
    """Run ``samstream segment`` on its one image; returns the exit code (0; errors raise)."""
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.files import write_json
    from samstream.image.predictor import ImagePredictor
    from samstream.io.labels import write_label_png
    from samstream.io.masks import mask_bbox
    from samstream.io.outputs import staged_output
    from samstream.io.overlay import overlay, write_png_atomic
    from samstream.io.rle import encode_rle
    from samstream.rgb import to_rgb

    report = Reporter(args)
    check_prompts(args)
    path = args.image[0]
    # NOTE(lead): to_rgb is today's loader; the one documented `to_rgb` replaces it when it lands
    image = np.array(to_rgb(require_file(path, "IMAGE", "an image file"), "IMAGE"))  # writable copy
    stem = Path(path).stem
    names = output_names(stem, args.multimask, len(args.box))
    with staged_output(args.out, names, args.force) as staging:
        model, model_name = load_model(args)
        start = time.perf_counter()
        pred = ImagePredictor(model)
        pred.set_image(image)
        points = [[x, y] for x, y, _ in args.point] or None
        labels = [label for _, _, label in args.point] or None
        box = args.box[0] if len(args.box) == 1 else (args.box or None)
        result = pred.predict(points=points, labels=labels, box=box, multimask=args.multimask)
        if len(args.box) > 1:  # (B, 1, H, W): one object per box
            chosen = [(result.masks[b, 0], float(result.scores[b, 0]), args.box[b]) for b in range(len(args.box))]
        else:
            order = list(np.argsort(-result.scores)) if args.multimask else [0]
            chosen = [(result.masks[k], float(result.scores[k]), box) for k in order]
        masks = []
        for file, (mask, score, mask_box) in zip(names, chosen):
            write_label_png(staging / file, mask.astype(np.uint8))
            masks.append({"file": file, "score": round(score, 5), "area": int(mask.sum()), "bbox": mask_bbox(mask),
                          "box": list(mask_box) if mask_box is not None else None, "segmentation": encode_rle(mask)})
        shown = {k + 1: m for k, (m, _, _) in enumerate(chosen)} if len(args.box) > 1 else {1: chosen[0][0]}
        write_png_atomic(overlay(image, shown), staging / f"{stem}_overlay.png")
        doc = {"image": str(path), "height": image.shape[0], "width": image.shape[1], "model": model_name,
               "points": points, "labels": labels, "box": list(args.box[0]) if len(args.box) == 1 else None,
               "boxes": [list(b) for b in args.box], "masks": masks}
        write_json(staging / f"{stem}.json", doc)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    report.summary(f"1 image, {len(masks)} mask(s), best score {max(m['score'] for m in masks):.3f}, "
                   f"{seconds:.2f} s -> {out}",
                   {"images": 1, "masks": len(masks), "best_score": max(m["score"] for m in masks),
                    "seconds": round(seconds, 3), "out": str(out)})
    return 0
