"""VideoPredictor behaviour on generated videos (random weights, small input size)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream import InvalidInputError, PromptError, UnknownObjectError
from samstream.model.sam2 import HeadOutput
from samstream.video.predictor import VideoPredictor

T, H, W = 6, 48, 64


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    for t in range(T):
        frames[t, 10:25, 5 + 3 * t : 20 + 3 * t] = [250, 30, 30]
        frames[t, 30:45, 40:60] = [30, 30, 250]
    return frames


def _run(model, video, objects: dict, **options) -> dict[int, dict[int, torch.Tensor]]:
    """Prompt ``objects`` (id -> (frame, points)) and propagate; returns id -> frame -> logits."""
    out: dict[int, dict[int, torch.Tensor]] = {i: {} for i in objects}
    with VideoPredictor(model, fill_hole_area=0, memory_dtype=torch.float32, **options).open(video) as s:
        for obj_id, (frame, pts) in objects.items():
            s.add_points(frame, obj_id, pts, [1] * len(pts))
        for r in s.propagate():
            for i, obj_id in enumerate(r.obj_ids):
                out[obj_id][r.frame_idx] = r.logits[i]
    return out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / max(1.0, float(a.abs().max())))


def test_propagation_shapes_and_order(tiny_model, video) -> None:
    with VideoPredictor(tiny_model).open(video) as s:
        assert s.num_frames == T and s.video_size == (H, W)
        first = s.add_points(1, 5, [[10, 15]], [1])
        assert first.frame_idx == 1 and first.obj_ids == [5] and first.logits.shape == (1, H, W)
        s.add_box(1, 9, [38, 28, 62, 47])
        frames = [r.frame_idx for r in s.propagate()]
        assert frames == list(range(1, T))
        back = list(s.propagate(start=3, reverse=True))
        assert [r.frame_idx for r in back] == [3, 2, 1, 0]
        assert all(r.masks.shape == (2, H, W) and r.masks.dtype == torch.bool for r in back)
        assert [r.frame_idx for r in s.propagate(start=0, max_frames=2)] == [0, 1]  # max_frames frames
        assert [r.frame_idx for r in s.propagate(start=3, max_frames=2, reverse=True)] == [3, 2]


def test_objects_are_independent(tiny_model, video) -> None:
    """Adding an object never changes another object's results (and batching is exact enough)."""
    alone = _run(tiny_model, video, {1: (0, [[12, 17]])})
    together = _run(tiny_model, video, {1: (0, [[12, 17]]), 2: (0, [[50, 37]]), 3: (2, [[30, 10]])})
    for frame, logits in alone[1].items():
        assert _rel(logits, together[1][frame]) <= 1e-5


@pytest.mark.parametrize("chunk", [None, 2, 3])  # None: the CPU's schedule (one object at a time)
def test_batched_objects_equal_one_by_one(tiny_model, video, chunk) -> None:
    """Objects grouped by memory layout, in any chunks (3: all together, as on a GPU), match singles."""
    objects = {1: (0, [[12, 17]]), 2: (0, [[50, 37]]), 3: (0, [[30, 5]])}
    chosen = tiny_model.runtime.options
    try:
        batched = _run(tiny_model.optimize(chosen.with_(object_chunk=chunk)), video, objects, batch_objects=True)
    finally:
        tiny_model.optimize(chosen)
    single = _run(tiny_model, video, objects, batch_objects=False)
    for obj_id in objects:
        for frame in batched[obj_id]:
            assert _rel(single[obj_id][frame], batched[obj_id][frame]) <= 1e-5


def test_bfloat16_memory_close_to_float32(tiny_model, video) -> None:
    objects = {1: (0, [[12, 17]])}
    f32 = _run(tiny_model, video, objects)
    with VideoPredictor(tiny_model, fill_hole_area=0).open(video) as s:
        assert s.options.memory_dtype == torch.bfloat16
        s.add_points(0, 1, [[12, 17]], [1])
        results = {r.frame_idx: r.logits[0] for r in s.propagate()}
        assert s.state.track(1).tracked_output(3).memory.dtype == torch.bfloat16
    for frame, logits in results.items():
        assert _rel(f32[1][frame], logits) <= 5e-2


