"""Training checkpoints (to resume) and model checkpoints (to use).

- ``model.pt``: ``{"model": state_dict, "samstream_config": ...}`` — the official layout, so both
  ``samstream.load_model`` and the official loader (which reads ``["model"]``) accept it.
- ``train_state.pt``: the model, the optimiser (moments and per-group rates), the step, and every
  random generator the run draws from (torch's CPU and CUDA generators, the prompt generators),
  so that a resumed run continues exactly as the uninterrupted one would have. The schedule is a
  function of the step and needs no state of its own.

Files are written to a temporary name and renamed (:func:`samstream.files.atomic_write`), so a
crash never leaves a half-written file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from samstream.checkpoints import read_checkpoint, save_checkpoint
from samstream.errors import CheckpointError
from samstream.files import atomic_write

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.pt"


@dataclass
class RandomState:
    cpu: torch.Tensor
    cuda: list[torch.Tensor]
    plan: torch.Tensor
    clicks: torch.Tensor

    @classmethod
    def capture(cls, plan_gen: torch.Generator, click_gen: torch.Generator) -> "RandomState":
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return cls(torch.get_rng_state(), cuda, plan_gen.get_state(), click_gen.get_state())

    def restore(self, plan_gen: torch.Generator, click_gen: torch.Generator) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.cuda)
        plan_gen.set_state(self.plan)
        click_gen.set_state(self.clicks)


def save_train_state(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    rngs: list[RandomState],
    config: dict,
) -> None:
    """``step`` is the number of completed steps; ``rngs`` holds one random state per rank."""
    _save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "rng": [{"cpu": r.cpu, "cuda": r.cuda, "plan": r.plan, "clicks": r.clicks} for r in rngs],
            "config": config,
        },
        path,
    )


def load_train_state(path: Path) -> tuple[dict, dict, int, list[RandomState], dict]:
    """(model state dict, optimiser state dict, step, random state per rank, config dict)."""
    data = read_checkpoint(path)
    missing = [k for k in ("model", "optimizer", "step", "rng") if k not in data]
    if missing:
        raise CheckpointError(f"{path} is not a samstream training state (missing {missing})")
    rngs = [RandomState(r["cpu"], list(r["cuda"]), r["plan"], r["clicks"]) for r in data["rng"]]
    return data["model"], data["optimizer"], int(data["step"]), rngs, data.get("config", {})


def _save(obj: dict, path: Path) -> None:
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def save_model(model: torch.nn.Module, path: Path) -> None:
    """The official ``{"model": state_dict}`` layout (plus samstream's config), written atomically."""
    save_checkpoint(model, path)


def find_resume(resume: str | None, ckpt_dir: Path) -> Path | None:
    """The training state to resume from: a path, ``"auto"`` (the run's own, if any) or None."""
    if resume is None:
        return None
    if resume == "auto":
        path = ckpt_dir / STATE_FILE
        return path if path.is_file() else None
    path = Path(resume)
    if path.is_dir():
        path = path / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"resume: no training state at {path}")
    return path
