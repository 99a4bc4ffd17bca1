"""Hiera: the hierarchical vision transformer trunk of the SAM 2 image encoder.

Parameter names, shapes and results match the reference ``sam2/modeling/backbones/hieradet.py``.

Token order. The reference partitions the (B, H, W, C) map into windows before every windowed
attention and merges them back after it: two full copies per block. Here activations stay in
*window order* between blocks wherever that is exact: a map cut into w x w windows is stored as
(B * H/w * W/w, w, w, C), which is what the reference's ``window_partition`` makes. Norms, linear
layers and the MLP act per token and do not care about the order; global attention attends over
all tokens of an image and does not either; max-pooling the queries 2x2 inside windows of even
size is max-pooling the whole map. So tokens are reordered only where the window size changes,
where windows do not tile the map (the reference pads there; :mod:`samstream.model.padded_windows`
gets its result without computing the padding) and where a stage's output is returned. :class:`TokenGrid` records the order of a tensor.

With the inference kernels (:mod:`samstream.model.kernels`) residuals are added in place, and with
the CPU's the blocks work through the tokens in chunks, so that the large intermediates (qkv, the 4x
MLP hidden layer) stay in cache instead of being allocated (and page-faulted) at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samstream.config import HieraConfig
from samstream.errors import InvalidInputError
from samstream.model import padded_windows
from samstream.model.kernels import KernelUser, map_chunks
from samstream.model.layers import DropPath

PATCH_STRIDE = 4  # the patch embedding's stride
# When inference works through a map piecewise: elements of a chunk's largest intermediate, the
# MLP's hidden layer (6 MiB of float32: 4096 tokens of the first stage, 1024 of the third)
CHUNK_ELEMENTS = 4096 * 384


@dataclass(frozen=True)
class TokenGrid:
    """Where the tokens of a (B, H, W) map are in memory.

    ``window == 0``: raster order, the tensor is (B, H, W, C). ``window == w``: window order,
    the tensor is (B * H/w * W/w, w, w, C), windows in raster order within each image.
    """

    batch: int
    height: int
    width: int
    window: int = 0

    def tiled_by(self, window: int) -> bool:
        return window > 0 and self.height % window == 0 and self.width % window == 0

    @property
    def groups_per_image(self) -> int:
        """Leading-axis entries per image: 1 in raster order, the number of windows otherwise."""
        if self.window == 0:
            return 1
        return (self.height // self.window) * (self.width // self.window)


def _split(x: Tensor, b: int, h: int, w: int, win: int) -> Tensor:
    """(B, H, W, C) raster view -> (B, H/w, w, W/w, w, C) view (no copy)."""
    return x.view(b, h // win, win, w // win, win, x.shape[-1])


def to_raster(x: Tensor, grid: TokenGrid) -> tuple[Tensor, TokenGrid]:
    """Tokens in ``grid``'s order -> (B, H, W, C) raster order (a copy unless already raster)."""
    if grid.window == 0:
        return x, grid
    b, h, w, win = grid.batch, grid.height, grid.width, grid.window
    x = x.view(b, h // win, w // win, win, win, x.shape[-1]).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1), replace(grid, window=0)


def to_windows(x: Tensor, grid: TokenGrid, window: int) -> tuple[Tensor, TokenGrid]:
    """Tokens in ``grid``'s order -> window order with windows of side ``window`` (must tile the map)."""
    if grid.window == window:
        return x, grid
    x, grid = to_raster(x, grid)
    x = _split(x, grid.batch, grid.height, grid.width, window).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window, window, x.shape[-1]), replace(grid, window=window)


def window_partition(x: Tensor, window: int) -> tuple[Tensor, tuple[int, int]]:
    """(B, H, W, C) -> zero-padded windows (B * nW, w, w, C) and the padded size (Hp, Wp)."""
    b, h, w, c = x.shape
    pad_h, pad_w = -h % window, -w % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = _split(x, b, hp, wp, window).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window, window, c), (hp, wp)


