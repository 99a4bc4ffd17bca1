"""Frame sources: folders, video files, arrays and lists give the same frames and model inputs."""

from __future__ import annotations

import os
import random
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samstream.errors import InvalidInputError, VideoReadError
from samstream.video.frames.decode import write_video
from samstream.video.frames.raw import natural_key
from samstream.video.frames.source import FrameSource, open_frames

av = pytest.importorskip("av")

SIZE = 32  # model input size used throughout (small: the tests check equality, not quality)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
T, H, W = 12, 48, 64


def make_clip(count: int = T, height: int = H, width: int = W) -> np.ndarray:
    """(count, H, W, 3) uint8 frames: moving gradients plus a little noise (compressible, varied)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(count):
        img = np.stack([xx * 4 + 3 * t, yy * 5 + 2 * t, (xx + yy) * 2 + t], axis=-1) % 256
        img = img + rng.integers(0, 8, img.shape)
        y, x = (3 * t) % (height - 8), (5 * t) % (width - 8)
        img[y: y + 8, x: x + 8] = 255  # a moving square tells frames apart
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def encode(path: Path, frames: np.ndarray, codec: str, pix_fmt: str, options: dict[str, str] | None = None,
           gop: int = 5, container_options: dict[str, str] | None = None) -> None:
    """Write ``frames`` with PyAV directly (independent of samstream's writer)."""
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.codec_context.gop_size = gop
        stream.options = options or {}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def closest(img: np.ndarray, clip: np.ndarray) -> int:
    """Index of the frame of ``clip`` nearest to ``img`` (mean absolute difference)."""
    return int(np.argmin(np.abs(clip.astype(np.int16) - img).mean(axis=(1, 2, 3))))


def reference_tensor(img: np.ndarray) -> torch.Tensor:
    """The expected model input, computed step by step with PIL, numpy and torch."""
    resized = np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    x = torch.from_numpy(resized / 255.0).permute(2, 0, 1).to(torch.float32)
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def opened(source, **kwargs) -> FrameSource:
    return open_frames(source, SIZE, MEAN, STD, **kwargs)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return make_clip()


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory, clip) -> Path:
    """PNG frames named frame0 ... frame11, written in shuffled order (natural order needed)."""
    folder = tmp_path_factory.mktemp("png")
    order = list(range(T))
    random.Random(0).shuffle(order)
    for i in order:
        Image.fromarray(clip[i]).save(folder / f"frame{i}.png")
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".hidden.png").write_bytes(b"macOS metadata, not an image")
    return folder


@pytest.fixture(scope="module")
def lossless_mp4(tmp_path_factory, clip) -> Path:
    """Lossless RGB H.264, a keyframe every 5 frames: decoded frames equal ``clip`` exactly."""
    if "libx264rgb" not in av.codecs_available:
        pytest.skip("FFmpeg without libx264rgb")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    encode(path, clip, "libx264rgb", "rgb24", {"qp": "0", "sc_threshold": "0"})
    return path


# --- ordering and names ---------------------------------------------------------------------------

def test_natural_key_orders_digit_runs():
    names = ["frame10.jpg", "frame2.jpg", "Frame1.jpg", "frame2b.jpg", "a.jpg"]
    assert sorted(names, key=natural_key) == ["a.jpg", "Frame1.jpg", "frame2.jpg", "frame2b.jpg", "frame10.jpg"]
    assert sorted(["100.jpg", "9.jpg", "10.jpg", "0.jpg"], key=natural_key) == ["0.jpg", "9.jpg", "10.jpg", "100.jpg"]


def test_png_folder_natural_order_names_and_size(png_folder, clip):
    with opened(png_folder) as frames:
        assert len(frames) == T
        assert frames.names == [f"frame{i}" for i in range(T)]
        assert (frames.height, frames.width) == (H, W)
        for i in range(T):
            assert np.array_equal(frames.raw(i), clip[i])


def test_numeric_names_sort_numerically(tmp_path, clip):
    for i in (0, 1, 2, 9, 10, 11):
        Image.fromarray(clip[i]).save(tmp_path / f"{i}.png")
    with opened(tmp_path) as frames:
        assert frames.names == ["0", "1", "2", "9", "10", "11"]
        assert np.array_equal(frames.raw(3), clip[9])


def test_array_names():
    with opened(make_clip(3)) as frames:
        assert frames.names == ["00000", "00001", "00002"] and frames.fps is None


