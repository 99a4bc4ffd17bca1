"""Attention to prompted frames: tracking time per frame after many corrections, bounded and not.

    python benchmarks/corrections.py [--size 512] [--corrections 0,4,16,32] [--frames 8] [--repeats 3]

One object on a generated clip, prompted on frame 0 and then corrected on ``k`` frames (each correction a
prompted frame, samstream's default). Then the time to track ``--frames`` further frames, with the
default bound (``max_cond_frames_in_attn=4``: the nearest prompted frame before, the nearest after, then
the closest) and without one (``-1``, every prompted frame attended, the official default). The SAM 2.1
tiny layout with random weights at ``--size`` input; medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402

from samstream.checkpoints import build_model  # noqa: E402
from samstream.data.synthetic import SyntheticConfig, generate_clip  # noqa: E402
from samstream.registry import get_variant  # noqa: E402
from samstream.video.predictor import VideoPredictor  # noqa: E402


def seconds_per_frame(model, clip, k: int, frames: int, limit: int) -> float:
    ys, xs = np.nonzero(clip.masks[0, 0])
    point = [[float(xs[len(xs) // 2]), float(ys[len(ys) // 2])]]
    with VideoPredictor(model, max_cond_frames_in_attn=limit, feature_cache_size=4).open(clip.frames) as s:
        s.add_points(0, 1, point, [1])
        list(s.propagate(0, k + 1))  # frames 1..k tracked ...
        for c in range(1, k + 1):  # ... then each corrected: k more prompted frames
            s.add_points(c, 1, [[point[0][0] + 1, point[0][1]]], [1], clear_old=False)
        s.tracker.commit()
        start = k + 1
        list(s.propagate(start, 1))  # warm: features of the first measured frame, memories in place
        t = time.perf_counter()
        n = sum(1 for _ in s.propagate(start + 1, frames))
        return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--corrections", default="0,4,16,32")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ks = [int(k) for k in args.corrections.split(",")]
    model = build_model(get_variant("sam2.1-tiny").config.with_image_size(args.size), device="cpu", seed=0)
    clip = generate_clip(0, SyntheticConfig(size=128, num_frames=max(ks) + args.frames + 3, max_objects=1,
                                            exit_prob=0.0))
    rows = []
    base = None
    with torch.inference_mode():
        for k in ks:
            bounded = statistics.median(seconds_per_frame(model, clip, k, args.frames, 4) for _ in range(args.repeats))
            every = statistics.median(seconds_per_frame(model, clip, k, args.frames, -1) for _ in range(args.repeats))
            base = base or bounded
            rows.append([str(k), f"{bounded * 1000:.0f}", f"{every * 1000:.0f}", f"{bounded / base:.2f}x",
                         f"{every / base:.2f}x"])
    print(f"tracking after k corrections, SAM 2.1 tiny layout at {args.size}, {args.frames} frames, "
          f"median of {args.repeats}; {machine()}")
    print(table(rows, ["corrections", "ms/frame, bound 4", "ms/frame, all attended", "bound 4 vs k=0",
                       "all vs k=0"]))


if __name__ == "__main__":
    main()
