"""The video predictor against the reference's SAM2VideoPredictor (random weights through a checkpoint)."""

from __future__ import annotations

import math

import pytest
import torch

from samstream.compat import build_sam2_video_predictor

from .conftest import build_reference, masks_agree, rel_diff, save_reference
from .video_scenarios import full_session, make_video

pytestmark = pytest.mark.parity

NO_POSTPROCESS = [  # fill_hole_area=0: the reference's PyPI build skips hole filling anyway
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=0",
]


class _Float32Memory:
    """Stands in for ``torch`` inside the reference predictor so that memories stay float32."""

    def __getattr__(self, name: str):
        return torch.float32 if name == "bfloat16" else getattr(torch, name)


@pytest.fixture
def float32_reference_memory(monkeypatch):
    import sam2.sam2_video_predictor as ref_module

    monkeypatch.setattr(ref_module, "torch", _Float32Memory())


def _pair(config: str, size: int, tmp_path, seed: int = 0):
    ref = build_reference(config, image_size=size, seed=seed, video=True, postprocessing=False,
                          overrides=NO_POSTPROCESS)
    path = save_reference(ref, tmp_path / "model.pt")
    ours = build_sam2_video_predictor(config, str(path), device="cpu", apply_postprocessing=False,
                                      hydra_overrides_extra=[*NO_POSTPROCESS, f"++model.image_size={size}"],
                                      memory_dtype=torch.float32)
    return ref, ours


def _center_object_scores(ref, ours, video: str, gain: float = 1000.0) -> None:
    """Rescale the object-score head so that tracked frames score around zero, on both models.

    With random weights every object is judged present on every frame; centring the scores of a
    first forward pass at zero (and amplifying their spread) makes some frames take the occluded
    branch and others the present one.
    """
    state = ours.init_state(video)
    ours.add_new_points_or_box(state, 0, 1, points=[[30.0, 40.0]], labels=[1])
    ours.add_new_points_or_box(state, 0, 2, box=[85.0, 14.0, 115.0, 36.0])
    scores = [float(s) for r in state.session.propagate() for s in r.object_scores]
    center = float(torch.tensor(scores).median())
    for model in (ref, ours.model):
        last = model.sam_mask_decoder.pred_obj_score_head.layers[-1]
        with torch.no_grad():
            last.weight.mul_(gain)
            last.bias.sub_(center).mul_(gain)


def _compare_logs(ref_log: list, our_log: list) -> dict:
    assert [(t, f, ids) for t, f, ids, _ in ref_log] == [(t, f, ids) for t, f, ids, _ in our_log]
    worst = 0.0
    for (tag, frame, _, r), (_, _, _, o) in zip(ref_log, our_log):
        assert r.shape == o.shape, (tag, frame)
        if r.numel():
            d = rel_diff(r, o)
            worst = max(worst, d)
            assert d <= 1e-5, (tag, frame, d)
            assert masks_agree(r, o), (tag, frame)
    return {"worst": worst}


@pytest.mark.parametrize("config", ["configs/sam2.1/sam2.1_hiera_t.yaml", "configs/sam2/sam2_hiera_t.yaml"])
def test_full_session_matches_reference(config: str, tmp_path, float32_reference_memory) -> None:
    video = str(make_video(tmp_path / "frames"))
    ref, ours = _pair(config, 256, tmp_path)
    _center_object_scores(ref, ours, video)
    with torch.inference_mode():
        ref_log = full_session(ref, video)
    our_log = full_session(ours, video)
    stats = _compare_logs(ref_log, our_log)
    # both branches of the occlusion head were taken: objects judged absent (all logits -1024) and present
    tracked = [m for tag, _, _, m in our_log if tag in ("forward", "re-forward", "reverse") and m.numel()]
    peaks = torch.cat([m.amax(dim=(1, 2, 3)) for m in tracked])
    assert (peaks == -1024.0).any() and (peaks > 0).any(), peaks
    print(f"{config}: {len(our_log)} outputs compared, worst relative difference {stats['worst']:.2e}")


def test_corrections_kept_as_prompted_frames_match_reference(tmp_path, float32_reference_memory) -> None:
    """samstream's default for corrections is the reference's ``add_all_frames_to_correct_as_cond``:
    the session's correction on a tracked frame becomes a conditioning frame on both sides."""
    video = str(make_video(tmp_path / "frames"))
    ref, ours = _pair("configs/sam2.1/sam2.1_hiera_t.yaml", 256, tmp_path)
    _center_object_scores(ref, ours, video)
    for predictor in (ref, ours):
        predictor.add_all_frames_to_correct_as_cond = True
    with torch.inference_mode():
        ref_log = full_session(ref, video)
    our_log = full_session(ours, video)
    stats = _compare_logs(ref_log, our_log)
    print(f"corrections as prompted frames: {len(our_log)} outputs compared, worst {stats['worst']:.2e}")


def short_session(predictor, video: str) -> list:
    """A click and a box on frame 0, a mask on frame 1, forward tracking to the end."""
    from .video_scenarios import _propagate, _record, blue_mask

    log: list = []
    state = predictor.init_state(video)
    _record(log, "points", predictor.add_new_points_or_box(state, 0, 1, points=[[30.0, 40.0]], labels=[1]))
    _record(log, "box", predictor.add_new_points_or_box(state, 0, 2, box=[85.0, 14.0, 115.0, 36.0]))
    _record(log, "mask", predictor.add_new_mask(state, 1, 3, blue_mask()))
    _propagate(log, "forward", predictor, state)
    return log


@pytest.mark.slow
def test_short_session_at_full_input_size(tmp_path, float32_reference_memory) -> None:
    """The one case at the released input size (1024): memory attention over 64 x 64 tokens."""
    video = str(make_video(tmp_path / "frames", frames=4))
    ref, ours = _pair("configs/sam2.1/sam2.1_hiera_t.yaml", 1024, tmp_path)
    with torch.inference_mode():
        ref_log = short_session(ref, video)
    our_log = short_session(ours, video)
    assert len(our_log) == 3 + 4
    stats = _compare_logs(ref_log, our_log)
    print(f"1024 input: {len(our_log)} outputs compared, worst relative difference {stats['worst']:.2e}")
