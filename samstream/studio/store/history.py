"""Rows of ``history``: the changes that are not undoable actions, with who made them and when.

Objects created, renamed or deleted, assignments and work-flow steps are written here, inside the
transaction of the change itself, by the sub-store that makes it. Together with ``actions`` (edits
and propagation runs) and ``reviews`` (review decisions) they are a video's whole history
(:meth:`~samstream.studio.store.workflow.WorkflowStore.history`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["HISTORY_KINDS", "last_seen", "start_annotation", "write"]

# object_created/updated/deleted: {name, ...}; assigned: {annotator, reviewer}; status: {step, from, to, note}
HISTORY_KINDS = ("object_created", "object_updated", "object_deleted", "assigned", "status")


def write(db: sqlite3.Connection, now: float, video_id: int, person: str | None, kind: str,
          detail: dict[str, Any], obj_id: int | None = None) -> None:
    """Inside a transaction: one history row of video ``video_id``.

    ``db``: the transaction's connection; ``now``: the time it is written (seconds since the epoch, the store's
    clock); ``person``: who made the change (None: the one person of a studio without people); ``kind``: one of
    :data:`HISTORY_KINDS` (another is a :class:`ValueError`, a programming error); ``detail``: what changed, kept as
    JSON; ``obj_id``: the object it concerns (None: the whole video).
    """
    if kind not in HISTORY_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(HISTORY_KINDS)}, got {kind!r}")
    db.execute("INSERT INTO history (video_id, obj_id, person, kind, detail, created) VALUES (?,?,?,?,?,?)",
               (video_id, obj_id, person, kind, json.dumps(detail), now))


def last_seen(db: sqlite3.Connection, video_id: int, person: str | None) -> float | None:
    """When ``person`` last changed anything of video ``video_id`` (an action or a history row; None: never), read
    through the open connection ``db``.

    Effort counts the time since then as active: per person, so that two people working on one video at once never
    count each other's pauses.
    """
    row = db.execute("SELECT MAX(t) FROM (SELECT MAX(created) AS t FROM actions WHERE video_id=? AND person IS ? "
                     "UNION ALL SELECT MAX(created) FROM history WHERE video_id=? AND person IS ?)",
                     (video_id, person, video_id, person)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def start_annotation(db: sqlite3.Connection, now: float, video_id: int, person: str | None) -> None:
    """Inside a transaction (``db``): the first edit of video ``video_id`` takes it from to_annotate to
    in_annotation, written as a ``status`` history row of ``person`` at ``now``; a video past to_annotate is left as
    it is."""
    cur = db.execute("UPDATE videos SET status='in_annotation' WHERE id=? AND status='to_annotate'", (video_id,))
    if cur.rowcount:
        write(db, now, video_id, person, "status", {"step": "start", "from": "to_annotate", "to": "in_annotation",
                                                   "note": ""})
