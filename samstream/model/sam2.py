"""The SAM 2 model: parameters plus pure tensor-level steps.

The model holds no per-image or per-video data. Predictors call its steps:

- :meth:`SAM2Model.encode_image` — images -> multi-scale features (once per image / frame);
- :meth:`SAM2Model.decode` — prompts against features -> mask logits, IoU, object pointer;
- :meth:`SAM2Model.mask_as_output` — a given mask used directly as the output (video mask prompts);
- :meth:`SAM2Model.encode_memory` — a frame's features and mask -> a new memory;
- :meth:`SAM2Model.memory_tokens` — memories and object pointers -> the tokens memory attention reads,
  with their spatial and temporal encodings (which memories to pass is the tracker's choice,
  :mod:`samstream.video.memory_bank`);
- :meth:`SAM2Model.condition_on_memory` — frame features attending to those tokens.

How the steps compute (float32 or bfloat16, compiled or eager, which kernels) is one
:class:`~samstream.model.runtime.RuntimeOptions` value, resolved for the model's device by
:meth:`SAM2Model.optimize` and only then: :meth:`SAM2Model.place` moves a model and resolves it again
in one call. A plain ``.to()`` / ``.float()`` changes no runtime (so a compiled model is not recompiled
behind its user's back), and a step run after a ``.to()`` onto another device refuses with an error
saying so, instead of running the kernels chosen for the old one.

Submodule and parameter names equal the official checkpoints' keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.init import trunc_normal_

from samstream.config import ModelConfig
from samstream.errors import InvalidInputError
from samstream.model.image_encoder import ImageEncoder, build_image_encoder
from samstream.model.kernels import apply_kernels
from samstream.model.layers import MLP
from samstream.model.mask_decoder import MaskDecoder
from samstream.model.memory_attention import MemoryAttention
from samstream.model.memory_encoder import MemoryEncoder
from samstream.model.position import sine_1d
from samstream.model.prompt_encoder import PromptEncoder
from samstream.model.runtime import Runtime, RuntimeOptions

NO_OBJECT_SCORE = -1024.0  # logit given to every pixel of an object predicted absent


@dataclass
class ImageFeatures:
    """Features of a batch of images, as the decoder and memory consume them."""

    embed: Tensor  # (B, C, h, w) stride-16 features, without the no-memory embedding
    high_res: tuple[Tensor, Tensor]  # decoder-projected stride-4 (B, C/8, 4h, 4w), stride-8 (B, C/4, 2h, 2w)
    pos: Tensor  # (1 or B, C, h, w) sine position encoding of the stride-16 grid

    def select(self, index: Tensor | slice | int) -> "ImageFeatures":
        """Features of a subset of the batch (an int keeps the batch axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        pos = self.pos if self.pos.shape[0] == 1 else self.pos[index]
        return ImageFeatures(self.embed[index], (self.high_res[0][index], self.high_res[1][index]), pos)


@dataclass
class HeadOutput:
    """Result of running the prompt encoder and mask decoder (batch B)."""

    low_res_multi: Tensor  # (B, K, 4h, 4w) logits of every returned candidate
    ious: Tensor  # (B, K)
    low_res: Tensor  # (B, 1, 4h, 4w) the chosen mask (best IoU when K > 1)
    obj_ptr: Tensor  # (B, C) object pointer of the chosen mask
    object_score_logits: Tensor  # (B, 1)


@dataclass
class Candidates:
    """The decoder's candidate masks for a batch of B prompt sets, before one is chosen."""

    low_res_multi: Tensor  # (B, K, 4h, 4w) logits; NO_OBJECT_SCORE everywhere for an absent object
    ious: Tensor  # (B, K) predicted IoUs
    tokens: Tensor  # (B, K', C) output tokens (K' = K when each candidate has its own, else 1)
    object_score_logits: Tensor  # (B, 1)
    present: Tensor  # (B, 1) bool: the score is above the presence threshold


@dataclass
class MemoryTokens:
    """What memory attention reads: memory-frame tokens followed by object-pointer tokens."""

    tokens: Tensor  # (M, B, mem_dim): h*w tokens per memory frame, then the pointer tokens
    pos: Tensor  # (M, B, mem_dim) spatial + temporal encodings of the tokens
    num_ptr_tokens: int  # the last num_ptr_tokens of the M tokens are object pointers
    key_scale: Tensor | None = None  # (M, B, 1) weights of the tokens' keys; None: all 1 (SAM 2)


class SAM2Model(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim, mem = cfg.hidden_dim, cfg.memory
        self.image_encoder: ImageEncoder = build_image_encoder(cfg.hiera, cfg.neck)
        self.memory_attention = MemoryAttention(dim, mem)
        self.memory_encoder = MemoryEncoder(dim, mem)
        self.sam_prompt_encoder = PromptEncoder(dim, cfg.image_size, cfg.embedding_size, cfg.decoder.mask_in_chans)
        self.sam_mask_decoder = MaskDecoder(dim, cfg.decoder)
        # a mask prompt is brought to stride 4 before it is turned into an object pointer
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(mem.num_maskmem, 1, 1, mem.mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, dim))
        if mem.no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem.mem_dim))
        else:
            self.no_obj_embed_spatial = None
        self.obj_ptr_proj = MLP(dim, dim, dim, 3) if mem.use_mlp_for_obj_ptr_proj else nn.Linear(dim, dim)
        self.obj_ptr_tpos_proj = nn.Linear(dim, mem.mem_dim) if mem.proj_tpos_enc_in_obj_ptrs else nn.Identity()
        for p in (self.maskmem_tpos_enc, self.no_mem_embed, self.no_mem_pos_enc, self.no_obj_ptr):
            trunc_normal_(p, std=0.02)
        if self.no_obj_embed_spatial is not None:
            trunc_normal_(self.no_obj_embed_spatial, std=0.02)
        self.optimize(RuntimeOptions())

    # --------------------------------------------------------------- runtime
    def optimize(self, options: RuntimeOptions) -> "SAM2Model":
        """Choose how the steps compute on the model's current device (see :mod:`samstream.model.runtime`).

        Returns the model. Training mode always runs the plain, differentiable forms."""
        self.runtime = Runtime(options, self.device, self.image_encoder, self.memory_attention, self.sam_mask_decoder)
        apply_kernels(self, self.runtime.kernels)
        return self

    def place(self, device: torch.device | str, options: RuntimeOptions | None = None) -> "SAM2Model":
        """Move the model to ``device`` and resolve ``options`` (default: its current ones) there.

        Returns the model. This is how to move a model: ``.to()`` alone leaves the runtime chosen for
        the old device, and the steps then refuse to run.
        """
        self.to(device)
        return self.optimize(options if options is not None else self.runtime.options)

    def _placed_runtime(self) -> Runtime:
        """The runtime, checked to be the one resolved for where the parameters are now."""
        if self.runtime.device != self.device:
            raise InvalidInputError(
                f"model: its parameters are on {self.device} but its runtime was chosen for {self.runtime.device}; "
                f"move it with model.place(device), or call model.optimize(options) after .to()")
        return self.runtime

    @property
    def device(self) -> torch.device:
        """Where the parameters are (steps refuse to run if the runtime was chosen for another device)."""
        return self.no_mem_embed.device

    @property
    def image_size(self) -> int:
        """The square input size S of the image encoder."""
        return self.cfg.image_size

    # ----------------------------------------------------------------- image
    def encode_image(self, images: Tensor) -> ImageFeatures:
        """(B, 3, S, S) normalised images -> float32 features (the heavy step, once per image)."""
        with self._placed_runtime().autocast():
            feats, pos = self.runtime.image_encoder(images)
            s0, s1, embed = feats[0], feats[1], feats[-1]
            if self.cfg.decoder.use_high_res_features:
                s0, s1 = self.sam_mask_decoder.project_high_res(s0, s1)
        return ImageFeatures(embed.float(), (s0.float(), s1.float()), pos[-1][:1].float())

    def prompt_ready_embed(self, features: ImageFeatures) -> Tensor:
        """Stride-16 features as the decoder sees them on a frame with no memory."""
        if self.cfg.memory.directly_add_no_mem_embed:
            return features.embed + self.no_mem_embed.view(1, -1, 1, 1)
        return features.embed

    # --------------------------------------------------------------- decoder
    def decode(
        self,
        embed: Tensor,
        high_res: tuple[Tensor, Tensor] | None,
        points: tuple[Tensor, Tensor] | None,
        mask_logits: Tensor | None,
        multimask: bool,
        dynamic_stability: bool | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Prompt encoder + mask decoder.

        embed: (B or 1, C, h, w); points: (B, N, 2) coordinates at model input scale with (B, N) labels
        (box corners are points labelled 2 and 3); mask_logits: (B, 1, 4h, 4w) or None.
        ``dynamic_stability``: whether an unstable single mask falls back to the best multi-mask
        candidate (None: the config's choice). Returns low-res logits (B, K, 4h, 4w), IoU (B, K),
        output tokens (B, K', C), object scores (B, 1), all float32.
        """
        if not self.cfg.decoder.use_high_res_features:
            high_res = None
        with self._placed_runtime().autocast():
            sparse, dense = self.sam_prompt_encoder(points=points, boxes=None, masks=mask_logits)
            out = self.runtime.mask_decoder(embed, self.sam_prompt_encoder.dense_pe(), sparse, dense, multimask, high_res,
                                            dynamic_stability)
        return out.masks.float(), out.iou.float(), out.tokens.float(), out.object_score_logits.float()

    def candidates(
        self,
        embed: Tensor,
        high_res: tuple[Tensor, Tensor] | None,
        points: tuple[Tensor, Tensor] | None,
        mask_inputs: Tensor | None,
        multimask: bool,
        presence_threshold: float = 0.0,
        dynamic_stability: bool | None = None,
    ) -> Candidates:
        """Every candidate mask of the decoder, absent objects masked out, before any choice.

        ``points`` of None means "no click" (a single padding point); ``mask_inputs`` may be at any
        resolution and is resized to the prompt encoder's mask size. An object whose score is not
        above ``presence_threshold`` (0 in SAM 2) is absent: its candidates become -1024 everywhere
        and its pointers the no-object pointer (:meth:`pick`).
        """
        b = embed.shape[0]
        if points is None:
            points = (
                embed.new_zeros(b, 1, 2, dtype=torch.float32),
                torch.full((b, 1), -1, dtype=torch.int32, device=embed.device),
            )
        masks, ious, tokens, obj_scores = self.decode(embed, high_res, points, mask_inputs, multimask, dynamic_stability)
        present = obj_scores > presence_threshold  # (B, 1)
        if self.cfg.decoder.pred_obj_scores:
            masks = torch.where(present[:, :, None, None], masks, NO_OBJECT_SCORE)
        return Candidates(masks.float(), ious, tokens, obj_scores, present)

    def pick(self, cands: Candidates, index: Tensor | None, rows: Tensor | None = None) -> HeadOutput:
        """The output of chosen candidates: ``index`` (N,) the candidate of each of ``rows`` (N,)
        (default: every row once). ``index`` None: the single output of a one-candidate decoding."""
        masks, tokens, ious = cands.low_res_multi, cands.tokens, cands.ious
        scores, present = cands.object_score_logits, cands.present
        if rows is not None:  # some rows several times (hypotheses), others not at all
            masks, tokens, ious, scores, present = masks[rows], tokens[rows], ious[rows], scores[rows], present[rows]
        token = tokens[:, 0]
        chosen = masks
        if index is not None:
            batch = torch.arange(masks.shape[0], device=masks.device)
            chosen = masks[batch, index].unsqueeze(1)
            if tokens.shape[1] > 1:
                token = tokens[batch, index]
        obj_ptr = self.obj_ptr_proj(token)
        obj_ptr = self.apply_presence_to_ptr(obj_ptr, scores, present.float())
        return HeadOutput(masks, ious, chosen, obj_ptr, scores)

    def heads(
        self,
        embed: Tensor,
        high_res: tuple[Tensor, Tensor] | None,
        points: tuple[Tensor, Tensor] | None,
        mask_inputs: Tensor | None,
        multimask: bool,
    ) -> HeadOutput:
        """Decoder as SAM 2's tracker uses it: absent objects masked out, the best mask chosen
        (highest predicted IoU), its object pointer (see :meth:`candidates` and :meth:`pick`)."""
        cands = self.candidates(embed, high_res, points, mask_inputs, multimask)
        return self.pick(cands, cands.ious.argmax(dim=-1) if multimask else None)

    def apply_presence_to_ptr(self, obj_ptr: Tensor, obj_scores: Tensor, present: Tensor) -> Tensor:
        """Object pointers (..., C) with the presence rule: absent objects get the no-object pointer."""
        if not self.cfg.decoder.pred_obj_scores:
            return obj_ptr
        weight = obj_scores.sigmoid() if self.cfg.memory.soft_no_obj_ptr else present
        if self.cfg.memory.fixed_no_obj_ptr:
            obj_ptr = weight * obj_ptr
        return obj_ptr + (1 - weight) * self.no_obj_ptr

    def mask_as_output(self, embed: Tensor, high_res: tuple[Tensor, Tensor] | None, masks: Tensor,
                       presence_threshold: float = 0.0) -> HeadOutput:
        """Use a given (B, 1, S, S) binary mask as the output, as the tracker does for mask prompts.

        ``presence_threshold``: that of the decoder run that makes the pointer (see :meth:`candidates`)."""
        scale, bias = 20.0, -10.0  # logits of +10 / -10 for foreground / background
        masks_f = masks.float()
        high = masks_f * scale + bias
        low = F.interpolate(
            high, size=(high.shape[-2] // 4, high.shape[-1] // 4), mode="bilinear", align_corners=False, antialias=True
        )
        ious = masks_f.new_ones(masks.shape[0], 1)
        cands = self.candidates(embed, high_res, None, self.mask_downsample(masks_f), False, presence_threshold)
        obj_ptr = self.pick(cands, None).obj_ptr
        present = (masks_f.flatten(1) > 0).any(dim=1, keepdim=True).float()  # (B, 1)
        obj_scores = scale * present + bias
        if self.cfg.decoder.pred_obj_scores:
            if self.cfg.memory.fixed_no_obj_ptr:
                obj_ptr = present * obj_ptr
            obj_ptr = obj_ptr + (1 - present) * self.no_obj_ptr
        return HeadOutput(low, ious, low, obj_ptr, obj_scores)

    # ---------------------------------------------------------------- memory
    def condition_on_memory(
        self,
        embed: Tensor,
        pos: Tensor,
        memory: Tensor,
        memory_pos: Tensor,
        num_ptr_tokens: int,
        key_scale: Tensor | None = None,
    ) -> Tensor:
        """Memory attention: (B or 1, C, h, w) frame features + (M, B, mem_dim) memories -> (B, C, h, w).

        ``key_scale`` (M, B, 1): weights of the memory tokens' keys (None: as SAM 2, all 1)."""
        batch = memory.shape[1]
        _, c, h, w = embed.shape
        curr = embed.flatten(2).permute(2, 0, 1)  # (hw, 1 or B, C): one frame is shared by all objects
        curr_pos = pos.flatten(2).permute(2, 0, 1)
        if curr_pos.shape[1] != curr.shape[1]:
            curr_pos = curr_pos.expand(-1, curr.shape[1], -1)
        with self._placed_runtime().autocast():
            out = self.runtime.memory_attention(curr, curr_pos, memory, memory_pos, num_ptr_tokens, key_scale)  # (hw, B, C)
        return out.float().permute(1, 2, 0).reshape(batch, c, h, w)

    def memory_pos_enc(self, height: int, width: int) -> Tensor:
        """(1, mem_dim, h, w) float32 position encoding of every memory of an h x w grid.

        It depends only on the grid, so it is computed once per (size, device) and cached (by the
        memory encoder's sine encoding, which also returns it with each new memory).
        """
        return self.memory_encoder.position_encoding.grid(height, width, self.device).unsqueeze(0)

    def memory_tokens(
        self,
        memories: list[Tensor],
        slots: list[int],
        ptrs: Tensor | None,
        ptr_distances: list[int],
        max_ptrs: int,
        dtype: torch.dtype = torch.float32,
        frame_weights: Tensor | None = None,
        ptr_weights: Tensor | None = None,
    ) -> MemoryTokens:
        """The memory bank as tokens for :meth:`condition_on_memory`, temporal encodings applied.

        memories: one (B, mem_dim, h, w) tensor per memory frame, with ``slots[i]`` its temporal slot:
        0 for a conditioning (prompted) frame, 1 .. num_maskmem - 1 for tracked frames (the most
        recent frame has slot num_maskmem - 1). ptrs: (P, B, C) object pointers or None, with
        ``ptr_distances[i]`` the signed temporal distance of pointer i to the current frame. Tokens
        are cast to ``dtype`` on the model's device. The arithmetic is :meth:`memory_tokens_from`.
        ``frame_weights`` (F, B) and ``ptr_weights`` (P, B): weights of each memory frame's and each
        pointer's keys in memory attention (None: SAM 2's, all 1).
        """
        device, mem_dim = self.device, self.cfg.memory.mem_dim
        batch = memories[0].shape[0] if memories else (ptrs.shape[1] if ptrs is not None else 1)
        if memories:
            frames = torch.stack([m.to(device=device, dtype=dtype) for m in memories])  # (F, B, mem_dim, h, w)
            grid_pos = self.memory_pos_enc(*memories[0].shape[-2:])
        else:
            frames = torch.empty(0, batch, mem_dim, 1, 1, device=device, dtype=dtype)
            grid_pos = torch.zeros(1, mem_dim, 1, 1, device=device)
        if ptrs is None:
            ptrs, ptr_distances = torch.empty(0, batch, self.cfg.hidden_dim, device=device), []
        tokens, pos, num_ptr_tokens = self.memory_tokens_from(
            frames, torch.tensor(slots, dtype=torch.long, device=device), ptrs.to(device=device, dtype=dtype),
            torch.tensor(ptr_distances, dtype=torch.float32, device=device),
            torch.tensor([max_ptrs - 1], dtype=torch.float32, device=device), grid_pos,
        )
        key_scale = None
        if frame_weights is not None or ptr_weights is not None:
            per_frame = tokens.shape[0] - num_ptr_tokens
            hw = per_frame // max(1, len(memories))
            parts = []
            if frame_weights is not None and memories:
                parts.append(frame_weights.to(device).repeat_interleave(hw, dim=0))
            elif memories:
                parts.append(tokens.new_ones(per_frame, batch))
            if num_ptr_tokens:
                split = num_ptr_tokens // len(ptr_distances)
                weights = ptr_weights if ptr_weights is not None else torch.ones(len(ptr_distances), batch)
                parts.append(weights.to(device).repeat_interleave(split, dim=0))
            key_scale = torch.cat(parts).to(dtype).unsqueeze(-1)  # (M, B, 1)
        return MemoryTokens(tokens, pos, num_ptr_tokens, key_scale)

    def memory_tokens_from(
        self, memory: Tensor, slots: Tensor, ptrs: Tensor, ptr_distances: Tensor, ptr_normaliser: Tensor,
        grid_pos: Tensor,
    ) -> tuple[Tensor, Tensor, int]:
        """:meth:`memory_tokens` in tensor form, so that an exported graph keeps F and P dynamic.

        memory (F, B, mem_dim, h, w) with slots (F,) int64; slot ``s`` adds the learned encoding
        ``maskmem_tpos_enc[num_maskmem - 1 - s]`` to the grid's position encoding grid_pos
        (1, mem_dim, h, w). ptrs (P, B, C) with ptr_distances (P,) float32, encoded as a sine of
        ``distance / ptr_normaliser`` ((1,) float32, the plan's ``max_ptrs - 1``). A pointer of
        C = hidden_dim channels becomes hidden_dim / mem_dim tokens. Returns tokens and encodings
        (F*h*w + P*C/mem_dim, B, mem_dim) and the number of pointer tokens.
        """
        mem, hidden = self.cfg.memory, self.cfg.hidden_dim
        batch, dim = memory.shape[1], memory.shape[2]
        tokens = memory.flatten(3).permute(0, 3, 1, 2).reshape(-1, batch, dim)  # (F*hw, B, D)
        pos = grid_pos.flatten(2).permute(2, 0, 1)  # (hw, 1, D)
        tpos = self.maskmem_tpos_enc[mem.num_maskmem - 1 - slots]  # (F, 1, 1, D)
        token_pos = (pos.unsqueeze(0) + tpos).reshape(-1, 1, dim).expand(-1, batch, -1)  # (F*hw, B, D)
        if mem.add_tpos_enc_to_obj_ptrs:
            tpos_dim = hidden if mem.proj_tpos_enc_in_obj_ptrs else dim
            ptr_pos = self.obj_ptr_tpos_proj(sine_1d(ptr_distances / ptr_normaliser, tpos_dim))  # (P, D)
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, batch, dim)
        else:
            ptr_pos = ptrs.new_zeros(ptrs.shape[0], batch, dim)
        if dim < hidden:  # each pointer becomes C / D tokens
            split = hidden // dim
            ptrs = ptrs.reshape(-1, batch, split, dim).permute(0, 2, 1, 3).flatten(0, 1)
            # the encoding repeated for each of a pointer's tokens, as expand + reshape (one ONNX Expand)
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, split, -1, -1).flatten(0, 1)
        return torch.cat([tokens, ptrs], dim=0), torch.cat([token_pos, ptr_pos], dim=0), ptrs.shape[0]

    def no_memory_features(self, embed: Tensor, batch: int) -> Tensor:
        """Features of a first prompted frame, which has no memory to attend to: (B, C, h, w)."""
        if not self.cfg.memory.directly_add_no_mem_embed:
            raise NotImplementedError("only models that add the no-memory embedding directly are supported")
        return (embed + self.no_mem_embed.view(1, -1, 1, 1)).expand(batch, -1, -1, -1)

    def encode_memory(
        self, embed: Tensor, high_res_masks: Tensor, object_score_logits: Tensor, binarize: bool
    ) -> Tensor:
        """A new memory from frame features (1 or B, C, h, w) and (B, 1, S, S) mask logits.

        ``binarize`` thresholds the mask (masks made from clicks, as the user saw them) instead of
        taking its sigmoid. Returns the memory (B, mem_dim, h, w); its position encoding is
        :meth:`memory_pos_enc`, the same for every memory.
        """
        mem = self.cfg.memory
        masks = (high_res_masks > 0).float() if binarize else torch.sigmoid(high_res_masks)
        if mem.sigmoid_scale_for_mem_enc != 1.0:
            masks = masks * mem.sigmoid_scale_for_mem_enc
        if mem.sigmoid_bias_for_mem_enc != 0.0:
            masks = masks + mem.sigmoid_bias_for_mem_enc
        batch = masks.shape[0]
        with self._placed_runtime().autocast():
            feats, _ = self.memory_encoder(embed.expand(batch, -1, -1, -1), masks, skip_mask_sigmoid=True)
        feats = feats.float()
        if self.no_obj_embed_spatial is not None:
            absent = 1.0 - (object_score_logits > 0).float()  # (B, 1)
            feats = feats + absent[..., None, None] * self.no_obj_embed_spatial[..., None, None]
        return feats
