"""How the candidate masks of automatic generation fared against its filters, so that a run which
keeps nothing can say why (numpy-free and torch-free: the command line reads it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CandidateCounts"]


@dataclass(frozen=True)
class CandidateCounts:
    """Candidates of every image generated so far (:attr:`samstream.MaskGenerator.counts`).

    ``decoded``: candidate masks the model returned (grid points x masks per point); ``above_iou``:
    those whose predicted IoU passed ``pred_iou_thresh``; ``above_stability``: of those, the ones whose
    stability passed ``stability_score_thresh``; ``kept``: records returned (after the crop-edge
    filter and the NMS). ``best_iou``: the highest predicted IoU of any candidate; ``best_stability``:
    the highest stability among those above the IoU threshold (the only ones whose stability is
    computed); None where there was none.
    """

    decoded: int = 0
    above_iou: int = 0
    above_stability: int = 0
    kept: int = 0
    best_iou: float | None = None
    best_stability: float | None = None

    def __add__(self, other: CandidateCounts) -> CandidateCounts:
        return CandidateCounts(self.decoded + other.decoded, self.above_iou + other.above_iou,
                               self.above_stability + other.above_stability, self.kept + other.kept,
                               _best(self.best_iou, other.best_iou), _best(self.best_stability, other.best_stability))

    @property
    def all_below_thresholds(self) -> bool:
        """Candidates were decoded but the score thresholds let none through."""
        return self.decoded > 0 and self.above_stability == 0


def _best(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
