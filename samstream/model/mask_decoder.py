"""Mask decoder: output tokens + prompt tokens against image features -> masks, IoU, object score."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.config import DecoderConfig
from samstream.model.kernels import KernelUser, upscale_masks
from samstream.model.layers import MLP, LayerNorm2d, float32_compute
from samstream.model.transformer import TwoWayTransformer


@dataclass
class DecoderOutput:
    masks: Tensor  # (B, K, 4h, 4w) mask logits; K = 3 (multi-mask) or 1
    iou: Tensor  # (B, K) predicted IoU
    tokens: Tensor  # (B, K', C) output tokens of the returned masks (object-pointer source)
    object_score_logits: Tensor  # (B, 1) > 0 where the object is predicted present


def stability_score(logits: Tensor, threshold: float, offset: float) -> Tensor:
    """IoU between the masks thresholded at ``threshold ± offset``; 1 where both are empty.

    logits: (..., H, W) -> (...,)
    """
    flat = logits.flatten(-2)
    inner = (flat > threshold + offset).sum(-1, dtype=torch.int32).float()
    outer = (flat > threshold - offset).sum(-1, dtype=torch.int32).float()
    return torch.where(outer > 0, inner / outer, torch.ones_like(outer))


# The CPU's kernels decode prompts in groups of this many: the two-way transformer's per-prompt image
# tokens (4 MB each at 1024 input) then stay in the CPU's cache between its element-wise steps
# (measured on 2-core x86_64: 64 prompts at 1024, 1 thread, 7.1 s in one batch, 5.0-6.0 s in groups of 4).
_PROMPT_GROUP = 4


class MaskDecoder(KernelUser):
    def __init__(self, dim: int, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = TwoWayTransformer(
            cfg.transformer_depth, dim, cfg.transformer_heads, cfg.transformer_mlp_dim, cfg.attention_downsample_rate
        )
        self.num_mask_tokens = cfg.num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        if cfg.pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if cfg.use_high_res_features:
            self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            dim, cfg.iou_head_hidden_dim, self.num_mask_tokens, cfg.iou_head_depth,
            sigmoid_output=cfg.iou_prediction_use_sigmoid,
        )
        if cfg.pred_obj_scores:
            self.pred_obj_score_head = MLP(dim, dim, 1, 3) if cfg.pred_obj_scores_mlp else nn.Linear(dim, 1)

    def project_high_res(self, feat_s0: Tensor, feat_s1: Tensor) -> tuple[Tensor, Tensor]:
        """Project stride-4 and stride-8 image features once per image (before any prompt)."""
        return self.conv_s0(feat_s0), self.conv_s1(feat_s1)

    def _upscale(self, src: Tensor, high_res: tuple[Tensor, Tensor] | None) -> Tensor:
        if high_res is None:
            return self.output_upscaling(src)
        up1, norm1, act1, up2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res
        x = act1(norm1(up1(src) + feat_s1))
        return act2(up2(x) + feat_s0)

    def predict_all(
        self,
        image: Tensor,
        image_pe: Tensor,
        sparse: Tensor,
        dense: Tensor,
        high_res: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """All mask tokens: masks (B, 4, 4h, 4w), iou (B, 4), mask tokens (B, 4, C), object score (B, 1).

        ``image`` and ``high_res`` may have batch 1 and are then shared by every prompt set.
        """
        tokens, src, first = self._tokens_and_image(image, sparse, dense)
        b = tokens.shape[0]
        if not self.blocked or b <= _PROMPT_GROUP:
            return self._predict_group(src, image_pe, tokens, high_res, first)
        parts = [
            self._predict_group(
                _group(src, s, s + _PROMPT_GROUP, b), image_pe, tokens[s : s + _PROMPT_GROUP],
                None if high_res is None else tuple(_group(f, s, s + _PROMPT_GROUP, b) for f in high_res),
                first,
            )
            for s in range(0, b, _PROMPT_GROUP)
        ]
        return tuple(torch.cat(outs) for outs in zip(*parts))  # type: ignore[return-value]

    def _tokens_and_image(self, image: Tensor, sparse: Tensor, dense: Tensor) -> tuple[Tensor, Tensor, int]:
        """Output + prompt tokens (B, T, C), image features with the dense prompt (B or 1, C, h, w), and
        the index of the IoU token."""
        weights = [self.iou_token.weight, self.mask_tokens.weight]
        if self.cfg.pred_obj_scores:
            weights.insert(0, self.obj_score_token.weight)
        first = len(weights) - 2  # index of the IoU token
        out_tokens = torch.cat(weights, dim=0).unsqueeze(0).expand(sparse.shape[0], -1, -1)
        tokens = torch.cat((out_tokens, sparse), dim=1)  # (B, T, C)
        shared = image.shape[0] == 1 and (dense.shape[0] == 1 or dense.stride(0) == 0)
        if shared and self.fast:
            return tokens, image + dense[:1], first  # (1, C, h, w): the transformer shares it by all prompts
        return tokens, image + dense, first  # (B, C, h, w)

    def _predict_group(
        self, src: Tensor, image_pe: Tensor, tokens: Tensor, high_res: tuple[Tensor, Tensor] | None, first: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``predict_all`` for prompt tokens (B, T, C) on image features src (B or 1, C, h, w)."""
        b, c, h, w = tokens.shape[0], *src.shape[1:]
        hs, src = self.transformer(src, image_pe, tokens)
        iou_out = hs[:, first]
        mask_tokens = hs[:, first + 1 : first + 1 + self.num_mask_tokens]
        hyper = torch.stack(
            [mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )  # (B, 4, C/8)
        if self.blocked:
            masks = upscale_masks(self.output_upscaling, src, (h, w), high_res, hyper)
        else:
            up = self._upscale(src.transpose(1, 2).reshape(b, c, h, w), high_res)  # (B, C/8, 4h, 4w)
            b, c8, uh, uw = up.shape
            masks = (hyper @ up.reshape(b, c8, uh * uw)).reshape(b, -1, uh, uw)
        # The IoU and object-score heads decide (which candidate is best, whether the object is present),
        # so they run in float32 under bfloat16 autocast too: bfloat16 keeps 8 bits, so predicted IoUs
        # 0.004 apart near 0.5 came out equal and the first candidate won the tie, sending the track
        # down another mask. Two small MLPs on one token per prompt: no measurable cost.
        with float32_compute(hs):
            iou = self.iou_prediction_head(iou_out.float())
            if self.cfg.pred_obj_scores:
                obj = self.pred_obj_score_head(hs[:, 0].float())
            else:
                obj = iou.new_full((iou.shape[0], 1), 10.0)
        return masks, iou, mask_tokens, obj

    def forward(
        self,
        image: Tensor,
        image_pe: Tensor,
        sparse: Tensor,
        dense: Tensor,
        multimask: bool,
        high_res: tuple[Tensor, Tensor] | None = None,
        dynamic_stability: bool | None = None,
    ) -> DecoderOutput:
        """``dynamic_stability``: whether a single-mask output falls back to the best of the
        multi-mask outputs where it is unstable (None: the config's choice)."""
        masks, iou, mask_tokens, obj = self.predict_all(image, image_pe, sparse, dense, high_res)
        if dynamic_stability is None:
            dynamic_stability = self.cfg.dynamic_multimask_via_stability
        if multimask:
            masks, iou = masks[:, 1:], iou[:, 1:]
        elif dynamic_stability and not self.training:
            masks, iou = self._dynamic_single_mask(masks, iou)
        else:
            masks, iou = masks[:, :1], iou[:, :1]
        if multimask and self.cfg.use_multimask_token_for_obj_ptr:
            tokens = mask_tokens[:, 1:]
        else:
            tokens = mask_tokens[:, :1]
        return DecoderOutput(masks, iou, tokens, obj)

    def _dynamic_single_mask(self, masks: Tensor, iou: Tensor) -> tuple[Tensor, Tensor]:
        """Keep the single-mask output where it is stable, else the best of the multi-mask outputs."""
        multi_masks, multi_iou = masks[:, 1:], iou[:, 1:]
        best = multi_iou.argmax(dim=-1)
        rows = torch.arange(masks.shape[0], device=masks.device)
        best_masks = multi_masks[rows, best].unsqueeze(1)
        best_iou = multi_iou[rows, best].unsqueeze(1)
        single_masks, single_iou = masks[:, :1], iou[:, :1]
        stable = stability_score(single_masks, 0.0, self.cfg.dynamic_multimask_stability_delta)
        stable = stable >= self.cfg.dynamic_multimask_stability_thresh  # (B, 1)
        out_masks = torch.where(stable[..., None, None], single_masks, best_masks)
        out_iou = torch.where(stable, single_iou, best_iou)
        return out_masks, out_iou


def _group(t: Tensor, start: int, stop: int, batch: int) -> Tensor:
    """Rows start:stop of a per-prompt tensor; one shared by all prompts (batch 1) as it is."""
    return t[start:stop] if t.shape[0] == batch else t


def upsample_logits(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of (B, K, h, w) logits to ``size`` in float32."""
    return F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
