"""Image encoder: shapes, channel lists, token-order helpers, inference shortcuts, drop path."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from samstream.config import HieraConfig, NeckConfig
from samstream.errors import InvalidInputError
from samstream.model import hiera as hiera_module
from samstream.model.hiera import Hiera, TokenGrid, max_pool, to_raster, to_windows, window_partition
from samstream.model.image_encoder import ImageEncoder, build_image_encoder
from samstream.model.kernels import PLAIN, apply_kernels, current_kernels
from samstream.registry import HIERA_BASE_PLUS, HIERA_LARGE, HIERA_SMALL, HIERA_TINY

# a 2-2-2-1 block trunk with the tiny model's layout (windows, global blocks, pooling, padding at 256)
MINI = HieraConfig(embed_dim=32, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(3,),
                   window_pos_embed_bkg_spatial_size=(7, 7))
NECK = NeckConfig(d_model=64)


def _encoder(cfg: HieraConfig = MINI, seed: int = 0) -> ImageEncoder:
    torch.manual_seed(seed)
    enc = build_image_encoder(cfg, NECK)
    with torch.no_grad():  # no trivial parameters: the zero-initialised positional embeddings included
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return enc.eval()


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return _encoder()


@pytest.mark.parametrize("size", [(256, 256), (512, 512), (256, 384), (160, 224)])
def test_shapes(encoder: ImageEncoder, size: tuple[int, int]) -> None:
    h, w = size
    with torch.inference_mode():
        stages = encoder.trunk(torch.randn(2, 3, h, w))
        feats, pos = encoder(torch.randn(2, 3, h, w))
    assert [tuple(s.shape) for s in stages] == [
        (2, c, h // 2 ** (i + 2), w // 2 ** (i + 2)) for i, c in enumerate(reversed(MINI.channel_list))
    ]
    assert len(feats) == len(pos) == 3  # scalp drops the stride-32 level
    for i, (f, p) in enumerate(zip(feats, pos)):
        assert tuple(f.shape) == tuple(p.shape) == (2, 64, h // 2 ** (i + 2), w // 2 ** (i + 2))
        assert f.dtype == p.dtype == torch.float32
        assert torch.isfinite(f).all()


def test_default_neck_gives_strides_4_8_16_with_256_channels() -> None:
    enc = build_image_encoder(dataclasses.replace(MINI, embed_dim=16), NeckConfig()).eval()
    with torch.inference_mode():
        feats, pos = enc(torch.randn(1, 3, 256, 256))
    assert [tuple(f.shape) for f in feats] == [(1, 256, 64, 64), (1, 256, 32, 32), (1, 256, 16, 16)]
    assert [tuple(p.shape) for p in pos] == [(1, 256, 64, 64), (1, 256, 32, 32), (1, 256, 16, 16)]


@pytest.mark.parametrize("cfg", [HIERA_TINY, HIERA_SMALL, HIERA_BASE_PLUS, HIERA_LARGE], ids=["t", "s", "b+", "l"])
def test_channel_list_and_keys(cfg: HieraConfig) -> None:
    with torch.device("meta"):
        enc = build_image_encoder(cfg, NeckConfig())
    assert enc.trunk.channel_list == list(cfg.channel_list)
    assert enc.neck.backbone_channel_list == list(cfg.channel_list)
    assert len(enc.trunk.blocks) == sum(cfg.stages)
    keys = list(enc.state_dict())
    assert all(k.startswith(("trunk.", "neck.")) for k in keys)
    assert {"trunk.pos_embed", "trunk.pos_embed_window", "trunk.patch_embed.proj.weight",
            "trunk.blocks.0.attn.qkv.weight", "trunk.blocks.0.mlp.layers.1.bias",
            "neck.convs.0.conv.weight", "neck.convs.3.conv.bias"} <= set(keys)
    # the first block of each later stage changes the width and pools
    first = [sum(cfg.stages[:i]) for i in range(1, len(cfg.stages))]
    assert all(f"trunk.blocks.{i}.proj.weight" in keys for i in first)
    assert sum(k.endswith(".proj.weight") and ".attn." not in k and "patch" not in k for k in keys) == len(first)


def test_state_dict_round_trip(encoder: ImageEncoder) -> None:
    other = build_image_encoder(MINI, NECK).eval()
    other.load_state_dict(encoder.state_dict(), strict=True)
    x = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        for a, b in zip(encoder(x)[0], other(x)[0]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_items_are_independent(encoder: ImageEncoder) -> None:
    x = torch.randn(3, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    changed = x.clone()
    changed[1] = torch.randn(3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        together = encoder(x)[0]
        alone = [encoder(x[i : i + 1])[0] for i in range(3)]
        neighbour_changed = encoder(changed)[0]
    # CPU float32 kernels block a batch of 3 differently from a batch of 1: features of size ~2 differ by
    # ~1e-5 between the two. Mixing items would move them by their spread (~0.5), four orders more.
    for level, f in enumerate(together):
        torch.testing.assert_close(f, torch.cat([a[level] for a in alone]), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(neighbour_changed[level][0::2], f[0::2], rtol=1e-4, atol=1e-4)
        assert (neighbour_changed[level][1] - f[1]).abs().max() > 0.1


@pytest.mark.parametrize("size", [(256, 256), (160, 224)])
def test_inference_shortcuts_equal_plain_path(encoder: ImageEncoder, size: tuple[int, int], monkeypatch) -> None:
    """The CPU kernels (chunked, in place) give what the plain path (one piece, out of place) gives."""
    monkeypatch.setattr(hiera_module, "CHUNK_ELEMENTS", 300 * 128)  # many chunks, ragged last ones
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(size[1]))
    with torch.inference_mode():
        fast = encoder(x)[0]
    chosen = current_kernels(encoder)
    assert chosen is not None and chosen.cpu_blocks  # a module built on its own has the CPU's kernels
    apply_kernels(encoder, PLAIN)
    try:
        plain = encoder(x.requires_grad_())[0]
    finally:
        apply_kernels(encoder, chosen)
    for a, b in zip(fast, plain):
        # summation order differs between the paths: compare as the parity tests do, relative to the
        # level's largest value (an element-wise 1e-5 failed on ~1 in 30,000 elements near zero)
        b = b.detach()
        assert (a - b).abs().max() / max(1.0, float(b.abs().max())) <= 1e-5


def test_gradients_flow(encoder: ImageEncoder) -> None:
    enc = _encoder()
    enc.train()
    feats, _ = enc(torch.randn(1, 3, 256, 256))
    sum(f.mean() for f in feats).backward()
    grads = {n: p.grad for n, p in enc.named_parameters()}
    missing = [n for n, g in grads.items() if g is None and not n.startswith("neck.convs.0.")]
    assert not missing  # the stride-32 level feeds the stride-16 one; every trunk parameter is used
    assert enc.trunk.pos_embed.grad.abs().sum() > 0 and enc.trunk.pos_embed_window.grad.abs().sum() > 0


def test_drop_path_inactive_in_eval() -> None:
    cfg = dataclasses.replace(MINI, drop_path_rate=0.5)
    with_drop, without = _encoder(cfg, seed=1), _encoder(MINI, seed=1)
    without.load_state_dict(with_drop.state_dict())
    x = torch.randn(2, 3, 256, 256)
    with torch.inference_mode():
        a, b, c = with_drop(x)[0], with_drop(x)[0], without(x)[0]
    for fa, fb, fc in zip(a, b, c):
        torch.testing.assert_close(fa, fb, rtol=0, atol=0)
        torch.testing.assert_close(fa, fc, rtol=1e-6, atol=1e-6)
    with_drop.train()
    torch.manual_seed(0)
    with torch.no_grad():
        d = with_drop(x)[0]
    assert any(not torch.allclose(fd, fa) for fd, fa in zip(d, a))  # active when training


def test_drop_path_drops_whole_images() -> None:
    """In training, drop path keeps or drops a branch for a whole image, whatever the token order."""
    block = Hiera(dataclasses.replace(MINI, drop_path_rate=0.5)).blocks[-1].train()
    branch = torch.ones(2 * 6, 4, 4, 8)  # 2 images in window order, 6 windows each
    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        out = block._drop(branch, batch=2).view(2, -1)
        assert all(len(row.unique()) == 1 for row in out)  # one decision per image
        seen.add(tuple(row[0].item() for row in out))
    assert len(seen) > 1
    assert block.eval()._drop(branch, batch=2) is branch


def test_positional_embedding_follows_parameter_changes(encoder: ImageEncoder) -> None:
    enc = _encoder()
    x = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        before = enc.trunk(x)[0]
    with torch.no_grad():
        enc.trunk.pos_embed.add_(1.0)  # the cached embedding must not be reused
    with torch.inference_mode():
        after = enc.trunk(x)[0]
    assert not torch.allclose(before, after)


def test_positional_embedding_is_bicubic_plus_tiled_window() -> None:
    enc = _encoder()
    trunk = enc.trunk
    with torch.no_grad():
        pos = trunk._pos_embed(64, 32)
    want = F.interpolate(trunk.pos_embed, size=(64, 32), mode="bicubic") + trunk.pos_embed_window.repeat(1, 1, 8, 4)
    torch.testing.assert_close(pos, want.permute(0, 2, 3, 1), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(1, 3, 250, 256), (1, 3, 256, 100), (3, 256, 256)])
def test_bad_sizes_are_rejected(encoder: ImageEncoder, shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInputError, match="images"):
        encoder(torch.randn(*shape))


def test_trunk_size_multiple() -> None:
    with torch.device("meta"):
        assert Hiera(HIERA_TINY).size_multiple == (32, 32)
        assert Hiera(HIERA_LARGE).size_multiple == (32, 32)


def test_bad_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="window_spec"):
        Hiera(dataclasses.replace(MINI, window_spec=(8, 4, 14)))
    with pytest.raises(ValueError, match="q_pool"):
        Hiera(dataclasses.replace(MINI, q_pool=4))


# ------------------------------------------------------------------ token-order helpers
def test_window_order_round_trip() -> None:
    x = torch.randn(2, 12, 8, 5)
    grid = TokenGrid(2, 12, 8)
    windows, wgrid = to_windows(x, grid, 4)
    reference, padded = window_partition(x, 4)
    assert padded == (12, 8) and wgrid.window == 4 and wgrid.groups_per_image == 6
    torch.testing.assert_close(windows, reference, rtol=0, atol=0)
    other, ograd = to_windows(windows, wgrid, 2)  # window size change goes through raster order
    torch.testing.assert_close(other, window_partition(x, 2)[0], rtol=0, atol=0)
    back, rgrid = to_raster(other, ograd)
    assert rgrid.window == 0
    torch.testing.assert_close(back, x, rtol=0, atol=0)


def test_window_partition_pads() -> None:
    windows, padded = window_partition(torch.ones(1, 5, 7, 2), 4)
    assert padded == (8, 8) and windows.shape == (4, 4, 4, 2)
    assert windows.sum() == 5 * 7 * 2


@pytest.mark.parametrize("stride", [(2, 2), (3, 3), (2, 1)])
def test_max_pool_equals_torch(stride: tuple[int, int]) -> None:
    x = torch.randn(3, 9, 8, 12)[..., ::2]  # strided, like a slice of the qkv output
    want = F.max_pool2d(x.permute(0, 3, 1, 2), stride, stride).permute(0, 2, 3, 1)
    torch.testing.assert_close(max_pool(x, stride), want, rtol=0, atol=0)


def test_model_loaded_under_inference_mode_runs(tmp_path) -> None:
    """Weights created inside inference mode have no version counter; the encoder's caches cope."""
    from samstream.checkpoints import build_model, load_model, save_checkpoint
    from samstream.presets import micro_config

    path = tmp_path / "m.pt"
    save_checkpoint(build_model(micro_config(64), device="cpu", seed=0), path)
    with torch.inference_mode():
        model = load_model(path, device="cpu")
        first = model.encode_image(torch.zeros(1, 3, 64, 64)).embed
        again = model.encode_image(torch.zeros(1, 3, 64, 64)).embed
    assert torch.equal(first, again)
