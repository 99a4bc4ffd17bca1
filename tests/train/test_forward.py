"""The training forward pass: it tracks as the video predictor does; checkpointing, freezing, images."""

from __future__ import annotations

import numpy as np
import torch

from samstream.model.sam2 import SAM2Model
from samstream.train.clips import ClipBatch, normalise
from samstream.train.forward import ClipForward
from samstream.presets import micro_config
from samstream.train.prompts import PromptConfig, PromptPlan, sample_clicks
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.video.predictor import VideoPredictor

SIZE = 64


def _model() -> SAM2Model:
    torch.manual_seed(0)
    model = SAM2Model(micro_config(SIZE)).eval()
    with torch.no_grad():  # objects predicted present, so masks are not all "no object"
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(5.0)
    return model


def _best(step) -> torch.Tensor:
    """The candidate the tracker keeps (highest predicted IoU): (N, H, W)."""
    best = step.ious.argmax(dim=1)
    return step.masks[torch.arange(step.masks.shape[0]), best]


def test_training_forward_matches_video_predictor():
    clip = generate_clip(3, SyntheticConfig(size=SIZE, num_frames=5, min_objects=2, max_objects=2))
    images = normalise(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0)
    masks = torch.from_numpy(clip.masks)  # (T, 2, S, S)
    batch = ClipBatch(images.unsqueeze(1), masks, torch.zeros(2, dtype=torch.long))
    # one click per object on frame 0 (no corrections), then tracking through memory
    plan = PromptPlan(num_frames=5, use_points=True, init_cond_frames=[0], frames_to_correct=[],
                      use_box={0: False})
    model = _model()
    with torch.no_grad():
        steps = ClipForward(model, PromptConfig()).run_clip(batch, plan, torch.Generator().manual_seed(0))
    coords, labels = sample_clicks(masks[0], None, torch.Generator().manual_seed(0))  # the same clicks

    predictor = VideoPredictor(model, fill_hole_area=0, binarize_mask_from_pts=False, memory_dtype=torch.float32)
    with predictor.open(clip.frames) as session:
        for k in range(2):
            session.add_points(frame=0, obj_id=k + 1, points=coords[k].numpy(), labels=labels[k].numpy())
        results = {r.frame_idx: r.logits for r in session.propagate()}
    assert sorted(results) == list(range(5))
    for t in range(5):
        ours = _best(steps[t][-1])
        ref = results[t].reshape(ours.shape)
        assert (ours - ref).abs().max().item() <= 1e-4 * max(1.0, ref.abs().max().item()), t
        assert np.array_equal((ours > 0).numpy(), (ref > 0).numpy())


def _loss_and_grads(**options) -> tuple[float, dict]:
    clip = generate_clip(4, SyntheticConfig(size=SIZE, num_frames=3, min_objects=1, max_objects=1))
    images = normalise(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0)
    batch = ClipBatch(images.unsqueeze(1), torch.from_numpy(clip.masks), torch.zeros(1, dtype=torch.long))
    plan = PromptPlan(num_frames=3, use_points=True, init_cond_frames=[0], frames_to_correct=[0, 2],
                      use_box={0: False})
    model = _model().train()
    forward = ClipForward(model, PromptConfig(num_correction_points=2), **options)
    terms = forward(batch, plan, torch.Generator().manual_seed(0))
    terms.total.backward()
    return terms.total.item(), {n: p.grad for n, p in model.named_parameters()}


def test_activation_checkpointing_and_frozen_encoder():
    loss, grads = _loss_and_grads()
    loss_ckpt, grads_ckpt = _loss_and_grads(activation_checkpointing=True)
    assert loss_ckpt == loss
    for name, g in grads.items():
        if g is not None:
            assert torch.allclose(grads_ckpt[name], g, rtol=1e-5, atol=1e-7), name
    assert grads["image_encoder.trunk.blocks.0.attn.qkv.weight"] is not None
    loss_frozen, grads_frozen = _loss_and_grads(freeze_encoder=True)
    assert loss_frozen == loss  # the same function, only without encoder gradients
    assert all(g is None for n, g in grads_frozen.items() if n.startswith("image_encoder."))
    assert grads_frozen["sam_mask_decoder.conv_s0.weight"] is not None  # projections still train


def test_one_frame_clip_is_an_image_with_iterative_correction():
    from samstream.train.prompts import plan_prompts

    clip = generate_clip(5, SyntheticConfig(size=SIZE, num_frames=1, min_objects=2, max_objects=2))
    images = normalise(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0)
    batch = ClipBatch(images.unsqueeze(1), torch.from_numpy(clip.masks), torch.zeros(2, dtype=torch.long))
    gen = torch.Generator().manual_seed(0)
    plan = plan_prompts(1, PromptConfig(prob_points=0.0, prob_box=0.0, num_correction_points=3), gen)
    assert plan.use_points and plan.frames_to_correct == [0]
    steps = ClipForward(_model(), PromptConfig(num_correction_points=3)).run_clip(batch, plan, gen)
    assert len(steps) == 1 and len(steps[0]) == 4  # first click + 3 corrections
    assert [s.masks.shape[1] for s in steps[0]] == [3, 1, 1, 1]  # multi-mask only for the single click


def test_bfloat16_autocast_runs_and_gives_float32_losses():
    # the CUDA path trains under bfloat16 autocast; the same dtype flow is checked here on the CPU
    clip = generate_clip(4, SyntheticConfig(size=SIZE, num_frames=3, min_objects=2, max_objects=2))
    images = normalise(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0)
    batch = ClipBatch(images.unsqueeze(1), torch.from_numpy(clip.masks), torch.zeros(2, dtype=torch.long))
    for plan in (PromptPlan(3, True, [0], [0, 2], {0: True}), PromptPlan(3, False, [0, 2], [])):
        model = _model().train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            terms = ClipForward(model, PromptConfig(num_correction_points=2))(
                batch, plan, torch.Generator().manual_seed(0))
        assert terms.total.dtype == torch.float32 and torch.isfinite(terms.total)
        terms.total.backward()
        assert model.sam_mask_decoder.iou_token.weight.grad is not None
