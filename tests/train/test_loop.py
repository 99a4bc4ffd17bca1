"""The training loop: the loss falls, a tiny model overfits, resuming is exact, checkpoints load."""

from __future__ import annotations

import pytest
import torch

import samstream
from samstream.checkpoints import read_checkpoint
from samstream.model.sam2 import SAM2Model
from samstream.train.config import replace_section
from samstream.train.loop import Trainer
from samstream.presets import micro_config
from samstream.train.prompts import PromptConfig
from tests.train.helpers import SIZE, micro_setup


def test_loss_falls_and_checkpoints_load(tmp_path):
    cfg, model, dataset = micro_setup(str(tmp_path), steps=8, clips=1)
    records = Trainer(cfg, model=model, dataset=dataset).fit()
    losses = [r["total"] for r in records]
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) / 2 < 0.8 * losses[0]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"step": 8' in lines[0]
    # the model file has the official layout and loads into samstream strictly
    data = read_checkpoint(tmp_path / "checkpoints" / "model.pt")
    fresh = SAM2Model(micro_config(SIZE))
    fresh.load_state_dict(data["model"], strict=True)
    loaded = samstream.load_model(tmp_path / "checkpoints" / "model.pt", device="cpu")
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    prompts = PromptConfig(prob_points=0.7, num_correction_points=2)  # clicks, boxes and masks
    common = dict(steps=6, clips=2, prompts=prompts, dropout=0.1)  # dropout draws from torch's RNG
    cfg, model, dataset = micro_setup(str(tmp_path / "full"), **common)
    full = [r["total"] for r in Trainer(cfg, model=model, dataset=dataset).fit()]

    cfg, model, dataset = micro_setup(str(tmp_path / "cut"), ckpt_every=3, **common)
    first = Trainer(cfg, model=model, dataset=dataset).fit(steps=3)
    assert [r["total"] for r in first] == full[:3]
    cfg, model, dataset = micro_setup(str(tmp_path / "cut"), resume="auto", seed=0, **common)
    torch.manual_seed(999)  # the resumed run must not depend on the state it starts in
    resumed = Trainer(cfg, model=model, dataset=dataset)
    assert resumed.step == 3
    rest = [r["total"] for r in resumed.fit()]
    assert rest == full[3:]


@pytest.mark.slow  # about 20 s on two busy cores
def test_micro_model_overfits_one_clip(tmp_path):
    cfg, model, dataset = micro_setup(str(tmp_path), steps=120, clips=1, lr=3e-3)
    cfg = replace_section(cfg, "optim", min_lr_ratio=0.1)
    losses = [r["total"] for r in Trainer(cfg, model=model, dataset=dataset).fit()]
    assert sum(losses[-5:]) / 5 < losses[0] / 10
