"""Tracking methods compared: how well they keep objects through occlusions and look-alikes, and what they cost.

    python benchmarks/methods.py effect [--clips 12] [--frames 32]
    python benchmarks/methods.py speed [--model sam2.1-tiny] [--image-size 512] [--frames 12] [--repeats 3]

``effect``: generated clips (:mod:`samstream.data.synthetic` with ``occluders`` and
``crossing_distractors``) where each of two labelled objects crosses the frame, passes behind an
opaque board and later meets a look-alike that crosses its path (in front of it or behind). Every
method tracks both objects from their ground-truth masks on frame 0 with ``samstream-nano`` (the
bundled demo model, 128 input). Scores per object by the demo's protocol (J&F over the frames where
the object is in the ground truth or the prediction), then: the first frame with J < 0.5 ("first
lost"), and "lost for good": the object is visible again later but never again tracked (J >= 0.5).

``speed``: frames per second of each method tracking 1 and 4 objects (clicks on frame 0) through a
generated clip on the CPU, random weights of ``--model``'s layout at ``--image-size``; each run a
fresh process (its peak resident memory is its own); medians of ``--repeats`` runs. Also the bytes
of per-object state the session holds at the end (``Tracker.nbytes``: masks, pointers, memories and
the methods' records).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, run_child, table  # noqa: E402

METHODS = ("sam2", "samurai", "dam4sam", "sam2long")
SEED_BASE = 7_000_000  # clips the demo model never saw in training


def hard_config(frames: int):  # type: ignore[no-untyped-def]
    from samstream.data.synthetic import SyntheticConfig

    return SyntheticConfig(size=256, num_frames=frames, min_objects=2, max_objects=2, max_distractors=0,
                           radius=(0.12, 0.16), max_speed=0.015, max_growth=0.005, max_spin=0.05, camera_speed=0.003,
                           exit_prob=0.0, occluders=2, crossing_distractors=2, staged_travel=0.5)


def lost_for_good(gt: np.ndarray, pred: np.ndarray) -> int | None:
    """The frame after the last one where the object is tracked (J >= 0.5), when it is visible again
    later and never tracked again; None if it is tracked to its last visible frame."""
    from samstream.eval.metrics import jaccard

    visible = gt.any(axis=(1, 2))
    j = jaccard(gt, pred)
    tracked = np.flatnonzero(visible & (j >= 0.5))
    last_visible = np.flatnonzero(visible)
    if not last_visible.size:
        return None
    if tracked.size and tracked[-1] == last_visible[-1]:
        return None
    later = last_visible[last_visible > (tracked[-1] if tracked.size else 0)]
    return int(later[0]) if later.size else None


def effect(args: argparse.Namespace) -> None:
    import samstream
    from samstream.data.synthetic import generate_clip
    from samstream.demo import present_frames_jf

    model = samstream.load_model("samstream-nano", device="cpu")
    cfg = hard_config(args.frames)
    rows, per_object = [], {m: [] for m in METHODS}
    seconds = {m: 0.0 for m in METHODS}
    for i in range(args.clips):
        clip = generate_clip(SEED_BASE + i, cfg)
        gt = clip.masks  # (T, 2, H, W)
        for method in METHODS:
            pred = np.zeros_like(gt)
            start = time.perf_counter()
            with torch.inference_mode(), samstream.VideoPredictor(model, method=method).open(clip.frames) as s:
                for k in range(gt.shape[1]):
                    s.add_mask(0, k + 1, gt[0, k])
                for r in s.propagate():
                    pred[r.frame_idx] = r.masks.numpy()
            seconds[method] += time.perf_counter() - start
            for k in range(gt.shape[1]):
                score = present_frames_jf(gt[:, k], pred[:, k])
                per_object[method].append({**score, "lost_for_good": lost_for_good(gt[:, k], pred[:, k])})
    for method in METHODS:
        objs = per_object[method]
        jf = [o["jf"] for o in objs if o["jf"] is not None]
        first = [o["first_lost"] for o in objs if o["first_lost"] is not None]
        good = [o["lost_for_good"] for o in objs if o["lost_for_good"] is not None]
        tracked = sum(o["frames_tracked"] for o in objs) / max(1, sum(o["frames_scored"] for o in objs))
        rows.append([method, f"{np.mean(jf):.3f}", f"{tracked:.3f}", f"{len(good)}/{len(objs)}",
                     f"{np.mean(good):.1f}" if good else "-", f"{np.mean(first):.1f}" if first else "-",
                     f"{seconds[method]:.1f}"])
    print(f"effect: {args.clips} clips x 2 objects, {args.frames} frames, 256x256, samstream-nano; {machine()}")
    print(table(rows, ["method", "J&F", "frames tracked", "lost for good", "mean frame lost for good",
                       "mean first lost", "seconds"]))
    print(json.dumps({"effect": {m: per_object[m] for m in METHODS}}))


def _speed_child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process: JSON with fps, peak RSS and state bytes."""
    from samstream.checkpoints import build_model
    from samstream.data.synthetic import SyntheticConfig, generate_clip
    from samstream.registry import get_variant
    from samstream.video.predictor import VideoPredictor

    cfg = get_variant(args.model).config.with_image_size(args.image_size)
    model = build_model(cfg, device="cpu", seed=0)
    clip = generate_clip(1, SyntheticConfig(size=256, num_frames=args.frames + 1, min_objects=4, max_objects=4,
                                            exit_prob=0.0))
    with torch.inference_mode(), VideoPredictor(model, method=args.method).open(clip.frames) as s:
        for k in range(args.objects):
            ys, xs = np.nonzero(clip.masks[0, k % clip.masks.shape[1]])
            s.add_points(0, k + 1, [[float(xs.mean()), float(ys.mean())]], [1])
        s.encode(1)
        start = time.perf_counter()
        count = sum(1 for _ in s.propagate())
        seconds = time.perf_counter() - start
        state = s.tracker.nbytes()
    print(json.dumps({"fps": count / seconds, "rss_mb": peak_rss_mb(), "state_mb": state / 2**20}))


