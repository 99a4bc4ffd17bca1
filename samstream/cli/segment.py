"""``samstream segment IMAGE --point X,Y[:LABEL] ... --box X0,Y0,X1,Y1 --out DIR``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from samstream.cli.common import Reporter, add_out, load_model
from samstream.cli.prompts import parse_box, parse_point
from samstream.errors import PromptError


def option_type(parse: Callable[[str, str], object], option: str) -> Callable[[str], object]:
    """An argparse ``type`` from a prompt parser (its errors become one-line usage errors)."""

    def convert(text: str) -> object:
        try:
            return parse(text, option)
        except PromptError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option}: ")) from None

    return convert


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = common(sub.add_parser(
        "segment", help="segment an object in an image from clicks and/or a box",
        description="Segment one object in IMAGE. Writes STEM_mask.png (or STEM_mask0..2.png with "
                    "--multimask), STEM_overlay.png and STEM.json (scores, boxes, COCO RLE) into --out."))
    p.add_argument("image", metavar="IMAGE", help="image file (JPEG, PNG, ...)")
    p.add_argument("--point", action="append", default=[], type=option_type(parse_point, "--point"),
                   metavar="X,Y[:LABEL]", help="a click in pixels; LABEL 1 = object (default), 0 = background")
    p.add_argument("--box", type=option_type(parse_box, "--box"), metavar="X0,Y0,X1,Y1", help="a box in pixels")
    p.add_argument("--multimask", action="store_true", help="write the three candidate masks, not only the best")
    add_out(p)
    p.set_defaults(func=run)


def output_names(stem: str, multimask: bool) -> list[str]:
    masks = [f"{stem}_mask{k}.png" for k in range(3)] if multimask else [f"{stem}_mask.png"]
    return masks + [f"{stem}_overlay.png", f"{stem}.json"]


def run(args: argparse.Namespace) -> int:
    import samstream
    from samstream.image.transforms import to_rgb_array
    from samstream.io.masks import mask_bbox, prepare_output_dir, write_json_atomic
    from samstream.io.overlay import overlay, write_png_atomic
    from samstream.io.rle import encode_rle

    report = Reporter(args)
    if not args.point and args.box is None:
        raise PromptError("--point/--box: give at least one click or a box")
    image = np.array(to_rgb_array(args.image, "IMAGE"))  # a writable copy
    stem = Path(args.image).stem
    names = output_names(stem, args.multimask)
    out = prepare_output_dir(args.out, names, args.force)
    model, model_name = load_model(args)
    start = time.perf_counter()
    pred = samstream.ImagePredictor(model)
    pred.set_image(image)
    points = [[x, y] for x, y, _ in args.point] or None
    labels = [label for _, _, label in args.point] or None
    result = pred.predict(points=points, labels=labels, box=args.box, multimask=args.multimask)
    order = list(np.argsort(-result.scores)) if args.multimask else [0]
    masks = []
    for rank, k in enumerate(order):
        mask = result.masks[k]
        file = names[rank]
        write_png_atomic(mask.astype(np.uint8), out / file, palette=True)
        masks.append({"file": file, "score": round(float(result.scores[k]), 5), "area": int(mask.sum()),
                      "bbox": mask_bbox(mask), "segmentation": encode_rle(mask)})
    best = result.masks[order[0]]
    write_png_atomic(overlay(image, {1: best}), out / f"{stem}_overlay.png")
    doc = {"image": str(args.image), "height": image.shape[0], "width": image.shape[1], "model": model_name,
           "points": points, "labels": labels, "box": list(args.box) if args.box else None, "masks": masks}
    write_json_atomic(out / f"{stem}.json", doc)
    seconds = time.perf_counter() - start
    report.summary(f"1 image, {len(masks)} mask(s), best score {masks[0]['score']:.3f}, {seconds:.2f} s -> {out}",
                   {"images": 1, "masks": len(masks), "best_score": masks[0]["score"], "seconds": round(seconds, 3),
                    "out": str(out)})
    return 0
