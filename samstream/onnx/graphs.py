"""The model's steps as export-ready modules: plain tensors in, plain tensors out, no Python branches
on values, so that one ONNX graph per step serves every prompt and memory layout.

Each module wraps a :class:`~samstream.model.sam2.SAM2Model` (it owns no parameters of its own) and
is traced with autograd enabled, so that the model's steps take their literal form rather than the
CPU fast paths chosen for inference in eager mode (loops over objects and blocks of query rows,
which a graph would unroll). Rotary encodings must be in their real (cos, sin) form
(:func:`samstream.model.rope.use_real_rotations`): ONNX has no complex tensors.

Shapes, with S the input size, h = w = S / 16, C the hidden width and D the memory width:

- :class:`ImageEncoderGraph` image (1, 3, S, S) -> features;
- :class:`DecoderGraph` features of one image + B prompt sets of N points -> all 4 mask tokens' outputs;
- :class:`MemoryEncoderGraph` features + B low-res masks -> B memories;
- :class:`MemoryAttentionGraph` features + F memory frames + P object pointers -> conditioned features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.model.memory_attention import INPUT_POS_SCALE, MemoryAttentionLayer
from samstream.model.sam2 import SAM2Model

IMAGE_INPUTS = ["image"]
IMAGE_OUTPUTS = ["image_embed", "prompt_embed", "high_res_0", "high_res_1"]
DECODER_INPUTS = ["image_embed", "high_res_0", "high_res_1", "point_coords", "point_labels", "mask_input",
                  "has_mask_input"]
DECODER_OUTPUTS = ["masks", "iou_predictions", "object_score_logits", "obj_ptrs"]
MEMORY_ENCODER_INPUTS = ["image_embed", "mask_logits", "object_score_logits", "binarize"]
MEMORY_ENCODER_OUTPUTS = ["memory"]
MEMORY_ATTENTION_INPUTS = ["image_embed", "memory", "memory_slots", "obj_ptrs", "ptr_distances", "ptr_normaliser"]
MEMORY_ATTENTION_OUTPUTS = ["conditioned_embed"]
SATURATED = 100.0  # a logit whose float32 sigmoid is exactly 1 (and of its negative, 4e-44)


class ImageEncoderGraph(nn.Module):
    """(1, 3, S, S) normalised image -> raw stride-16 features (1, C, h, w), the same with the
    no-memory embedding added (what the decoder sees on a frame without memory), and the
    decoder-projected stride-4 (1, C/8, 4h, 4w) and stride-8 (1, C/4, 2h, 2w) features."""

    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        feats = self.model.encode_image(image)
        return feats.embed, self.model.prompt_ready_embed(feats), feats.high_res[0], feats.high_res[1]


class DecoderGraph(nn.Module):
    """Prompt encoder + mask decoder for B prompt sets on one image, every mask token's output.

    point_coords (B, N, 2) float32 at model input scale with point_labels (B, N) int32 (-1 padding,
    0 / 1 clicks, 2 / 3 box corners; the trailing padding point the model appends is added here);
    mask_input (B, 1, 4h, 4w) logits, used where has_mask_input (a bool of shape (1,)) is true.
    Returns masks (B, 4, 4h, 4w) logits (token 0 is the single-mask output, 1..3 the multi-mask
    ones), iou_predictions (B, 4), object_score_logits (B, 1) and obj_ptrs (B, 4, C), the object
    pointer of each token with the object-presence rule applied. The host makes the single/multi
    choice: no branch of it is folded into the graph.
    """

    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("dense_pe", model.sam_prompt_encoder.dense_pe().detach().clone(), persistent=False)

    def forward(self, image_embed: Tensor, high_res_0: Tensor, high_res_1: Tensor, point_coords: Tensor,
                point_labels: Tensor, mask_input: Tensor, has_mask_input: Tensor) -> tuple[Tensor, ...]:
        model, prompts = self.model, self.model.sam_prompt_encoder
        sparse = prompts.embed_points(point_coords, point_labels, pad=True)  # (B, N + 1, C)
        batch = point_coords.shape[0]
        no_mask = prompts.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, *prompts.image_embedding_size)
        dense = torch.where(has_mask_input.reshape(1, 1, 1, 1), prompts.embed_mask(mask_input), no_mask)
        high_res = (high_res_0, high_res_1) if model.cfg.decoder.use_high_res_features else None
        masks, iou, tokens, obj = model.sam_mask_decoder.predict_all(image_embed, self.dense_pe, sparse, dense,
                                                                     high_res)
        scores = obj[:, None, :]  # (B, 1, 1), one score for the 4 tokens
        ptrs = model.apply_presence_to_ptr(model.obj_ptr_proj(tokens), scores, (scores > 0).float())  # (B, 4, C)
        return masks, iou, obj, ptrs


class MemoryEncoderGraph(nn.Module):
    """A memory from raw frame features (1, C, h, w) and B low-res mask logits (B, 1, 4h, 4w).

    The logits are upsampled to the input size (bilinear) as the tracker does before encoding;
    ``binarize`` (a bool of shape (1,)) thresholds them instead of taking their sigmoid.
    Returns the memory (B, D, h, w); its position encoding is a constant of the attention graph.
    """

    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, image_embed: Tensor, mask_logits: Tensor, object_score_logits: Tensor,
                binarize: Tensor) -> Tensor:
        size = self.model.image_size
        high = F.interpolate(mask_logits, size=(size, size), mode="bilinear", align_corners=False)
        # binarising without a branch: logits of +-100 have a float32 sigmoid of exactly 1 and of
        # 4e-44, which the memory path's scale (20) and bias (-10) turn into exactly +10 and -10,
        # the values the thresholded mask gives
        hard = torch.where(high > 0, SATURATED, -SATURATED)
        high = torch.where(binarize.reshape(1, 1, 1, 1), hard, high)
        memory = self.model.encode_memory(image_embed, high, object_score_logits, binarize=False)
        return memory


class MemoryTokens(nn.Module):
    """Memory frames and object pointers -> memory tokens and their encodings, sequence-first:
    :meth:`samstream.model.sam2.SAM2Model.memory_tokens_from` with the grid's position encoding
    held as a constant. memory (F, B, D, h, w) with memory_slots (F,) int64 temporal slots
    (0 = conditioning frame), obj_ptrs (P, B, C) with ptr_distances (P,) float32 and ptr_normaliser
    (1,) float32 (the plan's ``max_ptrs - 1``). Returns tokens (F*h*w + P*C/D, B, D), encodings of
    the same shape, and the number of pointer tokens.
    """

    def __init__(self, model: SAM2Model, memory_pos: Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("memory_pos", memory_pos.detach().clone(), persistent=False)  # (1, D, h, w)

    def forward(self, memory: Tensor, memory_slots: Tensor, obj_ptrs: Tensor, ptr_distances: Tensor,
                ptr_normaliser: Tensor) -> tuple[Tensor, Tensor, int]:
        return self.model.memory_tokens_from(memory, memory_slots, obj_ptrs, ptr_distances, ptr_normaliser,
                                             self.memory_pos)


class MemoryAttentionGraph(nn.Module):
    """Raw frame features (1, C, h, w) conditioned on one object's memory -> (B, C, h, w).

    Inputs as :class:`MemoryTokens` takes them; F and P are dynamic. The layers run in their
    literal form: values projected before the attention, every step for the B objects at once.
    """

    def __init__(self, model: SAM2Model, memory_pos: Tensor) -> None:
        super().__init__()
        self.model = model
        self.tokens = MemoryTokens(model, memory_pos)
        self.register_buffer("image_pos", _image_pos(model), persistent=False)  # (1, C, h, w)

    def forward(self, image_embed: Tensor, memory: Tensor, memory_slots: Tensor, obj_ptrs: Tensor,
                ptr_distances: Tensor, ptr_normaliser: Tensor) -> Tensor:
        tokens, token_pos, num_ptr_tokens = self.tokens(memory, memory_slots, obj_ptrs, ptr_distances,
                                                        ptr_normaliser)
        attention = self.model.memory_attention
        _, c, h, w = image_embed.shape
        x = image_embed.flatten(2).transpose(1, 2) + INPUT_POS_SCALE * self.image_pos.flatten(2).transpose(1, 2)
        values = tokens.transpose(0, 1)  # (B, M, D)
        keys = (tokens + token_pos).transpose(0, 1)
        batch = values.shape[0]
        for layer in attention.layers:
            x = literal_layer(layer, x, keys, values, num_ptr_tokens)
        out = attention.norm(x.expand(batch, -1, -1))  # (B, hw, C)
        return out.transpose(1, 2).reshape(batch, c, h, w)


def literal_layer(layer: MemoryAttentionLayer, x: Tensor, keys: Tensor, values: Tensor, num_ptr_tokens: int) -> Tensor:
    """One memory-attention layer as a graph: x (1 or B, L, C), keys / values (B, M, D) -> (B, L, C).

    The eager layer picks, by device, between attending in blocks of query rows and a padded fused
    kernel (both exact rewrites); a graph gets the plain form, with the layer's own steps
    (dropout is off in eval mode).
    """
    attn = layer.cross_attn_image
    x = layer.self_attend(x)
    queries = layer.cross_queries(x)  # (1 or B, nh, L, hd)
    k = attn.memory_keys(keys, num_ptr_tokens, x.shape[1])  # (B, nh, M, hd)
    v = attn.split_heads(attn.v_proj(values))
    x = x + attn.attend(queries.expand(k.shape[0], -1, -1, -1), k, v)
    return x + layer.linear2(F.relu(layer.linear1(layer.norm3(x))))


def _image_pos(model: SAM2Model) -> Tensor:
    """The sine position encoding of the stride-16 grid (a constant of the input size)."""
    side = model.cfg.embedding_size
    probe = torch.zeros(1, 1, side, side)
    return model.image_encoder.neck.position_encoding(probe).detach().clone()
