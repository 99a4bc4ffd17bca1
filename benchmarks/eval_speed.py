"""Speed of the DAVIS and SA-V evaluation on a generated dataset (30 videos x 100 frames at 480p).

    python benchmarks/eval_speed.py [--videos 30] [--frames 100] [--objects 3] [--workers 2]
                                    [--data DIR]

Ground truth: moving ellipses (``--objects`` per video, 854x480 indexed PNGs, DAVIS layout and
SA-V per-object layout); predictions: the same ellipses shifted and resized a little, with some
frames missing. The data is written once (not timed; about 90 s, PNG encoding) to a temporary
folder, or to ``--data`` to be reused; the script prints the wall time of ``evaluate_davis`` and
``evaluate_sav`` with ``--workers`` processes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from samstream.eval import evaluate_davis, evaluate_sav
from samstream.io.labels import write_label_png

H, W = 480, 854


def ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    m = np.zeros((H, W), bool)
    y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 2, H)
    x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 2, W)
    if y0 < y1 and x0 < x1:
        yy, xx = np.ogrid[y0:y1, x0:x1]
        m[y0:y1, x0:x1] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return m


def make_dataset(root: Path, videos: int, frames: int, objects: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    names = [f"video{v:03d}" for v in range(videos)]
    (root / "DAVIS" / "ImageSets" / "2017").mkdir(parents=True)
    (root / "DAVIS" / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    for name in names:
        start = rng.uniform([60, 100, 20, 30], [420, 750, 120, 200], size=(objects, 4))
        speed = rng.uniform(-2, 2, size=(objects, 2))
        for t in range(frames):
            gt = np.zeros((H, W), np.uint8)
            pred = np.zeros((H, W), np.uint8)
            for k in range(objects):
                cy, cx, ry, rx = start[k]
                cy, cx = cy + speed[k, 0] * t, cx + speed[k, 1] * t
                g = ellipse(cy, cx, ry, rx)
                p = ellipse(cy + rng.normal(0, 3), cx + rng.normal(0, 3), ry * 1.05, rx * 0.95)
                gt[g] = k + 1
                pred[p] = k + 1
                write_label_png(root / "sav_gt" / name / f"{k:03d}" / f"{t:05d}.png", g)
                if t % 17 != 5:
                    write_label_png(root / "sav_pred" / name / f"{k:03d}" / f"{t:05d}.png", p)
            write_label_png(root / "DAVIS" / "Annotations" / "480p" / name / f"{t:05d}.png", gt)
            if t % 17 != 5:  # a few missing prediction frames
                write_label_png(root / "pred" / name / f"{t:05d}.png", pred)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=30)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the generated data here and reuse it on later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        if not (root / "DAVIS").is_dir():
            start = time.perf_counter()
            make_dataset(root, args.videos, args.frames, args.objects)
            print(f"generated {args.videos} videos x {args.frames} frames x {args.objects} objects "
                  f"at {W}x{H} in {time.perf_counter() - start:.1f}s")
        start = time.perf_counter()
        davis = evaluate_davis(root / "pred", root / "DAVIS", "val", workers=args.workers)
        davis_s = time.perf_counter() - start
        start = time.perf_counter()
        sav = evaluate_sav(root / "sav_pred", root / "sav_gt", strict=False, workers=args.workers)
        sav_s = time.perf_counter() - start
    print(f"{'protocol':<8} {'workers':>7} {'seconds':>8} {'J&F':>6} {'objects':>7}")
    for name, seconds, result in (("DAVIS", davis_s, davis), ("SA-V", sav_s, sav)):
        objects = len(result.per_object)
        print(f"{name:<8} {args.workers:>7} {seconds:>8.1f} {result.jf:>6.3f} {objects:>7}")


if __name__ == "__main__":
    main()
