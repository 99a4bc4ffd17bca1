"""Automatic masklets with ``samstream-nano``: unsupervised J&F against a per-frame baseline, speed and memory.

    python benchmarks/auto_video.py [--videos 4] [--frames 24] [--interval 8] [--points-per-side 8]
                                    [--scale 1,10,100] [--scale-interval 4]

1. **Quality** on held-out synthetic clips (``samstream.eval.synthetic``, exact ground truth): the DAVIS
   2017 unsupervised J&F (:mod:`samstream.eval.unsupervised`, 20 best proposals, ranked as the CLI ranks
   them) of :class:`~samstream.amg.video.VideoMaskGenerator` against a **baseline** that runs the mask
   generator on every frame and links each mask to the previous frame's track of highest IoU (>= 0.5,
   one-to-one, greedy by IoU), else starts a track: no memory. Both use the same mask generator options.
2. **Cost per frame** of both, and for the masklet generator the time of a key frame (mask generator +
   tracking) against a tracked frame.
3. **Scale**: frames/s, the peak of ``VideoMaskGenerator.nbytes()`` (tracker tensors + pending frames) and the process's
   peak RSS for videos of 1, 10 and 100 key frames (``--scale-interval`` frames each), one process each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, run_child, table  # noqa: E402


class TimedGenerator:
    """Wraps a mask generator and adds up the seconds spent in it."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def generate(self, image):
        start = time.perf_counter()
        out = self.inner.generate(image)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _ranked_labels(frames_labels: list[np.ndarray], scores: dict[int, float]) -> np.ndarray:
    """(T, H, W) maps of ids 1..20: the 20 best masklets by score."""
    best = sorted(scores, key=lambda i: (-scores[i], i))[:20]
    rank = {obj: k + 1 for k, obj in enumerate(best)}
    out = np.zeros((len(frames_labels), *frames_labels[0].shape), np.int32)
    for t, lab in enumerate(frames_labels):
        for obj, k in rank.items():
            out[t][lab == obj] = k
    return out


def run_masklets(model, frames: np.ndarray, amg_options: dict, interval: int) -> tuple[np.ndarray, dict]:
    from samstream.amg import MaskGenerator
    from samstream.amg.video import VideoMaskGenerator

    timed = TimedGenerator(MaskGenerator(model, **amg_options))
    gen = VideoMaskGenerator(model, mask_generator=timed, keyframe_interval=interval)
    labels, scores = [], {}
    start = time.perf_counter()
    with torch.inference_mode():
        for f in gen.generate(frames):
            labels.append(f.labels)
            for i in f.obj_ids:
                if (f.labels == i).any():
                    scores[i] = scores.get(i, 0.0) + f.stability.get(i, 1.0)
    seconds = time.perf_counter() - start
    tracked = (seconds - timed.seconds) / len(frames)
    return _ranked_labels(labels, scores), {"seconds": seconds, "key_extra": timed.seconds / max(timed.calls, 1),
                                            "tracked": tracked, "masklets": len(scores)}


def run_baseline(model, frames: np.ndarray, amg_options: dict) -> tuple[np.ndarray, dict]:
    """Mask generator on every frame, masks linked to the previous frame's tracks by IoU only."""
    from samstream.amg import MaskGenerator
    from samstream.amg.masklets import mask_grid, pair_ious

    gen = MaskGenerator(model, **amg_options)
    labels, scores, prev, next_id = [], {}, {}, 1
    start = time.perf_counter()
    for frame in frames:
        recs = gen.generate(frame)
        masks = [np.asarray(r["segmentation"], bool) for r in recs]
        ids = [0] * len(masks)
        if masks and prev:
            old = list(prev)
            grid = mask_grid(np.stack(masks + [prev[i] for i in old]))
            iou = pair_ious(grid)[: len(masks), len(masks):]  # (new, old)
            used = set()
            for flat in torch.argsort(iou.flatten(), descending=True).tolist():
                n, o = divmod(flat, len(old))
                if iou[n, o] < 0.5:
                    break
                if ids[n] == 0 and o not in used:
                    ids[n], _ = old[o], used.add(o)
        for n in range(len(ids)):
            if ids[n] == 0:
                ids[n], next_id = next_id, next_id + 1
        lab = np.zeros(frame.shape[:2], np.int32)
        order = np.argsort([-r["predicted_iou"] for r in recs])[::-1]  # best mask painted last wins
        for n in order:
            lab[masks[n]] = ids[n]
        for n, r in enumerate(recs):
            scores[ids[n]] = scores.get(ids[n], 0.0) + float(r["stability_score"])
        prev = {i: m for i, m in zip(ids, masks)}
        labels.append(lab)
    seconds = time.perf_counter() - start
    return _ranked_labels(labels, scores), {"seconds": seconds, "masklets": len(scores)}


