"""``to_rgb``: one conversion of any still image to (H, W, 3) uint8 RGB, for every entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from samstream.errors import InvalidInputError, VideoReadError
from samstream.rgb import to_rgb
from samstream.video.frames.source import open_frames
from samstream.video.frames.frame_stream import frame_to_rgb, read_frames

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def scaled16(values: np.ndarray) -> np.ndarray:
    """The expected 16 -> 8 bit scaling, computed in floats: round(v * 255 / 65535)."""
    return np.floor(values.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)


def test_uint8_rgb_is_returned_as_is():
    out = to_rgb(RGB)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and np.array_equal(out, RGB)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_grayscale_is_replicated(shape):
    gray = RNG.integers(0, 256, shape, dtype=np.uint8)
    out = to_rgb(gray)
    assert out.shape == (5, 7, 3)
    for c in range(3):
        assert np.array_equal(out[..., c], gray.reshape(5, 7))


def test_rgba_drops_alpha_the_same_for_arrays_pil_and_files(tmp_path):
    rgba = np.concatenate([RGB, RNG.integers(0, 256, (5, 7, 1), dtype=np.uint8)], axis=2)
    rgba[0, 0, 3] = 0  # fully transparent: its colour is kept as stored, not blackened
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    for given in (rgba, Image.fromarray(rgba, "RGBA"), tmp_path / "a.png", str(tmp_path / "a.png")):
        assert np.array_equal(to_rgb(given), RGB), type(given)


def test_uint16_arrays_are_scaled_with_rounding():
    values = np.array([[0, 128, 129, 257, 32767, 32768, 65406, 65535]], dtype=np.uint16)
    out = to_rgb(values)
    assert out[0, :, 0].tolist() == scaled16(values)[0].tolist() == [0, 0, 1, 1, 127, 128, 254, 255]
    rgb16 = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    assert np.array_equal(to_rgb(rgb16), scaled16(rgb16))
    assert np.array_equal(to_rgb(rgb16.byteswap().view(rgb16.dtype.newbyteorder())), scaled16(rgb16))


def test_16_bit_png_keeps_its_grey_levels(tmp_path):
    """A 16-bit grayscale PNG was reduced to three grey levels (clipped at 255): now it is scaled."""
    ramp = (np.arange(256 * 4, dtype=np.uint32) * 64).astype(np.uint16).reshape(16, 64)  # 0 .. 65472
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    with Image.open(tmp_path / "ramp16.png") as im:
        assert im.mode.startswith("I")  # really stored and read as 16 bits
    out = to_rgb(tmp_path / "ramp16.png")
    assert np.array_equal(out[..., 0], scaled16(ramp)) and np.array_equal(out[..., 2], scaled16(ramp))
    assert len(np.unique(out)) == 256  # every 8-bit level; before: 3
    # the same through the video readers
    with open_frames([tmp_path / "ramp16.png"], 16, (0, 0, 0), (1, 1, 1)) as frames:
        assert np.array_equal(frames.raw(0), out)
    assert np.array_equal(next(iter(read_frames(tmp_path / "ramp16.png"))), out)


def test_pil_32_bit_mode_holding_16_bit_values():
    values = RNG.integers(0, 65536, (5, 7)).astype(np.int32)
    assert np.array_equal(to_rgb(Image.fromarray(values, "I"))[..., 1], scaled16(values.astype(np.uint16)))
    with pytest.raises(InvalidInputError, match="img: 32-bit"):
        to_rgb(Image.fromarray(np.full((2, 2), 70000, np.int32), "I"), "img")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floats_in_unit_range_are_scaled(dtype):
    values = np.array([[0.0, 0.25, 0.5, 1 / 255, 0.999, 1.0]], dtype=dtype)
    expected = np.floor(values.astype(np.float64) * 255 + 0.5).astype(np.uint8)  # round half up; no ties here
    assert np.array_equal(to_rgb(values)[..., 0], expected)
    assert np.array_equal(to_rgb(Image.fromarray(values.astype(np.float32), "F"))[..., 0],
                          np.floor(values.astype(np.float32).astype(np.float64) * 255 + 0.5).astype(np.uint8))


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan, np.inf])
def test_floats_outside_unit_range_are_refused(bad):
    values = np.full((3, 3, 3), 0.5, np.float32)
    values[1, 1, 1] = bad
    with pytest.raises(InvalidInputError, match=r"frame: float values must lie in \[0, 1\]"):
        to_rgb(values, "frame")
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        to_rgb(Image.fromarray(values[..., 1], "F"))


def test_bool_is_black_and_white():
    mask = RNG.random((5, 7)) > 0.5
    assert np.array_equal(to_rgb(mask)[..., 2], np.where(mask, 255, 0).astype(np.uint8))


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "HSV",
                                  "I;16", "I;16B", "I", "F", "La", "RGBa"])
def test_every_pil_mode_gives_rgb_uint8(mode):
    base = Image.fromarray(RGB)
    if mode in ("I;16", "I;16B", "I", "F"):
        image = base.convert("L").convert("I")
        image = image.point(lambda v: v * 257) if mode != "F" else image.convert("F").point(lambda v: v / 255)
        image = image if mode in ("I", "F") else image.convert(mode)
    else:
        image = base.convert(mode)
    out = to_rgb(image)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3), mode
    if mode in ("L", "I;16", "I;16B", "I", "F", "LA", "La"):  # gray modes: the same levels as "L"
        assert np.array_equal(out[..., 0], np.asarray(base.convert("L"))), mode
    if mode in ("RGB", "RGBA", "RGBX"):
        assert np.array_equal(out, RGB), mode


def test_paths_folders_and_unreadable_files(tmp_path):
    with pytest.raises(InvalidInputError, match=r"image: .* is a folder; expected an image file"):
        to_rgb(tmp_path)
    with pytest.raises(InvalidInputError, match="image: no such file"):
        to_rgb(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        to_rgb(tmp_path / "bad.png")
    with pytest.raises(VideoReadError, match=r"frame 0: .*bad\.png.* not a readable image"):
        frame_to_rgb(tmp_path / "bad.png", "frame 0")  # in a video, a bad image file is a bad frame


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((0, 4, 3), np.uint8), "empty"),
    (np.zeros((4, 4, 3), np.int32), "dtype int32"),
    (torch.zeros(4, 4, 3, dtype=torch.uint8), "torch.Tensor"),
    ([[1, 2]], "unsupported type list"),
])
def test_bad_arrays_name_the_argument(bad, match):
    with pytest.raises(InvalidInputError, match=f"picture: .*{match}"):
        to_rgb(bad, "picture")


def test_video_list_sources_use_the_same_conversion(tmp_path):
    rgba = np.concatenate([RGB, np.zeros((5, 7, 1), np.uint8)], axis=2)
    u16 = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    with open_frames([rgba, u16, Image.fromarray(rgba, "RGBA")], 16, (0, 0, 0), (1, 1, 1)) as frames:
        assert np.array_equal(frames.raw(0), RGB)
        assert np.array_equal(frames.raw(1), scaled16(u16))
        assert np.array_equal(frames.raw(2), RGB)
    assert np.array_equal(frame_to_rgb(u16, "frame"), scaled16(u16))
