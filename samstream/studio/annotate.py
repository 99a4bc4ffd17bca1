"""Annotation on the worker thread: warm video sessions, prompts, undo/redo, propagation.

Everything here runs on the :class:`~samstream.studio.worker.Worker` thread, so a video's session is
only ever touched by one thread. Sessions come from the library's public video API
(``VideoPredictor(model).open(path)``); they are a cache: a session that was evicted, or lost with a
restart, is rebuilt by re-running the prompts in force from the store (:func:`store.net_prompts`).
Each mutation is validated first, applied to the session, then committed with the mask it gave;
if anything fails after the session changed, the session is dropped (the store stays the truth).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from samstream.errors import InvalidInputError, PromptError
from samstream.io.rle import decode_rle, encode_rles
from samstream.studio.events import EventHub
from samstream.studio.store import Store, net_prompts
from samstream.studio.worker import Steps, Worker
from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession

__all__ = ["Annotator", "check_prompt"]

DIRECTIONS = ("forward", "backward", "both")


def _number_list(value: Any, name: str, length: int | None = None) -> list[float]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        want = f"a list of {length} numbers" if length else "a list of numbers"
        raise PromptError(f"{name}: expected {want}, got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise PromptError(f"{name}: expected finite numbers, got {value!r}")
    return [float(v) for v in value]


def check_prompt(body: dict[str, Any], hw: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """The edit kind and a clean payload of a prompt request (points/labels, box, or mask as RLE)."""
    points, labels, box, mask = (body.get(k) for k in ("points", "labels", "box", "mask"))
    payload: dict[str, Any] = {}
    if mask is not None:
        if points is not None or box is not None:
            raise PromptError("mask: give a mask alone, without points or a box")
        if not isinstance(mask, dict) or "size" not in mask or "counts" not in mask:
            raise PromptError("mask: expected a COCO RLE {'size': [H, W], 'counts': ...}")
        if list(mask["size"]) != list(hw):
            raise PromptError(f"mask: size {mask['size']!r} is not the video's [{hw[0]}, {hw[1]}]")
        try:
            decode_rle(mask)
        except Exception as exc:  # pycocotools raises plain errors on bad counts
            raise PromptError(f"mask: the RLE does not decode ({exc})") from exc
        return "mask", {"mask": {"size": list(mask["size"]), "counts": mask["counts"]}}
    if points is not None or labels is not None:
        if not isinstance(points, list) or not points:
            raise PromptError(f"points: expected a non-empty list of [x, y], got {points!r}")
        payload["points"] = [_number_list(p, f"points[{i}]", 2) for i, p in enumerate(points)]
        if not isinstance(labels, list) or len(labels) != len(points) or any(l not in (0, 1) for l in labels):
            raise PromptError(f"labels: expected one label (1 object, 0 background) per point, got {labels!r}")
        payload["labels"] = [int(l) for l in labels]
    if box is not None:
        payload["box"] = _number_list(box, "box", 4)
        return "box", payload
    if not payload:
        raise PromptError("prompt: give points with labels, a box, or a mask")
    clear_old = body.get("clear_old", False)
    if not isinstance(clear_old, bool):
        raise PromptError(f"clear_old: expected true or false, got {clear_old!r}")
    payload["clear_old"] = clear_old
    return "points", payload


def apply_edit(session: VideoSession, edit: dict[str, Any]) -> FrameResult:
    """Apply one stored edit to a session through its public methods."""
    p, frame, obj_id = edit["payload"], edit["frame"], edit["obj_id"]
    if edit["kind"] == "points":
        return session.add_points(frame, obj_id, p["points"], p["labels"], clear_old=p["clear_old"])
    if edit["kind"] == "box":
        return session.add_box(frame, obj_id, p["box"], p.get("points"), p.get("labels"))
    if edit["kind"] == "mask":
        return session.add_mask(frame, obj_id, decode_rle(p["mask"]))
    raise InvalidInputError(f"kind: {edit['kind']!r} cannot be applied")


def retrack(session: VideoSession, edit: dict[str, Any]) -> None:
    """Before replaying ``edit``: track again from its context's start up to its frame (see ``Annotator._replay``).

    Nothing to do when the edit has no context, or when the replay cannot rebuild it: the object has
    no earlier prompt any more (undone), or tracking already reached the frame.
    """
    context, frame, obj_id = edit["payload"].get("context"), edit["frame"], edit["obj_id"]
    if context is None or obj_id not in session.obj_ids or session.tracker.track(obj_id).reached(frame) is not None:
        return
    start, reverse = int(context["start"]), bool(context["reverse"])
    try:
        for _ in session.propagate(start, abs(frame - start) + 1, reverse=reverse):
            pass
    except (PromptError, InvalidInputError):
        return  # nothing to track from any more: the edit is replayed as a first prompt


def frame_masks(result: FrameResult) -> dict[str, Any]:
    """A frame's masks as COCO RLEs and object scores, keyed by object id (strings, as JSON has)."""
    rles = encode_rles(result.masks.numpy())
    scores = [None if math.isnan(s) else round(s, 4) for s in result.object_scores.tolist()]
    return {"masks": {str(o): r for o, r in zip(result.obj_ids, rles)},
            "scores": {str(o): s for o, s in zip(result.obj_ids, scores)}}


