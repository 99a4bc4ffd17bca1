"""The frames wing: reading raw frames is separate from preprocessing them for the model, and the
reading half imports no torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from samstream.errors import InvalidInputError
from samstream.registry import get_variant
from samstream.video.frames.preprocess import ModelInput
from samstream.video.frames.raw import open_raw_frames
from samstream.video.frames.source import open_frames
from tests.video.frames.test_source import MEAN, SIZE, STD, make_clip, reference_tensor

READING = ["raw", "index", "decode", "frame_stream", "prefetch"]


def test_reading_frames_imports_no_torch(tmp_path):
    # a fresh interpreter: this one has torch loaded already
    clip = make_clip(3)
    np.save(tmp_path / "clip.npy", clip)
    code = ("import sys\n" + "".join(f"import samstream.video.frames.{m}\n" for m in READING) +
            "import numpy as np\n"
            f"frames = samstream.video.frames.raw.open_raw_frames(np.load({str(tmp_path / 'clip.npy')!r}))\n"
            "assert frames.raw(2).shape == (48, 64, 3)\n"
            "import samstream.video.frames as wing\n"
            "wing.read_frames\n"  # a lazy name of the wing's __init__, from a torch-free module
            "print(sorted(m for m in ('torch', 'samstream.checkpoints') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_raw_frames_are_the_frame_source_originals():
    clip = make_clip(5)
    with open_raw_frames(clip, cache_size=2) as raw, open_frames(clip, SIZE, MEAN, STD) as source:
        assert (len(raw), raw.height, raw.width, raw.names, raw.fps) == (5, 48, 64, source.names, None)
        for i in (0, 4, 1, 4):
            np.testing.assert_array_equal(raw.raw(i), clip[i])
            np.testing.assert_array_equal(raw.raw(i), source.raw(i))
        assert raw.cached == 2  # bounded
    assert raw.closed
    with pytest.raises(InvalidInputError, match="cache_size"):
        open_raw_frames(clip, cache_size=-1)
    with pytest.raises(InvalidInputError, match="index: frame 5"):
        open_raw_frames(clip).raw(5)


def test_model_input_is_the_reference_preprocessing():
    clip = make_clip(2)
    model_input = ModelInput(SIZE, MEAN, STD)
    x = model_input(clip[1])
    assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
    torch.testing.assert_close(x, reference_tensor(clip[1]), atol=0, rtol=0)
    with open_frames(clip, SIZE, MEAN, STD) as source:  # the source's inputs are the same object's
        assert torch.equal(source.tensor(1), x)


def test_model_input_for_a_model_uses_its_configuration():
    cfg = get_variant("samstream-nano").config
    model_input = ModelInput.for_model(cfg)
    assert model_input.image_size == cfg.image_size
    clip = make_clip(1)
    expected = ModelInput(cfg.image_size, cfg.pixel_mean, cfg.pixel_std)(clip[0])
    assert torch.equal(model_input(clip[0]), expected)
    with pytest.raises(InvalidInputError, match="std"):
        ModelInput(16, MEAN, (0.1, 0.0, 0.1))
    with pytest.raises(InvalidInputError, match="image_size"):
        ModelInput(0, MEAN, STD)
