"""Video predictor throughput and peak memory for 1, 4 and 16 objects: samstream against the reference.

    python benchmarks/video.py [--config configs/sam2.1/sam2.1_hiera_t.yaml] [--image-size 512]
                               [--frames 12] [--objects 1,4,16] [--rounds 2]

Both sides load the same checkpoint (random weights), read the same JPEG folder, get one click
per object on frame 0 and propagate forward. Frames per second counts propagation only. On a CPU
the reference needs its memory features kept in float32 (it stores bfloat16 and a CPU has no
autocast for it); both sides then store float32. Each measurement runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, run_child, table  # noqa: E402


def make_frames(folder: Path, frames: int, h: int = 360, w: int = 480) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(frames):
        img = np.stack([80 + 40 * np.sin((xx + 3 * t) / 9.0), 100 + 30 * np.cos(yy / 7.0), 90 + 0 * xx], -1)
        img = img + rng.normal(0, 6, img.shape)
        for k in range(16):
            cy, cx = 45 + 90 * (k // 4), 60 + 120 * (k % 4) + 2 * t
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] = [(37 * k) % 255, (91 * k) % 255, 200]
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{t:05d}.jpg", quality=95)


def child(args: argparse.Namespace) -> None:
    torch.set_grad_enabled(False)
    cpu = args.device == "cpu"
    overrides = [f"++model.image_size={args.image_size}"]
    if args.side == "ref":
        from sam2.build_sam import build_sam2_video_predictor

        if cpu:
            import sam2.sam2_video_predictor as ref_module

            class _Float32Memory:
                def __getattr__(self, name: str):
                    return torch.float32 if name == "bfloat16" else getattr(torch, name)

            ref_module.torch = _Float32Memory()
        predictor = build_sam2_video_predictor(args.config, args.ckpt, device=args.device,
                                               hydra_overrides_extra=overrides)
    else:
        from samstream.compat import build_sam2_video_predictor

        predictor = build_sam2_video_predictor(args.config, args.ckpt, device=args.device,
                                               hydra_overrides_extra=overrides,
                                               memory_dtype=torch.float32 if cpu else torch.bfloat16)
    with torch.inference_mode():
        state = predictor.init_state(args.frames_dir)
        for k in range(args.num_objects):
            x, y = 60 + 120 * (k % 4), 45 + 90 * (k // 4)
            predictor.add_new_points_or_box(state, 0, k + 1, points=np.array([[x, y]], np.float32),
                                            labels=np.array([1], np.int32))
        start = time.perf_counter()
        count = 0
        for _ in predictor.propagate_in_video(state):
            count += 1
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else float("nan")
    print(json.dumps({"fps": count / seconds, "rss_mb": peak_rss_mb(), "cuda_mb": cuda_peak}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=512 if not torch.cuda.is_available() else 1024)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--objects", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--side", choices=["ref", "ours"])
    parser.add_argument("--ckpt")
    parser.add_argument("--frames-dir")
    parser.add_argument("--num-objects", type=int)
    args = parser.parse_args()
    if args.side:
        return child(args)
    from sam2.build_sam import build_sam2

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ckpt = Path(tmp) / "model.pt"
        torch.save({"model": build_sam2(args.config, None, device="cpu").state_dict()}, ckpt)
        frames_dir = Path(tmp) / "frames"
        frames_dir.mkdir()
        make_frames(frames_dir, args.frames)
        rows = []
        for n in [int(x) for x in args.objects.split(",")]:
            res: dict[str, list[dict]] = {"ref": [], "ours": []}
            for _ in range(args.rounds):
                for side in ("ref", "ours"):
                    res[side].append(run_child(Path(__file__), [
                        "--side", side, "--config", args.config, "--ckpt", str(ckpt), "--device", args.device,
                        "--image-size", str(args.image_size), "--frames-dir", str(frames_dir),
                        "--num-objects", str(n)]))
            med = {s: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for s, rs in res.items()}
            rows.append([str(n), f"{med['ref']['fps']:.3f}", f"{med['ours']['fps']:.3f}",
                         f"{med['ours']['fps'] / med['ref']['fps']:.2f}x",
                         f"{med['ref']['rss_mb']:.0f}", f"{med['ours']['rss_mb']:.0f}"])
            print(rows[-1], flush=True)
    print(f"video predictor, {args.config}, image size {args.image_size}, {args.frames} frames, {machine()}, "
          f"medians of {args.rounds} processes")
    print(table(rows, ["objects", "ref fps", "samstream fps", "speed-up", "ref peak RSS MB", "samstream peak RSS MB"]))


if __name__ == "__main__":
    main()
