"""Whole-video proposals: automatic masklets (:class:`~samstream.amg.video.VideoMaskGenerator`) in the worker.

A run is a :class:`~samstream.studio.worker.Steps` job at background priority: each turn takes the
generator's next final frame (the generator reads and tracks as many frames as that needs: one, or
the generator's short delay at the start), commits that frame's masklet masks to the store as
proposals, and then announces it. So clicks on any video wait for at most one such turn, and a
run can be cancelled between two frames. Accepting a proposal makes it an object with exactly the
proposal's masks, and its first visible mask becomes the object's mask prompt (re-propagatable and
editable like any other); dismissing one deletes it. Everything here runs on the worker thread.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from samstream.amg import MaskGenerator
from samstream.amg.video import VideoMaskGenerator
from samstream.errors import InvalidInputError
from samstream.io.rle import encode_rles
from samstream.studio.annotate import Annotator
from samstream.studio.imports import import_masklets
from samstream.studio.worker import Steps

__all__ = ["AUTO_OPTIONS", "AutoMasklets", "check_auto_options", "propose"]

# what a client may set, and the studio's defaults (small: proposals, not a benchmark run)
AUTO_OPTIONS: dict[str, Any] = {"points_per_side": 16, "keyframe_interval": 8, "pred_iou_thresh": 0.8,
                                "stability_score_thresh": 0.95, "max_absent_frames": 16,
                                "merge_iou_thresh": 0.8, "track_backward": False}


def check_auto_options(data: dict[str, Any]) -> dict[str, Any]:
    """The generator options of a request body ``data``: :data:`AUTO_OPTIONS` keys only (``version`` is ignored),
    each checked for type, ``points_per_side`` in 1..64 and the thresholds in [0, 1]; keys left out get the studio's
    defaults. A bad key or value is an :class:`InvalidInputError` naming it."""
    unknown = sorted(set(data) - set(AUTO_OPTIONS) - {"version"})
    if unknown:
        raise InvalidInputError(f"{', '.join(unknown)}: not an option of automatic masklets; "
                                f"expected some of {', '.join(AUTO_OPTIONS)}")
    options = {}
    for key, default in AUTO_OPTIONS.items():
        value = data.get(key, default)
        if type(value) is not type(default) and not (isinstance(default, float) and type(value) is int):
            raise InvalidInputError(f"{key}: expected {type(default).__name__}, got {value!r}")
        options[key] = value
    if not 1 <= options["points_per_side"] <= 64:
        raise InvalidInputError(f"points_per_side: expected 1 to 64, got {options['points_per_side']}")
    for key in ("pred_iou_thresh", "stability_score_thresh"):
        if not 0 <= options[key] <= 1:
            raise InvalidInputError(f"{key}: expected a number in [0, 1], got {options[key]!r}")
    return options


def propose(model: Any, rgb: np.ndarray, options: dict[str, Any], limit: int = 64,
            ) -> list[tuple[dict[str, Any], float, list[int]]]:
    """'Segment everything' on one frame: (RLE, predicted IoU, XYWH box) per proposal, best first.

    Args:
        model: the studio's model.
        rgb: the (H, W, 3) uint8 frame.
        options: :class:`~samstream.MaskGenerator` options (``points_per_side``, thresholds).
        limit: proposals kept at most.

    Returns:
        The proposals, best predicted IoU first.
    """
    records = MaskGenerator(model, **options).generate(np.ascontiguousarray(rgb))
    records = sorted(records, key=lambda r: -r["predicted_iou"])[:limit]
    if not records:
        return []
    rles = encode_rles(np.stack([r["segmentation"] for r in records]))
    return [(rle, round(float(r["predicted_iou"]), 4), [int(v) for v in r["bbox"]]) for rle, r in zip(rles, records)]


class AutoMasklets:
    """The automatic-masklet runs of a studio (at most one per video) and the verbs on their proposals."""

    def __init__(self, annotator: Annotator) -> None:
        self.a = annotator
        self.store, self.hub, self.worker = annotator.store, annotator.hub, annotator.worker
        self.running: dict[int, AutoRun] = {}

    def start(self, video_id: int, options: dict[str, Any]) -> dict[str, Any]:
        """Start a run of the generator over the whole of video ``video_id`` with ``options`` (generator options, as
        :func:`check_auto_options` returns them; a value the generator refuses raises before anything changes). A
        running one on the video is cancelled, and the video's masklet proposals are replaced by the new run's.
        Publishes ``auto_started``; returns ``run_id``, ``total`` (frames) and ``options``."""
        video = self.store.videos.get(video_id)
        generator = VideoMaskGenerator(self.a.model, **options)  # bad option values raise here, before any change
        self.cancel(video_id, "restarted")
        total = video.num_frames
        run_id = self.store.proposals.start_auto_run(video_id, total, options)
        run = AutoRun(self, video_id, run_id, generator, self.a.sessions.data_dir / video.path, total)
        self.running[video_id] = run
        self.worker.start_steps(Steps(run.step, run.fail, lambda: f"automatic masklets of video {video_id} "
                                                              f"({run.done}/{run.total} frames)"))
        self.hub.publish(video_id, "auto_started", {"run_id": run_id, "total": total, "options": options})
        return {"run_id": run_id, "total": total, "options": options}

    def cancel(self, video_id: int, reason: str = "cancelled") -> bool:
        """Stop the run of video ``video_id`` between two frames, for ``reason`` (the proposals it stored stay);
        returns whether one was running."""
        run = self.running.pop(video_id, None)
        if run is None:
            return False
        run.stop(reason)
        return True

    def cancel_all(self, reason: str) -> None:
        """Stop every run, for ``reason``."""
        for vid in list(self.running):
            self.cancel(vid, reason)

    def accept(self, video_id: int, proposal_id: int, name: str | None, category: str,
               person: str | None = None) -> dict[str, Any]:
        """A new object of video ``video_id`` made by ``person`` from masklet proposal ``proposal_id``, with exactly
        its masks; its first visible mask is its mask prompt. ``name`` (None: ``masklet <id>``) and ``category`` as
        the page shows them. It stays an automatic masklet (exported as ``masklet_type: "auto"``) until a person
        edits it. The proposal is deleted. Returns ``video_version``, ``version`` (the object's), ``object``,
        ``proposal_id`` and ``masks`` (how many)."""
        proposal = self.store.proposals.masklet_proposal(video_id, proposal_id)
        label = (name or f"masklet {proposal['masklet']}").replace("{", "{{").replace("}", "}}")
        reply = import_masklets(self.store, video_id, [(proposal["masklet"], proposal["masks"])], name=label,
                                category=category, source="proposal", origin="auto", person=person)
        self.store.proposals.drop_masklet_proposal(video_id, proposal_id)
        self.a.drop(video_id)  # the new mask prompt is applied when the session is next built
        obj = self.store.videos.object(video_id, reply["objects"][0])
        return {"video_version": reply["video_version"], "version": obj.version, "object": obj.json(),
                "proposal_id": proposal_id, "masks": reply["masks"]}


class AutoRun:
    """One run of the generator over a video, one final frame per worker turn."""

    def __init__(self, auto: AutoMasklets, video_id: int, run_id: int, generator: VideoMaskGenerator,
                 path: Any, total: int) -> None:
        self.auto, self.video_id, self.run_id, self.total = auto, video_id, run_id, total
        self.generator = generator
        self._frames = generator.generate(path)
        self.done, self.t0 = 0, time.perf_counter()
        self.stopped: str | None = None
        self.proposals: set[int] = set()  # masklet ids stored so far

    def _publish(self, kind: str, extra: dict[str, Any]) -> None:
        self.auto.hub.publish(self.video_id, kind, {"run_id": self.run_id, "done": self.done, "total": self.total,
                                                    "proposals": len(self.proposals), **extra})

    def _end(self, status: str, extra: dict[str, Any]) -> None:
        if self.auto.running.get(self.video_id) is self:
            del self.auto.running[self.video_id]
        self._frames.close()  # closes the generator's frame reader and tracker
        self.auto.store.proposals.finish_auto_run(self.run_id, status)
        self._publish(f"auto_{status}", extra)

    def stop(self, reason: str) -> None:
        """Stop the run between two frames (cancelled, with ``reason``; an ``auto_cancelled`` event). Only the first
        call counts."""
        if self.stopped is None:
            self.stopped = reason
            self._end("cancelled", {"reason": reason})

    def fail(self, exc: BaseException) -> None:
        """End the run after a step raised ``exc``: marked failed; an ``auto_failed`` event carries the error's
        words."""
        self._end("failed", {"error": " ".join(str(exc).split()) or type(exc).__name__})

    def step(self) -> bool:
        """One worker turn: the generator's next final frame, its visible masklets stored as proposals and announced
        (``auto_frame``). Returns False when the run is over (done: ``auto_done``; or stopped)."""
        if self.stopped is not None:
            return False
        frame = next(self._frames, None)
        if frame is None:
            self._end("done", {"fps": self._fps()})
            return False
        visible = [(i, m) for i, m in zip(frame.obj_ids, frame.masks) if m.any()]
        rles = encode_rles(np.stack([m for _, m in visible])) if visible else []
        scores = {i: round(self.generator.masklets[i].score, 4) for i, _ in visible}
        items = [(i, scores[i], rle) for (i, _), rle in zip(visible, rles)]
        self.done = frame.frame_idx + 1
        self.auto.store.proposals.put_auto_frame(self.video_id, self.run_id, frame.frame_idx, items, self.done)
        self.proposals.update(i for i, _ in visible)
        self._publish("auto_frame", {"frame": frame.frame_idx, "masklets": [i for i, _ in visible],
                                     "fps": self._fps(), "tick": self.auto.worker.tick})
        return True

    def _fps(self) -> float:
        return round(self.done / max(time.perf_counter() - self.t0, 1e-9), 3)
