"""Random access to video files agrees with sequential decoding, whatever the file's timestamps say.

Every file here is encoded by the test with PyAV; the truth is what PyAV's decoder delivers when the
file is decoded from its start (read independently of samstream), and each frame must also be the
encoded frame it stands for (frames are told apart by a moving square).
"""

from __future__ import annotations

import gzip
import random
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from samstream.errors import VideoReadError
from samstream.video.frames import index as frame_index
from samstream.video.frames.source import open_frames
from samstream.video.frames.frame_stream import read_frames

av = pytest.importorskip("av")

H, W, N = 48, 64, 40
OPENCV_DATA = Path("/usr/share/doc/opencv-doc")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """samstream's cache folder, private to each test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("SAMSTREAM_HOME", str(folder))
    return folder


def make_clip(count: int = N) -> np.ndarray:
    """(count, H, W, 3) uint8: gradients, noise and a moving white square (frames differ clearly)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    frames = []
    for t in range(count):
        img = np.stack([xx * 4 + 3 * t, yy * 5 + 2 * t, (xx + yy) * 2 + t], axis=-1) % 256
        img = img + rng.integers(0, 8, img.shape)
        y, x = (3 * t) % (H - 8), (5 * t) % (W - 8)
        img[y: y + 8, x: x + 8] = 255
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def encode(path: Path, frames: np.ndarray, codec: str, pix_fmt: str, options: dict[str, str] | None = None,
           pts: list[int] | None = None, time_base: Fraction | None = None, dts_as_pts: bool = False) -> Path:
    """Encode with PyAV. ``pts``: frame timestamps in ``time_base`` (variable rate, gaps).

    ``dts_as_pts`` writes every packet with its decoding timestamp as presentation timestamp (as
    some cameras and old muxers do), so a container without composition offsets holds a stream
    that reorders frames.
    """
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.codec_context.gop_size = 8
        if time_base is not None:
            stream.codec_context.time_base = time_base
        stream.options = options or {}
        packets = []
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            packets += stream.encode(frame)
        packets += stream.encode()
        first = packets[0].dts
        for packet in packets:
            if dts_as_pts:
                packet.dts -= first
                packet.pts = packet.dts
            container.mux(packet)
    return path


