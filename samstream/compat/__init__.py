"""Drop-in names and signatures of the official ``sam2`` package.

Scripts written for the official package run after changing only their imports::

    from samstream.compat import build_sam2, build_sam2_video_predictor, SAM2ImagePredictor
    from samstream.compat import SAM2VideoPredictor, SAM2AutomaticMaskGenerator

Everything here is a thin adapter over samstream's native API: :mod:`.build` (the builders),
:mod:`.image`, :mod:`.video` and :mod:`.amg` (the predictors and the mask generator).
"""

from samstream.compat.amg import SAM2AutomaticMaskGenerator
from samstream.compat.build import apply_overrides, build_sam2, build_sam2_hf, build_sam2_video_predictor
from samstream.compat.image import SAM2ImagePredictor
from samstream.compat.video import InferenceState, SAM2VideoPredictor

__all__ = [
    "InferenceState",
    "SAM2AutomaticMaskGenerator",
    "SAM2ImagePredictor",
    "SAM2VideoPredictor",
    "apply_overrides",
    "build_sam2",
    "build_sam2_hf",
    "build_sam2_video_predictor",
]
