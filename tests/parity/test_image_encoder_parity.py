"""Image encoder (Hiera trunk + FPN neck) against the reference modules, same random weights."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from samstream.config import HieraConfig, NeckConfig
from samstream.model.image_encoder import ImageEncoder, build_image_encoder
from samstream.model.kernels import PLAIN, apply_kernels, current_kernels
from samstream.registry import HIERA_BASE_PLUS, HIERA_LARGE, HIERA_SMALL, HIERA_TINY

from .conftest import rel_diff

pytestmark = pytest.mark.parity

TOL = 1e-5
TRUNKS = {"tiny": HIERA_TINY, "small": HIERA_SMALL, "base+": HIERA_BASE_PLUS, "large": HIERA_LARGE}


def _randomize_(module: torch.nn.Module, seed: int) -> None:
    """Random weights without a trivial value anywhere: weights ~ N(0, 1/fan_in), norm scales ~ 1 ± 0.1,
    biases ~ N(0, 0.1), and positional embeddings ~ N(0, 0.5) so that they weigh as much as the
    patch embedding (the reference initialises them to zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "pos_embed" in name:
                p.copy_(noise * 0.5)
            elif p.ndim >= 2:
                p.copy_(noise / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def _reference(cfg: HieraConfig, seed: int) -> torch.nn.Module:
    """The reference ImageEncoder as the official configs build it, random non-trivial weights.

    Built without the default initialisation (slow for the large trunk) and filled by :func:`_randomize_`.
    """
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck
    from sam2.modeling.backbones.image_encoder import ImageEncoder as RefEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    with (
        mock.patch.object(torch.nn.Linear, "reset_parameters", lambda self: None),
        mock.patch.object(torch.nn.modules.conv._ConvNd, "reset_parameters", lambda self: None),
    ):
        trunk = Hiera(
            embed_dim=cfg.embed_dim,
            num_heads=cfg.num_heads,
            stages=cfg.stages,
            global_att_blocks=cfg.global_att_blocks,
            window_spec=cfg.window_spec,
            window_pos_embed_bkg_spatial_size=cfg.window_pos_embed_bkg_spatial_size,
        )
        neck = FpnNeck(
            position_encoding=PositionEmbeddingSine(num_pos_feats=256, normalize=True, scale=None, temperature=10000),
            d_model=256,
            backbone_channel_list=trunk.channel_list,
            fpn_top_down_levels=[2, 3],
            fpn_interp_model="nearest",
        )
        ref = RefEncoder(trunk, neck, scalp=1)
    _randomize_(ref, seed)
    return ref.eval()


def _pair(name: str, seed: int = 0) -> tuple[torch.nn.Module, ImageEncoder]:
    ref = _reference(TRUNKS[name], seed)
    with torch.device("meta"):  # its parameters come from the reference's state dict
        ours = build_image_encoder(TRUNKS[name], NeckConfig()).eval()
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(ref_sd) == list(our_sd)
    assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)
    ours.load_state_dict(ref_sd, strict=True, assign=True)  # shares the reference's tensors
    assert ours.trunk.channel_list == ref.trunk.channel_list == list(TRUNKS[name].channel_list)
    return ref, ours


@pytest.fixture(scope="module")
def pairs() -> dict:
    cache: dict = {}

    def get(name: str) -> tuple[torch.nn.Module, ImageEncoder]:
        if name not in cache:
            cache[name] = _pair(name)
        return cache[name]

    return get  # type: ignore[return-value]


def _compare(ref: torch.nn.Module, ours: ImageEncoder, images: torch.Tensor, trunk: bool = False) -> None:
    want = ref(images)
    feats, pos = ours(images)
    assert len(feats) == len(pos) == len(want["backbone_fpn"]) == 3
    for level, (r, o) in enumerate(zip(want["backbone_fpn"], feats)):
        assert o.shape == r.shape and o.dtype == r.dtype
        assert rel_diff(r, o) <= TOL, f"features of level {level}: {rel_diff(r, o)}"
    for level, (r, o) in enumerate(zip(want["vision_pos_enc"], pos)):
        assert rel_diff(r, o) <= TOL, f"position encoding of level {level}: {rel_diff(r, o)}"
    if not trunk:
        return
    # the trunk alone, stage by stage (the neck drops the deepest one)
    for stage, (r, o) in enumerate(zip(ref.trunk(images), ours.trunk(images))):
        assert rel_diff(r, o) <= TOL, f"trunk stage {stage}: {rel_diff(r, o)}"


CASES = [
    ("tiny", 256, 1),
    ("tiny", 512, 1),
    ("tiny", 256, 2),  # a batch: window order and per-image global attention
    ("small", 256, 1),
    ("small", 512, 1),
    ("base+", 256, 1),
    ("large", 256, 1),
    ("tiny", 1024, 1),
]
SLOW_CASES = [("small", 1024, 1), ("base+", 512, 1), ("base+", 1024, 1), ("large", 512, 1), ("large", 1024, 1)]


def _run_case(pairs, name: str, size: int, batch: int) -> None:
    ref, ours = pairs(name)
    images = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(size + batch))
    with torch.inference_mode():
        _compare(ref, ours, images, trunk=size == 256)


@pytest.mark.parametrize(("name", "size", "batch"), CASES)
def test_encoder_matches_reference(pairs, name: str, size: int, batch: int) -> None:
    _run_case(pairs, name, size, batch)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size", "batch"), SLOW_CASES)
def test_encoder_matches_reference_large_inputs(pairs, name: str, size: int, batch: int) -> None:
    _run_case(pairs, name, size, batch)


def test_non_square_input_matches_reference(pairs) -> None:
    ref, ours = pairs("tiny")
    images = torch.randn(1, 3, 256, 384, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        _compare(ref, ours, images, trunk=True)


def test_autograd_path_matches_reference(pairs) -> None:
    """With the plain kernels (training's), no chunking and no in-place ops; results and input gradients agree."""
    ref, ours = pairs("tiny")
    chosen = current_kernels(ours)
    apply_kernels(ours, PLAIN)  # eval mode keeps the inference kernels unless told otherwise
    try:
        _autograd_case(ref, ours)
    finally:
        apply_kernels(ours, chosen)


def _autograd_case(ref: torch.nn.Module, ours: ImageEncoder) -> None:
    images = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(7))
    x_ref, x_ours = images.clone().requires_grad_(), images.clone().requires_grad_()
    want = ref(x_ref)["backbone_fpn"]
    got = ours(x_ours)[0]
    for r, o in zip(want, got):
        assert rel_diff(r.detach(), o.detach()) <= TOL
    sum(f.square().mean() for f in want).backward()
    sum(f.square().mean() for f in got).backward()
    assert rel_diff(x_ref.grad, x_ours.grad) <= 1e-4 * max(1.0, float(x_ref.grad.abs().max()))
