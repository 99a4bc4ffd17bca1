"""Automatic mask generation, seconds per image: samstream against the reference, same weights.

    python benchmarks/amg.py [--config configs/sam2.1/sam2.1_hiera_t.yaml] [--image-size 1024]
                             [--points-per-side 32] [--image-hw 768,1024] [--rounds 1] [--repeats 1]

Two settings: the default options (one pass over the whole image) and one crop layer
(``crop_n_layers=1``: the image plus 4 crops). Each measurement runs in a fresh process on the
same checkpoint (the reference's random weights saved to a file) and the same image; figures are
medians over ``--rounds`` process pairs of the median of ``--repeats`` runs.

``--weights random`` keeps the random weights: nothing passes the default filters, so the time is
the encoder and decoder alone (and the reference raises when crops keep no mask at all).
``--weights shaped`` (default) adds, on both sides, a disc around each point to the decoder's
logits (forward hooks): compact masks of three sizes that pass the filters about as often as
with trained weights. ``--weights boosted`` scales the random mask logits and IoU predictions so that masks
pass the filters; its masks are noisy (many runs per column), which makes the reference's
per-mask RLE work heavier than with trained weights.
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


def _image(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    for _ in range(20):  # some flat regions
        y, x = rng.integers(0, h - h // 8), rng.integers(0, w - w // 8)
        img[y : y + h // 6, x : x + w // 5] = rng.integers(0, 255, 3)
    return img


def _boost_(model: torch.nn.Module) -> None:
    """Random weights give logits near 0 (stability ~0) and IoU ~0.5: nothing passes the default
    filters. Scale the mask logits and raise the IoU predictions so that some masks do."""
    decoder = model.sam_mask_decoder
    with torch.no_grad():
        for mlp in decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(1000.0)
            mlp.layers[-1].bias.mul_(1000.0)
        decoder.iou_prediction_head.layers[-1].bias.add_(1.5)


def _install_discs(model: torch.nn.Module, reference: bool) -> None:
    """``--weights shaped``: add a steep disc around each prompt point to the decoder's logits and
    raise its IoU predictions, so that masks are compact, of three sizes, and pass the default
    filters about as often as with trained weights (forward hooks, identical on both sides)."""
    seen: dict[str, torch.Tensor] = {}

    def pre(_module, args, kwargs):
        seen["coords"] = kwargs.get("points", args[0] if args else None)[0].float()

    def shape(masks: torch.Tensor, iou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, h, w = masks.shape
        centre = seen["coords"][:, 0] / 4.0  # (B, 2) low-resolution pixels
        xs = torch.arange(w, dtype=torch.float32) + 0.5
        ys = torch.arange(h, dtype=torch.float32) + 0.5
        dist = ((xs[None, None] - centre[:, None, :1]) ** 2 + (ys[None, :, None] - centre[:, None, 1:]) ** 2).sqrt()
        radii = torch.tensor([2.5, 5.0, 9.0][:k] if k > 1 else [9.0])
        phase = torch.arange(k, dtype=torch.float32)[None]
        bump = 0.35 + 0.1 * torch.sin(centre[:, :1] * 0.37 + centre[:, 1:] * 0.23 + phase)
        return masks + 20.0 * (radii[None, :, None, None] - dist[:, None]), iou + bump

    def post(_module, _args, out):
        if reference:
            masks, iou = shape(out[0], out[1])
            return (masks, iou, *out[2:])
        out.masks, out.iou = shape(out.masks, out.iou)
        return out

    model.sam_prompt_encoder.register_forward_pre_hook(pre, with_kwargs=True)
    model.sam_mask_decoder.register_forward_hook(post)


def child(args: argparse.Namespace) -> None:
    torch.set_grad_enabled(False)
    h, w = (int(v) for v in args.image_hw.split(","))
    image = _image(h, w)
    overrides = [] if args.image_size == 1024 else [f"++model.image_size={args.image_size}"]
    if args.side == "ref":
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        from sam2.build_sam import build_sam2
    else:
        from samstream.compat import build_sam2
        from samstream.compat import SAM2AutomaticMaskGenerator
    model = build_sam2(args.config, args.ckpt, device=args.device, hydra_overrides_extra=overrides)
    if args.weights == "shaped":
        _install_discs(model, reference=args.side == "ref")
    gen = SAM2AutomaticMaskGenerator(model, points_per_side=args.points_per_side, crop_n_layers=args.crop_n_layers)
    if args.side == "ref":
        s = args.image_size // 4
        gen.predictor._bb_feat_sizes = [(s, s), (s // 2, s // 2), (s // 4, s // 4)]
    found: list[int] = []
    with torch.inference_mode():
        seconds = median_seconds(lambda: found.append(len(gen.generate(image))), args.repeats, warmup=args.warmup)
    print(json.dumps({"seconds": seconds, "masks": found[-1], "rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml")
    parser.add_argument("--image-size", type=int, default=1024, help="model input size")
    parser.add_argument("--image-hw", default="768,1024", help="height,width of the test image")
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="alternating ref/ours process pairs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--crop-layers", default="0,1", help="crop_n_layers settings to measure")
    parser.add_argument("--weights", choices=["random", "boosted", "shaped"], default="shaped",
                        help="boosted: random weights with larger mask logits and IoU predictions, so that masks pass "
                             "the default filters (noisy masks); shaped: compact disc masks around each point")
    parser.add_argument("--side", choices=["ref", "ours"])
    parser.add_argument("--crop-n-layers", type=int, default=0)
    parser.add_argument("--ckpt")
    args = parser.parse_args()
    if args.side:
        return child(args)
    from sam2.build_sam import build_sam2

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ckpt = Path(tmp) / "model.pt"
        model = build_sam2(args.config, None, device="cpu")
        if args.weights == "boosted":
            _boost_(model)
        torch.save({"model": model.state_dict()}, ckpt)
        common = ["--weights", args.weights, "--config", args.config, "--ckpt", str(ckpt), "--repeats", str(args.repeats), "--warmup",
                  str(args.warmup), "--device", args.device, "--image-size", str(args.image_size),
                  "--image-hw", args.image_hw, "--points-per-side", str(args.points_per_side)]
        for layers in (int(v) for v in args.crop_layers.split(",")):
            results: dict[str, list[dict]] = {"ref": [], "ours": []}
            try:
                for _ in range(args.rounds):
                    for side in ("ref", "ours"):
                        results[side].append(
                            run_child(Path(__file__), ["--side", side, "--crop-n-layers", str(layers), *common])
                        )
            except SystemExit as exc:  # the reference raises when no crop keeps a mask
                print(f"crop_n_layers={layers}: {str(exc).splitlines()[-1]}", file=sys.stderr)
                rows.append([f"crop_n_layers={layers}", "failed", "", "", "", ""])
                continue
            med = {s: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for s, rs in results.items()}
            r, o = med["ref"]["seconds"], med["ours"]["seconds"]
            rows.append([f"crop_n_layers={layers}", f"{r:.2f}", f"{o:.2f}", f"{r / o:.2f}x",
                         f"{med['ref']['masks']:.0f} / {med['ours']['masks']:.0f}",
                         f"{med['ref']['rss_mb']:.0f} / {med['ours']['rss_mb']:.0f}"])
    print(f"automatic mask generation, {args.weights} weights, {args.config}, model input {args.image_size}, image {args.image_hw} (h,w), "
          f"{args.points_per_side}x{args.points_per_side} points, {machine()}, "
          f"medians of {args.rounds} process pairs x {args.repeats} runs")
    print(table(rows, ["setting", "reference (s)", "samstream (s)", "speed-up (ref/ours)", "masks (ref / ours)",
                       "peak RSS MB (ref / ours)"]))


if __name__ == "__main__":
    main()