def speed(args: argparse.Namespace) -> None:
    here = Path(__file__).resolve()
    rows = []
    base: dict[int, float] = {}
    for objects in (1, 4):
        for method in METHODS:
            runs = [run_child(here, ["_speed", "--method", method, "--objects", str(objects), "--model", args.model,
                                     "--image-size", str(args.image_size), "--frames", str(args.frames),
                                     "--threads", str(args.threads)])
                    for _ in range(args.repeats)]
            fps = statistics.median(r["fps"] for r in runs)
            rss = statistics.median(r["rss_mb"] for r in runs)
            state = statistics.median(r["state_mb"] for r in runs)
            if method == "sam2":
                base[objects] = fps
            rows.append([str(objects), method, f"{fps:.2f}", f"{base[objects] / fps:.2f}x", f"{rss:.0f}", f"{state:.1f}"])
    print(f"speed: {args.model} layout at {args.image_size}, random weights, {args.frames} tracked frames, "
          f"medians of {args.repeats} fresh processes; {machine()}")
    print(table(rows, ["objects", "method", "frames/s", "cost vs sam2", "peak RSS MB", "state MB"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    e = sub.add_parser("effect")
    e.add_argument("--clips", type=int, default=12)
    e.add_argument("--frames", type=int, default=32)
    e.add_argument("--threads", type=int, default=1, help="torch threads (1: steady timings on a shared CPU)")
    for name in ("speed", "_speed"):
        p = sub.add_parser(name)
        p.add_argument("--model", default="sam2.1-tiny")
        p.add_argument("--image-size", type=int, default=512)
        p.add_argument("--frames", type=int, default=12)
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--method", default="sam2")
        p.add_argument("--objects", type=int, default=1)
        p.add_argument("--threads", type=int, default=1, help="torch threads (1: steady timings on a shared CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"effect": effect, "speed": speed, "_speed": _speed_child}[args.part](args)


if __name__ == "__main__":
    main()
