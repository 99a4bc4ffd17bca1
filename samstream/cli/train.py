"""``samstream train`` and ``samstream finetune``: parse, build a config, run the trainer.

    samstream train CONFIG.yaml [section.key=value ...] [--print-config]
    samstream finetune --model sam2.1-tiny --data ROOT --format davis [--steps N] [--out DIR]

Both run under ``torchrun`` too (``torchrun --nproc_per_node 2 -m samstream.cli train cfg.yaml``).
The trainer is imported inside each command's function: it imports torch, and ``--help`` must not
wait for that.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from samstream.errors import InvalidInputError

FINETUNE_FORMATS = ("davis", "ytvos", "sav", "sa1b", "coco", "synthetic")


def register(sub: argparse._SubParsersAction, common) -> None:  # type: ignore[type-arg]
    """Add the ``train`` and ``finetune`` subcommands; ``common`` adds -q/--jsonl/--model/--device."""
    p = common(sub.add_parser("train", help="train or fine-tune a model from a YAML config"))
    p.add_argument("config", help="YAML file with the sections of samstream.train.config.TrainConfig")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.set_defaults(func=_cmd_train)

    p = common(sub.add_parser("finetune", help="fine-tune a released model on a dataset folder"))
    p.add_argument("--data", required=True, metavar="ROOT", help="dataset root folder")
    p.add_argument("--format", required=True, choices=FINETUNE_FORMATS, help="dataset layout")
    p.add_argument("--subset", default=None, metavar="NAME",
                   help="DAVIS ImageSets/2017/<NAME>.txt or YouTube-VOS split folder (default: train)")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps (default 1000)")
    p.add_argument("--out", default="runs/finetune", metavar="DIR", help="run folder (checkpoints, metrics)")
    p.add_argument("--image-size", type=int, default=1024, help="model input size (default 1024)")
    p.add_argument("--config", default=None, help="optional YAML config to start from")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-5")
    p.set_defaults(func=_cmd_finetune)


def _model_overrides(args: argparse.Namespace) -> list[str]:
    out = []
    if getattr(args, "model", None):
        out.append(f"model.weights={args.model}")
        if not Path(args.model).expanduser().exists():
            out.append(f"model.name={args.model}")
    if getattr(args, "device", "auto") != "auto":
        out.append(f"run.device={args.device}")
    return out


def _run(cfg: Any, args: argparse.Namespace) -> int:
    # the trainer (torch): imported when the command runs
    from samstream.train.distributed import shutdown
    from samstream.train.loop import Trainer

    try:
        trainer = Trainer(cfg, quiet=args.quiet or args.jsonl, jsonl=args.jsonl)
        records = trainer.fit()
    finally:
        shutdown()
    if not trainer.ctx.is_main:
        return 0
    summary = {
        "steps": trainer.step,
        "loss": records[-1]["total"] if records else None,
        "checkpoint": str(trainer.ckpt_dir / "model.pt"),
        "metrics": str(trainer.out_dir / "metrics.jsonl"),
    }
    if args.jsonl:
        print(json.dumps({"summary": summary}))
    elif not args.quiet:
        loss = "n/a" if summary["loss"] is None else f"{summary['loss']:.4f}"
        print(f"train: {summary['steps']} steps, last loss {loss} -> {summary['checkpoint']}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from samstream.train.config import dump_config, load_config  # the library: imported when run

    cfg = load_config(args.config, [*_model_overrides(args), *args.overrides])
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0
    return _run(cfg, args)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from samstream.train.config import load_config  # the library: imported when run

    if args.steps < 1:
        raise InvalidInputError(f"--steps: expected an integer >= 1, got {args.steps}")
    if args.format != "synthetic" and not Path(args.data).is_dir():
        raise InvalidInputError(f"--data: {args.data} is not a folder")
    model = args.model or "sam2.1-tiny"
    base = [
        f"model.image_size={args.image_size}",
        f"data.format={args.format}",
        f"data.root={args.data}",
        f"run.steps={args.steps}",
        f"run.out_dir={args.out}",
        f"model.weights={model}",
    ]
    if args.subset is not None:
        base.append(f"data.subset={args.subset}")
    if not Path(model).expanduser().exists():
        base.append(f"model.name={model}")
    if getattr(args, "device", "auto") != "auto":
        base.append(f"run.device={args.device}")
    cfg = load_config(args.config, [*base, *args.overrides])
    return _run(cfg, args)