def sequential(path: Path) -> list[np.ndarray]:
    """Every frame PyAV delivers decoding ``path`` from its start."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def closest(img: np.ndarray, clip: np.ndarray) -> int:
    return int(np.argmin(np.abs(clip.astype(np.int16) - img).mean(axis=(1, 2, 3))))


def opened(path: Path, **kwargs):
    return open_frames(path, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), **kwargs)


H264 = {"bf": "3", "sc_threshold": "0"}
OPEN_GOP = {"x264-params": "open-gop=1:bframes=3:keyint=8:min-keyint=8:scenecut=0"}
VFR = dict(pts=[int(1000 * t ** 1.3 / 25) for t in range(N)], time_base=Fraction(1, 1000))
GAPS = dict(pts=[t + 3 * (t // 5) for t in range(N)], time_base=Fraction(1, 25))  # 3 frames dropped every 5
CASES = {  # name: (suffix, codec, pixel format, encode keywords)
    "h264-bframes-mp4": (".mp4", "libx264", "yuv420p", dict(options=H264)),
    "h264-bframes-no-composition-times": (".mp4", "libx264", "yuv420p", dict(options=H264, dts_as_pts=True)),
    "h264-open-gop-mkv": (".mkv", "libx264", "yuv420p", dict(options=OPEN_GOP)),
    "h264-open-gop-mp4": (".mp4", "libx264", "yuv420p", dict(options=OPEN_GOP)),
    "mjpeg-avi": (".avi", "mjpeg", "yuvj420p", {}),
    "mpeg4-bframes-avi": (".avi", "mpeg4", "yuv420p", dict(options={"bf": "2"})),
    "vp9-webm": (".webm", "libvpx-vp9", "yuv420p", dict(options={"deadline": "realtime", "cpu-used": "8"})),
    "variable-rate-mkv": (".mkv", "libx264", "yuv420p", dict(options={"bf": "2"}, **VFR)),
    "variable-rate-mp4": (".mp4", "mpeg4", "yuv420p", VFR),
    "avi-with-gaps": (".avi", "mjpeg", "yuvj420p", GAPS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_random_access_equals_sequential_decoding(tmp_path, name):
    suffix, codec, pix_fmt, kwargs = CASES[name]
    if codec not in av.codecs_available:
        pytest.skip(f"FFmpeg without {codec}")
    clip = make_clip()
    path = encode(tmp_path / f"clip{suffix}", clip, codec, pix_fmt, **kwargs)
    truth = sequential(path)
    assert [closest(img, clip) for img in truth] == list(range(N))  # the file holds every frame, in order
    with opened(path, cache_size=0) as frames:
        assert len(frames) == N
        order = list(range(N))
        random.Random(3).shuffle(order)
        for i in order:
            assert np.array_equal(frames.raw(i), truth[i]), i
        restarts = frames.reader.restarts
        for i in range(N):  # in order again: decoding continues, at most one seek back to the start
            assert np.array_equal(frames.raw(i), truth[i]), i
        assert frames.reader.restarts <= restarts + 1
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == [f"clip{suffix}"]  # nothing beside it


def test_untrustworthy_timestamps_are_indexed_once_and_cached(tmp_path, home, monkeypatch):
    path = encode(tmp_path / "clip.mp4", make_clip(), "libx264", "yuv420p", options=H264, dts_as_pts=True)
    with opened(path) as frames:
        assert frames.reader.index.decoded  # the packets' order is not the decoder's
    cached = list((home / "video-index").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".json"

    def no_decoding(path: Path) -> None:
        raise AssertionError("the cached index should have been used")

    monkeypatch.setattr(frame_index, "decode_index", no_decoding)
    truth = sequential(path)
    with opened(path, cache_size=0) as frames:
        assert len(frames) == N and np.array_equal(frames.raw(N - 3), truth[N - 3])
    path.write_bytes(path.read_bytes())  # the same path, a new modification time: the cache no longer fits
    with pytest.raises(AssertionError, match="cached index"):
        opened(path)


def test_a_second_open_reads_the_cached_index_without_a_demux_pass(tmp_path, home, monkeypatch):
    """The demux pass is linear in the video's length; a file opened before (same path, size and
    modification time) is not scanned again, and a packet index stays one (checked while read)."""
    path = encode(tmp_path / "clip.mkv", make_clip(), "libx264", "yuv420p", options=H264)
    truth = sequential(path)
    with opened(path) as frames:
        assert not frames.reader.index.decoded  # the packets' order is the decoder's: no full decode
        first = frames.reader.index

    def no_scan(*args) -> None:
        raise AssertionError("the cached index should have been used")

    monkeypatch.setattr(frame_index, "scan_packets", no_scan)
    monkeypatch.setattr(frame_index, "decoded_frames", no_scan)
    with opened(path, cache_size=0) as frames:
        assert frames.reader.index == first
        assert all(np.array_equal(frames.raw(i), truth[i]) for i in (N - 1, 0, N // 2))
    path.write_bytes(path.read_bytes())  # a new modification time: scanned again
    with pytest.raises(AssertionError, match="cached index"):
        opened(path)


def test_a_wrong_index_found_while_reading_is_replaced(tmp_path, monkeypatch):
    """When the decoded prefix agrees but a later frame does not, reading switches to a decoded index."""
    path = encode(tmp_path / "clip.mp4", make_clip(), "libx264", "yuv420p", options=H264, dts_as_pts=True)
    monkeypatch.setattr(frame_index, "PROBE_FRAMES", 1)  # too short to see the reordering
    truth = sequential(path)
    with opened(path, cache_size=0) as frames:
        assert not frames.reader.index.decoded
        got = [frames.raw(i).copy() for i in range(N)]
        assert frames.reader.index.decoded
    assert all(np.array_equal(a, b) for a, b in zip(got, truth))


@pytest.mark.parametrize("suffix,codec,pix_fmt", [(".mkv", "libx264", "yuv420p"), (".avi", "mjpeg", "yuvj420p"),
                                                  (".webm", "libvpx-vp9", "yuv420p")])
def test_truncated_file_gets_the_same_verdict_everywhere(tmp_path, suffix, codec, pix_fmt):
    if codec not in av.codecs_available:
        pytest.skip(f"FFmpeg without {codec}")
    full = encode(tmp_path / f"full{suffix}", make_clip(60), codec, pix_fmt)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(VideoReadError, match=r"cut\.\w+'? is truncated") as random_access:
        opened(cut)
    with pytest.raises(VideoReadError, match=r"cut\.\w+'? is truncated") as streaming:
        read_frames(cut)
    assert str(random_access.value) == str(streaming.value)
    with opened(full) as frames:  # the complete file is fine
        assert len(frames) == 60


def test_read_frames_gives_the_same_frames_as_random_access(tmp_path):
    path = encode(tmp_path / "clip.mp4", make_clip(), "libx264", "yuv420p", options=H264, dts_as_pts=True)
    with read_frames(path) as stream:
        streamed = list(stream)
    with opened(path, cache_size=0) as frames:
        assert len(streamed) == len(frames) == N
        assert all(np.array_equal(streamed[i], frames.raw(i)) for i in (N - 1, 0, 17, 5))


# --- real files nobody here made ------------------------------------------------------------------

def opencv_samples() -> list[Path]:
    found = []
    for name in ("vtest.avi", "Megamind.avi", "Megamind_bugy.avi", "tree.avi", "cup.mp4.gz", "box.mp4.gz"):
        found += sorted(OPENCV_DATA.rglob(name)) if OPENCV_DATA.is_dir() else []
    return found


@pytest.mark.slow
@pytest.mark.skipif(not opencv_samples(), reason="OpenCV's sample videos are not installed (apt-get install opencv-doc)")
@pytest.mark.parametrize("sample", opencv_samples(), ids=lambda p: p.name)
def test_opencv_samples(tmp_path, sample):
    path = tmp_path / sample.name.removesuffix(".gz")
    if sample.suffix == ".gz":
        with gzip.open(sample) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        shutil.copyfile(sample, path)
    with av.open(str(path)) as container:  # the truth, kept for a few frames only
        count = sum(1 for _ in container.decode(video=0))
    picks = sorted(random.Random(0).sample(range(count), min(count, 6)) + [0, count - 1])
    with av.open(str(path)) as container:
        truth = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in picks}
    with opened(path, cache_size=0) as frames:
        assert len(frames) == count
        for i in picks[::-1]:
            assert np.array_equal(frames.raw(i), truth[i]), i
