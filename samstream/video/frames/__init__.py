"""Frames of videos, for the trackers above them: decoding, the packet index, stream readers and read-ahead.

* :mod:`~samstream.video.frames.source`: random access to a finite video (frame folder, video file,
  array, list of images): :func:`open_frames` / :class:`FrameSource`, original frames and model inputs;
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
    "VideoFileReader": "samstream.video.frames.decode",
    "open_frames": "samstream.video.frames.source",
    "read_frames": "samstream.video.frames.frame_stream",
    "write_video": "samstream.video.frames.decode",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(globals(), _PUBLIC)

if TYPE_CHECKING:
    from samstream.video.frames.decode import VideoFileReader, write_video
    from samstream.video.frames.frame_stream import FrameStream, read_frames
    from samstream.video.frames.prefetch import FramePrefetcher
    from samstream.video.frames.source import FrameSource, open_frames
