"""What the studio's store hands out: small frozen values instead of rows as string-keyed dicts.

Each has :meth:`json` for a reply; the HTTP layer never reads a column by name.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["ActionRow", "HistoryRow", "MaskRow", "ObjectRow", "PersonRow", "PropagationRow", "ReviewRow", "VideoRow",
           "from_row"]


def from_row(cls: type, row: sqlite3.Row | dict[str, Any], **extra: Any) -> Any:
    """A value of ``cls`` (one of this module's dataclasses) from a database ``row`` or dict (columns it does not
    name are ignored); ``extra`` gives or overrides fields (e.g. JSON columns decoded)."""
    keys = row.keys()
    values = {f.name: row[f.name] for f in fields(cls) if f.name in keys}
    return cls(**{**values, **extra})


class _Json:
    def json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class VideoRow(_Json):
    id: int
    name: str  # the name the user gave (shown, and the stem of export names)
    path: str  # media path relative to the data dir
    kind: str  # file, image or folder
    num_frames: int
    height: int
    width: int
    fps: float | None
    version: int  # counts every change to the video (objects, masks, reviews): clients resync on it
    last_interaction: float | None
    created: float
    num_objects: int = 0
    num_accepted: int = 0
    num_reviewed: int = 0
    status: str = "to_annotate"  # the work flow: to_annotate, in_annotation, to_review, done
    annotator: str | None = None  # the person it is assigned to (None: nobody yet)
    reviewer: str | None = None  # the person who verifies it (None: any reviewer)
    submitted: float | None = None  # when it was last submitted for review
    method: str = "sam2"  # its tracking method (samstream.video.methods): sam2, samurai, dam4sam, sam2long

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width) of the video in pixels."""
        return self.height, self.width


@dataclass(frozen=True)
class ObjectRow(_Json):
    video_id: int
    obj_id: int
    name: str
    category: str
    colour: str
    review_status: str
    reviewer: str
    note: str
    reviewed_at: float | None
    clicks: int
    active_seconds: float
    created: float
    version: int  # edits of this object are checked against it (other objects never conflict)
    origin: str  # manual, auto (an accepted automatic masklet), imported; auto/imported until a person edits it


@dataclass(frozen=True)
class ReviewRow(_Json):
    id: int
    video_id: int
    obj_id: int
    status: str
    reviewer: str
    note: str
    created: float


@dataclass(frozen=True)
class MaskRow(_Json):
    obj_id: int
    frame: int
    rle: dict[str, Any]
    source: str  # prompt, propagated, imported, proposal
    score: float | None = None
    prompts: list[dict[str, Any]] | None = None  # the prompt steps in force on the frame (pixels)
    method: str | None = None  # the tracking method that made it (None: not made by tracking, e.g. imported)

    @staticmethod
    def read(row: sqlite3.Row) -> "MaskRow":
        """A mask from a row of ``current`` joined with its record."""
        keys = row.keys()
        prompts = row["prompts"] if "prompts" in keys else None
        return MaskRow(row["obj_id"], row["frame"], json.loads(row["rle"]), row["source"],
                       row["score"] if "score" in keys else None, json.loads(prompts) if prompts else None,
                       row["method"] if "method" in keys else None)


@dataclass(frozen=True)
class ActionRow(_Json):
    id: int
    video_id: int
    person: str | None
    kind: str  # prompt, clear, propagate, import, accept, delete
    obj_ids: list[int]
    detail: dict[str, Any]
    clicks: int
    state: str  # active, undone, dropped (undone and then replaced), migrated (from an older data dir)
    created: float
    finished: float | None
    active: float = 0.0  # seconds of annotation time it counted (the person's gap before it, pauses left out)

    @staticmethod
    def read(row: sqlite3.Row) -> "ActionRow":
        """An action from a row of ``actions`` (its ``obj_ids`` and ``detail`` decoded from JSON)."""
        return from_row(ActionRow, row, obj_ids=json.loads(row["obj_ids"]), detail=json.loads(row["detail"]))


@dataclass(frozen=True)
class PropagationRow(_Json):
    id: int
    video_id: int
    action_id: int | None
    start: int
    end_frame: int  # -1: to the end (or to each object's next prompted frame, see plan)
    direction: str
    status: str  # running, done, cancelled, interrupted, failed, superseded
    frames_done: int
    total: int
    plan: dict[str, Any]  # obj_ids, until, legs: [start, count, reverse] and the last frame stored per leg
    created: float
    finished: float | None

    @staticmethod
    def read(row: sqlite3.Row) -> "PropagationRow":
        """A propagation run from a row of ``propagations`` (its ``plan`` decoded from JSON)."""
        return from_row(PropagationRow, row, plan=json.loads(row["plan"] or "{}"))


@dataclass(frozen=True)
class PersonRow(_Json):
    """A person of a studio with people (the token's salt and hash never leave the store)."""

    id: int
    name: str
    role: str  # annotator, reviewer or admin
    disabled: bool
    created: float
    token_created: float  # when the token in force was made (a new one revokes the old)


@dataclass(frozen=True)
class HistoryRow(_Json):
    """One change of a video with who made it and when: an action (prompt, clear, propagate, import,
    accept), a review decision (``review``) or a history row (object_created, object_updated,
    object_deleted, assigned, status)."""

    created: float
    person: str | None
    kind: str
    obj_ids: list[int]
    detail: dict[str, Any]  # actions: their detail with clicks and state; review: status, note; others: as written
