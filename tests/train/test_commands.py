"""``samstream train`` / ``finetune`` subcommands (registered on a stand-alone parser)."""

from __future__ import annotations

import argparse
import json

import pytest

from samstream.errors import InvalidInputError
from samstream.cli.train import register


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    try:
        from samstream.cli.common import common
    except ImportError:  # the shared CLI helpers are not there: the same four options
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("--jsonl", action="store_true")
        p.add_argument("--model", default=None)
        p.add_argument("--device", default="auto")
        return p
    return common(p)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="samstream")
    register(parser.add_subparsers(dest="command", required=True), _common)
    return parser.parse_args(argv)


MICRO = """
model: {name: micro, image_size: 64}
data: {num_frames: 2, max_objects: 1, synthetic_clips: 2}
prompts: {prob_points: 0.0, num_init_cond_frames: 1}
optim: {lr: 1.0e-3, vision_lr: 1.0e-3}
run: {steps: 2, device: cpu, log_every: 1}
"""


def test_train_command_runs_a_yaml_config(tmp_path, capsys):
    cfg = tmp_path / "micro.yaml"
    cfg.write_text(MICRO)
    out = tmp_path / "run"
    args = _parse(["train", str(cfg), f"run.out_dir={out}", "--jsonl"])
    assert args.func(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["step"] for x in lines[:-1]] == [1, 2] and lines[-1]["summary"]["steps"] == 2
    assert (out / "checkpoints" / "model.pt").is_file() and (out / "checkpoints" / "train_state.pt").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_print_config_and_errors(tmp_path, capsys):
    cfg = tmp_path / "micro.yaml"
    cfg.write_text(MICRO)
    args = _parse(["train", str(cfg), "optim.lr=0.5", "--print-config"])
    assert args.func(args) == 0
    assert "lr: 0.5" in capsys.readouterr().out
    bad = _parse(["train", str(cfg), "optim.typo=1"])
    with pytest.raises(InvalidInputError, match="typo"):
        bad.func(bad)
    missing = _parse(["finetune", "--data", str(tmp_path / "nope"), "--format", "davis"])
    with pytest.raises(InvalidInputError, match="--data"):
        missing.func(missing)


def test_finetune_on_synthetic_data(tmp_path, capsys):
    out = tmp_path / "ft"
    args = _parse(["finetune", "--data", str(tmp_path), "--format", "synthetic", "--steps", "1",
                   "--image-size", "64", "--out", str(out), "-q", "model.name=micro", "model.weights=null",
                   "data.num_frames=2", "data.synthetic_clips=1", "prompts.num_correction_points=1",
                   "run.device=cpu"])
    assert args.func(args) == 0
    assert (out / "checkpoints" / "model.pt").is_file()
    assert capsys.readouterr().out == ""
