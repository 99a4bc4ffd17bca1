"""``samstream export onnx MODEL --out DIR``: ONNX graphs of every model step and a manifest."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from samstream.cli.common import Reporter, load_model, positive_int
from samstream.onnx.manifest import DEFAULT_OPSET, OPSETS


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = sub.add_parser("export", help="export a model for other runtimes (onnx)",
                       description="Export a model for other runtimes.")
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = common(formats.add_parser(
        "onnx", help="ONNX graphs (image encoder, decoder, memory encoder, memory attention) and manifest.json",
        description="Write one ONNX graph per model step and a manifest.json (variant, input size, opset, "
                    "input/output names and shapes, normalisation, tracking settings, checksums). "
                    "Run them with samstream.onnx.OnnxImagePredictor / OnnxTracker (numpy + onnxruntime)."))
    q.add_argument("name", metavar="MODEL", help="registry name (e.g. sam2.1-tiny) or checkpoint path")
    q.add_argument("--out", required=True, metavar="DIR", help="output folder")
    q.add_argument("--parts", choices=("all", "image"), default="all",
                   help="all graphs (default) or only the image encoder and decoder")
    q.add_argument("--opset", type=positive_int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {OPSETS[0]} to {OPSETS[-1]} (default: {DEFAULT_OPSET})")
    q.add_argument("--fp16", action="store_true", help="store weights and activations as float16")
    q.add_argument("--int8", action="store_true",
                   help="quantise the image encoder's matrix products to int8 (dynamic quantisation; not with --fp16)")
    q.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                   help="input size (a multiple of 32; default: the model's)")
    q.add_argument("--force", action="store_true", help="overwrite graphs already in --out")
    q.set_defaults(func=run_export_onnx)


def run_export_onnx(args: argparse.Namespace) -> int:
    import samstream
    from samstream.onnx.export import export_onnx

    report = Reporter(args)
    if args.image_size is not None:
        model = samstream.load_model(args.name, device="cpu", image_size=args.image_size, allow_download=False)
    else:
        args.model, args.device = args.name, "cpu"
        model, _ = load_model(args)
    manifest = export_onnx(model, args.out, parts=args.parts, opset=args.opset, fp16=args.fp16,
                           int8=args.int8, overwrite=args.force, progress=report.note)
    sizes = ", ".join(sorted(manifest.files))
    report.summary(f"{manifest.variant} at {manifest.image_size} -> {args.out} ({sizes}, manifest.json)",
                   {"out": str(args.out), "variant": manifest.variant, "image_size": manifest.image_size,
                    "files": manifest.files, "opset": manifest.opset, "fp16": manifest.fp16,
                    "int8": manifest.int8})
    return 0
