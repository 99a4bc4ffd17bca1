"""The bundled demo model on held-out synthetic data: J&F, J&F without memory, 1-click mIoU.

    python benchmarks/demo_model.py [--model samstream-nano] [--videos 50] [--frames 48] [--images 200]

Clips come from the synthetic generator at the model's input size, with seeds the trainer never
uses (``samstream.eval.synthetic.HELD_OUT_BASE``); they have occlusions (objects overlap, the
front one wins), distractors (unlabelled look-alikes) and objects leaving and re-entering the
frame. Protocols are in ``samstream/eval/synthetic.py``. Targets (the training issue): J&F >= 0.80,
at least 0.10 lower with memory disabled, 1-click mIoU >= 0.80.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="samstream-nano", help="registry name or checkpoint path")
    ap.add_argument("--videos", type=int, default=50)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import samstream
    from samstream.eval.synthetic import evaluate_clicks, evaluate_videos, memory_disabled
    from samstream.data.synthetic import SyntheticConfig

    model = samstream.load_model(args.model, device="cpu", allow_download=False)
    cfg = SyntheticConfig(size=model.image_size, num_frames=args.frames)
    t0 = time.perf_counter()
    with_mem = evaluate_videos(model, args.videos, cfg, progress=True)
    t1 = time.perf_counter()
    with memory_disabled(model):
        no_mem = evaluate_videos(model, args.videos, cfg, progress=True)
    t2 = time.perf_counter()
    miou, n_obj = evaluate_clicks(model, args.images, cfg, progress=True)
    t3 = time.perf_counter()

    drop = with_mem.jf - no_mem.jf
    rows = [
        ["J&F (memory on)", f"{with_mem.jf:.3f}", ">= 0.80", "met" if with_mem.jf >= 0.80 else "NOT met"],
        ["  J / F", f"{with_mem.j:.3f} / {with_mem.f:.3f}", "", ""],
        ["J&F (memory disabled)", f"{no_mem.jf:.3f}", "", ""],
        ["  drop", f"{drop:.3f}", ">= 0.10", "met" if drop >= 0.10 else "NOT met"],
        ["1-click mIoU", f"{miou:.3f}", ">= 0.80", "met" if miou >= 0.80 else "NOT met"],
    ]
    print(f"# {args.model} on held-out synthetic data, {machine()}")
    print(f"# {args.videos} videos x {args.frames} frames at {cfg.size}x{cfg.size}: {with_mem.objects} objects, "
          f"{with_mem.frames} frames tracked ({t1 - t0:.0f} s; no memory {t2 - t1:.0f} s); "
          f"{args.images} images: {n_obj} objects ({t3 - t2:.0f} s)")
    print(table(rows, ["metric", "value", "target", ""]))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "machine": machine(), "videos": args.videos, "frames": args.frames,
            "size": cfg.size, "objects": with_mem.objects, "jf": with_mem.jf, "j": with_mem.j, "f": with_mem.f,
            "jf_no_memory": no_mem.jf, "j_no_memory": no_mem.j, "f_no_memory": no_mem.f,
            "images": args.images, "click_objects": n_obj, "click_miou": miou,
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
