"""Prompt encoder: points, box corners and low-resolution masks -> prompt embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.model.layers import LayerNorm2d

# Point label convention used throughout samstream (and by the official checkpoints):
LABEL_PAD = -1  # padding, "not a point"
LABEL_NEGATIVE = 0
LABEL_POSITIVE = 1
LABEL_BOX_TOP_LEFT = 2
LABEL_BOX_BOTTOM_RIGHT = 3


class RandomFourierEncoding(nn.Module):
    """Position encoding with fixed random spatial frequencies (a buffer, saved in checkpoints)."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_feats))

    def encode(self, coords: Tensor) -> Tensor:
        """(..., 2) coordinates in [0, 1] -> (..., 2 * num_feats)."""
        proj = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        proj = 2 * math.pi * proj
        return torch.cat([proj.sin(), proj.cos()], dim=-1)

    def grid(self, height: int, width: int) -> Tensor:
        """(C, H, W) encoding of pixel centres of an H x W grid."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
        coords = torch.stack(
            (xs[None, :].expand(height, width), ys[:, None].expand(height, width)), dim=-1
        )  # (H, W, 2) as (x, y)
        return self.encode(coords).permute(2, 0, 1)

    def points(self, coords: Tensor, image_size: tuple[int, int]) -> Tensor:
        """(B, N, 2) pixel (x, y) coordinates in an image of (H, W) -> (B, N, C)."""
        h, w = image_size
        size = torch.tensor([w, h], device=coords.device, dtype=torch.float32)
        return self.encode(coords.float() / size)


class PromptEncoder(nn.Module):
    """Embeds sparse prompts (points, box corners) and a dense prompt (a mask)."""

    def __init__(self, embed_dim: int, image_size: int, embedding_size: int, mask_in_chans: int = 16) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = (image_size, image_size)
        self.image_embedding_size = (embedding_size, embedding_size)
        self.mask_input_size = (4 * embedding_size, 4 * embedding_size)
        self.pe_layer = RandomFourierEncoding(embed_dim // 2)
        # one embedding per label: negative, positive, box top-left, box bottom-right
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def dense_pe(self) -> Tensor:
        """(1, C, h, w) position encoding of the image embedding grid."""
        return self.pe_layer.grid(*self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords: Tensor, labels: Tensor, pad: bool) -> Tensor:
        """(B, N, 2) pixel coordinates at model input scale and (B, N) labels -> (B, N[+1], C)."""
        coords = coords + 0.5  # pixel centre
        if pad:
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, labels.new_full((labels.shape[0], 1), LABEL_PAD)], dim=1)
        emb = self.pe_layer.points(coords, self.input_image_size)  # (B, N, C)
        is_pad = (labels == LABEL_PAD).unsqueeze(-1)
        emb = torch.where(is_pad, self.not_a_point_embed.weight.expand_as(emb), emb)
        table = torch.cat([e.weight for e in self.point_embeddings], dim=0)  # (4, C)
        valid = (labels >= 0) & (labels < 4)
        extra = table[labels.clamp(0, 3).long()] * valid.unsqueeze(-1)
        return emb + extra

    def embed_boxes(self, boxes: Tensor) -> Tensor:
        """(B, 4) XYXY boxes at model input scale -> (B, 2, C) corner embeddings."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.points(corners, self.input_image_size)
        corner_embed = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight], dim=0)
        return emb + corner_embed

    def embed_mask(self, masks: Tensor) -> Tensor:
        """(B, 1, 4h, 4w) mask logits -> (B, C, h, w); other sizes are resized first."""
        if masks.shape[-2:] != self.mask_input_size:
            masks = F.interpolate(
                masks.float(), size=self.mask_input_size, mode="bilinear", align_corners=False, antialias=True
            )
        return self.mask_downscaling(masks)

    def forward(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        masks: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """Returns sparse (B, N, C) and dense (B, C, h, w) embeddings."""
        if points is not None:
            batch = points[0].shape[0]
        elif boxes is not None:
            batch = boxes.shape[0]
        elif masks is not None:
            batch = masks.shape[0]
        else:
            batch = 1
        weight = self.no_mask_embed.weight
        sparse = [weight.new_zeros(batch, 0, self.embed_dim)]
        if points is not None:
            sparse.append(self.embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            sparse.append(self.embed_boxes(boxes))
        if masks is not None:
            dense = self.embed_mask(masks)
        else:
            dense = weight.reshape(1, -1, 1, 1).expand(batch, -1, *self.image_embedding_size)
        return torch.cat(sparse, dim=1), dense
