"""Dataset layout readers shared by evaluation and training.

* :mod:`samstream.data.video_datasets`: DAVIS 2017, SA-V and YouTube-VOS folders (frames,
  annotated frames, each object's first mask).
* :mod:`samstream.data.image_datasets`: SA-1B and COCO instances (image path and instance masks).
"""

from samstream.data.image_datasets import CocoInstances, ImageSample, SA1BDataset, open_image_dataset
from samstream.data.video_datasets import ObjectPrompt, VideoDataset, VideoEntry

__all__ = [
    "CocoInstances",
    "ImageSample",
    "ObjectPrompt",
    "SA1BDataset",
    "VideoDataset",
    "VideoEntry",
    "open_image_dataset",
]
