"""onnxruntime (CPU) against samstream's PyTorch path, in the same run on the same machine.

    python benchmarks/onnx.py --size 256 [--model sam2.1-tiny] [--export-dir DIR] [--threads 2]

Each side runs in its own process (peak memory is its own): image encoder, decoder per click, tracked
frames per second for 1 and 4 objects. Then the graph file sizes in float32, float16 and int8
(dynamic quantisation of the MatMul weights). Random weights unless --model names a downloaded
checkpoint; timings depend on the weights only through the object-presence branch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this script's own name would hide the onnx package: take its folder off the path, add the repository
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, median_seconds, peak_rss_mb, run_child, table  # noqa: E402


def clip(frames: int, h: int = 360, w: int = 480) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    out = []
    for t in range(frames):
        f = (40 + rng.integers(0, 20, (h, w, 3))).astype(np.uint8)
        for k in range(4):
            cx, cy = 60 + 90 * k + 2 * t, 80 + 50 * (k % 2)
            f[(xx - cx) ** 2 + (yy - cy) ** 2 <= 900] = (200, 40 * k, 90)
        out.append(f)
    return out


def clicks(k: int) -> list[list[float]]:
    return [[60.0 + 90 * k, 80.0 + 50 * (k % 2)]]


def side(args: argparse.Namespace) -> dict:
    frames = clip(args.frames + 1)
    if args.side == "onnx":
        from samstream.onnx import OnnxImagePredictor, OnnxTracker
        from samstream.onnx.runtime import OnnxGraphs

        graphs = OnnxGraphs(args.export_dir, threads=args.threads)
        image, make_tracker = OnnxImagePredictor(graphs), lambda: OnnxTracker(graphs)
    else:
        import torch

        import samstream

        torch.set_num_threads(args.threads)
        model = _model(args)
        image, make_tracker = samstream.ImagePredictor(model), lambda: samstream.StreamTracker(model)
    result = {"encoder_s": median_seconds(lambda: image.set_image(frames[0]), args.repeats),
              "click_s": median_seconds(lambda: image.predict(points=clicks(0), labels=[1]), args.repeats * 3)}
    for n in (1, 4):
        tracker = make_tracker()
        tracker.step(frames[0])
        for k in range(n):
            tracker.add_points(k + 1, clicks(k), [1])
        start = time.perf_counter()
        for f in frames[1:]:
            tracker.step(f)
        result[f"fps_{n}"] = args.frames / (time.perf_counter() - start)
    result["peak_mb"] = peak_rss_mb()
    return result


def _model(args: argparse.Namespace):
    import torch

    import samstream
    from samstream.checkpoints import build_model
    from samstream.registry import get_variant

    if args.weights:
        return samstream.load_model(args.model, device="cpu", image_size=args.size, allow_download=False)
    model = build_model(get_variant(args.model).config.with_image_size(args.size), seed=0)
    with torch.no_grad():  # objects present, as with trained weights
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias += 2.0
    return model


def sizes(folder: Path) -> list[list[str]]:
    import onnx

    from samstream.onnx.precision import quantize_int8, to_float16

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for graph in sorted(folder.glob("*.onnx")):
            half, q8 = Path(tmp) / f"half-{graph.name}", Path(tmp) / f"int8-{graph.name}"
            to_float16(onnx.load(str(graph)), half)
            quantize_int8(graph, q8)
            rows.append([graph.name] + [f"{p.stat().st_size / 2**20:.1f}" for p in (graph, half, q8)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1-tiny")
    parser.add_argument("--weights", action="store_true", help="load the named checkpoint (else random weights)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--export-dir", default=None, help="an export of the same model and size (else one is made)")
    parser.add_argument("--side", choices=("torch", "onnx"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(side(args)))
        return
    if args.export_dir is None:
        from samstream.onnx.export import export_onnx

        args.export_dir = tempfile.mkdtemp(prefix="samstream-onnx-")
        export_onnx(_model(args), args.export_dir)
    common = ["--model", args.model, "--size", str(args.size), "--threads", str(args.threads), "--frames",
              str(args.frames), "--repeats", str(args.repeats), "--export-dir", str(args.export_dir)]
    common += ["--weights"] if args.weights else []
    script = Path(__file__)
    results = {s: run_child(script, [*common, "--side", s]) for s in ("torch", "onnx")}
    keys = [("image encoder (s)", "encoder_s", "{:.3f}"), ("decoder per click (s)", "click_s", "{:.4f}"),
            ("tracked frames/s, 1 object", "fps_1", "{:.2f}"), ("tracked frames/s, 4 objects", "fps_4", "{:.2f}"),
            ("peak memory (MB)", "peak_mb", "{:.0f}")]
    rows = [[label] + [fmt.format(results[s][key]) for s in ("torch", "onnx")] for label, key, fmt in keys]
    print(f"{args.model} at {args.size}, {args.threads} threads, {machine()}")
    print(table(rows, ["", "PyTorch", "onnxruntime"]))
    print(table(sizes(Path(args.export_dir)), ["graph", "float32 MB", "float16 MB", "int8 MB"]))


if __name__ == "__main__":
    main()
