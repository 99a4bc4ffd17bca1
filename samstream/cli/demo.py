"""``samstream demo`` (what ``make demo`` runs): track objects through a generated video."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from samstream.cli.common import Reporter, positive_int

# samstream.demo's DEMO_MODEL and DEMO_FRAMES, repeated so that --help does not import torch (a test checks)
DEMO_MODEL = "samstream-nano"
DEMO_FRAMES = 24


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``demo`` to the command line's subparsers ``sub``."""
    # "resolve": the demo's own --model (another default) replaces the shared option's
    p = common(sub.add_parser(
        "demo", conflict_handler="resolve",
        help="track objects through a generated sample video and write masks and an overlay video",
        description="Generate a synthetic video (with known ground truth), track each object from one click "
                    "and write sample.mp4, overlay.mp4, masks/ and masks.jsonl into --out; reports J&F per object, "
                    "scored on the frames where the object is in the ground truth or the prediction. "
                    f"Uses the bundled {DEMO_MODEL} model unless --model names another."))
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help=f"registry name (see `samstream models`) or checkpoint path (default: {DEMO_MODEL}, "
                        "bundled, no download)")
    p.add_argument("--out", default="demo_out", metavar="DIR", help="output folder (default: demo_out)")
    p.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier demo")
    p.add_argument("--frames", type=positive_int, default=DEMO_FRAMES,
                   help=f"length of the generated video (default {DEMO_FRAMES})")
    p.set_defaults(func=run)


def describe(summary: dict[str, Any]) -> str:
    """The one-line result: overall and per-object J&F, and the frames where tracking was off
    (J < 0.5; it can recover, so they are listed as ranges, not as one moment it was lost)."""
    if summary["jf"] is None:
        return f"{summary['frames']} frames, {summary['objects']} objects"
    parts = []
    for obj_id, score in summary["per_object"].items():
        text = f"object {obj_id} {score['jf']:.3f}, J >= 0.5 on {score['frames_tracked']} of {score['frames_scored']} frames"
        if score["lost_frames"]:
            text += f", below on {frame_ranges(score['lost_frames'])}"
        parts.append(text)
    return (f"{summary['frames']} frames, {summary['objects']} objects, J&F {summary['jf']:.3f} "
            f"(frames where the object is present; {'; '.join(parts)})")


def frame_ranges(frames: list[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"frames 1-3, 7, 9-10"``."""
    runs: list[list[int]] = []
    for t in frames:
        if runs and t == runs[-1][1] + 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return ("frame " if len(frames) == 1 else "frames ") + text


def run(args: argparse.Namespace) -> int:
    """Run ``samstream demo`` (what ``make demo`` runs); returns the exit code (0; errors raise)."""
    from samstream.demo import run_demo  # imports torch: not needed for --help

    report = Reporter(args)
    summary = run_demo(args.out, args.model, device=args.device, force=args.force, num_frames=args.frames,
                       progress=report.progress)
    report.summary(f"{describe(summary)}, {summary['fps']:.1f} fps, model {summary['model']} -> "
                   f"{summary['overlay']}", summary)
    return 0
