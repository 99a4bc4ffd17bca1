"""Two-way transformer of the mask decoder: prompt tokens and image tokens attend to each other.

With the inference kernels (:mod:`samstream.model.kernels`) the blocks run the same attention in a
cheaper order, see :mod:`samstream.model.token_attention`: image features shared by every prompt of a batch are
projected once, and the cross-attentions never project the image tokens when a few prompt tokens
can absorb the projection instead.
"""

from __future__ import annotations

from torch import Tensor, nn

from samstream.model.kernels import KernelUser
from samstream.model.layers import MLP, Attention
from samstream.model.token_attention import image_to_tokens, tokens_to_image


class TwoWayBlock(KernelUser):
    """Token self-attention, token->image attention, token MLP, image->token attention."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, downsample_rate: int, skip_first_pe: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dim, num_layers=2)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.skip_first_pe = skip_first_pe

    def forward(self, tokens: Tensor, image: Tensor, token_pe: Tensor, image_pe: Tensor) -> tuple[Tensor, Tensor]:
        """tokens: (B, T, C); image: (B, HW, C), or (1, HW, C) shared by all B token sets (inference forms)."""
        if self.skip_first_pe:
            tokens = self.self_attn(tokens, tokens, tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norm1(tokens)

        image_k = image + image_pe
        if self.fast:
            attn = tokens_to_image(self.cross_attn_token_to_image, tokens + token_pe, image_k, image)
        else:
            attn = self.cross_attn_token_to_image(tokens + token_pe, image_k, image)
        tokens = self.norm2(tokens + attn)
        tokens = self.norm3(tokens + self.mlp(tokens))
        if self.fast:
            image = image_to_tokens(self.cross_attn_image_to_token, image_k, tokens + token_pe, tokens, image)
        else:
            image = image + self.cross_attn_image_to_token(image_k, tokens + token_pe, tokens)
        image = self.norm4(image)
        return tokens, image


class TwoWayTransformer(KernelUser):
    def __init__(self, depth: int, dim: int, num_heads: int, mlp_dim: int, downsample_rate: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayBlock(dim, num_heads, mlp_dim, downsample_rate, skip_first_pe=(i == 0)) for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: Tensor, image_pe: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """image, image_pe: (B or 1, C, H, W); tokens: (B, T, C). Returns tokens (B, T, C), image (B, HW, C).

        An image of batch 1 is shared by all B token sets (only in the inference forms)."""
        image = image.flatten(2).transpose(1, 2)  # (B, HW, C)
        image_pe = image_pe.flatten(2).transpose(1, 2)
        token_pe = tokens
        for layer in self.layers:
            tokens, image = layer(tokens, image, token_pe, image_pe)
        if self.fast:
            attn = tokens_to_image(self.final_attn_token_to_image, tokens + token_pe, image + image_pe, image)
        else:
            attn = self.final_attn_token_to_image(tokens + token_pe, image + image_pe, image)
        return self.norm_final_attn(tokens + attn), image
