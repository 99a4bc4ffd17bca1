"""The tracking methods in samstream's sessions: objects independent, objects added later,
corrections, reverse tracking, streams, and a method's state kept exactly per frame.

The bundled ``samstream-nano`` model on a generated clip with two objects (seed 0). Wherever the
behaviour promises "the same", results and the methods' records are compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import samstream
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.errors import InvalidInputError
from samstream.video.methods import Dam4samConfig, Sam2LongConfig, SamuraiConfig
from samstream.video.methods.dam4sam import Dam4samRecord
from samstream.video.methods.sam2long import Sam2LongRecord
from samstream.video.methods.samurai import SamuraiRecord
from samstream.video.predictor import VideoPredictor
from samstream.video.saved import decode_frame_state, encode_frame_state
from tests.video.test_corrections import centre

FRAMES, SPLIT, LATE = 24, 12, 5
METHODS = ["samurai", "dam4sam", "sam2long"]
RECORDS = {"samurai": SamuraiRecord, "dam4sam": Dam4samRecord, "sam2long": Sam2LongRecord}


@pytest.fixture(scope="module")
def nano():
    return samstream.load_model("samstream-nano", device="cpu")


@pytest.fixture(scope="module")
def clip():
    return generate_clip(0, SyntheticConfig(size=128, num_frames=FRAMES, max_objects=2, exit_prob=0.0))


def prompt(session, clip, objects=(1, 2)) -> None:
    """Object 1 clicked on frame 0, object 2 on frame LATE (an object that starts later)."""
    if 1 in objects:
        session.add_points(0, 1, [centre(clip.masks[0, 0])], [1])
    if 2 in objects:
        session.add_points(LATE, 2, [centre(clip.masks[LATE, 1])], [1])


def results(session) -> dict[tuple[int, int], torch.Tensor]:
    out = {}
    for f in range(FRAMES):
        r = session.result_on(f)
        for i, obj in enumerate(r.obj_ids):
            out[obj, f] = r.logits[i].clone()
    return out


def records(session) -> dict[tuple[int, int], dict]:
    out = {}
    for track in session.state.tracks():
        for f in track.frames():
            o = track.final_output(f)
            if o is not None and o.record is not None:
                out[track.obj_id, f] = o.record.to_data()
    return out


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else _same_data(a[k], b[k]) for k in a)


def _same_data(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same_data(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_same_data(a, b) for a, b in zip(x, y))
    return x == y


@pytest.mark.parametrize("method", METHODS)
def test_restored_frame_states_track_on_exactly_as_tracking_that_never_stopped(nano, clip, method) -> None:
    with VideoPredictor(nano, method=method).open(clip.frames) as whole:
        prompt(whole, clip)
        list(whole.propagate())
        expected, expected_records = results(whole), records(whole)
        assert any(isinstance(r.record, RECORDS[method]) for r in
                   (whole.state.track(1).final_output(f) for f in range(1, FRAMES)))  # the method's state is kept
    with VideoPredictor(nano, method=method).open(clip.frames) as first, \
            VideoPredictor(nano, method=method).open(clip.frames) as rebuilt:
        prompt(first, clip)
        list(first.propagate(max_frames=SPLIT))
        # a front end keeps every (object, frame) state as bytes and rebuilds a session from them
        for obj in first.obj_ids:
            for f in first.state.track(obj).frames():
                encoded = encode_frame_state(first.tracker.frame_state(obj, f))
                rebuilt.tracker.set_frame_state(obj, f, decode_frame_state(encoded, rebuilt.tracker))
        assert same(records(rebuilt), records(first))
        for session in (first, rebuilt):
            list(session.propagate(SPLIT))
            assert same(results(session), expected)
            assert same(records(session), expected_records)


@pytest.mark.parametrize("method", METHODS)
def test_a_session_file_keeps_the_method_and_its_state(nano, clip, method, tmp_path) -> None:
    with VideoPredictor(nano, method=method).open(clip.frames) as s:
        prompt(s, clip)
        list(s.propagate(max_frames=SPLIT))
        s.save(tmp_path / "s.pt")
        list(s.propagate(SPLIT))
        expected = results(s)
    with VideoPredictor(nano).restore(tmp_path / "s.pt", clip.frames) as back:
        assert back.options.method == method
        list(back.propagate(SPLIT))
        assert same(results(back), expected)
        assert back.result_on(3).method == method


@pytest.mark.parametrize("method", METHODS)
def test_objects_are_independent_and_may_start_later(nano, clip, method) -> None:
    with VideoPredictor(nano, method=method).open(clip.frames) as alone:
        prompt(alone, clip, objects=(1,))
        list(alone.propagate())
        one = results(alone)
    with VideoPredictor(nano, method=method).open(clip.frames) as both:
        prompt(both, clip)
        list(both.propagate())
        assert all(torch.equal(both.result_on(f).logits[0], one[1, f]) for f in range(FRAMES))
    with VideoPredictor(nano, method=method).open(clip.frames) as later:
        prompt(later, clip, objects=(1,))
        list(later.propagate())
        prompt(later, clip, objects=(2,))  # added after object 1 was tracked through the video
        list(later.propagate(LATE, obj_ids=[2]))
        assert all(torch.equal(later.result_on(f).logits[0], one[1, f]) for f in range(FRAMES))
        assert isinstance(later.state.track(2).final_output(FRAMES - 1).record, RECORDS[method])


@pytest.mark.parametrize("method", METHODS)
def test_corrections_and_reverse_tracking(nano, clip, method) -> None:
    fix = SPLIT
    with VideoPredictor(nano, method=method).open(clip.frames) as s:
        prompt(s, clip, objects=(1,))
        list(s.propagate())
        before = {f: s.result_on(f).logits[0].clone() for f in range(FRAMES)}
        fixed = s.add_points(fix, 1, [centre(clip.masks[fix, 0])], [0], clear_old=False).logits[0].clone()
        assert not torch.equal(fixed, before[fix])
        local = list(s.propagate(fix, obj_ids=[1], stop_at_prompt=True))
        assert [r.frame_idx for r in local] == list(range(fix, FRAMES))
        assert torch.equal(s.result_on(fix).logits[0], fixed)  # the correction sticks
        for f in range(fix):  # frames before it: untouched
            assert torch.equal(s.result_on(f).logits[0], before[f])
        track = s.state.track(1)
        assert track.is_prompted(fix) and track.is_cond(fix)
        assert isinstance(track.final_output(fix + 1).record, RECORDS[method])
        # reverse tracking from the last frame's prompt, through the correction
        s.add_points(FRAMES - 1, 1, [centre(clip.masks[FRAMES - 1, 0])], [1])
        back = list(s.propagate(FRAMES - 1, reverse=True))
        assert [r.frame_idx for r in back] == list(range(FRAMES - 1, -1, -1))
        assert torch.equal(s.result_on(fix).logits[0], fixed)
        assert isinstance(track.final_output(FRAMES - 2).record, RECORDS[method])


@pytest.mark.parametrize("method", ["samurai", "dam4sam"])
def test_a_stream_equals_offline_forward_tracking(nano, clip, method) -> None:
    """The stream keeps only what the method can still read (it prunes as it goes), and still
    gives the masks of offline tracking from the same prompt."""
    with VideoPredictor(nano, method=method).open(clip.frames) as s:
        prompt(s, clip, objects=(1,))
        offline = {r.frame_idx: r.logits[0] for r in s.propagate()}
    with samstream.StreamTracker(nano, method=method) as stream:
        stream.step(clip.frames[0])
        stream.add_points(1, [centre(clip.masks[0, 0])], [1])
        for f in range(1, FRAMES):
            r = stream.step(clip.frames[f])
            assert r.method == method
            assert torch.equal(r.logits[0], offline[f]), f
        assert stream.num_outputs() < FRAMES  # it did prune


def test_a_sam2long_stream_shows_the_best_pathway_so_far(nano, clip) -> None:
    with samstream.StreamTracker(nano, method="sam2long") as stream:
        stream.step(clip.frames[0])
        stream.add_points(1, [centre(clip.masks[0, 0])], [1])
        for f in range(1, FRAMES):
            stream.step(clip.frames[f])
            out = stream.tracker.track(1).final_output(f)
            record = out.record
            assert isinstance(record, Sam2LongRecord)
            best = max(range(len(record.pathways)), key=lambda i: (record.pathways[i].score, -i))
            assert record.shown == best and torch.equal(out.low_res_logits, record.pathways[best].output.low_res_logits)
        assert len(stream.tracker.track(1).frames()) < FRAMES  # bounded


def test_as_tracked_yields_each_frame_when_tracked_then_the_settled_run(nano, clip) -> None:
    """SAM2Long settles a run at its end. ``as_tracked`` (the studio's propagation: a frame per worker
    turn) yields each frame as tracked, with the best pathway so far, then every frame again as settled:
    those equal a plain run's results, and the session ends in the same state."""
    with VideoPredictor(nano, method="sam2long").open(clip.frames) as s:
        prompt(s, clip, objects=(1,))
        plain = [(r.frame_idx, r.logits[0].clone()) for r in s.propagate()]
        after_plain = results(s)
    with VideoPredictor(nano, method="sam2long").open(clip.frames) as s:
        prompt(s, clip, objects=(1,))
        seen = [(r.frame_idx, r.logits[0].clone()) for r in s.propagate(as_tracked=True)]
        after = results(s)
    n = len(plain)
    assert [f for f, _ in seen] == [f for f, _ in plain] * 2
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(seen[n:], plain))  # the settled run, unchanged
    assert all(torch.equal(after[k], after_plain[k]) for k in after_plain) and after.keys() == after_plain.keys()
    with VideoPredictor(nano).open(clip.frames) as s:  # a method with nothing to settle: each frame once
        prompt(s, clip, objects=(1,))
        assert [r.frame_idx for r in s.propagate(as_tracked=True)] == list(range(FRAMES))


def test_settings_objects_and_names(nano) -> None:
    assert VideoPredictor(nano, method=SamuraiConfig(kf_score_weight=0.5)).options.method.kf_score_weight == 0.5
    large = samstream.registry.get_variant("sam2.1-large").config
    assert SamuraiConfig.for_model(large).kf_score_weight == 0.15  # the authors' large config
    assert SamuraiConfig.for_model(nano.cfg).kf_score_weight == 0.25
    assert Dam4samConfig().drm_size == 4 and Sam2LongConfig().num_pathway == 3
    with pytest.raises(InvalidInputError, match="method: expected one of sam2, samurai"):
        VideoPredictor(nano, method="samurai2")
    with pytest.raises(InvalidInputError, match="method"):
        samstream.StreamTracker(nano, method=3)