class Annotator:
    """Warm sessions (least recently used dropped beyond ``warm_sessions``) and the edits made on them."""

    def __init__(self, store: Store, hub: EventHub, worker: Worker, data_dir: Path, model: Any,
                 warm_sessions: int = 2, max_outputs_in_memory: int | None = 256) -> None:
        self.store, self.hub, self.worker, self.data_dir = store, hub, worker, data_dir
        self.model = model
        self.warm_sessions = warm_sessions
        self.max_outputs_in_memory = max_outputs_in_memory
        self._sessions: OrderedDict[int, VideoSession] = OrderedDict()
        self.running: dict[int, "Propagation"] = {}
        self.builds = 0  # sessions built so far (tests check that a warm one is reused)

    # ------------------------------------------------------------------ sessions
    def session(self, video_id: int) -> VideoSession:
        if video_id in self._sessions:
            self._sessions.move_to_end(video_id)
            return self._sessions[video_id]
        video = self.store.video(video_id)
        spill = self.data_dir / "cache"
        spill.mkdir(exist_ok=True)
        predictor = VideoPredictor(self.model, max_outputs_in_memory=self.max_outputs_in_memory, spill_dir=str(spill))
        session = predictor.open(self.data_dir / video["path"])
        self.builds += 1
        try:
            self._replay(session, video_id)
        except BaseException:
            session.close()
            raise
        self._sessions[video_id] = session
        for vid in list(self._sessions):  # bound the warm set; never drop a video mid-propagation
            if len(self._sessions) <= self.warm_sessions:
                break
            if vid != video_id and vid not in self.running:
                self._sessions.pop(vid).close()
        return session

    def _replay(self, session: VideoSession, video_id: int) -> dict[tuple[int, int], FrameResult]:
        """Re-run the prompts in force, in the order they were made; returns the last result per (obj, frame).

        A prompt first made on a frame that tracking had reached (a correction after propagating)
        was decided against that tracking: its memory and the frame's tracked mask. Such an edit
        carries the propagation that reached it (``context``), and the replay tracks again from that
        start to the frame before applying it, so undo, redo and a rebuilt session give the same
        masks as the original click, at the cost of re-tracking those frames.
        """
        results = {}
        for key, edits in net_prompts(self.store.active_edits(video_id)).items():
            for edit in edits:
                retrack(session, edit)
                results[key] = apply_edit(session, edit)
        return results

    def tracking_context(self, session: VideoSession, video_id: int, obj_id: int, frame: int) -> dict[str, Any] | None:
        """The propagation whose tracking a prompt on ``frame`` will be decided against, if any."""
        if obj_id not in session.obj_ids:
            return None
        reverse = session.tracker.track(obj_id).reached(frame)
        last = self.store.latest_propagation(video_id)
        if reverse is None or last is None:
            return None
        start = int(last["start"])
        if not reverse and last["direction"] in ("forward", "both") and start <= frame:
            return {"start": start, "reverse": False}
        if reverse and last["direction"] in ("backward", "both") and start >= frame:
            return {"start": start, "reverse": True}
        return None  # reached by an earlier propagation: not kept, the replay decides it without tracking

    def drop(self, video_id: int) -> None:
        session = self._sessions.pop(video_id, None)
        if session is not None:
            session.close()

    def close_all(self, reason: str = "server stopping") -> None:
        """Stop every propagation and close every session."""
        for vid in list(self.running):
            self.cancel(vid, reason, "interrupted")
        for vid in list(self._sessions):
            self.drop(vid)

    def set_model(self, model: Any) -> None:
        self.close_all("model switched")
        self.model = model

    # ------------------------------------------------------------------ edits
    def _mutating(self, video_id: int, fn: Any) -> Any:
        """Run ``fn(session)``: a running propagation of the video stops first; a failure drops the session."""
        if video_id in self.running:
            self.cancel(video_id, "edited")
        session = self.session(video_id)
        try:
            return fn(session)
        except (PromptError, InvalidInputError):
            raise  # refused before the session changed
        except BaseException:
            self.drop(video_id)
            raise

    def prompt(self, video_id: int, obj_id: int, frame: int, body: dict[str, Any], expect: int | None) -> dict[str, Any]:
        video = self.store.video(video_id)
        self.store.check_version(video_id, expect)
        self.store.object(video_id, obj_id)
        frame = self.store.check_frame(video_id, frame)
        kind, payload = check_prompt(body, (video["height"], video["width"]))
        edit = {"obj_id": obj_id, "frame": frame, "kind": kind, "payload": payload}

        def run(session: VideoSession) -> dict[str, Any]:
            context = self.tracking_context(session, video_id, obj_id, frame)
            if context is not None:
                edit["payload"] = {**payload, "context": context}
            t0 = time.perf_counter()
            result = apply_edit(session, edit)
            model_ms = (time.perf_counter() - t0) * 1000  # the library's own time, for overhead figures
            out = frame_masks(result)
            version = self.store.add_edit(video_id, obj_id, frame, kind, edit["payload"], out["masks"][str(obj_id)],
                                          expect)
            return {"version": version, "frame": frame, "obj_id": obj_id, "tick": self.worker.tick,
                    "model_ms": round(model_ms, 3), **out}

        reply = self._mutating(video_id, run)
        self.hub.publish(video_id, "prompt", {k: reply[k] for k in ("version", "frame", "obj_id", "masks", "scores")})
        return reply

    def clear(self, video_id: int, obj_id: int, frame: int, expect: int | None) -> dict[str, Any]:
        self.store.check_version(video_id, expect)
        self.store.object(video_id, obj_id)
        frame = self.store.check_frame(video_id, frame)

        def run(session: VideoSession) -> dict[str, Any]:
            left = {k for k in net_prompts(self.store.active_edits(video_id)) if k[0] == obj_id and k[1] != frame}
            if obj_id in session.obj_ids:
                if left:
                    session.clear_frame(frame, obj_id)
                else:
                    session.remove_object(obj_id)
            version = self.store.add_edit(video_id, obj_id, frame, "clear", {}, None, expect)
            out = frame_masks(session.result_on(frame)) if session.obj_ids else {"masks": {}, "scores": {}}
            return {"version": version, "frame": frame, "obj_id": obj_id, **out}

        reply = self._mutating(video_id, run)
        self.hub.publish(video_id, "clear", reply)
        return reply

    def history(self, video_id: int, undo: bool, expect: int | None) -> dict[str, Any]:
        """Undo or redo one prompt edit: the session's prompts are rebuilt from the store."""
        self.store.check_version(video_id, expect)

        def run(session: VideoSession) -> dict[str, Any]:
            edit, version = self.store.step_history(video_id, undo, expect)
            if edit is None:
                return {"version": version, "changed": False}
            session.reset()
            results = self._replay(session, video_id)
            key = (edit["obj_id"], edit["frame"])
            out: dict[str, Any] = {"masks": {}, "scores": {}}
            if key in results:
                out = frame_masks(results[key])
                self.store.set_prompt_mask(video_id, key[0], key[1], out["masks"][str(key[0])])
            else:
                self.store.set_prompt_mask(video_id, key[0], key[1], None)
                if session.obj_ids:
                    out = frame_masks(session.result_on(key[1]))
            return {"version": version, "changed": True, "obj_id": key[0], "frame": key[1], **out}

        reply = self._mutating(video_id, run)
        if reply["changed"]:
            self.hub.publish(video_id, "undo" if undo else "redo", reply)
        return reply

    def forget_object(self, video_id: int, obj_id: int) -> None:
        """Drop a deleted object from the warm session (the store already deleted it)."""
        if video_id in self.running:
            self.cancel(video_id, "object deleted")
        session = self._sessions.get(video_id)
        if session is not None and obj_id in session.obj_ids:
            try:
                session.remove_object(obj_id)
            except BaseException:
                self.drop(video_id)
                raise

    # ------------------------------------------------------------------ propagation
    def propagate(self, video_id: int, start: Any, end: Any, direction: str, expect: int | None,
                  ) -> dict[str, Any]:
        self.store.check_version(video_id, expect)
        if direction not in DIRECTIONS:
            raise InvalidInputError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
        net = net_prompts(self.store.active_edits(video_id))
        if not net:
            raise PromptError("propagate: no object has prompts on this video; click on an object first")
        n = int(self.store.video(video_id)["num_frames"])
        start = min(f for _, f in net) if start is None else self.store.check_frame(video_id, start)
        if video_id in self.running:
            self.cancel(video_id, "restarted")
        session = self.session(video_id)
        legs = []
        if direction in ("forward", "both"):
            stop = n - 1 if end is None or direction == "both" else self.store.check_frame(video_id, end)
            if stop < start:
                raise InvalidInputError(f"end: {stop} is before start {start} for a forward propagation")
            legs.append((start, stop - start + 1, False))  # (start, frames, reverse)
        if direction in ("backward", "both"):
            stop = 0 if end is None or direction == "both" else self.store.check_frame(video_id, end)
            if stop > start:
                raise InvalidInputError(f"end: {stop} is after start {start} for a backward propagation")
            legs.append((start, start - stop + 1, True))
        total = sum(m for s, m, r in legs if not (r and s == 0)) if legs else 0  # reverse from 0 yields none
        pid = self.store.start_propagation(video_id, start, -1 if end is None else int(end), direction, total)
        job = Propagation(self, session, video_id, pid, legs, total, set(net))
        self.running[video_id] = job
        self.worker.start_steps(Steps(job.step, job.fail))
        self.hub.publish(video_id, "propagation_started", {"propagation_id": pid, "start": start,
                                                           "direction": direction, "total": total})
        return {"propagation_id": pid, "start": start, "direction": direction, "total": total,
                "version": self.store.version(video_id)}

    def resume(self, video_id: int) -> dict[str, Any]:
        """Run an interrupted propagation again (its frames done so far are recomputed: tracking needs them)."""
        last = self.store.latest_propagation(video_id)
        if last is None or last["status"] != "interrupted":
            raise InvalidInputError(f"resume: video {video_id} has no interrupted propagation")
        end = None if last["end_frame"] < 0 else last["end_frame"]
        reply = self.propagate(video_id, last["start"], end, last["direction"], None)
        return {**reply, "resumed": last["id"], "frames_done_before": last["frames_done"]}

    def cancel(self, video_id: int, reason: str = "cancelled", status: str = "cancelled") -> bool:
        """Stop a video's propagation; ``status`` "interrupted" leaves it resumable."""
        job = self.running.pop(video_id, None)
        if job is None:
            return False
        job.stop(reason, status)
        return True


