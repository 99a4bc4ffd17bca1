"""``samstream models`` (the registry and what is cached) and ``samstream download NAME``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from samstream.cli.common import Reporter


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """``common`` adds the shared options; neither command runs a model (no --model/--device)."""
    p = common(sub.add_parser("models", help="list the model registry and what is downloaded",
                              description="List registered models, their size and whether they are cached "
                                          "in $SAMSTREAM_HOME (default ~/.cache/samstream)."))
    p.set_defaults(func=run_models)
    p = common(sub.add_parser("download", help="download an official checkpoint into the cache",
                              description="Download NAME's official checkpoint into $SAMSTREAM_HOME "
                                          "(the only network access samstream makes)."))
    p.add_argument("name", metavar="NAME", help="registry name, e.g. sam2.1-tiny")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=run_download)


def run_models(args: argparse.Namespace) -> int:
    from samstream.registry import VARIANTS, cached_path  # no torch: `models` answers at once

    report = Reporter(args)
    for v in VARIANTS.values():
        path = cached_path(v)
        cached = path.exists()
        report.event({"event": "model", "name": v.name, "params": v.num_params, "url": v.url or None,
                      "bundled": v.bundled, "cached": cached, "path": str(path)})
        if not report.jsonl and not report.quiet:
            where = f"{'bundled' if v.bundled else 'cached'} at {path}" if cached else "not downloaded"
            print(f"{v.name:18s} {v.num_params / 1e6:6.1f}M  {where}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    # the registry and checkpoints import torch: imported when the command runs, not for --help
    from samstream.checkpoints import download
    from samstream.registry import get_variant

    report = Reporter(args)
    name = get_variant(args.name).name
    path = download(name, force=args.force, progress=not (report.quiet or report.jsonl))
    report.summary(f"{name} -> {path}", {"name": name, "path": str(path)})
    return 0
