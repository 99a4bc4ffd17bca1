"""Every registered variant: builds, matches the official layout and parameter count, loads, runs."""

from __future__ import annotations

import pytest
import torch

from samstream.checkpoints import build_model, infer_config, load_state_dict_strict
from samstream.registry import VARIANTS, get_variant

NAMES = sorted(VARIANTS)
RELEASED = [n for n in NAMES if not VARIANTS[n].bundled]  # layouts of an official config


@pytest.fixture(scope="module")
def reference_layouts():
    """Keys and shapes of the reference model for each official config (built once, on the meta device)."""
    pytest.importorskip("sam2")
    from sam2.build_sam import build_sam2

    layouts = {}
    for name in RELEASED:
        ref = build_sam2(get_variant(name).official_config, None, device="cpu")
        layouts[name] = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        del ref
    return layouts


@pytest.mark.parametrize("name", RELEASED)
def test_layout_equals_reference(name: str, reference_layouts) -> None:
    with torch.device("meta"):
        model = build_model(name, device="meta")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == reference_layouts[name]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_published(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name, device="meta")
    count = sum(p.numel() for p in model.parameters())
    published = get_variant(name).num_params  # e.g. 38.9M: the published figures are truncated to 0.1M
    assert published <= count < published + 0.1e6, f"{name}: {count / 1e6:.3f}M vs published {published / 1e6:.1f}M"


@pytest.mark.parametrize("name", NAMES)
def test_builds_loads_own_weights_and_runs(name: str) -> None:
    cfg = get_variant(name).config.with_image_size(256)
    model = build_model(cfg, device="cpu", seed=0)
    sd = model.state_dict()
    assert infer_config(sd).hiera == cfg.hiera and infer_config(sd).memory == cfg.memory
    clone = build_model(cfg, device="cpu", seed=1)
    load_state_dict_strict(clone, sd)
    images = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        feats = model.encode_image(images)
        again = clone.encode_image(images)
        d = cfg.hidden_dim  # 256 in every released model
        assert feats.embed.shape == (1, d, 16, 16)
        assert feats.high_res[0].shape == (1, d // 8, 64, 64) and feats.high_res[1].shape == (1, d // 4, 32, 32)
        assert torch.equal(feats.embed, again.embed)
        pts = (torch.tensor([[[100.0, 120.0]]]), torch.tensor([[1]], dtype=torch.int32))
        masks, iou, tokens, obj = model.decode(model.prompt_ready_embed(feats), feats.high_res, pts, None, True)
    assert masks.shape == (1, 3, 64, 64) and iou.shape == (1, 3) and obj.shape == (1, 1)
    assert torch.isfinite(masks).all()
