"""Automatic masklets through a video: discovery on key frames, backward tracking, merging, closing,
bounded state. A generator that returns the exact ground truth stands in for the mask generator where
the claim is about the algorithm (when masklets start, merge, close), not about mask quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream.amg.video import VideoMaskGenerator
from samstream.checkpoints import build_model, load_model
from samstream.presets import micro_config
from tests.data.synth import moving_objects


class Oracle:
    """Returns the ground-truth masks of the frame it is shown (found by its pixels), ``repeat`` times each."""

    def __init__(self, frames: np.ndarray, masks: np.ndarray, repeat: int = 1, only_first: bool = False) -> None:
        self.frames, self.masks, self.repeat, self.only_first = frames, masks, repeat, only_first
        self.calls: list[int] = []

    def generate(self, image: np.ndarray) -> list[dict]:
        t = next(i for i, f in enumerate(self.frames) if np.array_equal(f, image))
        self.calls.append(t)
        if self.only_first and len(self.calls) > 1:
            return []
        return [{"segmentation": m, "predicted_iou": 0.9} for m in self.masks[t] if m.any() for _ in range(self.repeat)]


def _gt(labels: np.ndarray) -> np.ndarray:
    """(T, H, W) labels -> (T, K, H, W) masks of ids 1..K."""
    return np.stack([labels == k for k in range(1, int(labels.max()) + 1)], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def nano():  # the bundled demo model: weak, so the claims below are about the algorithm
    return load_model("samstream-nano", device="cpu")


def separate_objects(num_frames: int, late: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3) frames and (T, K, H, W) masks: a red box moving right along the top, and from frame
    ``late`` on a blue box in the bottom right, well apart from it."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(60, 120, (num_frames, 48, 64, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, 48, 64), np.uint8)
    for t in range(num_frames):
        labels[t, 4:18, 3 + t : 17 + t] = 1
        if t >= late:
            labels[t, 30:46, 42:60] = 2
    frames[labels == 1] = [230, 40, 40]
    frames[labels == 2] = [40, 40, 230]
    return frames, _gt(labels)


@pytest.fixture(scope="module")
def late_clip():
    return separate_objects(12, late=5)


# discovery, merging and closing alone: the nano model drifts onto the late box, and re-anchoring it there
# would change which masklet is which (re-anchoring and revival have their own tests below)
DISCOVERY = {"reanchor_iou": None, "revive_iou": None}


def _run(model, frames, oracle, **options):
    gen = VideoMaskGenerator(model, mask_generator=oracle, **options)
    with torch.inference_mode():
        out = list(gen.generate(frames))
    return gen, out


@pytest.fixture(scope="module")
def forward_run(nano, late_clip):
    frames, gt = late_clip
    oracle = Oracle(frames, gt)
    gen, out = _run(nano, frames, oracle, keyframe_interval=4, merge_window=3, **DISCOVERY)
    return gen, out, oracle


def test_every_object_gets_a_masklet_and_a_late_one_starts_on_the_next_key_frame(late_clip, forward_run):
    frames, gt = late_clip
    gen, out, oracle = forward_run
    assert oracle.calls == [0, 4, 8]
    assert [f.frame_idx for f in out] == list(range(12))
    assert [f.is_keyframe for f in out] == [t % 4 == 0 for t in range(12)]
    (first,) = [m for m in gen.masklets.values() if m.found_on == 0]
    assert _iou(out[0].labels == first.masklet_id, gt[0, 0]) > 0.9
    # on the key frame after its entry (frame 5) the blue box has a masklet born there
    (late,) = [m for m in gen.masklets.values() if m.found_on == 8 and _iou(out[8].labels == m.masklet_id, gt[8, 1]) > 0.9]
    assert late.first_frame == 8  # no backward tracking: nothing before its key frame
    assert all(late.masklet_id not in f.obj_ids for f in out[:8])
    for t in (0, 4, 8):  # every object visible on a key frame is some masklet's there
        for k in range(gt.shape[1]):
            if gt[t, k].any():
                assert max(_iou(out[t].labels == i, gt[t, k]) for i in out[t].obj_ids) > 0.5
    for f in out:  # a pixel belongs to one masklet, and only to one that is tracked on the frame
        assert set(np.unique(f.labels)) - {0} <= set(f.obj_ids)


def test_backward_tracking_gives_masklets_their_frames_before_discovery(nano, late_clip, forward_run):
    frames, gt = late_clip
    _, forward, _ = forward_run
    gen, out = _run(nano, frames, Oracle(frames, gt), keyframe_interval=4, merge_window=3, track_backward=True,
                    **DISCOVERY)
    late = [m for m in gen.masklets.values() if m.found_on == 8]
    assert late and all(4 <= m.first_frame < 8 for m in late)  # reach: keyframe_interval frames back
    for t in range(4, 8):
        assert {m.masklet_id for m in late} <= set(out[t].obj_ids)
    for t in range(4):  # frames beyond the reach are as without backward tracking
        np.testing.assert_array_equal(out[t].labels, forward[t].labels)
    for t in range(8, 12):  # and tracking forward is unchanged
        np.testing.assert_array_equal(out[t].labels, forward[t].labels)


def test_duplicate_masklets_merge_and_leave_the_output_as_without_them(nano, late_clip, forward_run):
    frames, gt = late_clip
    _, single, _ = forward_run
    gen, out = _run(nano, frames, Oracle(frames, gt, repeat=2), keyframe_interval=4, merge_window=3, **DISCOVERY)
    merged = [m for m in gen.masklets.values() if m.merged_into is not None]
    kept = sorted(m.masklet_id for m in gen.masklets.values() if m.merged_into is None)
    assert len(merged) == len(kept) and all(m.merged_into == m.masklet_id - 1 for m in merged)
    shown = {int(i) for f in out for i in np.unique(f.labels) if i}
    assert not shown & {m.masklet_id for m in merged}  # merged while all their frames were pending
    rename = dict(zip(kept, range(1, len(kept) + 1)))  # the run without duplicates numbers them 1, 2, ...
    for a, b in zip(out, single):
        np.testing.assert_array_equal(np.vectorize(lambda i: rename.get(int(i), 0))(a.labels), b.labels)


def _micro(present: bool):
    """A random micro model whose object-score head says every object is present (or absent)."""
    model = build_model(micro_config(64), device="cpu", seed=0)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(20.0 if present else -20.0)
    return model


def test_absent_masklets_close_and_the_object_is_found_again(late_clip):
    frames, gt = late_clip  # the micro model is sure every object is absent once it is tracked
    gen, out = _run(_micro(present=False), frames, Oracle(frames, gt), keyframe_interval=6, max_absent_frames=2)
    first = gen.masklets[1]
    assert (first.found_on, first.closed_on) == (0, 3)  # absent on frames 1, 2, 3: more than 2
    assert 1 in out[3].obj_ids and 1 not in out[4].obj_ids
    again = [m for m in gen.masklets.values() if m.found_on == 6]
    assert len(again) == 2  # object 1 again (its masklet was closed) and object 2 (entered on frame 5)


@pytest.mark.slow
def test_state_stays_bounded_over_a_long_clip():
    frames, labels = moving_objects(24)
    frames = np.concatenate([frames] * 2)  # 48 frames
    gt = _gt(np.concatenate([labels] * 2))
    gen = VideoMaskGenerator(_micro(present=True), mask_generator=Oracle(frames, gt, only_first=True),
                             keyframe_interval=10)
    outputs, nbytes = [], []
    with torch.inference_mode():
        for f in gen.generate(frames):
            outputs.append(gen.tracker.num_outputs())
            nbytes.append(gen.nbytes())
    assert len(gen.masklets) == 1 and len(outputs) == 48
    steady = outputs[20:44]  # the last frames are flushed after the input ended
    assert max(steady) == min(steady) > 0
    assert max(nbytes[20:44]) == min(nbytes[20:44])  # tracker tensors and the pending frames
    assert max(outputs) <= steady[0]


def test_real_mask_generator_end_to_end(nano):
    frames, labels = moving_objects(6, late=0)
    gen = VideoMaskGenerator(nano, keyframe_interval=4, points_per_side=2, pred_iou_thresh=0.0,
                             stability_score_thresh=0.0, multimask_output=False)
    with torch.inference_mode():
        out = list(gen.generate(frames))
    assert [f.frame_idx for f in out] == list(range(6)) and len(gen.masklets) > 0
    for f in out:
        assert f.labels.shape == frames.shape[1:3] and f.labels.dtype == np.int32
        assert set(np.unique(f.labels)) - {0} <= set(f.obj_ids)
        masks = f.masks
        assert masks.shape == (len(f.obj_ids), *frames.shape[1:3]) and masks.sum(0).max() <= 1


def test_lost_masklet_is_revived_by_an_overlapping_mask_on_a_key_frame(late_clip):
    frames, gt = late_clip  # every tracked frame says "absent": masklet 1 is lost from frame 1 on
    # on key frame 6 the red box has moved 6 px: IoU 8/20 = 0.4 with its last visible mask (frame 0)
    gen, out = _run(_micro(present=False), frames, Oracle(frames, gt), keyframe_interval=6, max_absent_frames=20)
    assert sorted(gen.masklets) == [1, 2]  # the red box keeps masklet 1; the blue box (new) is 2
    assert _iou(out[6].labels == 1, gt[6, 0]) > 0.9 and _iou(out[6].labels == 2, gt[6, 1]) > 0.9
    assert gen.masklets[1].closed_on is None
    # off, or with a bar above the overlap, the red box starts a second masklet on frame 6
    for revive in (None, 0.5):
        gen, out = _run(_micro(present=False), frames, Oracle(frames, gt), keyframe_interval=6,
                        max_absent_frames=20, revive_iou=revive)
        assert sorted(gen.masklets) == [1, 2, 3]
        assert _iou(out[6].labels == 1, gt[6, 0]) == 0.0 and _iou(out[6].labels == 2, gt[6, 0]) > 0.9


def test_key_frames_reanchor_drifted_masklets_on_the_generated_mask(nano, late_clip, forward_run):
    frames, gt = late_clip
    _, drifting, _ = forward_run  # without re-anchoring
    _, anchored = _run(nano, frames, Oracle(frames, gt), keyframe_interval=4, merge_window=3)
    # on key frame 4 the tracked red box has drifted; re-anchored, it is the generator's (exact) mask
    assert _iou(drifting[4].labels == 1, gt[4, 0]) < 0.95 < _iou(anchored[4].labels == 1, gt[4, 0])
    for t in range(4):  # before the first re-anchoring both runs are the same
        np.testing.assert_array_equal(anchored[t].labels, drifting[t].labels)
    assert not np.array_equal(anchored[5].labels, drifting[5].labels)  # and tracking goes on from it


def test_reanchoring_on_every_key_frame_keeps_the_state_bounded(nano):
    frames, labels = moving_objects(24)
    frames = np.concatenate([frames] * 3)  # 72 frames, a key frame every 6: 12 re-anchorings
    gen = VideoMaskGenerator(nano, mask_generator=Oracle(frames, _gt(np.concatenate([labels] * 3))),
                             keyframe_interval=6, max_cond_frames=3)
    outputs, nbytes = [], []
    with torch.inference_mode():
        for f in gen.generate(frames):
            outputs.append(gen.tracker.num_outputs())
            nbytes.append(gen.nbytes())
    assert len(gen.masklets) == 1  # the one object kept its masklet through every re-anchoring
    assert outputs[30] > outputs[5]  # re-prompted key frames were kept as conditioning frames ...
    # ... up to max_cond_frames: the second half of the video holds no more than the first did
    assert max(outputs[36:]) <= max(outputs[:36])
    assert max(nbytes[36:]) <= max(nbytes[:36])
