"""Small training setups shared by the training tests (and the DDP worker)."""

from __future__ import annotations

import torch

from samstream.model.sam2 import SAM2Model
from samstream.train.augment import NO_AUGMENT
from samstream.train.clips import ClipDataset, SyntheticSource
from samstream.train.config import DataSection, ModelSection, RunSection, TrainConfig
from samstream.train.distributed import DistContext, init_distributed
from samstream.train.optim import OptimConfig
from samstream.presets import micro_config
from samstream.train.prompts import PromptConfig
from samstream.data.synthetic import SyntheticConfig

SIZE = 64


def micro_setup(
    out_dir: str, steps: int, batch_size: int = 1, clips: int = 2, frames: int = 3, seed: int = 0,
    prompts: PromptConfig | None = None, lr: float = 2e-3, dropout: float = 0.0, **run: object,
) -> tuple[TrainConfig, SAM2Model, ClipDataset]:
    """A micro model, a few big-object synthetic clips and a config to train it on the CPU."""
    cfg = TrainConfig(
        model=ModelSection(name="micro", image_size=SIZE),
        data=DataSection(num_frames=frames, max_objects=2, synthetic_clips=clips),
        prompts=prompts or PromptConfig(prob_points=0.0, num_init_cond_frames=1),
        augment=NO_AUGMENT,
        optim=OptimConfig(lr=lr, vision_lr=lr, warmup_steps=5, grad_clip=1.0, layer_decay=1.0, weight_decay=0.0),
        run=RunSection(**{"steps": steps, "batch_size": batch_size, "seed": seed, "device": "cpu",  # type: ignore[arg-type]
                          "log_every": 1000, "out_dir": out_dir, **run}),
    )
    syn = SyntheticConfig(size=SIZE, num_frames=frames, max_objects=2, max_distractors=0, radius=(0.25, 0.4),
                          max_speed=0.02, exit_prob=0.0)
    dataset = ClipDataset(SyntheticSource(clips, syn), SIZE, frames, 2, NO_AUGMENT)
    torch.manual_seed(seed)
    return cfg, SAM2Model(micro_config(SIZE, dropout=dropout)), dataset


def grads_of_first_step(batch_size: int, ctx: DistContext | None = None) -> tuple[dict, DistContext]:
    """Gradients of the first step's loss on 2 clips (all of them in one batch, or one per rank)."""
    import tempfile

    from samstream.train.loop import Trainer

    ctx = ctx or init_distributed("cpu")
    cfg, model, dataset = micro_setup(tempfile.mkdtemp(), steps=1, batch_size=batch_size)
    trainer = Trainer(cfg, model=model, dataset=dataset, ctx=ctx)
    batch = next(iter(trainer.batches()))
    from samstream.train.prompts import plan_prompts

    plan = plan_prompts(batch.num_frames, cfg.prompts, trainer.plan_gen)
    terms = trainer.engine(batch, plan, trainer.click_gen)
    terms.total.backward()
    grads = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return grads, ctx
