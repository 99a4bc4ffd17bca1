"""read_frames: every kind of source, skipping, resizing, errors and clean shutdown."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samstream import read_frames
from samstream.errors import InvalidInputError, VideoReadError
from samstream.video.frames.decode import write_video


def _frames(n: int = 6, h: int = 48, w: int = 64) -> np.ndarray:
    out = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        out[t, :, :, 0] = (40 * t) % 256  # frame t is recognisable by its red level (t < 7)
        out[t, 10:20, 10 + 5 * t : 20 + 5 * t] = 255
    return out


def test_array_and_iterator_sources_with_skip() -> None:
    video = _frames()
    assert [f[0, 0, 0] for f in read_frames(video)] == [40 * t for t in range(6)]
    got = list(read_frames(iter(list(video)), skip=2))
    assert [f[0, 0, 0] for f in got] == [0, 120]
    gray = list(read_frames([video[0, :, :, 0]]))[0]
    assert gray.shape == (48, 64, 3)
    pil = list(read_frames([Image.fromarray(video[1])]))[0]
    np.testing.assert_array_equal(pil, video[1])


def test_video_file_decodes_every_frame_and_resizes(tmp_path) -> None:
    video = _frames(6, 96, 128)
    path = tmp_path / "clip.mp4"
    write_video(path, video, fps=12)
    with read_frames(path, max_size=64) as stream:
        frames = list(stream)
        assert stream.fps == pytest.approx(12)
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3)
    levels = [float(f[..., 0].mean()) for f in frames]
    assert all(abs(level - 40 * t) < 12 for t, level in enumerate(levels)), levels  # all, in order
    assert stream.closed
    skipped = read_frames(path, skip=1)
    assert len(list(skipped)) == 3 and skipped.fps == pytest.approx(6)


def test_frame_folder_in_natural_order(tmp_path) -> None:
    video = _frames(3)
    for t, name in enumerate(["frame2.png", "frame10.png", "frame1.png"]):
        Image.fromarray(video[t]).save(tmp_path / name)
    order = [int(f[0, 0, 0]) // 40 for f in read_frames(tmp_path)]
    assert order == [2, 0, 1]  # frame1, frame2, frame10


def test_close_stops_iteration_early(tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, _frames(6), fps=8)
    stream = read_frames(path)
    it = iter(stream)
    next(it)
    stream.close()
    assert list(it) == [] and stream.closed
    stream.close()  # twice is fine


def test_errors(tmp_path) -> None:
    with pytest.raises(VideoReadError, match="does not exist"):
        read_frames(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        list(read_frames(bad))
    good = tmp_path / "good.mp4"
    write_video(good, np.concatenate([_frames(6, 96, 128)] * 5), fps=10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoReadError):
        list(read_frames(truncated))
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoReadError, match=r"frame 0: .*0\.jpg.* is not a readable image"):
        list(read_frames(tmp_path / "frames"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="no image"):
        read_frames(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="skip"):
        read_frames(_frames(), skip=-1)
    with pytest.raises(InvalidInputError, match="max_size"):
        read_frames(_frames(), max_size=3)
    with pytest.raises(InvalidInputError, match=r"frame 0: float values must lie in \[0, 1\]"):
        list(read_frames([np.full((4, 4, 3), 2.0, np.float32)]))  # floats are taken in [0, 1] only
    with pytest.raises(InvalidInputError, match="source"):
        read_frames(3.5)
    with pytest.raises(InvalidInputError, match="source"):
        read_frames(np.zeros((4, 4, 3), np.uint8))