# --- all sources agree ----------------------------------------------------------------------------

def test_lossless_sources_give_identical_tensors(png_folder, clip):
    paths = [png_folder / f"frame{i}.png" for i in range(T)]
    sources = {
        "folder (str)": str(png_folder),
        "array": clip,
        "list of arrays": [clip[i] for i in range(T)],
        "tuple of PIL images": tuple(Image.fromarray(clip[i]) for i in range(T)),
        "list of str paths": [str(p) for p in paths],
    }
    with opened(png_folder) as base:
        expected = [base.tensor(i) for i in range(T)]
    for label, source in sources.items():
        with opened(source) as frames:
            assert len(frames) == T, label
            assert (frames.height, frames.width) == (H, W), label
            for i in range(T):
                assert torch.equal(frames.tensor(i), expected[i]), (label, i)
                assert np.array_equal(frames.raw(i), clip[i]), (label, i)


def test_single_image_and_path_objects(png_folder, clip):
    with opened(png_folder / "frame3.png") as frames:
        assert len(frames) == 1 and frames.names == ["frame3"]
        assert np.array_equal(frames.raw(0), clip[3])
    with opened([png_folder / "frame5.png", clip[6]]) as frames:
        assert frames.names == ["frame5", "00001"]
        assert np.array_equal(frames.raw(1), clip[6])
    assert frames.closed  # the context manager closed it


def test_tensor_is_bicubic_resize_then_normalise(clip):
    with opened(clip) as frames:
        x = frames.tensor(4)
        assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32 and x.device.type == "cpu"
        assert torch.equal(x, reference_tensor(clip[4]))


def test_video_file_matches_array(lossless_mp4, clip):
    with opened(lossless_mp4) as video, opened(clip) as array:
        assert len(video) == T and (video.height, video.width) == (H, W)
        for i in range(T):
            assert np.array_equal(video.raw(i), clip[i])
            assert torch.equal(video.tensor(i), array.tensor(i))


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["RGB", "L"], ids=["color", "grayscale"])
@pytest.mark.parametrize("size", [SIZE, 96], ids=["downscale", "upscale"])
def test_jpeg_folder_matches_reference_loader(tmp_path, clip, mode, size):
    misc = pytest.importorskip("sam2.utils.misc")
    for i in range(T):
        Image.fromarray(clip[i]).convert(mode).save(tmp_path / f"{i:05d}.jpg", quality=90)
    images, height, width = misc.load_video_frames(
        video_path=str(tmp_path), image_size=size, offload_video_to_cpu=True, compute_device=torch.device("cpu"))
    with open_frames(tmp_path, size, MEAN, STD) as frames:
        assert (frames.height, frames.width) == (height, width)
        for i in range(T):
            ref, _, _ = misc._load_img_as_tensor(str(tmp_path / f"{i:05d}.jpg"), size)
            staged = torch.zeros(3, size, size, dtype=torch.float32)
            staged[:] = ref  # float64 -> float32, as the reference stores frames
            staged -= torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
            staged /= torch.tensor(STD, dtype=torch.float32)[:, None, None]
            ours = frames.tensor(i)
            assert torch.equal(ours, staged), float((ours - staged).abs().max())
            assert torch.equal(ours, images[i])


# --- video files ----------------------------------------------------------------------------------

CONTAINERS = [  # (suffix, codec, pixel format, options): every pair FFmpeg builds commonly have
    (".mp4", "libx264", "yuv420p", {"bf": "2", "sc_threshold": "0"}),  # B-frames: decode order != display
    (".mkv", "libx264", "yuv420p", {"bf": "2", "sc_threshold": "0"}),
    (".mov", "libx264", "yuv420p", {"sc_threshold": "0"}),
    (".avi", "mpeg4", "yuv420p", {}),
    (".webm", "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8"}),
    (".ts", "libx264", "yuv420p", {"sc_threshold": "0"}),  # seeks land only near the target
    (".h264", "libx264", "yuv420p", {"sc_threshold": "0"}),  # no timestamps: frames counted in order
]


