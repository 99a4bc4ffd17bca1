"""``samstream demo`` (what ``make demo`` runs): track an object through a generated video."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from samstream.cli.common import Reporter, positive_int


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = common(sub.add_parser(
        "demo", help="track an object through a generated sample video and write masks and an overlay video",
        description="Generate a short video of a moving disc, track it from one click and write sample.mp4, "
                    "overlay.mp4, masks/ and masks.jsonl into --out. Uses --model, else sam2.1-tiny when "
                    "cached, else random weights (the masks are then meaningless)."))
    p.add_argument("--out", default="demo_out", metavar="DIR", help="output folder (default: demo_out)")
    p.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier demo")
    p.add_argument("--frames", type=positive_int, default=24, help="length of the generated video (default 24)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samstream.demo import run_demo

    report = Reporter(args)
    summary = run_demo(args.out, args.model, device=args.device, force=args.force, num_frames=args.frames,
                       on_note=report.note, progress=report.progress)
    report.summary(f"{summary['frames']} frames, 1 object, {summary['fps']:.1f} fps, model {summary['model']} "
                   f"({summary['weights']}) -> {summary['overlay']}", summary)
    return 0