def window_unpartition(windows: Tensor, window: int, padded_hw: tuple[int, int], hw: tuple[int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: (B * nW, w, w, C) -> (B, H, W, C), padding removed."""
    (hp, wp), (h, w) = padded_hw, hw
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.view(b, hp // window, wp // window, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, hp, wp, -1)
    return x[:, :h, :w, :] if (hp > h or wp > w) else x


def max_pool(x: Tensor, stride: tuple[int, int]) -> Tensor:
    """(G, h, w, C) -> (G, h // sh, w // sw, C): max over non-overlapping sh x sw cells.

    Equals ``nn.MaxPool2d(stride, stride)`` applied to the channels-first view, but reads strided
    inputs (a slice of the fused qkv output) several times faster.
    """
    for axis, s in ((1, stride[0]), (2, stride[1])):
        if s == 1:
            continue
        n = x.shape[axis] // s
        x = x.narrow(axis, 0, n * s).unflatten(axis, (n, s))
        out = x.select(axis + 1, 0)
        for j in range(1, s):
            out = torch.maximum(out, x.select(axis + 1, j))
        x = out
    return x


def _residual(base: Tensor, update: Tensor, in_place: bool) -> Tensor:
    """``base + update``, written into ``update`` (a fresh tensor) when ``in_place`` (inference forms)."""
    if (
        in_place
        and update.shape == base.shape
        and update.dtype == torch.result_type(base, update)
        and update.is_contiguous()
    ):
        return update.add_(base)
    return base + update


class PatchEmbed(nn.Module):
    """7x7 convolution with stride 4: (B, 3, H, W) -> (B, H/4, W/4, C) (a channels-last view)."""

    def __init__(self, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=7, stride=PATCH_STRIDE, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class MLP(KernelUser):
    """Two linear layers with GELU between them (key names ``layers.0``, ``layers.1``)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, out_dim)])
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.layers[0](x)
        h = torch.ops.aten.gelu_(h) if self.fast else self.act(h)
        return self.layers[1](h)


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention whose queries may be max-pooled (at a stage change)."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_stride: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.dim, self.dim_out, self.num_heads = dim, dim_out, num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor, groups_per_batch: int = 1, pad: int = 0) -> Tensor:
        """(G, h, w, C) -> (G, h', w', C_out).

        The tokens of each run of ``groups_per_batch`` consecutive groups attend to one another
        (1: each window on its own; windows per image: global attention). Queries are pooled
        within each group. ``pad``: each group is a window that also held that many zero tokens
        (see :mod:`samstream.model.padded_windows`), attended to as one weighted key.
        """
        g, h, w, _ = x.shape
        nh = self.num_heads
        q, k, v = self.qkv(x).unflatten(-1, (3, self.dim_out)).unbind(3)  # each (G, h, w, C_out)
        if self.q_stride is not None:
            q = max_pool(q, self.q_stride)
            h, w = q.shape[1:3]
        a = g // groups_per_batch  # attention batch
        # (A, nh, N, hd): views of the fused qkv output, no copies
        q, k, v = (t.reshape(a, -1, nh, self.dim_out // nh).transpose(1, 2) for t in (q, k, v))
        mask = None
        if pad:
            k, v, mask = padded_windows.padding_key(self.qkv.bias, k, v, pad, q.shape[2])
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (A, nh, Nq, hd)
        x = x.transpose(1, 2).reshape(g, h, w, self.dim_out)
        return self.proj(x)


class MultiScaleBlock(KernelUser):
    """Pre-norm transformer block: (windowed or global) attention, then an MLP."""

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        q_stride: tuple[int, int] | None = None,
        window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size  # 0: global attention
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_stride)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: Tensor, grid: TokenGrid) -> tuple[Tensor, TokenGrid]:
        """Tokens ordered as ``grid`` says -> output tokens and their grid (pooled at a stage change)."""
        ws, stride = self.window_size, self.q_stride
        pools_in_windows = stride is None or (stride[0] == stride[1] and ws % stride[0] == 0)
        if ws > 0 and grid.tiled_by(ws) and pools_in_windows:
            x, grid = to_windows(x, grid, ws)
            x = self._windowed(x, grid.batch)
        elif ws > 0:  # windows need padding: the reference's path, in raster order
            x, grid = to_raster(x, grid)
            x = self._padded(x)
        else:
            if stride is not None and not (stride[0] == stride[1] and grid.window % stride[0] == 0):
                x, grid = to_raster(x, grid)
            x = self._global(x, grid)
        if stride is not None:
            grid = TokenGrid(grid.batch, grid.height // stride[0], grid.width // stride[1], grid.window // stride[0])
        return x, grid

    # ------------------------------------------------------------------ parts
    def _chunk_tokens(self) -> int:
        return max(1, CHUNK_ELEMENTS // self.mlp.layers[0].out_features)

    def _drop(self, x: Tensor, batch: int) -> Tensor:
        """Drop path per image, whatever the token order."""
        if not self.training or self.drop_path.p == 0.0:
            return x
        return self.drop_path(x.reshape(batch, -1, x.shape[-1])).view(x.shape)

    def _shortcut(self, x: Tensor, xn: Tensor) -> Tensor:
        if self.dim == self.dim_out:
            return x
        shortcut = self.proj(xn)
        return shortcut if self.q_stride is None else max_pool(shortcut, self.q_stride)

    def _attend(self, x: Tensor, groups_per_batch: int, batch: int) -> Tensor:
        """shortcut + attention, in the order of ``x`` (G, h, w, C)."""
        xn = self.norm1(x)
        return _residual(self._shortcut(x, xn), self._drop(self.attn(xn, groups_per_batch), batch), self.fast)

    def _mlp(self, x: Tensor, batch: int) -> Tensor:
        """x + MLP(norm2(x)); piecewise and in place in inference (``x`` is always a fresh tensor)."""
        rows_per_chunk = self._chunk_tokens()
        if not self.blocked or not x.is_contiguous() or x.numel() <= rows_per_chunk * x.shape[-1]:
            return _residual(x, self._drop(self.mlp(self.norm2(x)), batch), self.fast)
        flat = x.view(-1, x.shape[-1])
        for rows in flat.split(rows_per_chunk):
            rows.add_(self.mlp(self.norm2(rows)))
        return x

    def _windowed(self, x: Tensor, batch: int) -> Tensor:
        """Windowed attention on window-ordered tokens (G, w, w, C); windows are independent."""
        if not self.blocked:
            return self._mlp(self._attend(x, 1, batch), batch)
        per_chunk = max(1, self._chunk_tokens() // (x.shape[1] * x.shape[2]))
        return map_chunks(lambda part: self._mlp(self._attend(part, 1, batch), batch), x, per_chunk)

    def _global(self, x: Tensor, grid: TokenGrid) -> Tensor:
        """Global attention: every token of an image attends to all of them, in any order."""
        return self._mlp(self._attend(x, grid.groups_per_image, grid.batch), grid.batch)

    def _padded(self, x: Tensor) -> Tensor:
        """Windowed attention on a raster (B, H, W, C) map the windows do not tile (as the reference)."""
        ws, batch = self.window_size, x.shape[0]
        xn = self.norm1(x)
        shortcut = self._shortcut(x, xn)
        if padded_windows.supports(x.shape[1], x.shape[2], ws, self.q_stride):  # same result, less work
            y = padded_windows.attend_padded(self.attn, xn, ws, self._chunk_tokens() if self.blocked else None)
            return self._mlp(_residual(shortcut, self._drop(y, batch), self.fast), batch)
        windows, padded_hw = window_partition(xn, ws)
        if self.blocked:
            y = map_chunks(self.attn, windows, max(1, self._chunk_tokens() // (ws * ws)))
        else:
            y = self.attn(windows)
        if self.q_stride is not None:  # pooling shrank the windows and the map
            ws = ws // self.q_stride[0]
            padded_hw = tuple(n + (-n % ws) for n in shortcut.shape[1:3])
        y = window_unpartition(y, ws, padded_hw, shortcut.shape[1:3])
        return self._mlp(_residual(shortcut, self._drop(y, batch), self.fast), batch)


class Hiera(KernelUser):
    """Hiera trunk: (B, 3, H, W) images -> one (B, C_i, H_i, W_i) map per stage, finest first.

    Stage i has ``embed_dim * dim_mul**i`` channels and stride ``4 * 2**i`` (for the default
    ``q_stride``). H and W must be multiples of :attr:`size_multiple` (32 for every released model).
    """

    def __init__(self, cfg: HieraConfig) -> None:
        super().__init__()
        if len(cfg.stages) != len(cfg.window_spec):
            raise ValueError(f"stages {cfg.stages} and window_spec {cfg.window_spec} must have the same length")
        if not 0 <= cfg.q_pool <= len(cfg.stages) - 1:
            raise ValueError(f"q_pool must be in [0, {len(cfg.stages) - 1}], got {cfg.q_pool}")
        self.cfg = cfg
        self.stage_ends = [sum(cfg.stages[: i + 1]) - 1 for i in range(len(cfg.stages))]
        q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][: cfg.q_pool]
        depth = sum(cfg.stages)

        dim, heads = cfg.embed_dim, cfg.num_heads
        self.patch_embed = PatchEmbed(dim)
        # windowed positional embedding (https://arxiv.org/abs/2311.05613)
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *cfg.window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, dim, cfg.window_spec[0], cfg.window_spec[0]))
        self._pos_cache: dict[tuple, Tensor] = {}

        drop_rates = torch.linspace(0, cfg.drop_path_rate, depth, device="cpu").tolist()  # as the reference
        self.blocks = nn.ModuleList()
        stage = 0
        for i in range(depth):
            # the first block of a stage still uses the previous stage's window (and pools it)
            window = 0 if i in cfg.global_att_blocks else cfg.window_spec[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out = int(dim * cfg.dim_mul)
                heads = int(heads * cfg.head_mul)
                stage += 1
            q_stride = tuple(cfg.q_stride) if i in q_pool_blocks else None
            self.blocks.append(
                MultiScaleBlock(dim, dim_out, heads, cfg.mlp_ratio, drop_rates[i], q_stride, window)
            )
            dim = dim_out

        self.channel_list = [self.blocks[i].dim_out for i in reversed(self.stage_ends)]  # deepest first
        strides = [PATCH_STRIDE * s**cfg.q_pool for s in cfg.q_stride]
        window0 = PATCH_STRIDE * cfg.window_spec[0]
        self.size_multiple = tuple(math.lcm(s, window0) for s in strides)

    def _pos_embed(self, h: int, w: int) -> Tensor:
        """(1, h, w, C) positional embedding: the background interpolated, the window one tiled."""
        params = (self.pos_embed, self.pos_embed_window)
        cacheable = self.fast  # a cached tensor must not carry an autograd graph from call to call
        # no key while tracing for export (no data pointers then): the export traces the plain kernels
        key = (h, w, *((p.data_ptr(), _version(p), p.device, p.dtype) for p in params)) if cacheable else None
        if key is not None and key in self._pos_cache:
            return self._pos_cache[key]
        pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        window = self.pos_embed_window
        pos = pos + window.tile([a // b for a, b in zip(pos.shape, window.shape)])
        pos = pos.permute(0, 2, 3, 1).contiguous()
        if cacheable:
            self._pos_cache.clear()
            self._pos_cache[key] = pos
        return pos

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, 3, H, W) -> per-stage features (B, C_i, H_i, W_i), highest resolution first.

        The features are channels-last in memory (as the reference's are).
        """
        mh, mw = self.size_multiple
        if x.ndim != 4 or x.shape[-2] % mh or x.shape[-1] % mw:
            raise InvalidInputError(
                f"images must be (B, C, H, W) with H a multiple of {mh} and W of {mw}, got {tuple(x.shape)}"
            )
        x = self.patch_embed(x)  # (B, H, W, C)
        b, h, w, _ = x.shape
        grid = TokenGrid(b, h, w)
        x = self._pos_embed(h, w) + x  # this order makes the sum channels-last, like the blocks want
        outputs = []
        for i, block in enumerate(self.blocks):
            x, grid = block(x, grid)
            if i in self.stage_ends:
                outputs.append(to_raster(x, grid)[0].permute(0, 3, 1, 2))
        return outputs


def _version(t: Tensor) -> int:
    """In-place modification counter; tensors made under inference mode have none (and cannot change)."""
    return -1 if t.is_inference() else t._version
