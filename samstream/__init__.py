"""samstream: fast, faithful SAM 2 / SAM 2.1 for images and videos.

The public names are loaded on first use (PEP 562): ``import samstream`` and
``import samstream.errors`` do not import torch, so the command line answers ``--help`` at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samstream.lazy import lazy_names

__version__ = "0.1.0"

# public name -> module defining it
_PUBLIC = {
    "CheckpointError": "samstream.errors",
    "Dam4samConfig": "samstream.video.methods",
    "FrameResult": "samstream.video.predictor",
    "FrameStream": "samstream.video.frames.frame_stream",
    "ImagePrediction": "samstream.image.predictor",
    "ImagePredictor": "samstream.image.predictor",
    "InvalidInputError": "samstream.errors",
    "MaskGenerator": "samstream.amg",
    "ModelConfig": "samstream.config",
    "PromptError": "samstream.errors",
    "Sam2LongConfig": "samstream.video.methods",
    "SamstreamError": "samstream.errors",
    "SamuraiConfig": "samstream.video.methods",
    "StreamTracker": "samstream.video.stream",
    "UnknownObjectError": "samstream.errors",
    "VideoPredictor": "samstream.video.predictor",
    "VideoReadError": "samstream.errors",
    "VideoSession": "samstream.video.predictor",
    "build_model": "samstream.checkpoints",
    "download": "samstream.checkpoints",
    "load_model": "samstream.checkpoints",
    "read_frames": "samstream.video.frames.frame_stream",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(globals(), _PUBLIC)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from samstream.amg import MaskGenerator
    from samstream.checkpoints import build_model, download, load_model
    from samstream.config import ModelConfig
    from samstream.errors import (
        CheckpointError,
        InvalidInputError,
        PromptError,
        SamstreamError,
        UnknownObjectError,
        VideoReadError,
    )
    from samstream.image.predictor import ImagePrediction, ImagePredictor
    from samstream.video.frames.frame_stream import FrameStream, read_frames
    from samstream.video.methods import Dam4samConfig, Sam2LongConfig, SamuraiConfig
    from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession
    from samstream.video.stream import StreamTracker
