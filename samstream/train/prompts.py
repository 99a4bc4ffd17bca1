"""Prompt simulation for training: what the model is given on which frame of a clip.

Per clip (and shared by its objects), :func:`plan_prompts` draws

- the *initial conditioning frames*: frame 0 plus, at random, up to ``num_init_cond_frames - 1``
  other frames (1 .. ``num_init_cond_frames`` in all when ``rand_init_cond_frames``);
- the prompt type: the ground-truth mask (probability ``1 - prob_points``), otherwise points,
  and among points a box (probability ``prob_box``) or one positive click from the mask;
- with points, the frames that receive ``num_correction_points`` corrective clicks: the initial
  conditioning frames plus random others, up to ``num_frames_to_correct`` in all. Each click is
  drawn uniformly from the error region of the current prediction (positive on a missed pixel,
  negative on a false positive); with probability ``prob_click_from_gt`` from the ground truth
  alone instead. Corrected frames become conditioning frames (``add_corrected_as_cond``).

A one-frame clip (an image) always gets a click or box and is corrected iteratively.

Defaults are the official SAM 2.1 fine-tuning configuration's (``sam2.1_hiera_b+_MOSE_finetune``):
points with probability 0.5, a box for half of those (0.25 overall), 7 corrective clicks, 1-2
corrected frames, 1-2 initial conditioning frames, 10 % of clicks from the ground truth; box
corners jittered by up to 10 % of the box side, at most 20 pixels (SAM's defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class PromptConfig:
    prob_points: float = 0.5  # otherwise the ground-truth mask is the prompt
    prob_box: float = 0.5  # among point prompts: a box instead of a click
    num_init_cond_frames: int = 2
    rand_init_cond_frames: bool = True
    num_frames_to_correct: int = 2
    rand_frames_to_correct: bool = True
    num_correction_points: int = 7
    prob_click_from_gt: float = 0.1
    add_corrected_as_cond: bool = True
    box_noise: float = 0.1  # fraction of the box side
    box_noise_bound: float = 20.0  # pixels


@dataclass
class PromptPlan:
    """Prompting decisions for one clip (all its objects)."""

    num_frames: int
    use_points: bool
    init_cond_frames: list[int]
    frames_to_correct: list[int]
    use_box: dict[int, bool] = field(default_factory=dict)  # per initial conditioning frame

    @property
    def order(self) -> list[int]:
        """Processing order: initial conditioning frames, then the others in time order."""
        rest = [t for t in range(self.num_frames) if t not in self.init_cond_frames]
        return list(self.init_cond_frames) + rest

    def is_cond(self, frame: int, add_corrected_as_cond: bool) -> bool:
        return frame in self.init_cond_frames or (add_corrected_as_cond and frame in self.frames_to_correct)


def _rand(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen))


def _randint(low: int, high: int, gen: torch.Generator) -> int:
    """Uniform integer in [low, high] (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=gen))


def _choose(pool: list[int], k: int, gen: torch.Generator) -> list[int]:
    perm = torch.randperm(len(pool), generator=gen)[:k]
    return [pool[int(i)] for i in perm]


def plan_prompts(num_frames: int, cfg: PromptConfig, gen: torch.Generator) -> PromptPlan:
    """Draw a :class:`PromptPlan` for a clip of ``num_frames`` frames."""
    prob_points, n_correct, n_init = cfg.prob_points, cfg.num_frames_to_correct, cfg.num_init_cond_frames
    if num_frames == 1:  # images: always clicks or a box, corrected iteratively
        prob_points, n_correct, n_init = 1.0, 1, 1
    n_init = max(1, min(n_init, num_frames))
    use_points = _rand(gen) < prob_points
    if cfg.rand_init_cond_frames and n_init > 1:
        n_init = _randint(1, n_init, gen)
    n_correct = max(n_init, min(n_correct, num_frames))
    if use_points and cfg.rand_frames_to_correct and n_correct > n_init:
        n_correct = _randint(n_init, n_correct, gen)
    init = [0] + sorted(_choose(list(range(1, num_frames)), n_init - 1, gen))
    rest = [t for t in range(num_frames) if t not in init]
    if not use_points or cfg.num_correction_points == 0:
        correct: list[int] = []
    else:
        correct = init + sorted(_choose(rest, n_correct - n_init, gen))
    use_box = {t: use_points and _rand(gen) < cfg.prob_box for t in init}
    return PromptPlan(num_frames, use_points, init, correct, use_box)