class Propagation:
    """One propagation run, one frame per worker turn; each frame is committed before it is announced."""

    def __init__(self, annotator: Annotator, session: VideoSession, video_id: int, pid: int,
                 legs: list[tuple[int, int, bool]], total: int, prompted: set[tuple[int, int]]) -> None:
        self.a, self.session, self.video_id, self.pid = annotator, session, video_id, pid
        self.legs, self.total, self.prompted = list(legs), total, prompted
        self.done, self.t0 = 0, time.perf_counter()
        self.stopped: str | None = None
        self._frames: Any = None

    def stop(self, reason: str, status: str = "cancelled") -> None:
        if self.stopped is None:
            self.stopped = reason
            self.a.store.finish_propagation(self.pid, status)
            self.a.hub.publish(self.video_id, "propagation_cancelled",
                               {"propagation_id": self.pid, "reason": reason, "done": self.done, "total": self.total})

    def _finish(self, status: str, extra: dict[str, Any]) -> None:
        if self.a.running.get(self.video_id) is self:
            del self.a.running[self.video_id]
        self.a.store.finish_propagation(self.pid, status)
        self.a.hub.publish(self.video_id, f"propagation_{status}", {"propagation_id": self.pid, "done": self.done,
                                                                    "total": self.total, **extra})

    def fail(self, exc: BaseException) -> None:
        self.a.drop(self.video_id)
        self._finish("failed", {"error": " ".join(str(exc).split()) or type(exc).__name__})

    def step(self) -> bool:
        if self.stopped is not None:
            return False
        while True:
            if self._frames is None:
                if not self.legs:
                    self._finish("done", {"fps": self._fps()})
                    return False
                start, count, reverse = self.legs.pop(0)
                self._frames = self.session.propagate(start, count, reverse=reverse)
            try:
                result = next(self._frames)
                break
            except StopIteration:
                self._frames = None
        out = frame_masks(result)
        masks = {int(o): (r, out["scores"][o]) for o, r in out["masks"].items()}
        self.done += 1
        self.a.store.put_frame_masks(self.video_id, result.frame_idx, masks, self.prompted, self.pid, self.done)
        self.a.hub.publish(self.video_id, "frame", {"propagation_id": self.pid, "frame": result.frame_idx,
                                                    "done": self.done, "total": self.total, "fps": self._fps(),
                                                    "tick": self.a.worker.tick, **out})
        return True

    def _fps(self) -> float:
        return round(self.done / max(time.perf_counter() - self.t0, 1e-9), 3)
