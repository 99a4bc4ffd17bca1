"""DAVIS 2017 semi-supervised evaluation of a folder of predicted label PNGs.

Layout (the official download's)::

    <davis_root>/ImageSets/2017/<subset>.txt          one sequence name per line
    <davis_root>/Annotations/<resolution>/<seq>/*.png  ground truth, indexed PNGs (255 = void)
    <davis_root>/Annotations_unsupervised/<resolution>/<seq>/*.png   the unsupervised task's
    <pred_root>/<seq>/<same file names>.png             predictions, indexed PNGs

Protocol (davis2017-evaluation, semi-supervised task):

* the first and the last frame of every sequence are not scored;
* the objects of a sequence are ids ``1 .. max id`` of its ground truth; every scored frame is
  scored for every object (frames before an object appears score J = 1 when the prediction is
  empty too). The official code takes the largest id of the first frame, which is the same on
  DAVIS 2017, where every object is annotated in the first frame; here an object appearing later
  is scored as well;
* void pixels (255) count as background, as in the official semi-supervised evaluation;
* a missing prediction frame (or sequence folder) counts as an empty mask, where the official code
  stops; predicted ids that the ground truth does not have are ignored;
* per object: mean, recall and decay of J and F over the scored frames; the summary averages them
  over all objects of all sequences, and ``J&F`` is the mean of J-mean and F-mean.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from samstream.data.video_datasets import davis_annotations, read_davis_subset
from samstream.errors import InvalidInputError
from samstream.eval.metrics import BOUND_TH, boundary_f, jaccard
from samstream.eval.pool import map_tasks
from samstream.eval.results import EvalResult, ObjectScores, Protocol
from samstream.io.labels import list_pngs, read_label_png

__all__ = ["davis_sequences", "evaluate_davis", "score_davis_sequence"]

VOID = 255
Task = tuple[str, Path, Path]  # (sequence, ground-truth folder, prediction folder)


def evaluate_davis(
    pred_root: str | Path,
    davis_root: str | Path,
    subset: str = "val",
    *,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    workers: int = 1,
    bound_th: float = BOUND_TH,
) -> EvalResult:
    """Score the predictions under ``pred_root`` against a DAVIS 2017 root.

    Args:
        pred_root: folder holding one folder of label PNGs per sequence.
        davis_root: the DAVIS 2017 root (with ``Annotations`` and ``ImageSets``).
        subset: ``ImageSets/2017/<subset>.txt`` names the sequences (ignored if ``sequences``).
        resolution: the ``Annotations`` sub-folder (``480p`` or ``Full-Resolution``).
        sequences: evaluate only these sequences.
        workers: processes scoring sequences in parallel.
        bound_th: boundary tolerance of F (fraction of the diagonal).

    Returns:
        The scores (fractions in [0, 1]) with the protocol: ground truth ``Annotations/<resolution>``,
        the first and last frame of every sequence not scored.
    """
    ann_root, tasks = davis_sequences(pred_root, davis_root, subset, resolution, sequences, "semi-supervised")
    fn = partial(_score_task, bound_th=bound_th)
    scores = [obj for seq_scores in map_tasks(fn, tasks, workers) for obj in seq_scores]
    protocol = Protocol("DAVIS 2017 semi-supervised", str(ann_root), "the first and last frame of every sequence")
    return EvalResult.from_scores(scores, protocol)


def davis_sequences(pred_root: str | Path, davis_root: str | Path, subset: str, resolution: str,
                    sequences: list[str] | None, task: str) -> tuple[Path, list[Task]]:
    """The ground-truth folder of ``task`` (:func:`~samstream.data.video_datasets.davis_annotations`)
    and, per sequence (``sequences``, else those of the subset), its ground-truth and prediction folders;
    an error names the sequences the ground truth lacks."""
    davis_root = Path(davis_root)
    if sequences is None:
        sequences = read_davis_subset(davis_root, subset)
    ann_root = davis_annotations(davis_root, resolution, task)
    missing = [s for s in sequences if not (ann_root / s).is_dir()]
    if missing:
        raise InvalidInputError(f"no annotation folder under {ann_root} for sequences {missing}")
    return ann_root, [(s, ann_root / s, Path(pred_root) / s) for s in sequences]


def score_davis_sequence(
    name: str, gt_dir: str | Path, pred_dir: str | Path, bound_th: float = BOUND_TH
) -> list[ObjectScores]:
    """Per-frame J and F of each object of one sequence (first and last frame excluded)."""
    frames = list_pngs(gt_dir)
    if not frames:
        raise InvalidInputError(f"sequence {name!r}: no PNG in {gt_dir}")
    gt = np.stack([read_label_png(Path(gt_dir) / f) for f in frames])
    gt[gt == VOID] = 0
    num_objects = int(gt.max())
    gt = gt[1:-1]
    pred = _read_predictions(Path(pred_dir), frames[1:-1], gt.shape[1:], num_objects, name)
    scores = []
    for k in range(1, num_objects + 1):
        gt_k, pred_k = gt == k, pred == k
        scores.append(
            ObjectScores(f"{name}_{k}", jaccard(gt_k, pred_k), boundary_f(gt_k, pred_k, bound_th))
        )
    return scores


def _read_predictions(
    pred_dir: Path, frames: list[str], hw: tuple[int, ...], num_objects: int, name: str
) -> np.ndarray:
    """Stack the predicted label maps of ``frames``; a missing file is an empty map.

    Ids above ``num_objects`` (objects the annotation does not have) become background.
    """
    dtype = np.uint8 if num_objects < 256 else np.int32
    pred = np.zeros((len(frames), *hw), dtype=dtype)
    for i, frame in enumerate(frames):
        path = pred_dir / frame
        if not path.is_file():
            continue
        labels = read_label_png(path)
        if labels.shape != hw:
            raise InvalidInputError(
                f"sequence {name!r}: prediction {path} has shape {labels.shape}, "
                f"the annotation has {hw}"
            )
        pred[i] = np.where(labels > num_objects, 0, labels)
    return pred


def _score_task(task: Task, bound_th: float) -> list[ObjectScores]:
    name, gt_dir, pred_dir = task
    return score_davis_sequence(name, gt_dir, pred_dir, bound_th)
