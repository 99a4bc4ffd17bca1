"""``samstream demo`` (what ``make demo`` runs): track objects through a generated video."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from samstream.cli.common import Reporter, positive_int


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = common(sub.add_parser(
        "demo", help="track objects through a generated sample video and write masks and an overlay video",
        description="Generate a synthetic video (with known ground truth), track each object from one click "
                    "and write sample.mp4, overlay.mp4, masks/ and masks.jsonl into --out; reports J&F. "
                    "Uses the bundled samstream-nano model unless --model names another."))
    p.add_argument("--out", default="demo_out", metavar="DIR", help="output folder (default: demo_out)")
    p.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier demo")
    p.add_argument("--frames", type=positive_int, default=48, help="length of the generated video (default 48)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samstream.demo import run_demo

    report = Reporter(args)
    summary = run_demo(args.out, args.model, device=args.device, force=args.force, num_frames=args.frames,
                       progress=report.progress)
    score = "" if summary["jf"] is None else f", J&F {summary['jf']:.3f}"
    report.summary(f"{summary['frames']} frames, {summary['objects']} objects{score}, {summary['fps']:.1f} fps, "
                   f"model {summary['model']} -> {summary['overlay']}", summary)
    return 0