def quality(args: argparse.Namespace, model) -> None:
    from samstream.eval.results import EvalResult
    from samstream.eval.synthetic import held_out_clip
    from samstream.eval.unsupervised import score_unsupervised
    from samstream.data.synthetic import SyntheticConfig

    cfg = SyntheticConfig(size=model.image_size, num_frames=args.frames)
    amg = {"points_per_side": args.points_per_side, "pred_iou_thresh": args.pred_iou_thresh,
           "stability_score_thresh": args.stability_thresh}
    scores = {"masklets": [], "baseline": []}
    costs = {"masklets": [], "baseline": []}
    for v in range(args.videos):
        clip = held_out_clip(v, cfg)
        gt = np.zeros(clip.masks.shape[:1] + clip.masks.shape[2:], np.int32)
        for k in range(clip.masks.shape[1]):
            gt[clip.masks[:, k]] = k + 1
        for name, fn in (("masklets", lambda: run_masklets(model, clip.frames, amg, args.interval)),
                         ("baseline", lambda: run_baseline(model, clip.frames, amg))):
            pred, info = fn()
            scores[name] += score_unsupervised(f"v{v}", gt, pred)
            costs[name].append(info)
    rows = []
    for name in ("masklets", "baseline"):
        res = EvalResult.from_scores(scores[name])
        per_frame = sum(c["seconds"] for c in costs[name]) / (args.videos * args.frames)
        masklets = np.mean([c["masklets"] for c in costs[name]])
        rows.append([name, f"{res.jf * 100:.1f}", f"{res.j.mean * 100:.1f}", f"{res.f.mean * 100:.1f}",
                     f"{per_frame * 1000:.0f}", f"{1 / per_frame:.2f}", f"{masklets:.1f}"])
    print(table(rows, ["method", "J&F", "J", "F", "ms/frame", "frames/s", "masklets/video"]))
    key = np.mean([c["key_extra"] + c["tracked"] for c in costs["masklets"]])
    tracked = np.mean([c["tracked"] for c in costs["masklets"]])
    print(f"\nmasklet generator: key frame {key * 1000:.0f} ms (mask generator {(key - tracked) * 1000:.0f} ms), "
          f"tracked frame {tracked * 1000:.0f} ms")


def scale_child(keyframes: int, interval: int, points: int) -> dict:
    """One process: a video of ``keyframes`` key frames; frames/s and the peak state held."""
    import samstream
    from samstream.amg.video import VideoMaskGenerator
    from samstream.eval.synthetic import held_out_clip
    from samstream.data.synthetic import SyntheticConfig

    model = samstream.load_model("samstream-nano", device="cpu")
    n = keyframes * interval
    clip = held_out_clip(0, SyntheticConfig(size=model.image_size, num_frames=min(n, 48)))
    frames = (clip.frames[t % len(clip.frames)] for t in range(n))  # a stream: never all in memory
    gen = VideoMaskGenerator(model, keyframe_interval=interval, points_per_side=points, pred_iou_thresh=0.5,
                             stability_score_thresh=0.5)
    peak_state, count = 0, 0
    start = time.perf_counter()
    with torch.inference_mode():
        for f in gen.generate(frames):
            peak_state = max(peak_state, gen.nbytes())
            count += 1
    seconds = time.perf_counter() - start
    return {"frames": count, "fps": count / seconds, "state_mb": peak_state / 2**20, "rss_mb": peak_rss_mb(),
            "masklets": len(gen.masklets)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--interval", type=int, default=8)
    parser.add_argument("--points-per-side", type=int, default=8)
    parser.add_argument("--pred-iou-thresh", type=float, default=0.5)
    parser.add_argument("--stability-thresh", type=float, default=0.5)
    parser.add_argument("--scale", default="1,10,100", help="video lengths in key frames")
    parser.add_argument("--scale-interval", type=int, default=4)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.child:
        keyframes, interval, points = (int(x) for x in args.child.split(","))
        print(json.dumps(scale_child(keyframes, interval, points)))
        return
    import samstream

    print(f"# auto_video: samstream-nano, {machine()}")
    quality(args, samstream.load_model("samstream-nano", device="cpu"))
    rows = []
    for k in (int(x) for x in args.scale.split(",") if x):
        r = run_child(Path(__file__), ["--child", f"{k},{args.scale_interval},{args.points_per_side}"])
        rows.append([str(k), str(r["frames"]), f"{r['fps']:.2f}", f"{r['state_mb']:.2f}", f"{r['rss_mb']:.0f}",
                     str(r["masklets"])])
    print()
    print(table(rows, ["key frames", "frames", "frames/s", "peak state MB", "peak RSS MB", "masklets"]))


if __name__ == "__main__":
    main()
