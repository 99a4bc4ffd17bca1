"""What ``samstream studio --image-size N`` trades: accuracy against the time of a click and of a tracked frame.

    python benchmarks/image_size.py [--nano 128,96,64] [--tiny 1024,512,256] [--videos 8] [--repeats 5]

* ``samstream-nano`` (trained) at each input size: held-out synthetic J&F (the DAVIS protocol, first-frame
  masks given) and 1-click mIoU (:mod:`samstream.eval.synthetic`), and the times below;
* the SAM 2.1 tiny layout with random weights at each size: the times only (random weights say nothing
  of accuracy);
* times (medians of ``--repeats``): a first click on a frame (its encoding, then the decoder) and a tracked
  frame (encoding, memory attention, decoder, memory encoder), one object, CPU threads as torch chooses.
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

import samstream  # noqa: E402
from samstream.checkpoints import build_model  # noqa: E402
from samstream.data.synthetic import SyntheticConfig, generate_clip  # noqa: E402
from samstream.eval.synthetic import evaluate_clicks, evaluate_videos  # noqa: E402
from samstream.registry import get_variant  # noqa: E402


def times(model, repeats: int) -> tuple[float, float]:
    """(first click on a frame, one tracked frame) in seconds, medians."""
    clip = generate_clip(7, SyntheticConfig(size=256, num_frames=repeats + 2, max_objects=1, exit_prob=0.0))
    ys, xs = np.nonzero(clip.masks[0, 0])
    point = [[float(xs[len(xs) // 2]), float(ys[len(ys) // 2])]]
    clicks, tracked = [], []
    with torch.inference_mode():
        for i in range(repeats):
            with samstream.VideoPredictor(model).open(clip.frames, warm_up=False) as s:
                t = time.perf_counter()
                s.add_points(i, 1, point, [1])  # encodes frame i, then decodes
                clicks.append(time.perf_counter() - t)
        with samstream.VideoPredictor(model).open(clip.frames) as s:
            s.add_points(0, 1, point, [1])
            frames = s.propagate()
            next(frames)
            for _ in range(repeats):
                t = time.perf_counter()
                next(frames)
                tracked.append(time.perf_counter() - t)
            frames.close()
    return statistics.median(clicks), statistics.median(tracked)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nano", default="128,96,64")
    ap.add_argument("--tiny", default="1024,512,256")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    cfg = SyntheticConfig(size=128, num_frames=16, max_objects=3)
    for size in (int(s) for s in args.nano.split(",") if s):
        model = samstream.load_model("samstream-nano", device="cpu", image_size=size)
        video = evaluate_videos(model, args.videos, cfg)
        click_miou, _ = evaluate_clicks(model, args.videos * 4, cfg)
        click, frame = times(model, args.repeats)
        rows.append(["samstream-nano", str(size), f"{video.jf:.3f}", f"{click_miou:.3f}", f"{click * 1000:.1f}",
                     f"{frame * 1000:.1f}"])
    tiny = get_variant("sam2.1-tiny").config
    for size in (int(s) for s in args.tiny.split(",") if s):
        model = build_model(tiny.with_image_size(size), device="cpu", seed=0)
        click, frame = times(model, args.repeats)
        rows.append(["SAM 2.1 tiny layout (random)", str(size), "", "", f"{click * 1000:.1f}", f"{frame * 1000:.1f}"])
    print(f"input size against accuracy and time; {args.videos} held-out clips x 16 frames (nano); {machine()}")
    print(table(rows, ["model", "input", "J&F", "1-click mIoU", "first click (ms)", "tracked frame (ms)"]))


if __name__ == "__main__":
    main()
