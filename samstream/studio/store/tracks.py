"""Masks, the tracker's state per frame, actions with exact undo and redo, propagation runs.

Every result the studio keeps is a *record*: one object's mask on one frame, where it came from, the
prompts in force there and the tracker's exact state there. Records are only ever added; ``current``
says which record of each (frame, object) is in force. An *action* (a prompt, a clear, a propagation
run, an import) lists per frame the record it replaced and the record it put. Undo points ``current``
back at the replaced records of one action, redo at the put ones: the work is the frames that action
changed, whatever the video's length or the number of earlier actions. Both first check, frame by
frame, that nothing else changed those frames since (else :class:`ConflictError`): an undo never
silently takes back someone else's later work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from samstream.studio.rows import ActionRow, MaskRow, PropagationRow
from samstream.studio.store.db import ConflictError, Database, NotFoundError
from samstream.studio.store.history import last_seen, start_annotation
from samstream.studio.store.videos import bump_object, bump_video
from samstream.video.saved import EncodedFrameState

__all__ = ["FrameChange", "StoredFrame", "TrackStore"]

PERSON_ACTIONS = ("prompt", "clear", "propagate", "import", "accept")


@dataclass(frozen=True)
class FrameChange:
    """One object's new result on one frame; ``rle`` None: the object holds nothing there now."""

    obj_id: int
    frame: int
    rle: dict[str, Any] | None
    source: str = "propagated"  # prompt, propagated, imported, proposal
    score: float | None = None  # object-presence logit
    prompts: list[dict[str, Any]] | None = None  # prompt steps in force (pixels), see schema.prompt_step
    state: EncodedFrameState | None = None  # the tracker's state there (None: none kept, e.g. an imported mask)
    method: str | None = None  # the tracking method that made it


@dataclass(frozen=True)
class StoredFrame:
    """What a session rebuild reads of one (object, frame): its small parts only (see :meth:`TrackStore.frames_of`)."""

    obj_id: int
    frame: int
    record_id: int
    reverse: bool | None
    entry: bytes | None
    has_tracked: bool
    prompts: list[dict[str, Any]] | None


def _record(db: sqlite3.Connection, video_id: int, change: FrameChange, action_id: int | None, now: float) -> int:
    state = change.state
    cur = db.execute(
        "INSERT INTO records (video_id, obj_id, frame, rle, source, score, prompts, reverse, entry, tracked, method, "
        "action_id, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (video_id, change.obj_id, change.frame, json.dumps(change.rle), change.source, change.score,
         None if change.prompts is None else json.dumps(change.prompts),
         None if state is None or state.reverse is None else int(state.reverse),
         None if state is None else state.entry, None if state is None else state.tracked, change.method,
         action_id, now))
    return int(cur.lastrowid)  # type: ignore[arg-type]


