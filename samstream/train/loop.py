"""The training loop: data, prompts, forward over clips, loss, AdamW step, logs and checkpoints.

Randomness is split so that runs are reproducible and resumable: the prompt *plan* generator has
the same seed on every rank (all ranks of a step prompt the same frames, as in the official
trainer), the click generator and torch's global generator (dropout, drop path) are seeded per
rank, and data items depend only on (seed, epoch, index). All of them are saved in the training
state, so resuming reproduces the uninterrupted run's next steps exactly (on a deterministic
device).
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.train.build import build_dataset, build_train_model
from samstream.train.checkpoint import (MODEL_FILE, STATE_FILE, RandomState, find_resume, load_train_state,
                                        save_model, save_train_state)
from samstream.train.clips import ClipBatch, ClipDataset, collate_clips
from samstream.train.config import TrainConfig, to_dict
from samstream.train.distributed import DistContext, ShardedSampler, init_distributed, reduce_mean
from samstream.train.forward import ClipForward
from samstream.train.optim import build_optimizer, set_lr
from samstream.train.prompts import plan_prompts


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model: SAM2Model | None = None,
        dataset: ClipDataset | None = None,
        ctx: DistContext | None = None,
        quiet: bool = True,
        jsonl: bool = False,
    ) -> None:
        self.cfg, self.quiet, self.jsonl = cfg, quiet, jsonl
        self.ctx = ctx or init_distributed(cfg.run.device)
        seed, rank = cfg.run.seed, self.ctx.rank
        torch.manual_seed(seed + rank)
        self.model = (model or build_train_model(cfg)).place(self.ctx.device).train()
        self.forward = ClipForward(self.model, cfg.prompts, cfg.loss, cfg.run.freeze_encoder,
                                   cfg.run.activation_checkpointing)
        self.engine: torch.nn.Module = self.forward
        if self.ctx.distributed:
            self.engine = DistributedDataParallel(self.forward, find_unused_parameters=True)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.dataset = dataset or build_dataset(cfg)
        self.sampler = ShardedSampler(len(self.dataset), self.ctx, seed=seed)
        if self.sampler.per_rank < cfg.run.batch_size:
            raise InvalidInputError(
                f"run.batch_size: {cfg.run.batch_size} clips per rank, but the dataset has only "
                f"{len(self.dataset)} for {self.ctx.world_size} rank(s)")
        self.plan_gen = torch.Generator().manual_seed(seed)
        self.click_gen = torch.Generator().manual_seed(seed * 7919 + 1 + rank)
        self.step = 0
        self.out_dir = Path(cfg.run.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.history: list[dict] = []
        resume = find_resume(cfg.run.resume, self.ckpt_dir)
        if resume is not None:
            self.resume(resume)

    # ------------------------------------------------------------------ state
    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.sampler.per_rank // self.cfg.run.batch_size)

    def resume(self, path: Path) -> None:
        model_sd, optim_sd, step, rngs, _ = load_train_state(path)
        self.model.load_state_dict(model_sd, strict=True)
        self.optimizer.load_state_dict(optim_sd)
        self.step = step
        rngs[min(self.ctx.rank, len(rngs) - 1)].restore(self.plan_gen, self.click_gen)

    def save(self) -> None:
        """Training state and model weights (rank 0 writes; every rank contributes its RNG state)."""
        rng = RandomState.capture(self.plan_gen, self.click_gen)
        states = [rng]
        if self.ctx.distributed:
            states = [None] * self.ctx.world_size  # type: ignore[list-item]
            torch.distributed.all_gather_object(states, rng)
        if self.ctx.is_main:
            save_train_state(self.ckpt_dir / STATE_FILE, self.model, self.optimizer, self.step, states,
                             to_dict(self.cfg))
            save_model(self.model, self.ckpt_dir / MODEL_FILE)

    # ------------------------------------------------------------------- data
    def batches(self):
        """Batches from the current step on, epoch after epoch."""
        bs, spe = self.cfg.run.batch_size, self.steps_per_epoch
        epoch, offset = divmod(self.step, spe)
        while True:
            self.sampler.set_epoch(epoch, start=offset * bs)
            self.dataset.set_epoch(epoch)
            loader = DataLoader(self.dataset, batch_size=bs, sampler=self.sampler, collate_fn=collate_clips,
                                num_workers=self.cfg.data.num_workers, drop_last=True,
                                generator=torch.Generator().manual_seed(epoch))
            yield from loader
            epoch, offset = epoch + 1, 0

    # ------------------------------------------------------------------- step
    def _autocast(self):
        if self.cfg.run.amp and self.ctx.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self, batch: ClipBatch) -> dict[str, float]:
        cfg = self.cfg
        plan = plan_prompts(batch.num_frames, cfg.prompts, self.plan_gen)
        batch = batch.to(self.ctx.device)
        with self._autocast():
            terms = self.engine(batch, plan, self.click_gen)
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        lr = set_lr(self.optimizer, self.step, cfg.run.steps, cfg.optim)
        self.optimizer.step()
        self.step += 1
        metrics = terms.as_floats()
        metrics.update(grad_norm=float(grad_norm), lr=lr, objects=float(batch.num_objects))
        return metrics

    # ------------------------------------------------------------------- loop
    def fit(self, steps: int | None = None) -> list[dict]:
        """Train until ``steps`` (default ``run.steps``) steps are done; returns this call's records."""
        target = min(steps if steps is not None else self.cfg.run.steps, self.cfg.run.steps)
        run = self.cfg.run
        logger = _MetricLog(self.out_dir, self.ctx.is_main, self.jsonl)
        records: list[dict] = []
        bar = tqdm(total=target, initial=self.step, disable=self.quiet or not self.ctx.is_main, desc="train")
        start = time.perf_counter()
        for batch in self.batches():
            if self.step >= target:
                break
            metrics = self.train_step(batch)
            records.append({"step": self.step, **metrics})
            bar.update(1)
            if self.step % run.log_every == 0 or self.step == target:
                reduced = reduce_mean(metrics, self.ctx)
                reduced.update(step=self.step, seconds=round(time.perf_counter() - start, 3))
                logger.write(reduced)
                bar.set_postfix(loss=f"{reduced['total']:.4f}")
            if run.ckpt_every and self.step % run.ckpt_every == 0:
                self.save()
        bar.close()
        logger.close()
        if self.step >= run.steps or steps is None:
            self.save()
        self.history.extend(records)
        return records


class _MetricLog:
    """Metrics as JSON lines in ``metrics.jsonl`` (rank 0), on stdout with ``--jsonl``, and in
    TensorBoard when it is installed."""

    def __init__(self, out_dir: Path, main: bool, echo: bool) -> None:
        self.file = None
        self.tb = None
        self.echo = echo and main
        if not main:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.file = open(out_dir / "metrics.jsonl", "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional (needs tensorboard); heavy

            self.tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, record: dict) -> None:
        line = json.dumps(record)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()
        if self.echo:
            print(line, flush=True)
        if self.tb is not None:
            for k, v in record.items():
                if k != "step":
                    self.tb.add_scalar(f"train/{k}", v, record["step"])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()
