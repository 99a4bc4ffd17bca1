"""Corrections that stick, local re-propagation, bounded attention and exact frame states.

The bundled ``samstream-nano`` model on a generated clip with two objects visible throughout
(seed 0): results are compared bit for bit wherever the behaviour promises "unchanged".
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import samstream
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.errors import InvalidInputError
from samstream.video.memory_bank import plan_memory
from samstream.video.predictor import VideoPredictor
from samstream.video.saved import EncodedFrameState, decode_frame_state, encode_frame_state

FRAMES, FIX = 24, 12


@pytest.fixture(scope="module")
def nano():
    return samstream.load_model("samstream-nano", device="cpu")


@pytest.fixture(scope="module")
def clip():
    return generate_clip(0, SyntheticConfig(size=128, num_frames=FRAMES, max_objects=2, exit_prob=0.0))


def centre(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return [float(xs[k]), float(ys[k])]


def logits_of(results, obj_id: int) -> dict[int, torch.Tensor]:
    return {r.frame_idx: r.logits[r.obj_ids.index(obj_id)].clone() for r in results}


def prompted(session, clip) -> None:
    """Objects 1 and 2 clicked on frame 0, then propagated through the clip."""
    session.add_points(0, 1, [centre(clip.masks[0, 0])], [1])
    session.add_points(0, 2, [centre(clip.masks[0, 1])], [1])
    list(session.propagate())


def correction_point(clip) -> list[float]:
    """A background click inside object 1's true mask on frame FIX: a real change to its mask."""
    return centre(clip.masks[FIX, 0])


def test_a_correction_on_a_tracked_frame_sticks_and_local_propagation_changes_only_its_span(nano, clip) -> None:
    with VideoPredictor(nano).open(clip.frames) as s:
        prompted(s, clip)
        before = {f: s.result_on(f) for f in range(FRAMES)}
        base1, base2 = logits_of(before.values(), 1), logits_of(before.values(), 2)

        fix = s.add_points(FIX, 1, [correction_point(clip)], [0], clear_old=False)
        fixed = fix.logits[0].clone()
        assert not torch.equal(fixed, base1[FIX])  # the correction changed the mask
        assert FIX in s.state.track(1).pending_frames(cond=True)  # it is to become a prompted frame

        local = list(s.propagate(FIX, obj_ids=[1], stop_at_prompt=True))
        assert [r.frame_idx for r in local] == list(range(FIX, FRAMES))
        assert all(r.propagated == (1,) for r in local)
        after1 = logits_of(local, 1)
        assert torch.equal(after1[FIX], fixed)  # kept on its frame
        assert any(not torch.equal(after1[f], base1[f]) for f in range(FIX + 1, FRAMES))  # tracked from it
        for f in range(FRAMES):  # the other object, and frames before the correction: bit for bit
            now = s.result_on(f)
            assert torch.equal(now.logits[now.obj_ids.index(2)], base2[f])
            if f < FIX:
                assert torch.equal(now.logits[now.obj_ids.index(1)], base1[f])

        # every later propagation keeps it: from the start, backward, both objects
        again = logits_of(list(s.propagate()), 1)
        assert torch.equal(again[FIX], fixed)
        back = logits_of(list(s.propagate(FRAMES - 1, reverse=True)), 1)
        assert torch.equal(back[FIX], fixed)
        assert FIX in s.state.track(1).cond_frames()


def test_the_official_rule_replaces_a_correction(nano, clip) -> None:
    """With add_all_frames_to_correct_as_cond=False (the official default) the next propagation
    tracks over the corrected frame: the contrast that makes the default above worth having."""
    with VideoPredictor(nano, add_all_frames_to_correct_as_cond=False).open(clip.frames) as s:
        prompted(s, clip)
        base = s.result_on(FIX).logits[0].clone()
        fixed = s.add_points(FIX, 1, [correction_point(clip)], [0], clear_old=False).logits[0].clone()
        assert not torch.equal(fixed, base)
        again = logits_of(list(s.propagate()), 1)
        assert not torch.equal(again[FIX], fixed)


def test_local_propagation_stops_before_the_next_prompted_frame_either_way(nano, clip) -> None:
    with VideoPredictor(nano).open(clip.frames) as s:
        s.add_points(0, 1, [centre(clip.masks[0, 0])], [1])
        s.add_points(16, 1, [centre(clip.masks[16, 0])], [1])
        s.add_points(0, 2, [centre(clip.masks[0, 1])], [1])
        list(s.propagate())
        s.add_points(6, 1, [centre(clip.masks[6, 0])], [1], clear_old=False)
        forward = list(s.propagate(6, obj_ids=[1], stop_at_prompt=True))
        assert [r.frame_idx for r in forward] == list(range(6, 16))
        backward = list(s.propagate(6, obj_ids=[1], stop_at_prompt=True, reverse=True))
        assert [r.frame_idx for r in backward] == [6, 5, 4, 3, 2, 1]
        # two objects, each stopping at its own next prompt; the run ends when both stopped
        both = list(s.propagate(6, obj_ids=[1, 2], stop_at_prompt=True))
        assert [r.frame_idx for r in both] == list(range(6, FRAMES))
        assert {r.frame_idx: r.propagated for r in both}[15] == (1, 2)
        assert {r.frame_idx: r.propagated for r in both}[16] == (2,)


