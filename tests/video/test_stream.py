"""The streaming tracker: same masks as the offline predictor, bounded state, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream import StreamTracker, VideoPredictor
from samstream.checkpoints import build_model
from samstream.errors import InvalidInputError, PromptError, UnknownObjectError
from samstream.presets import micro_config
from samstream.registry import get_variant

FRAMES = 12  # at least max_obj_ptrs_in_encoder (8 here): an offline video then normalises pointers alike


@pytest.fixture(scope="module")
def micro_model():
    """A small random model whose object-score head judges objects present (so masks are tracked)."""
    model = build_model(micro_config(64), device="cpu", seed=0)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(20.0)
    return model


def _video(frames: int, h: int = 72, w: int = 96, seed: int = 0) -> np.ndarray:
    """Moving disc and bar on a noisy textured background: (T, H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([80 + 30 * np.sin(xx / 7.0), 100 + 30 * np.cos(yy / 5.0), 90 + 0 * xx], -1)
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        img = base + rng.normal(0, 8, base.shape)
        img[(yy - 30 - (t % 10)) ** 2 + (xx - 25 - 2 * (t % 15)) ** 2 < 12**2] = [230, 40, 40]
        img[(abs(yy - 55) < 7) & (abs(xx - 70 + (t % 12)) < 14)] = [40, 200, 60]
        out[t] = img.clip(0, 255).astype(np.uint8)
    return out


def _offline(model, video, prompts, start=0):
    session = VideoPredictor(model, memory_dtype=torch.float32).open(video[start:])
    for kind, obj_id, value in prompts:
        if kind == "points":
            session.add_points(0, obj_id, value, [1] * len(value))
        else:
            session.add_box(0, obj_id, value)
    with torch.inference_mode():
        return [r.logits for r in session.propagate()]


def _prompt(tracker, prompts):
    result = None
    for kind, obj_id, value in prompts:
        if kind == "points":
            result = tracker.add_points(obj_id, value, [1] * len(value))
        else:
            result = tracker.add_box(obj_id, value)
    return result


PROMPTS = [("points", 1, [[25, 30]]), ("box", 2, [56, 48, 84, 62])]


def test_stream_equals_offline_forward_tracking(micro_model) -> None:
    assert micro_model.cfg.memory.max_obj_ptrs_in_encoder <= FRAMES
    video = _video(FRAMES)
    offline = _offline(micro_model, video, PROMPTS)
    tracker = StreamTracker(micro_model, memory_dtype=torch.float32)
    with torch.inference_mode():
        first = tracker.step(video[0])
        assert first.obj_ids == [] and first.logits.shape == (0, 72, 96)
        online = [_prompt(tracker, PROMPTS).logits]
        online += [tracker.step(frame).logits for frame in video[1:]]
    assert len(online) == len(offline) == FRAMES
    for t, (a, b) in enumerate(zip(offline, online)):
        scale = max(1.0, a.abs().max().item())
        assert (a - b).abs().max().item() / scale <= 1e-5, t
        assert torch.equal(a > 0, b > 0), t
    assert all(r.amax() > -1024.0 for r in online[1:])  # objects judged present: masks were decoded


def test_late_object_matches_offline_from_its_frame_and_leaves_others_alone(micro_model) -> None:
    late = 4
    video = _video(late + FRAMES)
    alone = StreamTracker(micro_model, memory_dtype=torch.float32)
    both = StreamTracker(micro_model, memory_dtype=torch.float32)
    obj1_alone, obj1_both, obj2_both = [], [], []
    with torch.inference_mode():
        for t, frame in enumerate(video):
            ra, rb = alone.step(frame), both.step(frame)
            if t == 0:
                ra, rb = alone.add_points(1, [[25, 30]], [1]), both.add_points(1, [[25, 30]], [1])
            if t == late:
                rb = both.add_box(2, [56, 48, 84, 62])
            obj1_alone.append(ra.mask(1))
            obj1_both.append(rb.mask(1))
            if t >= late:
                obj2_both.append(rb.logits[rb.obj_ids.index(2)])
    assert all(torch.equal(a, b) for a, b in zip(obj1_alone, obj1_both))
    offline = _offline(micro_model, video, [PROMPTS[1]], start=late)
    assert len(offline) == len(obj2_both)
    for a, b in zip(offline, obj2_both):
        assert (a[0] - b).abs().max().item() / max(1.0, a.abs().max().item()) <= 1e-5


def _held_over_stream(frames: int, every: int) -> tuple[list[tuple], StreamTracker]:
    """Track two objects through ``frames`` frames (object 1 corrected every ``every`` frames);
    per frame: outputs held, bytes held, per object (cond, non_cond, per-frame flags, prompts), features cached."""
    model = build_model(micro_config(64), device="cpu", seed=0)
    video = _video(24, 48, 64)
    tracker = StreamTracker(model, max_cond_frames=3, add_all_frames_to_correct_as_cond=True)
    sizes = []
    with torch.inference_mode():
        for t in range(frames):
            tracker.step(video[t % len(video)])
            if t == 0:
                tracker.add_points(1, [[20, 20]], [1])
                tracker.add_box(2, [30, 30, 50, 44])
            elif t % every == 0:  # corrections, each a new conditioning frame of object 1
                tracker.add_points(1, [[22, 20]], [1], clear_old=False)
            core = tracker.tracker
            held = tuple((len(tr.cond_frames()), len(tr.tracked_frames()), len(tr.reached_frames()),
                          len(tr.prompted_frames())) for tr in core.state.tracks())
            sizes.append((tracker.num_outputs(), tracker.nbytes(), held, core.engine.num_cached_features()))
    return sizes, tracker


def _check_bounded(sizes: list[tuple], tracker: StreamTracker, every: int) -> None:
    window = max(tracker.model.cfg.memory.num_maskmem, tracker.model.cfg.memory.max_obj_ptrs_in_encoder)
    # object 2 is never corrected: what it holds is constant once the attention window is full
    assert len({s[2][1] for s in sizes[window:]}) == 1
    # once object 1's conditioning frames reach the cap, nothing held exceeds what was held before
    settled = 3 * every + window
    half = (settled + len(sizes)) // 2
    for k in (0, 1, 3):
        assert max(s[k] for s in sizes[half:]) == max(s[k] for s in sizes[settled:half]), k
    per_object = [s[2][0] for s in sizes]
    for j in range(4):
        assert max(p[j] for p in per_object[half:]) == max(p[j] for p in per_object[settled:half]), j
    cond = tracker.tracker.track(1).cond_frames()
    last = ((len(sizes) - 1) // every) * every
    assert len(cond) == 3 and min(cond) == 0 and max(cond) == last  # the first kept, then the most recent


def test_state_is_bounded_over_a_stream(one_thread) -> None:
    sizes, tracker = _held_over_stream(300, every=25)
    _check_bounded(sizes, tracker, every=25)


@pytest.mark.slow
def test_state_stops_growing_over_a_2000_frame_stream(one_thread) -> None:
    sizes, tracker = _held_over_stream(2000, every=250)
    _check_bounded(sizes, tracker, every=250)


def test_first_frame_is_encoded_with_the_inference_kernels_of_a_trainable_model() -> None:
    """A model straight from ``build_model`` (parameters that require grad) on the CPU's chunked kernels:
    the first frame, encoded before any prompt, must not be recorded by autograd. The tiny layout at
    544 input is the smallest whose Hiera MLP runs in chunks (more than 1024 tokens in a global block)."""
    model = build_model(get_variant("sam2.1-tiny").config.with_image_size(544), device="cpu", seed=0)
    assert any(p.requires_grad for p in model.parameters())
    frame = _video(1)[0]
    assert StreamTracker(model).step(frame).frame_idx == 0
    with VideoPredictor(model).open(frame[None]) as session:
        assert session.add_points(0, 1, [[30, 30]], [1]).obj_ids == [1]


def test_errors_are_clear(micro_model) -> None:
    tracker = StreamTracker(micro_model)
    with pytest.raises(PromptError, match="step"):
        tracker.add_points(1, [[5, 5]], [1])
    video = _video(2)
    tracker.step(video[0])
    with pytest.raises(InvalidInputError, match="frame: size"):
        tracker.step(video[0][:40])
    with pytest.raises(InvalidInputError, match="frame"):
        tracker.step(video[0].astype(np.float32))
    with pytest.raises(PromptError):
        tracker.add_points(1, [[500, 5]], [1])  # outside the frame
    with pytest.raises(UnknownObjectError):
        tracker.remove_object(7)
    with pytest.raises(InvalidInputError, match="max_cond_frames"):
        StreamTracker(micro_model, max_cond_frames=0)
    with pytest.raises(InvalidInputError, match="StreamTracker"):
        StreamTracker(micro_model, no_such_option=1)


def test_remove_object_stops_tracking_it(micro_model) -> None:
    video = _video(4)
    tracker = StreamTracker(micro_model)
    with torch.inference_mode():
        tracker.step(video[0])
        _prompt(tracker, PROMPTS)
        tracker.step(video[1])
        tracker.remove_object(1)
        result = tracker.step(video[2])
    assert result.obj_ids == [2] and tracker.obj_ids == [2]
    assert result.frame_idx == 2 == tracker.frame_idx


def test_result_gives_every_object_its_latest_output_on_the_frame(micro_model) -> None:
    video = _video(3)
    tracker = StreamTracker(micro_model)
    with torch.inference_mode():
        with pytest.raises(PromptError, match="result"):
            tracker.result()
        tracker.step(video[0])
        tracker.add_points(1, [[30, 40]], [1])
        tracked = tracker.step(video[1])
        corrected = tracker.add_points(1, [[60, 20]], [1])  # a correction on a tracked frame
        mask = np.zeros(video.shape[1:3], bool)
        mask[40:60, 50:80] = True
        added = tracker.add_mask(2, mask)  # a new object: its answer shows object 1 as last tracked
        latest = tracker.result()
    assert latest.frame_idx == 1 and latest.obj_ids == [1, 2]
    assert not np.array_equal(corrected.logits[0], tracked.logits[0])  # the correction changed object 1
    np.testing.assert_array_equal(added.logits[0], tracked.logits[0])
    np.testing.assert_array_equal(latest.logits[0], corrected.logits[0])
    np.testing.assert_array_equal(latest.logits[1], added.logits[1])
