"""Propagation runs: one action, tracked one frame per worker turn, saved frame by frame.

A run's *plan* (kept with its row in the store) lists its legs (forward, backward), each with the
frame to do next. Each turn tracks one frame of the current leg through the library
(``VideoSession.propagate``), saves the changed frames' masks and states and the plan's progress
in one transaction, then announces the frame. So a run that was interrupted (a restart, ``kill -9``)
continues from the frame after the last one saved, with the same result as an uninterrupted run:
the tracker's state of every saved frame is in the store. A click on another video waits for at
most one frame of a run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from samstream.errors import InvalidInputError
from samstream.io.rle import encode_rle
from samstream.studio.store import FrameChange
from samstream.video.predictor import FrameResult, VideoSession

if TYPE_CHECKING:  # the annotator starts runs; a run calls back into it
    from samstream.studio.annotate import Annotator

__all__ = ["Propagation", "plan_legs", "result_masks"]


def result_masks(result: FrameResult, obj_ids: list[int] | tuple[int, ...] | None = None,
                 changes: Sequence[FrameChange] = ()) -> dict[str, Any]:
    """A frame's masks as COCO RLEs and object scores (of ``obj_ids``, default all) from the tracker's ``result``:
    ``{"masks": {id: RLE}, "scores": {id: presence logit rounded to 4 places, or None}}``, keyed by id strings
    (JSON's keys). ``changes``: those just saved from this ``result`` (:meth:`Annotator.changes`); their RLEs of
    the frame are the same masks, reused rather than encoded again (a whole-frame RLE per object per frame)."""
    ids = list(result.obj_ids if obj_ids is None else obj_ids)
    saved = {c.obj_id: c.rle for c in changes if c.frame == result.frame_idx and c.rle is not None}
    masks, scores = {}, {}
    for obj_id in ids:
        i = result.obj_ids.index(obj_id)
        rle = saved.get(obj_id)
        masks[str(obj_id)] = rle if rle is not None else encode_rle(result.masks[i].numpy())
        s = float(result.object_scores[i])
        scores[str(obj_id)] = None if math.isnan(s) else round(s, 4)
    return {"masks": masks, "scores": scores}


def _leg(session: VideoSession, ids: list[int], start: int, reverse: bool, last: int, next_prompt: bool) -> dict[str, Any]:
    """One direction of a run: from ``start`` to ``last`` (inclusive), each object stopping before its
    next prompted frame when ``next_prompt``; ``last`` is then the furthest frame any object reaches."""
    if next_prompt:
        reach = []
        for obj_id in ids:
            stop = session.tracker.next_prompted_frame(obj_id, start, reverse)
            reach.append(last if stop is None else (stop + 1 if reverse else stop - 1))
        last = min(reach) if reverse else max(reach)
    if reverse and start == 0:
        last = start + 1  # nothing before frame 0 to reach: an empty leg
    return {"start": start, "reverse": reverse, "last": last, "next": start}


def _frames_left(leg: dict[str, Any]) -> int:
    """Frames of a leg not done yet (``next`` to ``last`` inclusive, in the leg's direction)."""
    left = leg["next"] - leg["last"] if leg["reverse"] else leg["last"] - leg["next"]
    return max(0, left + 1)


def plan_legs(session: VideoSession, ids: list[int], start: int, direction: str, until: str | int,
              num_frames: int) -> tuple[list[dict[str, Any]], int]:
    """The legs of a run and its frame count (a frame done by both legs counts twice).

    ``session``: the video's session (read for each object's next prompted frame); ``ids``: the objects to track;
    ``start``: the frame to start from; ``direction``: forward, backward or both; ``until``: ``"next_prompt"``,
    ``"end"`` or a frame number (an :class:`InvalidInputError` when it lies behind ``start`` in the run's
    direction); ``num_frames``: the video's length. Each leg is a dict with ``start``, ``reverse``, ``last``
    (inclusive) and ``next`` (the frame to do next).
    """
    legs = []
    next_prompt = until == "next_prompt"
    if direction in ("forward", "both"):
        last = num_frames - 1 if isinstance(until, str) else int(until)
        if last < start:
            raise InvalidInputError(f"until: frame {last} is before start {start} for a forward propagation")
        legs.append(_leg(session, ids, start, False, last, next_prompt))
    if direction in ("backward", "both"):
        last = 0 if isinstance(until, str) else int(until)
        if last > start:
            raise InvalidInputError(f"until: frame {last} is after start {start} for a backward propagation")
        legs.append(_leg(session, ids, start, True, last, next_prompt))
    return legs, sum(_frames_left(leg) for leg in legs)


class Propagation:
    """One run of a video's propagation; :meth:`step` is one worker turn (one frame)."""

    def __init__(self, annotator: "Annotator", video_id: int, pid: int, action_id: int, person: str | None,
                 plan: dict[str, Any], total: int, done: int = 0) -> None:
        self.a, self.video_id, self.pid, self.action_id, self.person = annotator, video_id, pid, action_id, person
        self.plan, self.total, self.done = plan, total, done
        self.obj_ids: list[int] = list(plan["obj_ids"])
        self.t0, self.done_at_start = time.perf_counter(), done
        self.stopped: str | None = None
        self._frames: Any = None  # the library's generator over the current leg
        self._warm: Any = None  # the session it runs in (a rebuilt session gets a new generator)

    # ------------------------------------------------------------------ ending
    def stop(self, reason: str, status: str = "cancelled") -> None:
        """Stop the run between two frames (what it stored stays, as its action): its row gets ``status``
        (cancelled; interrupted: resumable) and a ``propagation_cancelled`` event says why (``reason``). Only the
        first call counts."""
        if self.stopped is None:
            self.stopped = reason
            self._close()
            self.a.store.tracks.finish_propagation(self.pid, status)
            self.a.hub.publish(self.video_id, "propagation_cancelled",
                               {"propagation_id": self.pid, "reason": reason, "status": status, "done": self.done,
                                "total": self.total})

    def _close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def _finish(self, status: str, extra: dict[str, Any]) -> None:
        if self.a.running.get(self.video_id) is self:
            del self.a.running[self.video_id]
        self._close()
        self.a.store.tracks.finish_propagation(self.pid, status)
        self.a.hub.publish(self.video_id, f"propagation_{status}", {"propagation_id": self.pid, "done": self.done,
                                                                    "total": self.total, **extra})

    def fail(self, exc: BaseException) -> None:
        """End the run after its step raised ``exc``: the video's session is dropped (rebuilt from the store at the
        next request), the run is marked failed and a ``propagation_failed`` event carries the error's words."""
        self.a.drop(self.video_id)
        self._finish("failed", {"error": " ".join(str(exc).split()) or type(exc).__name__})

    # ------------------------------------------------------------------ one frame
    def _next_result(self) -> Any:
        warm = self.a.warm(self.video_id)
        if warm is not self._warm:  # first turn, or the session was rebuilt: continue from the plan
            self._close()
            self._warm = warm
        for leg in self.plan["legs"]:
            if _frames_left(leg) == 0:
                continue
            if self._frames is None:
                active = [o for o in self.obj_ids if o in warm.session.obj_ids]
                # as tracked: one frame per turn, even for a method that settles a run at its end
                # (SAM2Long: its revised frames come again after the last one, and are saved then)
                self._frames = warm.session.propagate(leg["next"], _frames_left(leg), leg["reverse"], active,
                                                      stop_at_prompt=self.plan.get("until") == "next_prompt",
                                                      as_tracked=True)
            result = next(self._frames, None)
            if result is not None:
                return leg, result
            self._close()
            leg["next"] = leg["last"] + (-1 if leg["reverse"] else 1)  # the library ended the leg early
        return None, None

    def step(self) -> bool:
        """One worker turn: track one frame, save its changes and the run's progress in one transaction, and publish
        a ``frame`` event. Returns False when the run is over (finished: ``propagation_done``; or stopped)."""
        if self.stopped is not None:
            return False
        leg, result = self._next_result()
        if result is None:
            self._finish("done", {"fps": self._fps()})
            return False
        warm = self._warm
        changes = self.a.changes(warm, {result.frame_idx: result})
        revised = self._passed(leg, result.frame_idx)  # a settled frame again (SAM2Long), not a new one
        if not revised:
            leg["next"] = result.frame_idx + (-1 if leg["reverse"] else 1)
            self.done += 1
        self.a.store.tracks.propagation_step(self.video_id, self.pid, self.action_id, changes, self.done, self.plan)
        warm.mark_saved()
        shown = result_masks(result, result.propagated, changes)  # every object this step tracked, as it is now
        self.a.hub.publish(self.video_id, "frame", {"propagation_id": self.pid, "frame": result.frame_idx,
                                                    "done": self.done, "total": self.total, "fps": self._fps(),
                                                    "tick": self.a.worker.tick, "revised": revised,
                                                    "method": result.method, **shown})
        return True

    @staticmethod
    def _passed(leg: dict[str, Any], frame: int) -> bool:
        """Whether ``frame`` was done already by this leg (a method's revision of it comes again)."""
        return frame > leg["next"] if leg["reverse"] else frame < leg["next"]

    def label(self) -> str:
        """What the run is doing, for clients waiting behind it (video, frames done of total, the next frame)."""
        leg = next((leg for leg in self.plan["legs"] if _frames_left(leg)), None)
        where = f", frame {leg['next']}" if leg is not None else ""
        return f"propagating video {self.video_id} ({self.done}/{self.total} frames{where})"

    def _fps(self) -> float:
        return round((self.done - self.done_at_start) / max(time.perf_counter() - self.t0, 1e-9), 3)
