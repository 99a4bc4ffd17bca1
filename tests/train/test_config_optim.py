"""Training config (YAML, overrides) and the optimiser's groups and schedule."""

from __future__ import annotations

import math

import pytest

from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.train.config import TrainConfig, dump_config, load_config
from samstream.train.optim import OptimConfig, build_optimizer, lr_factor, param_groups
from samstream.presets import micro_config


def test_yaml_round_trip_and_overrides(tmp_path):
    cfg = TrainConfig()
    path = tmp_path / "cfg.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
    changed = load_config(path, ["optim.lr=1e-4", "run.steps=7", "augment.crop_scale=[0.3, 0.9]",
                                 "model.weights=sam2.1-tiny", "run.resume=null"])
    assert changed.optim.lr == 1e-4 and changed.run.steps == 7
    assert changed.augment.crop_scale == (0.3, 0.9) and changed.model.weights == "sam2.1-tiny"
    partial = tmp_path / "partial.yaml"
    partial.write_text("run:\n  steps: 3\noptim:\n  lr: 2\n")
    got = load_config(partial)
    assert got.run.steps == 3 and got.optim.lr == 2.0 and got.loss == TrainConfig().loss


@pytest.mark.parametrize("override", ["optim.nope=1", "run.steps=abc", "run.amp=3", "data.format=foo",
                                      "nonsense", "run.steps=0"])
def test_bad_overrides_are_errors(override):
    with pytest.raises(InvalidInputError):
        load_config(None, [override])


def test_layer_decay_groups():
    model = SAM2Model(micro_config(64))
    cfg = OptimConfig(lr=1.0, vision_lr=0.5, layer_decay=0.5, weight_decay=0.1)
    groups = param_groups(model, cfg)
    lr_of = {n: g["base_lr"] for g in groups for n in g["names"]}
    wd_of = {n: g["weight_decay"] for g in groups for n in g["names"]}
    n = len(model.image_encoder.trunk.blocks)  # 4 blocks
    trunk = "image_encoder.trunk."
    for i in range(n):
        assert lr_of[f"{trunk}blocks.{i}.attn.qkv.weight"] == pytest.approx(0.5 * 0.5 ** (n - i))
    assert lr_of[f"{trunk}patch_embed.proj.weight"] == pytest.approx(0.5 * 0.5 ** (n + 1))
    assert lr_of[f"{trunk}pos_embed"] == 0.5  # position embeddings are exempt
    assert lr_of["image_encoder.neck.convs.0.conv.weight"] == 0.5
    assert lr_of["sam_mask_decoder.iou_token.weight"] == 1.0
    assert wd_of[f"{trunk}blocks.0.attn.qkv.bias"] == 0.0
    assert wd_of[f"{trunk}blocks.0.norm1.weight"] == 0.0  # nn.LayerNorm
    assert wd_of[f"{trunk}blocks.0.attn.qkv.weight"] == 0.1
    assert len(lr_of) == sum(1 for p in model.parameters() if p.requires_grad)
    assert build_optimizer(model, cfg).param_groups[0]["lr"] > 0


def test_schedule_warmup_then_cosine():
    cfg = OptimConfig(warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_factor(s, 20, cfg) for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lr_factor(4, 20, cfg) == pytest.approx(1.0)
    mid = 4 + 15 / 2
    assert lr_factor(int(mid), 20, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 15)))
    assert lr_factor(19, 20, cfg) == pytest.approx(0.1)
    assert lr_factor(0, 10, OptimConfig()) == pytest.approx(1.0)  # no warm-up by default
