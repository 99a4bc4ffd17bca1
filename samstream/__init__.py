"""samstream: fast, faithful SAM 2 / SAM 2.1 for images and videos."""

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
from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "FrameResult",
    "ImagePrediction",
    "ImagePredictor",
    "InvalidInputError",
    "ModelConfig",
    "PromptError",
    "SamstreamError",
    "UnknownObjectError",
    "VideoPredictor",
    "VideoReadError",
    "VideoSession",
    "build_model",
    "download",
    "load_model",
]
