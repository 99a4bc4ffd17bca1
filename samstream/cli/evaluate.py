"""``samstream eval {davis,sav,image}`` and ``samstream predict-dataset``: parse, call the library, print.

The CLI calls :func:`register` with its subparsers and a ``common(parser)`` function that adds the
options of commands that run a model (``-q/--quiet``, ``--jsonl``, ``--model``, ``--device``,
``--threads``); ``eval davis`` and ``eval sav`` run no model and take only ``-q`` and ``--jsonl``.
Every leaf parser sets ``func(args) -> int``; errors are :class:`~samstream.errors.SamstreamError`
subclasses. The library is imported inside each command's function (it imports torch, and
``--help`` must not wait for that).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samstream.cli.common import add_method, basic, load_model
from samstream.errors import InvalidInputError
from samstream.files import write_text

__all__ = ["register"]

Common = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def register(sub: argparse._SubParsersAction, common: Common) -> None:
    """Add ``eval`` (with ``davis``, ``sav``, ``image``) and ``predict-dataset`` to ``sub``."""
    ev = sub.add_parser("eval", help="score video predictions (DAVIS, SA-V) or image prompts (SA-1B, COCO)")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)

    p = basic(ev_sub.add_parser("davis", help="DAVIS 2017 J&F of a folder of label PNGs (fractions of 1)"))
    p.add_argument("gt_root", help="DAVIS root (with Annotations/480p, Annotations_unsupervised/480p for "
                                   "--task unsupervised, and ImageSets/2017)")
    p.add_argument("pred_dir", help="predictions: <pred_dir>/<seq>/<frame>.png indexed PNGs")
    p.add_argument("--subset", default="val", help="ImageSets/2017/<subset>.txt (default: val)")
    p.add_argument("--sequences", type=_names, default=None, help="comma-separated sequences (default: the subset)")
    p.add_argument("--task", default="semi-supervised", choices=("semi-supervised", "unsupervised"),
                   help="DAVIS 2017 protocol (semi-supervised: first and last frames not scored; unsupervised: "
                        "up to 20 proposals matched to the objects, every frame scored)")
    _score_outputs(p)
    p.set_defaults(func=_cmd_davis)

    p = basic(ev_sub.add_parser("sav", help="SA-V J&F of per-object PNG predictions"))
    p.add_argument("gt_root", help="ground truth: <gt_root>/<video>/<obj:03d>/<frame>.png (e.g. Annotations_6fps)")
    p.add_argument("pred_root", help="predictions in the same layout")
    p.add_argument("--keep-first-last", action="store_true", help="also score the first and last annotated frame")
    p.add_argument("--strict", action="store_true",
                   help="require a prediction for every video and scored frame (default: missing = empty)")
    _score_outputs(p)
    p.set_defaults(func=_cmd_sav)

    p = common(ev_sub.add_parser("image", help="mIoU of 1-click, 5-click and box prompts on SA-1B or COCO"))
    p.add_argument("root", help="SA-1B folder (images + JSONs) or COCO image folder")
    p.add_argument("--format", required=True, choices=("sa1b", "coco"), help="dataset layout")
    p.add_argument("--ann", default=None, help="COCO instances JSON (default: ROOT/annotations.json)")
    p.add_argument("--max-images", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--json", default=None, metavar="OUT", help="write the summary as JSON")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.set_defaults(func=_cmd_image)

    p = common(sub.add_parser("predict-dataset",
                              help="track a dataset's annotated objects and write predictions for eval"))
    p.add_argument("dataset_root", help="dataset root (see --format)")
    p.add_argument("--format", required=True, choices=("davis", "sav", "ytvos"), help="dataset layout")
    p.add_argument("--out", required=True, metavar="PRED_DIR", help="output folder of prediction PNGs")
    p.add_argument("--subset", default=None, help="DAVIS ImageSets subset (default: val) or YouTube-VOS split "
                                                  "(default: valid)")
    p.add_argument("--sequences", type=_names, default=None, help="comma-separated videos (default: all)")
    p.add_argument("--force", action="store_true", help="overwrite the predictions of these videos in --out")
    add_method(p)
    p.set_defaults(func=_cmd_predict)


def _score_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, metavar="OUT", help="write the scores as JSON")
    p.add_argument("--csv", default=None, metavar="OUT", help="write per-object and global scores as CSV")
    p.add_argument("--workers", type=int, default=1, help="processes scoring videos in parallel (default: 1)")
    p.add_argument("--force", action="store_true", help="overwrite existing --json / --csv files")


def _names(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


# ----------------------------------------------------------------------------- commands


def _cmd_davis(args: argparse.Namespace) -> int:
    from samstream.eval.davis import evaluate_davis  # the library: imported when the command runs
    from samstream.eval.unsupervised import evaluate_davis_unsupervised

    _check_outputs(args)
    evaluate = evaluate_davis_unsupervised if args.task == "unsupervised" else evaluate_davis
    result = evaluate(args.pred_dir, args.gt_root, args.subset, sequences=args.sequences, workers=args.workers)
    return _report_scores(args, "davis", result)


def _cmd_sav(args: argparse.Namespace) -> int:
    from samstream.eval.sav import evaluate_sav  # the library: imported when the command runs

    _check_outputs(args)
    result = evaluate_sav(args.pred_root, args.gt_root, keep_first_last=args.keep_first_last,
                          strict=args.strict, workers=args.workers)
    return _report_scores(args, "sav", result)


def _cmd_image(args: argparse.Namespace) -> int:
    # the library (torch): imported when the command runs
    from samstream.data.image_datasets import open_image_dataset
    from samstream.eval.image_eval import evaluate_images
    from samstream.image.predictor import ImagePredictor

    _check_outputs(args)
    dataset = open_image_dataset(args.format, args.root, args.ann)
    predictor = ImagePredictor(load_model(args)[0])
    result = evaluate_images(predictor, dataset, args.max_images, progress=not args.quiet)
    summary = result.to_json()
    if args.json:
        write_text(Path(args.json), json.dumps(summary, indent=2) + "\n")
    if args.jsonl:
        print(json.dumps({"command": "eval image", **summary}))
    elif not args.quiet:
        miou = "  ".join(f"{k} {v * 100:.1f}" for k, v in summary["mIoU"].items())
        print(f"eval image: {result.num_instances} instances in {result.num_images} images, mIoU  {miou}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    # the library (torch): imported when the command runs
    from samstream.data.video_datasets import VideoDataset
    from samstream.eval.predict import predict_dataset
    from samstream.io.outputs import staged_output
    from samstream.video.predictor import VideoPredictor

    dataset = VideoDataset(args.dataset_root, args.format, args.subset, args.sequences)
    predictor = VideoPredictor(load_model(args)[0], method=args.method)
    # one folder per video; they appear in --out only when every video is done
    with staged_output(args.out, [f"{name}/" for name in dataset.names], args.force) as staging:
        summary = predict_dataset(predictor, dataset, staging, progress=not (args.quiet or args.jsonl))
    record = {"videos": summary.videos, "frames": summary.frames, "objects": summary.objects,
              "seconds": round(summary.seconds, 3), "out": str(args.out), "method": args.method}
    if args.jsonl:
        print(json.dumps({"command": "predict-dataset", **record}))
    elif not args.quiet:
        print(f"predict-dataset: {summary.videos} videos, {summary.objects} objects, {summary.frames} frames "
              f"in {summary.seconds:.1f} s ({args.method}) -> {args.out}")
    return 0


# ----------------------------------------------------------------------------- helpers


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse to overwrite an existing ``--json`` / ``--csv`` without ``--force`` (before any work)."""
    for option in ("json", "csv"):
        path = getattr(args, option, None)
        if path and Path(path).exists() and not args.force:
            raise InvalidInputError(f"--{option}: {path} exists; pass --force to overwrite it")


