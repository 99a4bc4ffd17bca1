"""Annotation on the worker: prompts, clears, undo and redo, propagation runs, frames encoded ahead.

Everything here runs on the :class:`~samstream.studio.worker.Worker` thread, so a video's session is
only ever touched by one thread. Sessions are caches of the store (:mod:`samstream.studio.sessions`):
each mutation is applied to the session through the library's public verbs, then the tracker's
changed frames (``take_changes``) are saved with their masks as one action, before the reply. If
anything fails after the session changed, the session is dropped: the next request rebuilds it from
the store, which costs no re-tracking.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError, PromptError
from samstream.io.rle import decode_rle, encode_rle
from samstream.studio.edits import ClearEdit, PromptEdit, PropagateRequest
from samstream.studio.events import EventHub
from samstream.studio.propagation import Propagation, plan_legs, result_masks
from samstream.studio.sessions import SessionCache, WarmSession, add_counts
from samstream.studio.store import ConflictError, FrameChange, Store
from samstream.studio.worker import IDLE, Steps, Worker
from samstream.video.engine import EngineCounts
from samstream.video.frames.index import import_av
from samstream.video.predictor import FrameResult, VideoPredictor, VideoSession
from samstream.video.saved import decode_frame_state, encode_frame_state
from samstream.video.state import FrameState

__all__ = ["Annotator", "apply_prompt"]


def apply_prompt(session: VideoSession, edit: PromptEdit | dict[str, Any], obj_id: int, frame: int) -> FrameResult:
    """One prompt step applied to object ``obj_id`` on frame ``frame`` through the session's public verbs; returns
    the frame's result.

    ``edit``: a :class:`PromptEdit` (clicks replace the frame's earlier prompts only with ``clear_old``), or a
    stored step (``{"points", "labels", "box", "mask"}``, pixels; a mask as a COCO RLE), which always replaces them.
    """
    step = edit.step() if isinstance(edit, PromptEdit) else edit
    replaces = edit.replaces() if isinstance(edit, PromptEdit) else True
    if step.get("mask") is not None:
        return session.add_mask(frame, obj_id, decode_rle(step["mask"]))
    if step.get("box") is not None:
        return session.add_box(frame, obj_id, step["box"], step.get("points"), step.get("labels"))
    return session.add_points(frame, obj_id, step["points"], step["labels"], clear_old=replaces)


class Annotator:
    """The warm sessions of a studio and the edits made on them (on the worker thread)."""

    def __init__(self, store: Store, hub: EventHub, worker: Worker, sessions: SessionCache, model: Any,
                 feature_cache_bytes: int = 256 << 20, encode_radius: int = 8) -> None:
        self.store, self.hub, self.worker, self.sessions = store, hub, worker, sessions
        self.model = model
        self.feature_cache_bytes = feature_cache_bytes  # image features kept per session
        self.encode_radius = encode_radius  # frames each side of the one on screen encoded while idle
        self.running: dict[int, Propagation] = {}
        self.focus: tuple[int, int] | None = None  # (video, frame) on an annotator's screen
        self._idle: Steps | None = None

    # ------------------------------------------------------------------ sessions
    def warm(self, video_id: int) -> WarmSession:
        """The session of video ``video_id``, rebuilt from the store when cold: no model work, except for prompts
        never applied yet (e.g. of an import), which are applied once and their states saved."""
        warm = self.sessions.get(video_id, self.model, keep=lambda v: v in self.running)
        if warm.unsettled:
            self._settle(warm)
        return warm

    def _settle(self, warm: WarmSession) -> None:
        """Prompts kept without a tracker state (an import, a data dir of an older samstream) are
        applied once; their states are saved, as what those prompts mean (no action: nothing to undo)."""
        session, rows = warm.session, sorted(warm.unsettled, key=lambda r: (r.obj_id, r.frame))
        results = {}
        try:
            for row in rows:
                for step in row.prompts or []:
                    results[row.frame] = apply_prompt(session, step, row.obj_id, row.frame)
            kept = {(m.obj_id, m.frame): m.rle for row in rows
                    for m in self.store.tracks.masks_on(warm.video.id, row.frame) if m.obj_id == row.obj_id}
            changes = [replace(c, rle=kept.get((c.obj_id, c.frame), c.rle)) if c.rle is not None else c
                       for c in self.changes(warm, results)]  # the masks stay as they were given
            self.store.tracks.settle(warm.video.id, changes)
            warm.mark_saved()
            warm.unsettled = []
        except BaseException:
            self.drop(warm.video.id)
            raise

    def drop(self, video_id: int) -> None:
        """Close the warm session of video ``video_id``; the next request rebuilds it from the store (no
        re-tracking)."""
        self.sessions.drop(video_id)

    def counts(self) -> EngineCounts:
        """Model work of every session so far (warm and closed)."""
        total = self.sessions.closed_counts
        for vid in self.sessions.video_ids():
            warm = self.sessions.peek(vid)
            if warm is not None:
                total = add_counts(total, warm.session.tracker.counts)
        return total

    def close_all(self, reason: str = "server stopping") -> None:
        """Stop every propagation (resumable: interrupted, for ``reason``) and close every session."""
        for vid in list(self.running):
            self.cancel(vid, reason, "interrupted")
        for vid in self.sessions.video_ids():
            self.drop(vid)

    def set_model(self, model: Any) -> None:
        """Use ``model`` from now on: every propagation stops (resumable) and every session closes, to be rebuilt
        with it; the new model is warmed up when the worker is idle."""
        self.close_all("model switched")
        self.model = model
        self.warm_up()

    # ------------------------------------------------------------------ warming up
    def warm_up(self) -> None:
        """Run the model once on a blank clip, before the host serves (at its start, after a model switch).

        A fresh process pays once for what its first click would otherwise wait for: importing the video
        reader (PyAV, ~30 ms) and the first run of each kernel at the model's input size (CPU kernels are
        prepared per shape on first use). With ``samstream-nano`` that was most of the first click after
        a restart (90 ms against 45 for the next video's first click). It runs before the host answers
        anything, not on the idle worker: a click that came while it ran would wait for one of its model
        calls, over a second at 1024 on a CPU. The session is its own (blank frames: a click, then one
        tracked frame for the memory encoder and memory attention), not a video's, and not counted in
        the stats."""
        import_av()
        size = int(self.model.image_size)
        with VideoPredictor(self.model).open(np.zeros((2, size, size, 3), np.uint8), warm_up=False) as session:
            session.add_points(0, 1, [[size / 2, size / 2]], [1])
            for _ in session.propagate(1, 1):
                pass

    # ------------------------------------------------------------------ saving what changed
    def changes(self, warm: WarmSession, results: dict[int, FrameResult] | None = None) -> list[FrameChange]:
        """Every (object, frame) the session of ``warm`` changed since the last call, with its mask and exact state
        (an emptied frame: a change without a mask).

        ``results``: frame -> the result already computed there (saves decoding it again); frames missing from it
        are read from the session.
        """
        session, results = warm.session, dict(results or {})
        out = []
        for obj_id, frames in sorted(session.tracker.take_changes().items()):
            for frame in sorted(frames):
                state = session.tracker.frame_state(obj_id, frame)
                if state.is_empty():
                    out.append(FrameChange(obj_id, frame, None))
                    continue
                result = results.get(frame)
                if result is None or obj_id not in result.obj_ids:
                    result = results[frame] = session.result_on(frame)
                i = result.obj_ids.index(obj_id)
                score = float(result.object_scores[i])
                entry = state.entry
                prompted = entry is not None and (entry.points is not None or entry.mask is not None)
                out.append(FrameChange(obj_id, frame, encode_rle(result.masks[i].numpy()),
                                       "prompt" if prompted else "propagated", None if math.isnan(score) else score,
                                       warm.prompts.get((obj_id, frame)) if prompted else None,
                                       encode_frame_state(state), session.tracker.method.name))
        return out

    def _mutating(self, video_id: int, fn: Callable[[WarmSession], Any]) -> Any:
        """Run ``fn(warm)``; any failure drops the session (the store stays the truth)."""
        warm = self.warm(video_id)
        try:
            return fn(warm)
        except BaseException:
            self.drop(video_id)
            raise

    def _stop_runs_of(self, video_id: int, obj_ids: list[int] | tuple[int, ...], reason: str) -> None:
        job = self.running.get(video_id)
        if job is not None and set(job.obj_ids) & set(obj_ids):
            self.cancel(video_id, reason)

    def _busy(self, video_id: int, request: str | None, doing: str) -> None:
        if request:
            self.hub.publish(video_id, "busy", {"request": request, "doing": doing})

    # ------------------------------------------------------------------ edits
    def prompt(self, video_id: int, edit: PromptEdit, person: str | None = None,
               request: str | None = None) -> dict[str, Any]:
        """Apply ``edit`` (clicks, a box or a mask) to video ``video_id`` as ``person`` and save it as one action.

        The object's version is checked first (:class:`ConflictError` when stale); a run of the video tracking the
        object stops. ``request``: the client's request id, named in ``busy`` events while a frame is encoded.
        Publishes a ``prompt`` event. Returns ``version`` (the object's), ``frame``, ``obj_id``, ``action_id``,
        ``tick``, ``model_ms`` (the library's time), ``empty`` (the mask has no pixel), ``prompts`` (the frame's
        prompt steps now), ``masks`` and ``scores`` (the object's, see :func:`result_masks`).
        """
        self.store.videos.check_object(video_id, edit.obj_id, edit.expect)
        self._stop_runs_of(video_id, [edit.obj_id], "edited")

        def run(warm: WarmSession) -> dict[str, Any]:
            session, key = warm.session, (edit.obj_id, edit.frame)
            if not session.is_encoded(edit.frame):
                self._busy(video_id, request, f"encoding frame {edit.frame}")
            t0 = time.perf_counter()
            result = apply_prompt(session, edit, edit.obj_id, edit.frame)
            model_ms = (time.perf_counter() - t0) * 1000  # the library's own time, for overhead figures
            old = warm.prompts.get(key)
            warm.prompts[key] = [edit.step()] if edit.replaces() or not old else [*old, edit.step()]
            changes = self.changes(warm, {edit.frame: result})
            detail = {"frame": edit.frame, "kind": edit.kind, "step": edit.step()}
            action_id, versions = self.store.tracks.record_action(
                video_id, person, "prompt", [edit.obj_id], detail, changes, edit.clicks, {edit.obj_id: edit.expect})
            warm.mark_saved()
            out = result_masks(result, [edit.obj_id], changes)
            empty = not result.mask(edit.obj_id).any()
            return {"version": versions[edit.obj_id], "frame": edit.frame, "obj_id": edit.obj_id, "action_id": action_id,
                    "tick": self.worker.tick, "model_ms": round(model_ms, 3), "empty": bool(empty),
                    "prompts": warm.prompts[key], **out}

        reply = self._mutating(video_id, run)
        self.hub.publish(video_id, "prompt", {k: reply[k] for k in ("version", "frame", "obj_id", "masks", "scores",
                                                                     "empty", "prompts")})
        self.refocus(video_id)
        return reply

    def clear(self, video_id: int, edit: ClearEdit, person: str | None = None) -> dict[str, Any]:
        """Remove the prompts of ``edit``'s object on its frame of video ``video_id`` as ``person``, as one action;
        :class:`PromptError` when it has none there. Publishes a ``clear`` event. Returns ``version``, ``frame``,
        ``obj_id``, ``action_id`` and ``masks`` (the object's mask on the frame now, if any)."""
        self.store.videos.check_object(video_id, edit.obj_id, edit.expect)
        self._stop_runs_of(video_id, [edit.obj_id], "edited")

        def run(warm: WarmSession) -> dict[str, Any]:
            session, key = warm.session, (edit.obj_id, edit.frame)
            if key not in warm.prompts:
                raise PromptError(f"frame: object {edit.obj_id} has no prompt on frame {edit.frame}")
            session.clear_frame(edit.frame, edit.obj_id)
            del warm.prompts[key]
            changes = self.changes(warm)
            action_id, versions = self.store.tracks.record_action(
                video_id, person, "clear", [edit.obj_id], {"frame": edit.frame}, changes, 0, {edit.obj_id: edit.expect})
            warm.mark_saved()
            mine = [c for c in changes if c.obj_id == edit.obj_id and c.frame == edit.frame]
            masks = {str(edit.obj_id): mine[0].rle} if mine and mine[0].rle is not None else {}
            return {"version": versions[edit.obj_id], "frame": edit.frame, "obj_id": edit.obj_id,
                    "action_id": action_id, "masks": masks}

        reply = self._mutating(video_id, run)
        self.hub.publish(video_id, "clear", reply)
        return reply

    def history(self, video_id: int, undo: bool, person: str | None = None) -> dict[str, Any]:
        """Undo (``undo`` True) or redo ``person``'s latest action on video ``video_id``: the frames it changed get
        back exactly the records (masks and tracker states) they had; nothing is re-tracked. A run of the video
        stops first.

        Returns ``{"changed": False, "video_version"}`` when there is nothing to undo or redo; else ``action_id``,
        ``kind``, ``frames`` (obj_id -> frames changed), ``versions`` (the objects'), ``video_version`` and, for a
        prompt or a clear, its ``frame``; the same goes out as an ``undo`` or ``redo`` event. A frame changed again
        since is a :class:`ConflictError`.
        """
        self.store.videos.get(video_id)
        if video_id in self.running:
            self.cancel(video_id, "undo" if undo else "redo")
        action, moves = self.store.tracks.step_back(video_id, person, undo)
        if action is None:
            return {"changed": False, "video_version": self.store.videos.version(video_id)}
        warm = self.sessions.peek(video_id)
        if warm is not None:
            try:
                tracker = warm.session.tracker
                for obj_id, frame, record_id in moves:
                    if record_id is None:
                        tracker.set_frame_state(obj_id, frame, FrameState())
                        warm.prompts.pop((obj_id, frame), None)
                        continue
                    tracker.set_frame_state(obj_id, frame,
                                            decode_frame_state(self.store.tracks.record_state(record_id), tracker))
                    prompts = self.store.tracks.record_prompts(record_id)
                    if prompts is None:
                        warm.prompts.pop((obj_id, frame), None)
                    else:
                        warm.prompts[(obj_id, frame)] = prompts
                tracker.take_changes()  # already in the store
                warm.mark_saved()
            except BaseException:
                self.drop(video_id)
                raise
        frames: dict[str, list[int]] = {}
        for obj_id, frame, _ in moves:
            frames.setdefault(str(obj_id), []).append(frame)
        versions = {str(o.obj_id): o.version for o in self.store.videos.objects(video_id) if str(o.obj_id) in frames}
        reply = {"changed": True, "action_id": action.id, "kind": action.kind, "frames": frames, "versions": versions,
                 "video_version": self.store.videos.version(video_id)}
        if action.kind == "prompt" or action.kind == "clear":
            reply["frame"] = action.detail.get("frame")
        self.hub.publish(video_id, "undo" if undo else "redo", reply)
        return reply

    def video_changed(self, video_id: int, reason: str) -> None:
        """The settings of video ``video_id`` changed (its tracking method): its run stops (for ``reason``), its
        session is rebuilt with them at the next request."""
        self.cancel(video_id, reason)
        self.drop(video_id)

    def forget_object(self, video_id: int, obj_id: int) -> None:
        """Drop the deleted object ``obj_id`` from the warm session of video ``video_id`` (the store already deleted
        it); a run tracking it stops."""
        self._stop_runs_of(video_id, [obj_id], "object deleted")
        warm = self.sessions.peek(video_id)
        if warm is not None and obj_id in warm.session.obj_ids:
            try:
                warm.session.remove_object(obj_id)
                warm.session.tracker.take_changes()
                for key in [k for k in warm.prompts if k[0] == obj_id]:
                    del warm.prompts[key]
            except BaseException:
                self.drop(video_id)
                raise

    # ------------------------------------------------------------------ propagation
    def propagate(self, video_id: int, req: PropagateRequest, person: str | None = None) -> dict[str, Any]:
        """Start a propagation run of video ``video_id`` as ``person``: ``req`` says which objects (default: every
        one with prompts), from where, which way and how far.

        The run goes on in the background, one frame per worker turn (``frame`` events). Refused with
        :class:`PromptError` when an object has no prompts, :class:`ConflictError` when a stale version was given or
        someone else's run goes on (the caller's own run is restarted). Publishes ``propagation_started``. Returns
        ``propagation_id``, ``start``, ``direction``, ``until``, ``total`` (frames), ``obj_ids``, ``versions``,
        ``legs`` ([start, last] each) and ``video_version``.
        """
        video = self.store.videos.get(video_id)
        warm = self.warm(video_id)
        prompted: dict[int, list[int]] = {}
        for obj_id, frame in warm.prompts:
            prompted.setdefault(obj_id, []).append(frame)
        ids = list(req.obj_ids) if req.obj_ids is not None else sorted(prompted)
        if not ids:
            raise PromptError("propagate: no object has prompts on this video; click on an object first")
        for obj_id in ids:
            self.store.videos.object(video_id, obj_id)  # UnknownObjectError (404) names it
            if obj_id not in prompted:
                raise PromptError(f"obj_ids: object {obj_id} has no prompts; click on it first")
        expect = dict(req.expect)
        for obj_id in ids:
            if obj_id in expect:
                self.store.videos.check_object(video_id, obj_id, expect[obj_id])
        start = req.start if req.start is not None else min(min(prompted[o]) for o in ids)
        legs, total = plan_legs(warm.session, ids, start, req.direction, req.until, video.num_frames)
        job = self.running.get(video_id)
        if job is not None:
            if job.person != person:
                raise ConflictError(f"propagate: a propagation of objects {job.obj_ids} by {job.person or 'someone'} "
                                    "is running on this video; wait for it or cancel it")
            self.cancel(video_id, "restarted")
        detail = {"start": start, "direction": req.direction, "until": req.until}
        plan = {"obj_ids": ids, "until": req.until, "legs": legs}
        action_id, versions, pid = self.store.tracks.begin_propagation(
            video_id, person, ids, detail, {o: expect.get(o) for o in ids}, plan, total)
        job = Propagation(self, video_id, pid, action_id, person, plan, total)
        self.running[video_id] = job
        self.worker.start_steps(Steps(job.step, job.fail, job.label))
        started = {"propagation_id": pid, "start": start, "direction": req.direction, "until": req.until,
                   "total": total, "obj_ids": ids, "versions": {str(k): v for k, v in versions.items()},
                   "legs": [[leg["start"], leg["last"]] for leg in legs]}
        self.hub.publish(video_id, "propagation_started", started)
        return {**started, "video_version": self.store.videos.version(video_id)}

    def resume(self, video_id: int, person: str | None = None) -> dict[str, Any]:
        """Continue the interrupted propagation of video ``video_id`` from the frame after the last one stored (same
        action), as ``person``. :class:`InvalidInputError` when its latest run is not interrupted,
        :class:`ConflictError` when a run goes on. Returns ``propagation_id``, ``resumed``, ``frames_done_before``,
        ``total``, ``start``, ``direction``, ``obj_ids`` and ``video_version``."""
        last = self.store.tracks.latest_propagation(video_id)
        if last is None or last.status != "interrupted" or last.action_id is None:
            raise InvalidInputError(f"resume: video {video_id} has no interrupted propagation")
        if video_id in self.running:
            raise ConflictError(f"resume: a propagation is running on video {video_id}")
        self.warm(video_id)
        self.store.tracks.resume_propagation(last.id)
        job = Propagation(self, video_id, last.id, last.action_id, person, last.plan, last.total, last.frames_done)
        self.running[video_id] = job
        self.worker.start_steps(Steps(job.step, job.fail, job.label))
        reply = {"propagation_id": last.id, "resumed": True, "frames_done_before": last.frames_done,
                 "total": last.total, "start": last.start, "direction": last.direction,
                 "obj_ids": last.plan.get("obj_ids", [])}
        self.hub.publish(video_id, "propagation_started", reply)
        return {**reply, "video_version": self.store.videos.version(video_id)}

    def cancel(self, video_id: int, reason: str = "cancelled", status: str = "cancelled") -> bool:
        """Stop the propagation of video ``video_id`` (what it stored stays, as its action), for ``reason``;
        ``status`` "interrupted" leaves it resumable. Returns whether a run was going."""
        job = self.running.pop(video_id, None)
        if job is None:
            return False
        job.stop(reason, status)
        return True

    # ------------------------------------------------------------------ frames encoded ahead
    def set_focus(self, video_id: int, frame: int) -> None:
        """Frame ``frame`` of video ``video_id`` is on an annotator's screen: frames around it are encoded while the
        worker is idle."""
        self.focus = (video_id, frame)
        self.refocus(video_id)

    def refocus(self, video_id: int) -> None:
        """Start encoding frames around the focus while the worker is idle, if video ``video_id`` has it and no such
        job is queued already."""
        if self.focus is None or self.focus[0] != video_id or self._idle is not None:
            return
        self._idle = Steps(self._encode_ahead, self._idle_failed, lambda: "encoding frames ahead")
        self.worker.start_steps(self._idle, IDLE)

    def _idle_failed(self, exc: BaseException) -> None:
        self._idle = None

    def _encode_ahead(self) -> bool:
        """One idle turn: encode the unencoded frame nearest the focus (False when none is left)."""
        if self.focus is None:
            self._idle = None
            return False
        video_id, frame = self.focus
        warm = self.warm(video_id)
        session = warm.session
        self._fit_feature_cache(session)
        radius = min(self.encode_radius, max(0, (session.options.feature_cache_size - 1) // 2))
        for d in sorted(range(-radius, radius + 1), key=abs):
            f = frame + d
            if 0 <= f < session.num_frames and not session.is_encoded(f):
                session.encode(f)
                return True
        self._idle = None
        return False

    def _fit_feature_cache(self, session: VideoSession) -> None:
        """Size the session's feature cache to the byte budget, once a frame's size is known."""
        engine = session.tracker.engine
        n = engine.num_cached_features()
        if n:
            per_frame = max(1, engine.cache_nbytes() // n)
            size = max(2, self.feature_cache_bytes // per_frame)
            if size != session.options.feature_cache_size:
                session.update_options(feature_cache_size=int(size))