class TrackStore:
    """Rows of ``records``, ``current``, ``actions``, ``changes`` and ``propagations``."""

    def __init__(self, db: Database, idle_gap: float = 60.0) -> None:
        self.db = db
        self.idle_gap = idle_gap  # seconds between interactions above which a gap is not annotation time

    # ------------------------------------------------------------------ writing
    def put(self, db: sqlite3.Connection, video_id: int, changes: Iterable[FrameChange],
            action_id: int | None) -> list[int]:
        """Inside a transaction (``db``): the ``changes`` of video ``video_id`` become the records in force, each
        listed under ``action_id`` (None: under no action, see :meth:`settle`) with the record it replaced. A change
        with no mask (``rle`` None) takes the object's record off its frame. Returns the new record ids, one per
        change (0 where the object holds nothing now)."""
        now, ids = self.db.clock(), []
        for c in changes:
            old = db.execute("SELECT record_id FROM current WHERE video_id=? AND frame=? AND obj_id=?",
                             (video_id, c.frame, c.obj_id)).fetchone()
            new = None
            if c.rle is None:
                db.execute("DELETE FROM current WHERE video_id=? AND frame=? AND obj_id=?", (video_id, c.frame, c.obj_id))
            else:
                new = _record(db, video_id, c, action_id, now)
                db.execute("INSERT OR REPLACE INTO current (video_id, frame, obj_id, record_id) VALUES (?,?,?,?)",
                           (video_id, c.frame, c.obj_id, new))
            if action_id is not None:  # the first replaced record of a frame stays what undo restores
                db.execute("INSERT INTO changes (action_id, obj_id, frame, before_id, after_id) VALUES (?,?,?,?,?) "
                           "ON CONFLICT (action_id, obj_id, frame) DO UPDATE SET after_id=excluded.after_id",
                           (action_id, c.obj_id, c.frame, None if old is None else old[0], new))
            ids.append(new or 0)
        return ids

    def begin(self, db: sqlite3.Connection, video_id: int, person: str | None, kind: str, obj_ids: list[int],
              detail: dict[str, Any], clicks: int = 0, expect: dict[int, int | None] | None = None) -> tuple[int, dict[int, int]]:
        """Inside a transaction (``db``): a new action of ``person`` on ``obj_ids`` of video ``video_id``.

        ``kind``: prompt, clear, propagate, import or accept; ``detail``: what the page and the history show of it
        (its frame, its prompt step, a run's start and direction), kept as JSON; ``clicks``: what it cost (counted
        for the object when it is the only one); ``expect``: obj_id -> the version the client saw (each is checked,
        :class:`ConflictError` when stale, and counted as changed). The action counts the person's time since their
        previous interaction with the video as active, unless that gap is over the store's idle gap (a pause). The
        person's undone actions on the video can no longer be redone. An accepted or rejected object edited again is
        unreviewed again (its review history stays); an automatic or imported masklet a person edits becomes a
        manual one. A video's first action takes it from to_annotate to in_annotation.

        Returns the action id and the objects' new versions (obj_id -> version).
        """
        expect = expect or {}
        versions = {o: bump_object(db, video_id, o, expect.get(o)) for o in obj_ids}
        bump_video(db, video_id)
        db.execute("UPDATE actions SET state='dropped' WHERE video_id=? AND state='undone' AND person IS ?",
                   (video_id, person))
        # effort: the time since the person's previous interaction with the video counts, unless it was a pause
        now = self.db.clock()
        last = last_seen(db, video_id, person)
        db.execute("UPDATE videos SET last_interaction=? WHERE id=?", (now, video_id))
        start_annotation(db, now, video_id, person)
        gap = None if last is None else now - last
        active = gap if gap is not None and 0 <= gap <= self.idle_gap else 0.0
        for o in obj_ids:
            db.execute("UPDATE objects SET clicks=clicks+?, active_seconds=active_seconds+? WHERE video_id=? AND obj_id=?",
                       (clicks if len(obj_ids) == 1 else 0, active / len(obj_ids), video_id, o))
        cur = db.execute("INSERT INTO actions (video_id, person, kind, obj_ids, detail, clicks, active, state, created) "
                         "VALUES (?,?,?,?,?,?,?,?,?)", (video_id, person, kind, json.dumps(obj_ids),
                                                        json.dumps(detail), clicks, active, "active", now))
        if kind in PERSON_ACTIONS and kind not in ("import", "accept"):
            for o in obj_ids:
                db.execute("UPDATE objects SET review_status='unreviewed' WHERE video_id=? AND obj_id=? "
                           "AND review_status IN ('accepted', 'rejected')", (video_id, o))
                db.execute("UPDATE objects SET origin='manual' WHERE video_id=? AND obj_id=?", (video_id, o))
        return int(cur.lastrowid), versions  # type: ignore[arg-type]

    def record_action(self, video_id: int, person: str | None, kind: str, obj_ids: list[int],
                      detail: dict[str, Any], changes: list[FrameChange], clicks: int = 0,
                      expect: dict[int, int | None] | None = None) -> tuple[int, dict[int, int]]:
        """An action and all its changes in one transaction: :meth:`begin` with ``person``, ``kind``, ``obj_ids``,
        ``detail``, ``clicks`` and ``expect``, then :meth:`put` of ``changes`` on video ``video_id``. Returns the
        action id and the objects' new versions."""
        with self.db.transaction() as db:
            action_id, versions = self.begin(db, video_id, person, kind, obj_ids, detail, clicks, expect)
            self.put(db, video_id, changes, action_id)
            db.execute("UPDATE actions SET finished=? WHERE id=?", (self.db.clock(), action_id))
        return action_id, versions

    def settle(self, video_id: int, changes: list[FrameChange]) -> None:
        """Keep the states a session build made for the prompted frames of video ``video_id`` that had none stored
        (``changes``: their masks, the same as before, with the states). No action: there is nothing to undo, only
        the tracker's state is kept now."""
        with self.db.transaction() as db:
            self.put(db, video_id, changes, None)

    # ------------------------------------------------------------------ reading
    def masks(self, video_id: int, obj_id: int | None = None) -> list[MaskRow]:
        """Every mask in force of video ``video_id`` (or only of object ``obj_id``), by frame then object."""
        sql = ("SELECT c.obj_id, c.frame, r.rle, r.source, r.score, r.prompts, r.method FROM current c "
               "JOIN records r ON r.id=c.record_id WHERE c.video_id=?")
        if obj_id is None:
            rows = self.db.rows(sql + " ORDER BY c.frame, c.obj_id", (video_id,))
        else:
            rows = self.db.rows(sql + " AND c.obj_id=? ORDER BY c.frame", (video_id, obj_id))
        return [MaskRow.read(r) for r in rows]

    def masks_on(self, video_id: int, frame: int) -> list[MaskRow]:
        """Every object's mask in force on frame ``frame`` of video ``video_id``, by object id."""
        rows = self.db.rows("SELECT c.obj_id, c.frame, r.rle, r.source, r.score, r.prompts, r.method FROM current c "
                            "JOIN records r ON r.id=c.record_id WHERE c.video_id=? AND c.frame=? ORDER BY c.obj_id",
                            (video_id, frame))
        return [MaskRow.read(r) for r in rows]

    def frames_of(self, video_id: int) -> list[StoredFrame]:
        """Per (object, frame) in force on video ``video_id``: the small parts of the tracker's state (what a
        rebuild reads), by object then frame."""
        rows = self.db.rows("SELECT c.obj_id, c.frame, c.record_id, r.reverse, r.entry, r.tracked IS NOT NULL, "
                            "r.prompts FROM current c JOIN records r ON r.id=c.record_id WHERE c.video_id=? "
                            "ORDER BY c.obj_id, c.frame", (video_id,))
        return [StoredFrame(r[0], r[1], r[2], None if r[3] is None else bool(r[3]), r[4], bool(r[5]),
                            json.loads(r[6]) if r[6] else None) for r in rows]

    def tracked_state(self, video_id: int, obj_id: int, frame: int) -> bytes | None:
        """The tracked output in force of object ``obj_id`` on frame ``frame`` of video ``video_id``, as stored
        (None: none, e.g. a prompted frame or an imported mask)."""
        return self.db.value("SELECT r.tracked FROM current c JOIN records r ON r.id=c.record_id "
                             "WHERE c.video_id=? AND c.frame=? AND c.obj_id=?", (video_id, frame, obj_id))

    def record_state(self, record_id: int) -> EncodedFrameState:
        """The tracker's state kept with record ``record_id`` (what undo and redo put back in a warm session);
        :class:`NotFoundError` when there is no such record."""
        row = self.db.row("SELECT reverse, entry, tracked FROM records WHERE id=?", (record_id,))
        if row is None:
            raise NotFoundError(f"record: no record {record_id}")
        return EncodedFrameState(None if row[0] is None else bool(row[0]), row[1], row[2])

    def record_prompts(self, record_id: int) -> list[dict[str, Any]] | None:
        """The prompt steps in force on the frame of record ``record_id`` (None: none, or no such record)."""
        value = self.db.value("SELECT prompts FROM records WHERE id=?", (record_id,))
        return json.loads(value) if value else None

    def action(self, action_id: int) -> ActionRow:
        """Action ``action_id``; :class:`NotFoundError` when there is none."""
        row = self.db.row("SELECT * FROM actions WHERE id=?", (action_id,))
        if row is None:
            raise NotFoundError(f"action: no action {action_id}")
        return ActionRow.read(row)

    def actions(self, video_id: int) -> list[ActionRow]:
        """Every action on video ``video_id`` (undone and dropped ones too), oldest first."""
        return [ActionRow.read(r) for r in self.db.rows("SELECT * FROM actions WHERE video_id=? ORDER BY id",
                                                        (video_id,))]

    # ------------------------------------------------------------------ undo, redo
    def step_back(self, video_id: int, person: str | None, undo: bool) -> tuple[ActionRow | None, list[tuple[int, int, int | None]]]:
        """Undo ``person``'s latest active action on video ``video_id`` (``undo`` False: redo their latest undone
        one).

        Returns the action (None: nothing to undo or redo) and per changed frame (obj_id, frame, the record now in
        force or None). Refused with :class:`ConflictError` when a frame it changed was changed again since (by a
        later action): undo those first.
        """
        with self.db.transaction() as db:
            # undo: the latest active action; redo: the most recently undone one (undone in the same
            # clock tick: the earlier action, since a stack is undone from its top down)
            state = "active" if undo else "undone"
            order = "id DESC" if undo else "finished DESC, id ASC"
            row = db.execute(f"SELECT * FROM actions WHERE video_id=? AND person IS ? AND state=? "
                             f"AND kind IN ({','.join('?' * len(PERSON_ACTIONS))}) ORDER BY {order} LIMIT 1",
                             (video_id, person, state, *PERSON_ACTIONS)).fetchone()
            if row is None:
                return None, []
            action = ActionRow.read(row)
            changes = db.execute("SELECT obj_id, frame, before_id, after_id FROM changes WHERE action_id=? "
                                 "ORDER BY obj_id, frame", (action.id,)).fetchall()
            moves = []
            for obj_id, frame, before, after in changes:
                want, put = (after, before) if undo else (before, after)
                now = db.execute("SELECT record_id FROM current WHERE video_id=? AND frame=? AND obj_id=?",
                                 (video_id, frame, obj_id)).fetchone()
                if (None if now is None else now[0]) != want:
                    verb = "undo" if undo else "redo"
                    raise ConflictError(f"{verb}: frame {frame} of object {obj_id} was changed after this "
                                        f"{action.kind} (by a later action); {'undo that first' if undo else 'it cannot be redone'}",
                                        obj_id=obj_id)
                moves.append((obj_id, frame, put))
            for obj_id, frame, put in moves:
                if put is None:
                    db.execute("DELETE FROM current WHERE video_id=? AND frame=? AND obj_id=?", (video_id, frame, obj_id))
                else:
                    db.execute("INSERT OR REPLACE INTO current (video_id, frame, obj_id, record_id) VALUES (?,?,?,?)",
                               (video_id, frame, obj_id, put))
            for obj_id in action.obj_ids:
                if db.execute("SELECT 1 FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id)).fetchone():
                    bump_object(db, video_id, obj_id, None)
            bump_video(db, video_id)
            db.execute("UPDATE actions SET state=?, finished=? WHERE id=?",
                       ("undone" if undo else "active", self.db.clock(), action.id))
        return action, moves

    # ------------------------------------------------------------------ propagation runs
    def begin_propagation(self, video_id: int, person: str | None, obj_ids: list[int], detail: dict[str, Any],
                          expect: dict[int, int | None], plan: dict[str, Any], total: int) -> tuple[int, dict[int, int], int]:
        """A propagation run's action and row, in one transaction; returns (action id, versions, run id).

        ``person`` runs it on ``obj_ids`` of video ``video_id``; ``expect``: obj_id -> the version the client saw
        (None: not checked); ``detail``: start, direction and until of the run; ``plan``: its objects and legs;
        ``total``: the frames it will track (a frame done by two legs counts twice).
        """
        with self.db.transaction() as db:
            action_id, versions = self.begin(db, video_id, person, "propagate", obj_ids, detail, 0, expect)
            until = detail.get("until")
            pid = self.start_propagation(db, video_id, action_id, int(detail["start"]),
                                         until if isinstance(until, int) else -1, str(detail["direction"]), total, plan)
        return action_id, versions, pid

    def start_propagation(self, db: sqlite3.Connection, video_id: int, action_id: int, start: int, end: int,
                          direction: str, total: int, plan: dict[str, Any]) -> int:
        """Inside a transaction (``db``): the row of a new run of video ``video_id`` under action ``action_id``,
        status running; returns its id.

        ``start`` and ``end`` (-1: to the end, or to each object's next prompt), ``direction``, ``total`` frames and
        the ``plan`` (its objects and legs) as in :meth:`begin_propagation`. The video's interrupted runs become
        superseded: only the latest can be resumed.
        """
        db.execute("UPDATE propagations SET status='superseded' WHERE video_id=? AND status='interrupted'", (video_id,))
        cur = db.execute("INSERT INTO propagations (video_id, action_id, start, end_frame, direction, status, total, "
                         "plan, created) VALUES (?,?,?,?,?,?,?,?,?)",
                         (video_id, action_id, start, end, direction, "running", total, json.dumps(plan), self.db.clock()))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def propagation_step(self, video_id: int, propagation_id: int, action_id: int, changes: list[FrameChange],
                         frames_done: int, plan: dict[str, Any]) -> None:
        """One propagated frame's ``changes`` of video ``video_id`` under the run's action ``action_id``, and the
        progress of run ``propagation_id`` (``frames_done``, and the ``plan`` with each leg's next frame), in one
        transaction."""
        with self.db.transaction() as db:
            self.put(db, video_id, changes, action_id)
            db.execute("UPDATE propagations SET frames_done=?, plan=? WHERE id=?",
                       (frames_done, json.dumps(plan), propagation_id))
            bump_video(db, video_id)

    def resume_propagation(self, propagation_id: int) -> None:
        """Mark run ``propagation_id`` (and its action) running again, as an interrupted run resumes."""
        with self.db.transaction() as db:
            db.execute("UPDATE propagations SET status='running', finished=NULL WHERE id=?", (propagation_id,))
            db.execute("UPDATE actions SET finished=NULL WHERE id=(SELECT action_id FROM propagations WHERE id=?)",
                       (propagation_id,))

    def finish_propagation(self, propagation_id: int, status: str) -> None:
        """End run ``propagation_id`` with ``status`` (done, cancelled, failed, interrupted), stamping it and its
        action with the time; the frames it stored stay, as its action."""
        now = self.db.clock()
        with self.db.transaction() as db:
            db.execute("UPDATE propagations SET status=?, finished=? WHERE id=?", (status, now, propagation_id))
            db.execute("UPDATE actions SET finished=? WHERE id=(SELECT action_id FROM propagations WHERE id=?)",
                       (now, propagation_id))

    def interrupt_running(self) -> None:
        """At start: runs a dead server left 'running' are 'interrupted' (resumable)."""
        with self.db.transaction() as db:
            db.execute("UPDATE propagations SET status='interrupted' WHERE status='running'")
            db.execute("UPDATE auto_runs SET status='interrupted' WHERE status='running'")

    def interrupt_runs(self, video_ids: list[int]) -> list[tuple[int, str | None]]:
        """Runs 'running' on videos ``video_ids`` become 'interrupted' (their worker died); returns (video, person
        who started the run) of each, for resuming them."""
        if not video_ids:
            return []
        marks = ",".join("?" * len(video_ids))
        with self.db.transaction() as db:
            rows = db.execute(f"SELECT p.video_id, a.person FROM propagations p LEFT JOIN actions a ON a.id=p.action_id "
                              f"WHERE p.status='running' AND p.video_id IN ({marks})", tuple(video_ids)).fetchall()
            db.execute(f"UPDATE propagations SET status='interrupted' WHERE status='running' AND video_id IN ({marks})",
                       tuple(video_ids))
        return [(r[0], r[1]) for r in rows]

    def propagation(self, propagation_id: int) -> PropagationRow:
        """Run ``propagation_id``; :class:`NotFoundError` when there is none."""
        row = self.db.row("SELECT * FROM propagations WHERE id=?", (propagation_id,))
        if row is None:
            raise NotFoundError(f"propagation: no propagation {propagation_id}")
        return PropagationRow.read(row)

    def latest_propagation(self, video_id: int) -> PropagationRow | None:
        """The latest propagation run of video ``video_id`` (None: it never had one)."""
        row = self.db.row("SELECT * FROM propagations WHERE video_id=? ORDER BY id DESC LIMIT 1", (video_id,))
        return None if row is None else PropagationRow.read(row)

    def prompted_frames(self, video_id: int) -> dict[int, list[int]]:
        """obj_id -> frames with prompts in force on video ``video_id``, in frame order."""
        out: dict[int, list[int]] = {}
        for obj_id, frame in self.db.rows("SELECT c.obj_id, c.frame FROM current c JOIN records r ON r.id=c.record_id "
                                          "WHERE c.video_id=? AND r.prompts IS NOT NULL ORDER BY c.frame", (video_id,)):
            out.setdefault(obj_id, []).append(frame)
        return out

    def edited_frames(self, video_id: int) -> dict[int, int]:
        """obj_id -> number of distinct frames of video ``video_id`` a prompt or clear was ever made on (undone ones
        included)."""
        counts: dict[int, set[int]] = {}
        for kind, obj_ids, detail in self.db.rows("SELECT kind, obj_ids, detail FROM actions WHERE video_id=? "
                                                  "AND kind IN ('prompt', 'clear')", (video_id,)):
            frame = json.loads(detail).get("frame")
            for obj_id in json.loads(obj_ids):
                counts.setdefault(obj_id, set()).add(frame)
        return {o: len(f) for o, f in counts.items()}