def _pick_uniform(region: Tensor, gen: torch.Generator) -> Tensor:
    """One pixel index per row, uniformly among the True entries of ``region`` (N, P); 0 if none."""
    counts = region.sum(dim=1)  # (N,)
    u = torch.rand(region.shape[0], generator=gen).to(region.device)
    k = (u * counts).floor().long().clamp(max=(counts - 1).clamp(min=0))  # rank of the chosen pixel
    cum = region.long().cumsum(dim=1)  # (N, P)
    idx = torch.searchsorted(cum, (k + 1).unsqueeze(1)).squeeze(1)
    return torch.where(counts > 0, idx, torch.zeros_like(idx)).clamp(max=region.shape[1] - 1)


def sample_clicks(gt: Tensor, pred: Tensor | None, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """One corrective click per object from the error region of ``pred`` against ``gt``.

    gt, pred: (N, H, W) or (N, 1, H, W) bool (pred None: nothing predicted, so the click is a
    positive one inside the object). Pixels missed by the prediction give positive clicks,
    false-positive pixels negative ones, each error pixel equally likely. Where the prediction is
    exact, the click is a negative one in the background. Returns (N, 1, 2) float (x, y) pixel
    coordinates and (N, 1) int32 labels (1 positive, 0 negative).
    """
    gt = gt.reshape(gt.shape[0], -1, *gt.shape[-2:])[:, 0].bool()
    h, w = gt.shape[-2:]
    pred_b = torch.zeros_like(gt) if pred is None else pred.reshape(gt.shape).bool()
    error = gt ^ pred_b  # (N, H, W)
    exact = ~error.flatten(1).any(dim=1)  # (N,)
    region = torch.where(exact[:, None, None], ~gt, error).flatten(1)
    idx = _pick_uniform(region, gen)
    labels = gt.flatten(1).gather(1, idx[:, None]).to(torch.int32)  # (N, 1) missed object pixel -> 1
    coords = torch.stack([idx % w, idx // w], dim=1).float().unsqueeze(1)  # (N, 1, 2)
    return coords, labels


def mask_boxes(masks: Tensor) -> Tensor:
    """(N, H, W) bool -> (N, 4) float XYXY boxes of the True pixels (inclusive pixel indices)."""
    n, h, w = masks.shape
    ys = torch.arange(h, device=masks.device)
    xs = torch.arange(w, device=masks.device)
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N, H), (N, W)
    x0 = torch.where(cols, xs, w).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1)
    y0 = torch.where(rows, ys, h).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1)
    return torch.stack([x0, y0, x1, y1], dim=1).float()


def sample_boxes(gt: Tensor, cfg: PromptConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Jittered boxes of ``gt`` (N, [1,] H, W) as corner points: (N, 2, 2) coords and (N, 2) labels 2, 3."""
    gt = gt.reshape(gt.shape[0], -1, *gt.shape[-2:])[:, 0].bool()
    n, h, w = gt.shape
    boxes = mask_boxes(gt)
    if cfg.box_noise > 0:
        bound = torch.tensor(cfg.box_noise_bound, device=gt.device)
        dx = torch.minimum((boxes[:, 2] - boxes[:, 0]) * cfg.box_noise, bound)
        dy = torch.minimum((boxes[:, 3] - boxes[:, 1]) * cfg.box_noise, bound)
        noise = (2 * torch.rand(n, 4, generator=gen) - 1).to(gt.device)
        boxes = boxes + noise * torch.stack([dx, dy, dx, dy], dim=1)
        limit = torch.tensor([w - 1, h - 1, w - 1, h - 1], device=gt.device, dtype=boxes.dtype)
        boxes = torch.minimum(boxes.clamp(min=0), limit)
    labels = torch.tensor([[2, 3]], dtype=torch.int32, device=gt.device).expand(n, 2)
    return boxes.reshape(n, 2, 2), labels


def initial_prompt(gt: Tensor, use_box: bool, cfg: PromptConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """First prompt on an initial conditioning frame: a jittered box or one click inside the object."""
    if use_box:
        return sample_boxes(gt, cfg, gen)
    return sample_clicks(gt, None, gen)
