"""compat.SAM2VideoPredictor: settings assigned on the predictor take effect; counts as the official ones."""

from __future__ import annotations

import numpy as np
import pytest

from samstream.checkpoints import build_model
from samstream.compat import SAM2VideoPredictor, build_sam2, build_sam2_video_predictor
from samstream.errors import InvalidInputError
from samstream.presets import micro_config


@pytest.fixture(scope="module")
def predictor() -> SAM2VideoPredictor:
    return SAM2VideoPredictor(build_model(micro_config(64), device="cpu", seed=0))


def _video(frames: int = 5) -> np.ndarray:
    return (np.random.default_rng(0).random((frames, 40, 56, 3)) * 255).astype(np.uint8)


def test_assigned_settings_reach_open_states(predictor) -> None:
    state = predictor.init_state(_video())
    assert predictor.fill_hole_area == 0 and predictor.non_overlap_masks is False
    predictor.fill_hole_area = 5
    predictor.non_overlap_masks = True
    predictor.binarize_mask_from_pts_for_mem_enc = True
    predictor.max_cond_frames_in_attn = 3  # a tracking policy of the official base class
    opts = state.session.options
    assert (opts.fill_hole_area, opts.non_overlap_masks, opts.binarize_mask_from_pts) == (5, True, True)
    assert opts.tracking.max_cond_frames_in_attn == 3 and predictor.max_cond_frames_in_attn == 3
    assert state.session.tracker.engine.opts.fill_hole_area == 5  # what the next call reads
    later = predictor.init_state(_video())
    assert later.session.options.fill_hole_area == 5
    with pytest.raises(InvalidInputError, match="fill_hole_area: expected int"):
        predictor.fill_hole_area = "big"
    predictor.fill_hole_area = 0
    predictor.non_overlap_masks = False


def test_settings_fixed_by_the_checkpoint_raise(predictor) -> None:
    assert predictor.num_maskmem == 7
    with pytest.raises(InvalidInputError, match="num_maskmem: fixed by the model"):
        predictor.num_maskmem = 3
    predictor.some_user_attribute = 1  # anything else is an ordinary attribute
    assert predictor.some_user_attribute == 1


def test_non_overlap_assignment_changes_the_output(predictor) -> None:
    state = predictor.init_state(_video())
    predictor.add_new_points_or_box(state, 0, 1, points=[[20, 20]], labels=[1])
    _, _, both = predictor.add_new_points_or_box(state, 0, 2, points=[[22, 21]], labels=[1])
    predictor.non_overlap_masks = True
    try:
        _, _, apart = predictor.add_new_points_or_box(state, 0, 2, points=[[22, 21]], labels=[1])
    finally:
        predictor.non_overlap_masks = False
    assert ((both[0, 0] > 0) & (both[1, 0] > 0)).any()  # without the setting the two objects overlap
    assert not ((apart[0, 0] > 0) & (apart[1, 0] > 0)).any()


def test_max_frame_num_to_track_keeps_the_official_count(predictor) -> None:
    state = predictor.init_state(_video())
    predictor.add_new_points_or_box(state, 1, 1, points=[[20, 20]], labels=[1])
    assert [f for f, _, _ in predictor.propagate_in_video(state, max_frame_num_to_track=2)] == [1, 2, 3]
    assert [f for f, _, _ in predictor.propagate_in_video(state, 3, 1, reverse=True)] == [3, 2]
    assert [f for f, _, _ in predictor.propagate_in_video(state, 0, reverse=True)] == []  # as the official


def test_vos_optimized_is_accepted_with_a_warning(tmp_path) -> None:
    with pytest.warns(UserWarning, match="vos_optimized"):
        build_sam2("sam2.1_hiera_t", device="cpu", vos_optimized=True,
                   hydra_overrides_extra=["++model.image_size=64"])
    with pytest.warns(UserWarning, match="vos_optimized"):
        pred = build_sam2_video_predictor("sam2.1_hiera_t", device="cpu", vos_optimized=True,
                                          hydra_overrides_extra=["++model.image_size=64"])
    assert isinstance(pred, SAM2VideoPredictor)
    with pytest.raises(InvalidInputError, match="vos_optimized"):
        build_sam2("sam2.1_hiera_t", device="cpu", vos_optimized="yes")


def test_compat_is_a_package_without_a_circle() -> None:
    import samstream.compat as compat
    from samstream.compat import (SAM2AutomaticMaskGenerator, SAM2ImagePredictor,  # noqa: F401
                                  build_sam2_video_predictor)

    assert compat.__path__ and not hasattr(compat, "__getattr__")
