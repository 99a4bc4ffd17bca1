"""``samstream export onnx MODEL --out DIR``: ONNX graphs of every model step and a manifest."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from samstream.cli.common import Reporter, basic, positive_int
from samstream.onnx.manifest import DEFAULT_OPSET, OPSETS


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``export onnx`` to ``sub``. MODEL is positional and the export always runs on the CPU, so
    the parser has no ``--model`` or ``--device`` (``common`` is not used): giving them is an error,
    not a silent replacement."""
    p = sub.add_parser("export", help="export a model for other runtimes (onnx)",
                       description="Export a model for other runtimes.")
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = basic(formats.add_parser(
        "onnx", help="ONNX graphs (image encoder, decoder, memory encoder, memory attention) and manifest.json",
        description="Write one ONNX graph per model step and a manifest.json (variant, input size, opset, "
                    "input/output names and shapes, normalisation, tracking settings, checksums). "
                    "Run them with samstream.onnx.OnnxImagePredictor / OnnxTracker (numpy + onnxruntime). "
                    "Needs the [onnx] extra (onnx, onnxscript); runs on the CPU."))
    q.add_argument("name", metavar="MODEL", help="registry name (e.g. sam2.1-tiny) or checkpoint path")
    q.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads torch may use (default: torch's choice, usually the core count)")
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
    """Check the tools and --out, load MODEL on the CPU, write the graphs into a staging folder that
    becomes --out's files only when the export is whole (a failed export leaves nothing)."""
    from samstream.cli.common import check_model_available
    from samstream.io.outputs import check_output_dir, staged_output
    from samstream.onnx.export import export_onnx, graph_files, require_export_tools

    report = Reporter(args)
    require_export_tools()  # before any work: a missing extra is one line, exit 2, nothing written
    names = graph_files(args.parts)
    check_output_dir(args.out, names, args.force)  # before the model loads
    check_model_available(args.name, "MODEL")
    import samstream

    model = samstream.load_model(args.name, device="cpu", image_size=args.image_size, allow_download=False)
    with staged_output(args.out, names, args.force) as staging:
        manifest = export_onnx(model, staging, parts=args.parts, opset=args.opset, fp16=args.fp16,
                               int8=args.int8, overwrite=True, progress=report.note)
    sizes = ", ".join(sorted(manifest.files))
    report.summary(f"{manifest.variant} at {manifest.image_size} -> {args.out} ({sizes}, manifest.json)",
                   {"out": str(args.out), "variant": manifest.variant, "image_size": manifest.image_size,
                    "files": manifest.files, "opset": manifest.opset, "fp16": manifest.fp16,
                    "int8": manifest.int8})
    return 0
