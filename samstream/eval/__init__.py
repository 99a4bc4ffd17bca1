"""Video object segmentation evaluation: J&F metrics and the DAVIS 2017 and SA-V protocols."""

from samstream.data.sav_json import SavMasklet, SavVideo, load_sav_annotation
from samstream.eval.davis import evaluate_davis
from samstream.eval.metrics import Statistics, boundary_f, db_statistics, jaccard, seg2bmap
from samstream.eval.results import EvalResult, ObjectResult
from samstream.eval.sav import evaluate_sav

__all__ = [
    "EvalResult",
    "ObjectResult",
    "SavMasklet",
    "SavVideo",
    "Statistics",
    "boundary_f",
    "db_statistics",
    "evaluate_davis",
    "evaluate_sav",
    "jaccard",
    "load_sav_annotation",
    "seg2bmap",
]
