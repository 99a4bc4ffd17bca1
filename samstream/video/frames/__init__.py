"""Frames of videos, for the trackers above them: decoding, the packet index, stream readers and read-ahead.

* :mod:`~samstream.video.frames.raw`: random access to the original frames of a finite video (frame
  folder, video file, array, list of images): :func:`open_raw_frames` / :class:`RawFrames`, torch-free;
* :mod:`~samstream.video.frames.preprocess`: a frame made into a model input (:class:`ModelInput`);
* :mod:`~samstream.video.frames.source`: the two together for the trackers: :func:`open_frames` /
  :class:`FrameSource`, originals and model inputs, both cached;
* :mod:`~samstream.video.frames.frame_stream`: frames one after another from a file, URL, camera or
  iterator (:func:`read_frames` / :class:`FrameStream`), forward only, one frame held at a time;
* :mod:`~samstream.video.frames.decode`: video files through PyAV, exact random access
  (:class:`VideoFileReader`) and writing MP4 files (:func:`write_video`);
* :mod:`~samstream.video.frames.index`: where each frame of a video file is (the packet index);
* :mod:`~samstream.video.frames.prefetch`: frames read ahead of the model on a thread.

The names below are loaded on first use (PEP 562), so importing one light module of the wing does
not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samstream.lazy import lazy_names

_PUBLIC = {
    "FramePrefetcher": "samstream.video.frames.prefetch",
    "FrameSource": "samstream.video.frames.source",
    "FrameStream": "samstream.video.frames.frame_stream",
    "ModelInput": "samstream.video.frames.preprocess",
    "RawFrames": "samstream.video.frames.raw",
    "VideoFileReader": "samstream.video.frames.decode",
    "open_frames": "samstream.video.frames.source",
    "open_raw_frames": "samstream.video.frames.raw",
    "read_frames": "samstream.video.frames.frame_stream",
    "write_video": "samstream.video.frames.decode",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(globals(), _PUBLIC)

if TYPE_CHECKING:
    from samstream.video.frames.decode import VideoFileReader, write_video
    from samstream.video.frames.frame_stream import FrameStream, read_frames
    from samstream.video.frames.prefetch import FramePrefetcher
    from samstream.video.frames.preprocess import ModelInput
    from samstream.video.frames.raw import RawFrames, open_raw_frames
    from samstream.video.frames.source import FrameSource, open_frames
