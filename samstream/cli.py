"""``samstream`` command line. Parses arguments, calls the library, formats output."""

from __future__ import annotations

import argparse
import json
import sys

from samstream.errors import SamstreamError


def _cmd_demo(args: argparse.Namespace) -> int:
    from samstream.demo import run_demo

    summary = run_demo(args.out, args.model, force=args.force)
    if not args.quiet:
        print(f"demo: {summary['model']} ({summary['weights']}), score {summary['score']:.3f}, "
              f"mask {summary['mask_area']} px, {summary['seconds']:.2f} s -> {args.out}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from samstream.checkpoints import cached_path
    from samstream.registry import VARIANTS

    for v in VARIANTS.values():
        path = cached_path(v)
        state = f"cached at {path}" if path.exists() else "not downloaded"
        if args.jsonl:
            print(json.dumps({"name": v.name, "params": v.num_params, "url": v.url, "cached": path.exists(),
                              "path": str(path)}))
        else:
            print(f"{v.name:18s} {v.num_params / 1e6:6.1f}M  {state}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from samstream.checkpoints import download

    path = download(args.name, force=args.force, progress=not args.quiet)
    if not args.quiet:
        print(f"download: {args.name} -> {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samstream", description="SAM 2 segmentation of images and videos")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
        p.add_argument("--jsonl", action="store_true", help="machine-readable JSON lines output")
        return p

    p = common(sub.add_parser("demo", help="segment a generated image from one click and write PNGs"))
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default=None, help="registry name or checkpoint path (default: sam2.1-tiny)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=_cmd_demo)

    p = common(sub.add_parser("models", help="list the model registry and what is downloaded"))
    p.set_defaults(func=_cmd_models)

    p = common(sub.add_parser("download", help="download an official checkpoint into the cache"))
    p.add_argument("name", help="registry name, e.g. sam2.1-tiny")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=_cmd_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SamstreamError as exc:
        print(f"samstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"samstream {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