@pytest.mark.parametrize("suffix,codec,pix_fmt,options", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_video_random_access_equals_sequential(tmp_path, suffix, codec, pix_fmt, options):
    if codec not in av.codecs_available:
        pytest.skip(f"FFmpeg without {codec}")
    clip = make_clip(20)
    path = tmp_path / f"clip{suffix}"
    encode(path, clip, codec, pix_fmt, options)
    with opened(Path(path), cache_size=0) as frames:
        assert len(frames) == 20 and frames.names[:2] == ["00000", "00001"]
        assert (frames.height, frames.width) == (H, W)
        sequential = [frames.raw(i).copy() for i in range(20)]
        order = list(range(20))
        random.Random(1).shuffle(order)
        for i in order + order[::-1]:
            assert np.array_equal(frames.raw(i), sequential[i]), i
    assert [closest(img, clip) for img in sequential] == list(range(20))  # lossy, yet frame i is frame i


def test_sequential_reading_does_not_seek(lossless_mp4):
    with opened(lossless_mp4, cache_size=2) as frames:
        reader = frames.reader
        start = reader.restarts
        for i in range(T):
            frames.tensor(i)
        assert reader.restarts == start  # frame 0 was decoded at open; the rest followed on
        frames.raw(T - 1)
        frames.raw(1)  # behind the decoder: needs one seek
        assert reader.restarts == start + 1


def test_concurrent_readers_get_the_right_frames(lossless_mp4, clip):
    errors: list[str] = []
    with opened(lossless_mp4, cache_size=1) as frames:
        def work(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(15):
                i = rng.randrange(T)
                if not np.array_equal(frames.raw(i), clip[i]):
                    errors.append(f"frame {i}")
        threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors


# --- bounded memory -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["array", "video"])
def test_lru_cache_is_bounded(kind, lossless_mp4, clip):
    source = clip if kind == "array" else lossless_mp4
    with opened(source, cache_size=3) as frames:
        for i in list(range(T)) + [2, 5, 7]:
            frames.tensor(i)
            info = frames.cache_info()
            assert info.raw <= 3 and info.tensors <= 3 and info.capacity == 3
        assert frames.cache_info().tensors == 3
        assert frames.tensor(7) is frames.tensor(7)  # a hit returns the cached tensor
        kept = frames.tensor(5)
        for i in range(8, 11):
            frames.tensor(i)
        assert frames.tensor(5) is not kept  # evicted, then computed again
        assert torch.equal(frames.tensor(5), kept)
    with opened(source, cache_size=0) as frames:
        frames.tensor(1)
        assert frames.cache_info() == (0, 0, 0)


def test_raw_frames_are_read_only(clip):
    with opened(clip) as frames:
        with pytest.raises(ValueError):
            frames.raw(0)[0, 0, 0] = 1


# --- writing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(H, W), (47, 63)])
def test_write_video_round_trips_count_and_size(tmp_path, height, width):
    clip = make_clip(10, height, width)
    path = tmp_path / "out.mp4"
    assert write_video(path, iter(clip), fps=25) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary file left
    assert (path.stat().st_mode & 0o044) == ((0o666 & ~current_umask()) & 0o044)  # usual permissions
    with opened(path) as frames:
        assert len(frames) == 10 and (frames.height, frames.width) == (height, width)
        assert [closest(frames.raw(i), clip) for i in range(10)] == list(range(10))
        assert frames.fps == 25


def test_write_video_falls_back_to_mpeg4(tmp_path, monkeypatch):
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx264"})
    clip = make_clip(6, 47, 63)
    assert write_video(tmp_path / "out.mp4", clip, fps=Fraction(30000, 1001)) == 6
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    with opened(tmp_path / "out.mp4") as frames:
        assert len(frames) == 6 and (frames.height, frames.width) == (47, 63)
        assert abs(frames.fps - 30000 / 1001) < 1e-6


def test_write_video_bad_input_leaves_nothing(tmp_path):
    clip = make_clip(3)
    with pytest.raises(InvalidInputError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], fps=25)
    with pytest.raises(InvalidInputError, match=r"frames\[2\]"):
        write_video(tmp_path / "mixed.mp4", [clip[0], clip[1], clip[2, :10]], fps=25)
    with pytest.raises(InvalidInputError, match="fps"):
        write_video(tmp_path / "rate.mp4", clip, fps=0)
    with pytest.raises(InvalidInputError, match="path"):
        write_video(tmp_path / "out.gif", clip, fps=25)
    assert list(tmp_path.iterdir()) == []


# --- errors ---------------------------------------------------------------------------------------

def test_missing_empty_and_unknown_sources(tmp_path):
    with pytest.raises(VideoReadError, match="no such file or folder"):
        opened(tmp_path / "nothing.mp4")
    with pytest.raises(VideoReadError, match="no JPEG or PNG"):
        opened(tmp_path)
    with pytest.raises(VideoReadError, match="empty"):
        opened([])
    with pytest.raises(VideoReadError, match="no frames"):
        opened(np.zeros((0, H, W, 3), np.uint8))
    with pytest.raises(VideoReadError, match="unsupported type int"):
        opened(5)


def test_wrong_arrays_and_arguments(clip):
    with pytest.raises(InvalidInputError, match="float32"):
        opened(clip.astype(np.float32))
    with pytest.raises(InvalidInputError, match=r"\(T, H, W, 3\)"):
        opened(clip[..., 0])
    with pytest.raises(InvalidInputError, match=r"source\[1\]"):
        opened([clip[0], clip[1, :, :, :2]])
    with pytest.raises(InvalidInputError, match=r"source\[0\].*dict"):
        opened([{}])
    with pytest.raises(InvalidInputError, match="torch.Tensor"):
        opened(torch.from_numpy(clip))
    with pytest.raises(InvalidInputError, match="image_size"):
        open_frames(clip, 0, MEAN, STD)
    with pytest.raises(InvalidInputError, match="cache_size"):
        open_frames(clip, SIZE, MEAN, STD, cache_size=-1)
    with pytest.raises(InvalidInputError, match="mean"):
        open_frames(clip, SIZE, MEAN[:2], STD)
    with opened(clip) as frames:
        with pytest.raises(InvalidInputError, match="outside the video"):
            frames.tensor(T)
        with pytest.raises(InvalidInputError, match="index"):
            frames.raw(True)
    with pytest.raises(VideoReadError, match="closed"):
        frames.raw(0)


def test_folder_mixing_jpeg_and_png(tmp_path, clip):
    Image.fromarray(clip[0]).save(tmp_path / "0.jpg")
    Image.fromarray(clip[1]).save(tmp_path / "1.png")
    with pytest.raises(VideoReadError, match="mixes JPEG and PNG"):
        opened(tmp_path)


def test_corrupt_jpeg_in_folder(tmp_path, clip):
    for i in range(5):
        Image.fromarray(clip[i]).save(tmp_path / f"{i}.jpg")
    data = (tmp_path / "3.jpg").read_bytes()
    (tmp_path / "3.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (tmp_path / "4.jpg").write_bytes(b"not a jpeg at all")
    with opened(tmp_path) as frames:
        assert len(frames) == 5
        with pytest.raises(VideoReadError, match=r"frame 3.*3\.jpg"):
            frames.tensor(3)
        with pytest.raises(VideoReadError, match=r"frame 4.*4\.jpg"):
            frames.raw(4)
        assert frames.raw(2).shape == (H, W, 3)  # the other frames still read
    (tmp_path / "0.jpg").write_bytes(b"")
    with pytest.raises(VideoReadError, match=r"frame 0.*0\.jpg"):
        opened(tmp_path)


def test_garbage_file_with_video_suffix(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="garbage.mp4"):
        opened(path)


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "index-first"])
def test_truncated_mp4(tmp_path, faststart):
    path = tmp_path / "full.mp4"
    encode(path, make_clip(20), "mpeg4", "yuv420p", container_options={"movflags": "faststart"} if faststart else None)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    pattern = r"cut\.mp4.*frame \d+" if faststart else r"cut\.mp4"  # index lost: fails to open at all
    with pytest.raises(VideoReadError, match=pattern):
        opened(cut)


def test_undecodable_frame_names_file_and_index(tmp_path):
    """An MJPEG video whose frame 7 is zeroed out: that frame fails, the others still decode."""
    path = tmp_path / "broken.mp4"
    encode(path, make_clip(12), "mjpeg", "yuvj420p")
    with av.open(str(path)) as container:
        where = [(p.pos, p.size) for p in container.demux(video=0) if p.size][7]
    data = bytearray(path.read_bytes())
    data[where[0]: where[0] + where[1]] = bytes(where[1])
    path.write_bytes(bytes(data))
    with opened(path, cache_size=0) as frames:
        assert len(frames) == 12
        for i in range(7):
            frames.raw(i)
        with pytest.raises(VideoReadError, match=r"broken\.mp4.*frame 7"):
            frames.raw(7)
        assert frames.raw(8).shape == (H, W, 3)
        with pytest.raises(VideoReadError, match=r"broken\.mp4.*frame 7"):
            frames.raw(7)  # random access to it fails the same way