def test_correction_remove_clear_reset(tiny_model, video) -> None:
    # the official rule for corrections: one on a tracked frame stays a tracked frame
    with VideoPredictor(tiny_model, add_all_frames_to_correct_as_cond=False).open(video) as s:
        s.add_points(0, 1, [[12, 17]], [1])
        s.add_points(0, 2, [[50, 37]], [1])
        list(s.propagate())
        corrected = s.add_points(3, 1, [[20, 20]], [0], clear_old=False)
        assert corrected.obj_ids == [1, 2]
        assert 3 in s.state.track(1).pending_frames(cond=False)  # a correction on a tracked frame
        list(s.propagate())
        assert 3 in s.state.track(1).tracked_frames() and not s.state.track(1).pending_frames(cond=False)
        s.clear_frame(0, 2)
        assert 0 not in s.state.track(2).cond_frames() and 0 not in s.state.track(2).prompted_frames()
        updated = s.remove_object(1)
        assert [r.frame_idx for r in updated] == [0, 3] and all(r.obj_ids == [2] for r in updated)
        s.reset()
        assert s.obj_ids == []
        with pytest.raises(PromptError, match="no object has prompts"):
            list(s.propagate())


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda s: s.add_points(T, 1, [[1, 1]], [1]), InvalidInputError, "frame: 6 is outside"),
        (lambda s: s.add_points(-1, 1, [[1, 1]], [1]), InvalidInputError, "outside the video"),
        (lambda s: s.add_points(0, "a", [[1, 1]], [1]), InvalidInputError, "obj_id"),
        (lambda s: s.add_points(0, 1, [[100, 1]], [1]), PromptError, "outside the 64x48"),
        (lambda s: s.add_points(0, 1, [[1, 1]], [7]), PromptError, "labels"),
        (lambda s: s.add_box(0, 1, [10, 10, 5, 5]), PromptError, "x0 <= x1"),
        (lambda s: s.add_mask(0, 1, np.zeros((3, 4, 5))), PromptError, "2-D"),
        (lambda s: s.add_mask(0, 1, np.full((4, 4), 3)), PromptError, "boolean or 0/1"),
        (lambda s: s.clear_frame(0, 42), UnknownObjectError, "unknown object 42"),
        (lambda s: s.remove_object(42), UnknownObjectError, "unknown object 42"),
        (lambda s: list(s.propagate()), PromptError, "no object has prompts"),
        (lambda s: list(s.propagate(start=99)), PromptError, "no object"),
    ],
)
def test_bad_calls(tiny_model, video, call, error, match: str) -> None:
    with VideoPredictor(tiny_model).open(video) as s:
        with pytest.raises(error, match=match):
            call(s)


def test_mask_prompt_and_hole_filling(tiny_model, video) -> None:
    with VideoPredictor(tiny_model).open(video) as s:
        mask = np.zeros((H, W), bool)
        mask[30:45, 40:60] = True
        r = s.add_mask(2, 4, mask)
        assert r.object_scores.tolist() == [10.0]  # a given mask is taken as the output
        assert (r.masks[0] == torch.from_numpy(mask)).float().mean() > 0.95
        # hole filling: small enclosed background regions of the low-res output become foreground
        side = tiny_model.image_size // 4
        low = torch.full((1, 1, side, side), 5.0)
        low[..., 10:12, 10:12] = -3.0  # 4-pixel hole: filled (fill_hole_area=8)
        low[..., 30:34, 30:34] = -3.0  # 16-pixel hole: kept
        head = HeadOutput(low, torch.ones(1, 1), low, torch.zeros(1, 256), torch.ones(1, 1))
        out = s.tracker.engine.output_of(head, None, 0).low_res_logits
        assert torch.all(out[..., 10:12, 10:12] == 0.1) and torch.all(out[..., 30:34, 30:34] == -3.0)
