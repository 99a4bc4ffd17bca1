"""A model checkpoint written by training loads into the reference implementation strictly."""

from __future__ import annotations

import pytest
import torch

from samstream.train.config import DataSection, ModelSection, RunSection, TrainConfig
from samstream.train.loop import Trainer
from samstream.train.optim import OptimConfig
from samstream.train.prompts import PromptConfig


@pytest.mark.parity
def test_trained_tiny_checkpoint_loads_in_reference(tmp_path):
    pytest.importorskip("sam2", reason="the reference implementation sam2==1.1.0 is a test dependency")
    from sam2.build_sam import build_sam2

    cfg = TrainConfig(
        model=ModelSection(name="sam2.1-tiny", image_size=256),
        data=DataSection(num_frames=2, max_objects=1, synthetic_clips=1),
        prompts=PromptConfig(prob_points=0.0, num_init_cond_frames=1),
        optim=OptimConfig(lr=1e-3, vision_lr=1e-3),
        run=RunSection(steps=1, device="cpu", out_dir=str(tmp_path)),
    )
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)  # the step changed the weights

    ref = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
    sd = torch.load(tmp_path / "checkpoints" / "model.pt", map_location="cpu", weights_only=True)["model"]
    ref.load_state_dict(sd, strict=True)
    ref_sd = ref.state_dict()
    for k, v in after.items():
        assert torch.equal(ref_sd[k], v), k
