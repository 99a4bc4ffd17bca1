"""What effort figures are computed from: every action, the masks in force with who made them, reviews.

:mod:`samstream.studio.effort` turns these facts into the paper's measures per person and per video.
"""

from __future__ import annotations

from dataclasses import dataclass

from samstream.studio.rows import ActionRow, ReviewRow, from_row
from samstream.studio.store.db import Database

__all__ = ["EffortStore", "FramesInForce"]

DAY = 86400.0


@dataclass(frozen=True)
class FramesInForce:
    """Masks in force of one object made by one person on one day (UTC): how many, how many prompted."""

    video_id: int
    obj_id: int
    person: str | None
    attributed: bool  # made by an action (False: kept without one, e.g. an imported prompt's tracker state)
    day: int  # days since 1970-01-01 (UTC) when the masks were made
    frames: int
    prompted: int  # of them, frames with prompts in force


class EffortStore:
    """Read-only queries over ``actions``, ``current``, ``records`` and ``reviews`` of every video."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def actions(self) -> list[ActionRow]:
        """Every action of every video (undone and dropped ones too), in the order they were made."""
        return [ActionRow.read(r) for r in self.db.rows("SELECT * FROM actions ORDER BY id")]

    def reviews(self) -> list[ReviewRow]:
        """Every review decision of every video, in the order they were made."""
        return [from_row(ReviewRow, r) for r in self.db.rows("SELECT * FROM reviews ORDER BY id")]

    def frames_in_force(self) -> list[FramesInForce]:
        """The masks in force, counted per (video, object, the person whose action made them, day)."""
        rows = self.db.rows(
            "SELECT c.video_id, c.obj_id, a.person, a.id IS NOT NULL AS attributed, "
            "CAST(r.created / ? AS INTEGER) AS day, COUNT(*) AS frames, SUM(r.prompts IS NOT NULL) AS prompted "
            "FROM current c JOIN records r ON r.id=c.record_id LEFT JOIN actions a ON a.id=r.action_id "
            "GROUP BY c.video_id, c.obj_id, a.person, attributed, day", (DAY,))
        return [FramesInForce(r[0], r[1], r[2], bool(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows]