def test_attention_to_prompted_frames_is_bounded(nano, clip) -> None:
    corrected = [0, 3, 6, 9, 12, 15]
    with VideoPredictor(nano).open(clip.frames) as s:
        s.add_points(0, 1, [centre(clip.masks[0, 0])], [1])
        for f in corrected[1:]:
            list(s.propagate(max_frames=f + 1))
            s.add_points(f, 1, [centre(clip.masks[f, 0])], [1], clear_old=False)
        s.tracker.commit()
        track, engine = s.state.track(1), s.tracker.engine
        assert track.cond_frames() == corrected
        plan = plan_memory(track, 20, nano.cfg.memory, engine.policy, FRAMES, reverse=False)
        attended = [out for slot, out in plan.frames if slot == 0]
        assert len(attended) == 4  # the default bound, not all six
        nearest = track.conditioning()[15]
        assert any(out is nearest for out in attended)  # the nearest prompted frame is always among them
        s.update_options(max_cond_frames_in_attn=-1)
        unbounded = plan_memory(track, 20, nano.cfg.memory, s.tracker.engine.policy, FRAMES, reverse=False)
        assert sum(slot == 0 for slot, _ in unbounded.frames) == 6
        with pytest.raises(InvalidInputError, match="max_cond_frames_in_attn"):
            s.update_options(max_cond_frames_in_attn=1)


def test_frame_states_put_back_give_exactly_the_earlier_results_and_tracking(nano, clip) -> None:
    """Undo and redo as a front end does them: keep the states of the frames a step changed."""
    with VideoPredictor(nano).open(clip.frames) as s:
        s.tracker.record_changes()
        prompted(s, clip)
        assert s.tracker.take_changes() == {1: set(range(FRAMES)), 2: set(range(FRAMES))}
        kept = {f: s.tracker.frame_state(1, f) for f in range(FRAMES)}
        base = logits_of([s.result_on(f) for f in range(FRAMES)], 1)

        s.add_points(FIX, 1, [correction_point(clip)], [0], clear_old=False)
        list(s.propagate(FIX, obj_ids=[1], stop_at_prompt=True))
        changed = s.tracker.take_changes()
        assert changed == {1: set(range(FIX, FRAMES))}  # the correction's frame and the frames after it
        done = {f: s.tracker.frame_state(1, f) for f in changed[1]}
        corrected = logits_of([s.result_on(f) for f in range(FRAMES)], 1)

        for f in changed[1]:  # undo: the states before, through bytes as a store keeps them
            s.tracker.set_frame_state(1, f, decode_frame_state(encode_frame_state(kept[f]), s.tracker))
        undone = logits_of([s.result_on(f) for f in range(FRAMES)], 1)
        assert all(torch.equal(undone[f], base[f]) for f in range(FRAMES))
        assert FIX not in s.state.track(1).cond_frames() and not s.state.track(1).has_pending()
        # tracking from the restored state is the tracking that was there before, bit for bit
        retracked = logits_of(list(s.propagate(FIX, obj_ids=[1])), 1)
        assert all(torch.equal(retracked[f], base[f]) for f in range(FIX, FRAMES))

        for f in changed[1]:  # redo
            s.tracker.set_frame_state(1, f, done[f])
        redone = logits_of([s.result_on(f) for f in range(FRAMES)], 1)
        assert all(torch.equal(redone[f], corrected[f]) for f in range(FRAMES))
        assert FIX in s.state.track(1).cond_frames()


def test_frame_state_bytes_keep_dtypes_and_refuse_damage(nano, clip) -> None:
    with VideoPredictor(nano).open(clip.frames) as s:
        prompted(s, clip)
        for frame in (0, 5):
            state = s.tracker.frame_state(1, frame)
            back = decode_frame_state(encode_frame_state(state), s.tracker)
            out, got = state.entry.cond if frame == 0 else state.tracked, back.entry.cond if frame == 0 else back.tracked
            assert got.memory.dtype == torch.bfloat16 and torch.equal(got.memory, out.memory)
            assert torch.equal(got.low_res_logits, out.low_res_logits) and torch.equal(got.obj_ptr, out.obj_ptr)
            assert back.entry.reverse == state.entry.reverse
        tracked = encode_frame_state(s.tracker.frame_state(1, 5))
        assert tracked.entry is None and tracked.reverse is False  # a tracked frame's entry is its direction
        with pytest.raises(InvalidInputError, match="frame state"):
            decode_frame_state(EncodedFrameState(None, b"not a state", None), s.tracker)
        with pytest.raises(InvalidInputError, match="frame state"):
            decode_frame_state(EncodedFrameState(False, None, b"\x00" * 8), s.tracker)


def test_counts_say_what_model_work_was_done(nano, clip) -> None:
    with VideoPredictor(nano).open(clip.frames) as s:
        assert s.tracker.counts.images_encoded == 1  # the first frame, where users click first
        prompted(s, clip)
        c = s.tracker.counts
        assert (c.prompts_decoded, c.memories_encoded) == (2, 2)
        assert c.frames_tracked == 2 * (FRAMES - 1)  # frame 0 is prompted for both
        s.add_points(FIX, 1, [correction_point(clip)], [0], clear_old=False)
        before = c.frames_tracked
        list(s.propagate(FIX, obj_ids=[1], stop_at_prompt=True))
        assert c.frames_tracked - before == FRAMES - FIX - 1
