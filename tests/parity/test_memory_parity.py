"""Memory attention and memory encoder against the reference modules (random weights)."""

from __future__ import annotations

import pytest
import torch

from samstream.config import MemoryConfig
from samstream.model.memory_attention import MemoryAttention
from samstream.model.memory_encoder import MemoryEncoder

from .conftest import build_reference, perturb_constants_, rel_diff

pytestmark = pytest.mark.parity

TOL = 1e-5
D_MODEL, MEM_DIM = 256, 64


def _randomize_(module: torch.nn.Module, seed: int) -> None:
    """Constant parameters get noise, and every parameter a further shift of its own spread.

    Cloned layers start identical; this makes them differ so that a mix-up of layers shows.
    """
    perturb_constants_(module, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            p.add_(torch.randn(p.shape, generator=gen) * 0.5 * float(p.std()))


def _load_strict(ref: torch.nn.Module, ours: torch.nn.Module) -> None:
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert sorted(ref_sd) == sorted(our_sd)
    assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)
    ours.load_state_dict(ref_sd, strict=True)


def _reference_memory_attention() -> torch.nn.Module:
    from sam2.modeling.memory_attention import MemoryAttention as RefAttention
    from sam2.modeling.memory_attention import MemoryAttentionLayer
    from sam2.modeling.sam.transformer import RoPEAttention

    common = dict(embedding_dim=D_MODEL, num_heads=1, downsample_rate=1, dropout=0.1, rope_theta=10000.0,
                  feat_sizes=(64, 64))
    layer = MemoryAttentionLayer(
        activation="relu", d_model=D_MODEL, dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False,
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        self_attention=RoPEAttention(**common),
        cross_attention=RoPEAttention(**common, rope_k_repeat=True, kv_in_dim=MEM_DIM),
    )
    return RefAttention(d_model=D_MODEL, pos_enc_at_input=True, layer=layer, num_layers=4)


def _reference_memory_encoder() -> torch.nn.Module:
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler
    from sam2.modeling.memory_encoder import MemoryEncoder as RefEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    return RefEncoder(
        out_dim=MEM_DIM,
        mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),
        fuser=Fuser(CXBlock(dim=D_MODEL, kernel_size=7, padding=3, layer_scale_init_value=1e-6,
                            use_dwconv=True), num_layers=2),
        position_encoding=PositionEmbeddingSine(num_pos_feats=MEM_DIM, normalize=True, scale=None,
                                                temperature=10000),
        in_dim=D_MODEL,
    )


@pytest.fixture(scope="module")
def attention_pair() -> tuple[torch.nn.Module, MemoryAttention]:
    torch.manual_seed(0)
    ref = _reference_memory_attention()
    _randomize_(ref, 0)
    ours = MemoryAttention(D_MODEL, MemoryConfig())
    _load_strict(ref, ours)
    return ref.eval(), ours.eval()


@pytest.fixture(scope="module")
def encoder_pair() -> tuple[torch.nn.Module, MemoryEncoder]:
    torch.manual_seed(1)
    ref = _reference_memory_encoder()
    _randomize_(ref, 1)
    ours = MemoryEncoder(D_MODEL, MemoryConfig())
    _load_strict(ref, ours)
    return ref.eval(), ours.eval()


def test_keys_match_official_config() -> None:
    """The hand-built references above hold the same parameters as the model an official config builds."""
    full = build_reference("configs/sam2.1/sam2.1_hiera_t.yaml", image_size=256).state_dict()
    torch.manual_seed(0)
    for prefix, ours in (("memory_attention.", MemoryAttention(D_MODEL, MemoryConfig())),
                         ("memory_encoder.", MemoryEncoder(D_MODEL, MemoryConfig()))):
        ref_shapes = {k[len(prefix):]: v.shape for k, v in full.items() if k.startswith(prefix)}
        our_shapes = {k: v.shape for k, v in ours.state_dict().items()}
        assert ref_shapes == our_shapes


def _memory_inputs(side: int, batch: int, frames: int, pointers: int, seed: int):
    """Frame tokens, memory frames and object pointers split into mem_dim tokens as the model does."""
    gen = torch.Generator().manual_seed(seed)
    length = side * side
    curr = torch.randn(length, batch, D_MODEL, generator=gen)
    curr_pos = torch.randn(length, batch, D_MODEL, generator=gen)
    spatial = torch.randn(frames * length, batch, MEM_DIM, generator=gen)
    spatial_pos = torch.randn(frames * length, batch, MEM_DIM, generator=gen)
    split = D_MODEL // MEM_DIM
    ptrs = torch.randn(pointers, batch, D_MODEL, generator=gen)
    ptrs = ptrs.reshape(pointers, batch, split, MEM_DIM).permute(0, 2, 1, 3).flatten(0, 1)  # (P*split, B, 64)
    ptr_pos = torch.randn(pointers, batch, MEM_DIM, generator=gen).repeat_interleave(split, dim=0)
    memory = torch.cat([spatial, ptrs])
    memory_pos = torch.cat([spatial_pos, ptr_pos])
    return curr, curr_pos, memory, memory_pos, pointers * split


@pytest.mark.parametrize(
    ("side", "batch", "frames", "pointers"),
    [
        (16, 1, 2, 1),
        (16, 3, 2, 1),
        (16, 2, 1, 0),
        (32, 1, 2, 1),
        pytest.param(32, 3, 3, 2, marks=pytest.mark.slow),
        pytest.param(64, 1, 2, 1, marks=pytest.mark.slow),  # the 1024-pixel grid
    ],
)
@torch.no_grad()
def test_memory_attention_matches(attention_pair, side: int, batch: int, frames: int, pointers: int) -> None:
    ref, ours = attention_pair
    curr, curr_pos, memory, memory_pos, num_ptr = _memory_inputs(side, batch, frames, pointers, seed=side + batch)
    expected = ref(curr=[curr], curr_pos=[curr_pos], memory=memory, memory_pos=memory_pos,
                   num_obj_ptr_tokens=num_ptr)
    got = ours(curr, curr_pos, memory, memory_pos, num_ptr)
    assert got.shape == expected.shape
    assert rel_diff(expected, got) <= TOL


@pytest.mark.parametrize("image_size", [256, 512])
@pytest.mark.parametrize("skip_mask_sigmoid", [False, True])
@torch.no_grad()
def test_memory_encoder_matches(encoder_pair, image_size: int, skip_mask_sigmoid: bool) -> None:
    ref, ours = encoder_pair
    gen = torch.Generator().manual_seed(image_size)
    side = image_size // 16
    feats = torch.randn(2, D_MODEL, side, side, generator=gen)
    masks = 5 * torch.randn(2, 1, image_size, image_size, generator=gen)
    if skip_mask_sigmoid:  # as the model feeds it: scaled and shifted probabilities
        masks = torch.sigmoid(masks) * 20.0 - 10.0
    expected = ref(feats, masks, skip_mask_sigmoid=skip_mask_sigmoid)
    got_feats, got_pos = ours(feats, masks, skip_mask_sigmoid=skip_mask_sigmoid)
    assert rel_diff(expected["vision_features"], got_feats) <= TOL
    assert rel_diff(expected["vision_pos_enc"][0], got_pos) <= TOL
