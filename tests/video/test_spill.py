"""Offline sessions that spill tracked outputs to disk give the same results within a memory cap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samstream import VideoPredictor
from samstream.checkpoints import build_model
from samstream.errors import InvalidInputError
from samstream.presets import micro_config


def _video(frames: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random((frames, 40, 56, 3)) * 255).astype(np.uint8)


def _session(model, video, **options):
    session = VideoPredictor(model, memory_dtype=torch.float32, **options).open(video)
    session.add_points(0, 1, [[20, 20]], [1])
    session.add_box(0, 2, [30, 10, 50, 30])
    return session


def test_spilled_session_matches_and_stays_within_its_cap(tmp_path, one_thread) -> None:
    model = build_model(micro_config(64), device="cpu", seed=0)
    video = _video(24)
    with torch.inference_mode():
        plain = _session(model, video)
        expected = [r.logits for r in plain.propagate()]
        expected_rev = [r.logits for r in plain.propagate(start=23, reverse=True)]
        spilled = _session(model, video, max_outputs_in_memory=10, spill_dir=str(tmp_path))
        got = []
        for r in spilled.propagate():
            got.append(r.logits)
            for track in spilled.state.tracks():
                assert len(track.outputs.in_memory()) <= 10
        got_rev = [r.logits for r in spilled.propagate(start=23, reverse=True)]
    for a, b in zip(expected + expected_rev, got + got_rev, strict=True):
        assert torch.equal(a, b)
    track = spilled.state.track(1)
    assert len(track.outputs) == 23 and len(track.outputs.in_memory()) == 10
    assert plain.state.track(1).nbytes() > 2 * track.nbytes()  # what is held in memory is capped
    folder = next(tmp_path.iterdir())
    assert len(list(folder.iterdir())) == 2 * (23 - 10)
    spilled.remove_object(2)
    assert len(list(folder.iterdir())) == 23 - 10
    spilled.close()
    assert not folder.exists()


def test_bad_cap_is_an_error() -> None:
    model = build_model(micro_config(64), device="cpu", seed=0)
    with pytest.raises(InvalidInputError, match="max_outputs_in_memory"):
        VideoPredictor(model, max_outputs_in_memory=0).open(_video(2))
