"""AdamW with per-group learning rates: layer-wise decay in the image encoder, warm-up, cosine.

Defaults follow the official SAM 2.1 fine-tuning configuration (``sam2.1_hiera_b+_MOSE_finetune``):

- AdamW; learning rate 5e-6 for the model and 3e-6 for the image encoder, each following a
  cosine from its start value down to a tenth of it (``min_lr_ratio`` 0.1) over training; an
  optional linear warm-up (``warmup_steps``, 0 there) precedes the cosine;
- layer-wise decay 0.9 in the Hiera trunk: block ``i`` of ``n`` gets ``0.9 ** (n - i)`` times
  the encoder rate, the patch embedding ``0.9 ** (n + 1)``; the position embeddings are exempt
  (factor 1), as is everything outside the trunk;
- weight decay 0.1, none for biases and ``nn.LayerNorm`` parameters;
- gradients clipped to a global L2 norm of 0.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

TRUNK = "image_encoder.trunk."
ENCODER = "image_encoder."


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-6
    vision_lr: float = 3e-6  # image encoder (trunk and neck)
    weight_decay: float = 0.1
    layer_decay: float = 0.9  # 1.0 disables layer-wise decay
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # the cosine ends at this fraction of each group's rate
    grad_clip: float = 0.1  # 0 disables clipping


def trunk_layer_id(name: str, num_blocks: int) -> int:
    """Depth of a trunk parameter: 0 for the patch and position embeddings, i + 1 for block i."""
    rest = name[len(TRUNK):]
    if rest.startswith(("pos_embed", "patch_embed")):
        return 0
    if rest.startswith("blocks."):
        return int(rest.split(".")[1]) + 1
    return num_blocks + 1


def lr_scale(name: str, num_blocks: int, decay: float) -> float:
    """Layer-wise learning-rate factor of a parameter (1 outside the trunk and for pos. embeddings)."""
    if not name.startswith(TRUNK) or "pos_embed" in name:
        return 1.0
    return decay ** (num_blocks + 1 - trunk_layer_id(name, num_blocks))


def _no_decay_names(model: nn.Module) -> set[str]:
    names = set()
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if p_name == "bias" or isinstance(module, nn.LayerNorm):
                names.add(full)
    return names


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """AdamW parameter groups of the trainable parameters, in a deterministic order.

    Each group carries ``base_lr`` (its peak rate, layer decay included), which the schedule scales.
    """
    num_blocks = len(model.image_encoder.trunk.blocks)  # type: ignore[union-attr]
    no_decay = _no_decay_names(model)
    groups: dict[tuple[float, float], dict] = {}
    for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if not param.requires_grad:
            continue
        base = cfg.vision_lr if name.startswith(ENCODER) else cfg.lr
        peak = base * lr_scale(name, num_blocks, cfg.layer_decay)
        wd = 0.0 if name in no_decay else cfg.weight_decay
        group = groups.setdefault((peak, wd), {"params": [], "names": [], "base_lr": peak, "weight_decay": wd})
        group["params"].append(param)
        group["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    groups = param_groups(model, cfg)
    for g in groups:
        g["lr"] = g["base_lr"] * lr_factor(0, 1, cfg)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                             foreach=True)


def lr_factor(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Multiplier of every group's peak rate at ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``1 / (warmup + 1)`` to 1 over ``warmup_steps``, then a half cosine from 1
    down to ``min_lr_ratio`` at the last step.
    """
    warm = cfg.warmup_steps
    if step < warm:
        return (step + 1) / (warm + 1)
    span = max(1, total_steps - warm - 1)
    progress = min(1.0, (step - warm) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Set every group's rate for ``step``; returns the model (non-encoder, top) rate."""
    factor = lr_factor(step, total_steps, cfg)
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * factor
    return cfg.lr * factor
