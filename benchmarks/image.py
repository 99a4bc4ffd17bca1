"""Image predictor latency and peak memory: samstream against the reference, same weights.

    python benchmarks/image.py [--config configs/sam2.1/sam2.1_hiera_t.yaml] [--repeats 5] [--device cpu]

Each side runs in its own process on the same checkpoint (the reference's random weights saved to
a file), the same image and the same prompts; figures are medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_seconds, peak_rss_mb, run_child, table  # noqa: E402

PROMPTS = dict(point_coords=np.array([[400.0, 300.0], [100.0, 120.0]]), point_labels=np.array([1, 0]))


def child(args: argparse.Namespace) -> None:
    torch.set_grad_enabled(False)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)
    if args.side == "ref":
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor
    else:
        from samstream.compat import SAM2ImagePredictor, build_sam2
    model = build_sam2(args.config, args.ckpt, device=args.device)
    pred = SAM2ImagePredictor(model)
    with torch.inference_mode():
        set_s = median_seconds(lambda: pred.set_image(image), args.repeats)
        predict_s = median_seconds(lambda: pred.predict(**PROMPTS), args.repeats * 4)
        box_s = median_seconds(lambda: pred.predict(box=np.array([[10, 10, 300, 300]] * 16, float)), args.repeats * 2)
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else float("nan")
    print(json.dumps({"set_image": set_s, "predict": predict_s, "predict16": box_s, "rss_mb": peak_rss_mb(),
                      "cuda_mb": cuda_peak}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ref/ours process pairs")
    parser.add_argument("--side", choices=["ref", "ours"])
    parser.add_argument("--ckpt")
    args = parser.parse_args()
    if args.side:
        return child(args)
    from sam2.build_sam import build_sam2

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ckpt = Path(tmp) / "model.pt"
        torch.save({"model": build_sam2(args.config, None, device="cpu").state_dict()}, ckpt)
        common = ["--config", args.config, "--ckpt", str(ckpt), "--repeats", str(args.repeats), "--device", args.device]
        results: dict[str, list[dict]] = {"ref": [], "ours": []}
        for _ in range(args.rounds):
            for side in ("ref", "ours"):
                results[side].append(run_child(Path(__file__), ["--side", side, *common]))
    med = {s: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for s, rs in results.items()}
    rows = []
    for key, label in (("set_image", "set_image (s)"), ("predict", "predict, 2 clicks (s)"),
                       ("predict16", "predict, 16 boxes (s)"), ("rss_mb", "peak RSS (MB)"), ("cuda_mb", "peak CUDA (MB)")):
        r, o = med["ref"][key], med["ours"][key]
        ratio = r / o if o == o and o > 0 else float("nan")
        rows.append([label, f"{r:.4f}", f"{o:.4f}", f"{ratio:.2f}x"])
    print(f"image predictor, {args.config}, {machine()}, medians of {args.rounds} processes x {args.repeats} runs")
    print(table(rows, ["measure", "reference", "samstream", "speed-up (ref/ours)"]))


if __name__ == "__main__":
    main()
