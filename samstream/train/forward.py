"""The training forward pass: run the model over a clip with memory, as the tracker does.

All objects of a batch (from all clips) are tracked together. Frames run in the order of the
prompt plan — initial conditioning frames first, then the rest in time order. On a prompted
frame the model sees the ground-truth mask (used directly as the output) or a click / box; on
frames chosen for correction, corrective clicks are added one at a time, each step feeding the
previous step's mask logits back in. Every other frame is conditioned on the memory bank. The
memory of each frame is encoded from its final prediction (a sigmoid of the logits, not a
thresholded mask, so gradients flow through the memories across frames); on a frame prompted with
the ground-truth mask, from that mask at full resolution (the predictor, which stores low-res
outputs, encodes the upsampled low-res logits instead).

Differences from inference, as in the official training: memories are taken from every previous
frame (temporal stride 1) and the object pointers of every conditioning frame are used, future
ones included. The memory selection is the tracker's (:func:`samstream.video.memory_bank.plan_memory`)
and the tokens are the model's (:meth:`SAM2Model.memory_tokens`), so training and inference attend
to the same layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from samstream.model.sam2 import HeadOutput, ImageFeatures, SAM2Model
from samstream.train.clips import ClipBatch
from samstream.train.losses import LossConfig, LossTerms, StepPrediction, count_objects, total_loss
from samstream.train.prompts import PromptConfig, PromptPlan, initial_prompt, sample_clicks
from samstream.video.engine import plan_tokens
from samstream.video.memory_bank import plan_memory
from samstream.video.frame_outputs import FrameOutput

Points = tuple[Tensor, Tensor]


@dataclass
class ClipMemory:
    """The memory bank of a training batch: every object at once, row o of each output is object o.

    Outputs hold (O, ...) tensors (:class:`FrameOutput` with a batch of O); a
    :class:`~samstream.video.memory_bank.MemorySource` for :func:`plan_memory`.
    """

    cond: dict[int, FrameOutput] = field(default_factory=dict)  # frame -> output of a conditioning frame
    tracked: dict[int, FrameOutput] = field(default_factory=dict)  # frame -> output of a tracked frame

    def add(self, frame: int, out: FrameOutput, is_cond: bool) -> None:
        (self.cond if is_cond else self.tracked)[frame] = out

    def conditioning(self) -> Mapping[int, FrameOutput]:
        return self.cond

    def tracked_output(self, frame: int) -> FrameOutput | None:
        return self.tracked.get(frame)


class ClipForward(nn.Module):
    """Wraps a :class:`SAM2Model` so that one call runs a clip and returns its losses.

    Distributed data parallel wraps this module (its ``forward`` is the unit DDP synchronises);
    the model's parameters keep their official names under ``.model``.
    """

    def __init__(
        self,
        model: SAM2Model,
        prompts: PromptConfig | None = None,
        loss: LossConfig | None = None,
        freeze_encoder: bool = False,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.prompts = prompts or PromptConfig()
        self.loss_cfg = loss or LossConfig()
        self.freeze_encoder = freeze_encoder
        self.act_ckpt = activation_checkpointing
        # training attends to every previous frame and to all conditioning frames' pointers
        self.policy = replace(
            model.cfg.tracking, memory_temporal_stride_for_eval=1, only_obj_ptrs_in_the_past_for_eval=False
        )
        if freeze_encoder:
            for p in model.image_encoder.parameters():
                p.requires_grad_(False)

    def forward(self, batch: ClipBatch, plan: PromptPlan, gen: torch.Generator) -> LossTerms:
        steps = self.run_clip(batch, plan, gen)
        num_objects = count_objects(batch.num_objects, batch.masks.device)
        return total_loss(steps, batch.masks, num_objects, self.loss_cfg)

    # ----------------------------------------------------------- features
    def encode(self, images: Tensor) -> ImageFeatures:
        """(B, 3, S, S) -> features; the trunk and neck frozen or checkpointed as configured."""
        encoder = self.model.image_encoder
        if self.freeze_encoder:
            with torch.no_grad():
                feats, pos = encoder(images)
        elif self.act_ckpt and torch.is_grad_enabled():
            feats, pos = checkpoint(encoder, images, use_reentrant=False)
        else:
            feats, pos = encoder(images)
        s0, s1, embed = feats[0], feats[1], feats[-1]
        if self.model.cfg.decoder.use_high_res_features:
            s0, s1 = self.model.sam_mask_decoder.project_high_res(s0, s1)
        return ImageFeatures(embed, (s0, s1), pos[-1][:1])

    # -------------------------------------------------------------- clip
    def run_clip(self, batch: ClipBatch, plan: PromptPlan, gen: torch.Generator) -> list[list[StepPrediction]]:
        """Per frame (time order), the predictions of each step, at the ground truth's resolution."""
        t_frames, n_clips = batch.images.shape[:2]
        feats = self.encode(batch.images.flatten(0, 1))  # row t * B + b
        memory = ClipMemory()
        steps: dict[int, list[StepPrediction]] = {}
        order = plan.order
        for i, t in enumerate(order):
            frame_feats = feats.select(t * n_clips + batch.obj_clip)
            heads, given = self._frame_heads(frame_feats, batch.masks[t], t, plan, memory, gen)
            steps[t] = [self._prediction(h, given) for h in heads]
            final = heads[-1]
            out = FrameOutput(final.low_res, final.obj_ptr, final.object_score_logits)
            if i < len(order) - 1:  # the last frame's memory would never be read
                high = given if given is not None else self._upsample(final.low_res)
                out.memory = self.model.encode_memory(frame_feats.embed, high, final.object_score_logits,
                                                      binarize=False)
            memory.add(t, out, plan.is_cond(t, self.prompts.add_corrected_as_cond))
        return [steps[t] for t in range(t_frames)]

    def _frame_heads(
        self,
        feats: ImageFeatures,
        gt: Tensor,
        frame: int,
        plan: PromptPlan,
        memory: ClipMemory,
        gen: torch.Generator,
    ) -> tuple[list[HeadOutput], Tensor | None]:
        """The decoder outputs of every step on one frame (first prediction, then corrections).

        On a frame whose prompt is the ground-truth mask, also the full-resolution logits made from
        it (+10 / -10), which training uses for that frame's loss and memory.
        """
        model, is_init = self.model, frame in plan.init_cond_frames
        if is_init and not plan.use_points:
            given = gt.unsqueeze(1).float()  # (O, 1, S, S)
            head = model.mask_as_output(feats.embed, feats.high_res, given)
            return [head], given * 20.0 - 10.0
        num = gt.shape[0]
        if is_init:
            pix = model.no_memory_features(feats.embed, num)
            points: Points | None = initial_prompt(gt, plan.use_box.get(frame, False), self.prompts, gen)
        else:
            pix = self._conditioned(feats, memory, frame, plan.num_frames)
            points = None
        head = model.heads(pix, feats.high_res, points, None, self._multimask(is_init, points))
        heads = [head]
        if frame in plan.frames_to_correct:
            for _ in range(self.prompts.num_correction_points):
                from_gt = float(torch.rand((), generator=gen)) < self.prompts.prob_click_from_gt
                pred = None if from_gt else self._upsample(head.low_res) > 0
                coords, labels = sample_clicks(gt, pred, gen)
                points = (coords, labels) if points is None else (
                    torch.cat([points[0], coords], 1), torch.cat([points[1], labels], 1))
                head = model.heads(pix, feats.high_res, points, head.low_res, self._multimask(is_init, points))
                heads.append(head)
        return heads, None

    def _conditioned(self, feats: ImageFeatures, memory: ClipMemory, frame: int, num_frames: int) -> Tensor:
        """Frame features conditioned on the memory bank: (O, C, h, w)."""
        plan = plan_memory(memory, frame, self.model.cfg.memory, self.policy, num_frames, reverse=False)
        model = self.model
        mem = plan_tokens(model, [plan], feats.embed.dtype)
        if self.act_ckpt and torch.is_grad_enabled():
            return checkpoint(model.condition_on_memory, feats.embed, feats.pos, mem.tokens, mem.pos,
                              mem.num_ptr_tokens, use_reentrant=False)
        return model.condition_on_memory(feats.embed, feats.pos, mem.tokens, mem.pos, mem.num_ptr_tokens)

    # ----------------------------------------------------------- helpers
    def _multimask(self, is_init: bool, points: Points | None) -> bool:
        return self.policy.multimask(is_init, 0 if points is None else points[1].shape[1])

    def _upsample(self, low: Tensor) -> Tensor:
        size = self.model.image_size
        return F.interpolate(low.float(), size=(size, size), mode="bilinear", align_corners=False)

    def _prediction(self, head: HeadOutput, given: Tensor | None) -> StepPrediction:
        masks = given if given is not None else self._upsample(head.low_res_multi)
        return StepPrediction(masks, head.ious, head.object_score_logits)