def _report_scores(args: argparse.Namespace, name: str, result: Any) -> int:
    from samstream.eval.results import scores_csv

    summary = result.to_json()
    if args.json:
        write_text(Path(args.json), json.dumps(summary, indent=2) + "\n")
    if args.csv:
        write_text(Path(args.csv), scores_csv(result))
    if args.jsonl:
        print(json.dumps({"command": f"eval {name}", **summary}))
    elif not args.quiet:
        print("\n".join(score_lines(name, result)))
    return 0


def score_lines(name: str, result: Any) -> list[str]:
    """The text report of an :class:`~samstream.eval.results.EvalResult`: what was scored against
    what, the summary, then one line per object, in the one unit of ``--json`` and ``--csv``
    (fractions of 1, not percent)."""
    j, f, protocol = result.j, result.f, result.protocol
    lines = [f"eval {name}: {protocol.name}, ground truth {protocol.ground_truth}",
             f"  frames not scored: {protocol.frames_not_scored}"] if protocol is not None else [f"eval {name}:"]
    lines.append(f"  scores are fractions of 1 (as in --json and --csv), {len(result.per_object)} objects:")
    lines.append(f"  J&F {result.jf:.3f}  J {j.mean:.3f} (recall {j.recall:.3f}, decay {j.decay:.3f})  "
                 f"F {f.mean:.3f} (recall {f.recall:.3f}, decay {f.decay:.3f})")
    width = max(len(n) for n in result.per_object)
    for obj, r in sorted(result.per_object.items()):
        lines.append(f"    {obj:<{width}}  J&F {(r.j.mean + r.f.mean) / 2:.3f}  J {r.j.mean:.3f}  F {r.f.mean:.3f}"
                     f"  ({r.num_frames} frames scored)")
    return lines
