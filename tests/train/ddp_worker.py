"""Worker of the 2-process DDP test (run by torchrun): one step's gradients, then a short run."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from samstream.train.loop import Trainer
from tests.train.helpers import grads_of_first_step, micro_setup


def main(out: str) -> None:
    torch.set_num_threads(1)
    grads, ctx = grads_of_first_step(batch_size=1)
    if ctx.is_main:
        torch.save(grads, out)
    # two steps with logging and checkpoints: metrics reduced over ranks, rank 0 writes
    cfg, model, dataset = micro_setup(str(Path(out).parent / "run"), steps=2, clips=2, log_every=1)
    Trainer(cfg, model=model, dataset=dataset, ctx=ctx).fit()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
