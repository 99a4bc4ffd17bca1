"""Propagation with frames read ahead (VideoOptions.prefetch_frames): the same results as reading
on demand, frames really loaded on the prefetch thread, and the thread gone after an early stop or
a broken frame."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samstream.errors import InvalidInputError, VideoReadError
from samstream.video.predictor import VideoPredictor

T, H, W = 6, 48, 64


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "samstream-prefetch"]


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory) -> list[Path]:
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("frames")
    paths = []
    for t in range(T):
        img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        img[10:25, 5 + 3 * t : 20 + 3 * t] = [250, 30, 30]
        path = folder / f"{t}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def _run(model, source, **options) -> tuple[dict[int, torch.Tensor], set[str]]:
    readers: set[str] = set()
    with VideoPredictor(model, fill_hole_area=0, **options).open(source) as s:
        tensor = s.frames.tensor

        def recorded(index: int) -> torch.Tensor:
            readers.add(threading.current_thread().name)
            return tensor(index)

        with s.tracker.engine.reading_from(recorded):  # who reads the frames during propagation
            s.add_points(0, 1, [[12, 17]], [1])
            logits = {r.frame_idx: r.logits[0].clone() for r in s.propagate()}
    return logits, readers


def test_prefetched_propagation_equals_on_demand(tiny_model, frame_files) -> None:
    on_demand, readers = _run(tiny_model, frame_files)
    ahead, ahead_readers = _run(tiny_model, frame_files, prefetch_frames=2)
    assert readers == {threading.current_thread().name}
    assert "samstream-prefetch" in ahead_readers
    assert on_demand.keys() == ahead.keys() == set(range(T))
    for frame, logits in on_demand.items():
        assert torch.equal(logits, ahead[frame]), frame
    assert not _prefetch_threads()


def test_early_stop_and_broken_frame_stop_the_thread(tiny_model, frame_files, tmp_path) -> None:
    with VideoPredictor(tiny_model, prefetch_frames=2).open(frame_files) as s:
        s.add_points(0, 1, [[12, 17]], [1])
        frames = s.propagate()
        next(frames)
        assert _prefetch_threads()  # reading ahead while the caller holds the first result
        frames.close()  # the caller stops early
        assert not _prefetch_threads()
    broken = tmp_path / "3.png"
    broken.write_bytes(b"not a png")
    source = [*frame_files[:3], broken, *frame_files[4:]]
    with VideoPredictor(tiny_model, prefetch_frames=2).open(source) as s:
        s.add_points(0, 1, [[12, 17]], [1])
        done = []
        with pytest.raises(VideoReadError):
            for r in s.propagate():
                done.append(r.frame_idx)
        assert done == [0, 1, 2]  # the frames before the broken one were tracked
        assert not _prefetch_threads()


def test_bad_prefetch_depth(tiny_model, frame_files) -> None:
    with VideoPredictor(tiny_model, prefetch_frames=-1).open(frame_files) as s:
        s.add_points(0, 1, [[12, 17]], [1])
        with pytest.raises(InvalidInputError, match="prefetch_frames"):
            list(s.propagate())
