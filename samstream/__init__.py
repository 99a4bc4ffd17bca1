"""samstream: fast, faithful SAM 2 / SAM 2.1 for images and videos."""

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
from samstream.video.live import FrameStream, read_frames
from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession
from samstream.video.stream import StreamTracker

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "FrameResult",
    "FrameStream",
    "ImagePrediction",
    "ImagePredictor",
    "InvalidInputError",
    "MaskGenerator",
    "ModelConfig",
    "PromptError",
    "SamstreamError",
    "StreamTracker",
    "UnknownObjectError",
    "VideoPredictor",
    "VideoReadError",
    "VideoSession",
    "build_model",
    "download",
    "load_model",
    "read_frames",
]
