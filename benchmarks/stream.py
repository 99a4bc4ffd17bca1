"""Long videos: peak memory and throughput of the streaming tracker, the offline predictor and the reference.

    python benchmarks/stream.py [--lengths 100,1000,10000] [--image-size 128] [--sides stream,offline,ref]
                                [--ref-max 1000]

All three read the same JPEG folder (generated, 240x320, a moving disc), get one click on frame 0 and
track it forward to the end; the same random weights (sam2.1 tiny layout) on every side. The offline
predictor runs with ``max_outputs_in_memory=32`` (older tracked outputs spill to disk). On a CPU the
reference needs float32 memories and, beyond ``--ref-max`` frames, hours; lengths above it are not run
for the reference. Each measurement is a fresh process. "fps" counts tracking only, from the
prompted first frame on (the reference has loaded every frame by then); "e2e fps" counts every frame
over the whole run from opening the folder (the reference's ``init_state`` loads and preprocesses
all frames first; the stream decodes each frame inside its loop). Model loading is never counted.
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

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
CLICK = [[80.0, 120.0]]


def make_frames(folder: Path, frames: int, h: int = 240, w: int = 320) -> None:
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([80 + 30 * np.sin(xx / 9.0), 100 + 30 * np.cos(yy / 7.0), 90 + 0 * xx], -1)
    for t in range(frames):
        img = base.copy()
        cx, cy = 80 + 60 * np.sin(t / 25.0), 120 + 40 * np.cos(t / 31.0)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 25**2] = [230, 40, 40]
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{t:05d}.jpg", quality=90)


def child(args: argparse.Namespace) -> None:
    torch.set_grad_enabled(False)
    frames_dir = Path(args.frames_dir)
    n = args.length
    overrides = [f"++model.image_size={args.image_size}"]
    with torch.inference_mode():
        if args.side == "ref":
            import sam2.sam2_video_predictor as ref_module
            from sam2.build_sam import build_sam2_video_predictor

            class _Float32Memory:
                def __getattr__(self, name: str):
                    return torch.float32 if name == "bfloat16" else getattr(torch, name)

            ref_module.torch = _Float32Memory()
            predictor = build_sam2_video_predictor(CONFIG, args.ckpt, device="cpu", hydra_overrides_extra=overrides)
            opened = time.perf_counter()
            state = predictor.init_state(str(frames_dir), offload_video_to_cpu=True)
            predictor.add_new_points_or_box(state, 0, 1, points=np.array(CLICK, np.float32),
                                            labels=np.array([1], np.int32))
            start = time.perf_counter()
            count = sum(1 for _ in predictor.propagate_in_video(state))
        else:
            from samstream import StreamTracker, VideoPredictor, load_model, read_frames

            model = load_model(args.ckpt, device="cpu")
            if args.side == "stream":
                tracker = StreamTracker(model, memory_dtype=torch.float32)
                count = 0
                start = 0.0
                opened = time.perf_counter()
                for rgb in read_frames(frames_dir):
                    tracker.step(rgb)
                    if count == 0:
                        tracker.add_points(1, CLICK, [1])
                        start = time.perf_counter()
                    count += 1
            else:
                predictor = VideoPredictor(model, memory_dtype=torch.float32, max_outputs_in_memory=32)
                opened = time.perf_counter()
                with predictor.open(frames_dir) as session:
                    session.add_points(0, 1, CLICK, [1])
                    start = time.perf_counter()
                    count = sum(1 for _ in session.propagate())
        end = time.perf_counter()
    assert count == n, (count, n)
    print(json.dumps({"fps": (count - 1) / (end - start), "e2e_fps": count / (end - opened), "rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="100,1000,10000")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--sides", default="stream,offline,ref")
    parser.add_argument("--ref-max", type=int, default=1000)
    parser.add_argument("--side", choices=["stream", "offline", "ref"])
    parser.add_argument("--ckpt")
    parser.add_argument("--frames-dir")
    parser.add_argument("--length", type=int)
    args = parser.parse_args()
    if args.side:
        return child(args)
    from samstream.checkpoints import build_model, save_checkpoint
    from samstream.registry import get_variant

    lengths = [int(x) for x in args.lengths.split(",")]
    sides = args.sides.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(get_variant("sam2.1-tiny").config.with_image_size(args.image_size), device="cpu", seed=0)
        ckpt = Path(tmp) / "model.pt"
        save_checkpoint(model, ckpt)  # the reference ignores the extra config entry and reads "model"
        rows = []
        for n in lengths:
            frames_dir = Path(tmp) / f"frames{n}"
            frames_dir.mkdir()
            make_frames(frames_dir, n)
            row = [str(n)]
            for side in ("stream", "offline", "ref"):
                if side not in sides or (side == "ref" and n > args.ref_max):
                    row += ["-", "-", "-"]
                    continue
                res = run_child(Path(__file__), ["--side", side, "--ckpt", str(ckpt), "--frames-dir", str(frames_dir),
                                                 "--length", str(n), "--image-size", str(args.image_size)])
                row += [f"{res['fps']:.2f}", f"{res['e2e_fps']:.2f}", f"{res['rss_mb']:.0f}"]
                print(side, n, res, flush=True)
            rows.append(row)
    print(f"long videos, sam2.1 tiny layout at {args.image_size} input, one object, {machine()}")
    print(table(rows, ["frames", "stream fps", "e2e", "stream peak MB", "offline fps", "e2e", "offline peak MB",
                       "ref fps", "e2e", "ref peak MB"]))


if __name__ == "__main__":
    main()
