"""Annotation effort, the paper's measures, from what the store recorded of every action.

Per object: clicks, prompted frames (prompts in force), edited frames (frames a prompt or a clear was
ever made on), active seconds (time between interactions, pauses longer than the store's idle gap
left out); per video and over videos: the same totals and seconds per frame. For a team
(:func:`effort_table`): per person or per video, the SAM 2 paper's measures (seconds per annotated
frame, clicks per clicked frame, share of frames edited, masklets accepted, sent back, rejected).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from samstream.errors import InvalidInputError
from samstream.studio.rows import ActionRow, ObjectRow, VideoRow
from samstream.studio.store import FramesInForce, Store
from samstream.studio.store.effort import DAY

__all__ = ["BY", "KEYS", "EffortDay", "EffortRow", "EffortTable", "effort_rows", "effort_summary", "effort_table"]

KEYS = ("clicks", "prompted_frames", "edited_frames", "active_seconds")


def effort_rows(store: Store, video_id: int) -> list[dict[str, Any]]:
    """Per object of video ``video_id``: its effort figures,
    ``{"obj_id", "clicks", "prompted_frames", "edited_frames", "active_seconds"}``; :class:`NotFoundError` for an
    unknown video."""
    prompted = store.tracks.prompted_frames(video_id)
    edited = store.tracks.edited_frames(video_id)
    return [{"obj_id": o.obj_id, "clicks": o.clicks, "prompted_frames": len(prompted.get(o.obj_id, ())),
             "edited_frames": int(edited.get(o.obj_id, 0)), "active_seconds": round(o.active_seconds, 3)}
            for o in store.videos.objects(video_id)]


def effort_summary(store: Store, video_ids: list[int]) -> dict[str, Any]:
    """Effort per masklet, per video and for all of ``video_ids``:
    ``{"videos": [{"video_id", "num_frames", "objects": effort_rows, "totals"}], "totals"}``, the totals of
    :data:`KEYS` and, over all, ``seconds_per_frame`` (active seconds per video frame)."""
    videos = []
    for vid in video_ids:
        rows = effort_rows(store, vid)
        num_frames = store.videos.get(vid).num_frames
        totals = {k: round(sum(r[k] for r in rows), 3) for k in KEYS}
        videos.append({"video_id": vid, "num_frames": num_frames, "objects": rows, "totals": totals})
    totals = {k: round(sum(v["totals"][k] for v in videos), 3) for k in KEYS}
    frames = sum(v["num_frames"] for v in videos)
    totals["seconds_per_frame"] = round(totals["active_seconds"] / frames, 4) if frames else 0.0
    return {"videos": videos, "totals": totals}


# ---------------------------------------------------------------------- per person and per video (a team)
BY = ("person", "video")


@dataclass(frozen=True)
class EffortRow:
    """The SAM 2 paper's effort measures of one person, one video, or everyone (both None).

    Per person, a mask in force counts for whoever's action made it, and a masklet for each person
    who made an action on it; per video, every mask and masklet of the video counts.
    """

    person: str | None
    video_id: int | None
    video: str | None  # the video's name
    masklets: int  # masklets worked on (that still exist)
    clicks: int
    clicked_frames: int  # (masklet, frame) pairs clicked on
    prompted_frames: int  # masks in force with prompts
    edited_frames: int  # (masklet, frame) pairs a prompt or a clear was ever made on
    annotated_frames: int  # masks in force
    active_seconds: float
    seconds_per_frame: float | None  # active seconds per annotated frame (paper: 37.8 SAM per frame, 4.5 full SAM 2)
    clicks_per_clicked_frame: float | None  # paper: 2.68
    edited_share: float | None  # edited / annotated frames (paper: 0.19)
    accepted: int  # of the masklets, accepted now
    sent_back: int  # "needs fix" decisions on the masklets
    rejected: int  # of the masklets, rejected now
    reviews: int  # review decisions made (per person: by them; per video: on it)

    def json(self) -> dict[str, Any]:
        """The row as a JSON object (every field, None as null)."""
        return asdict(self)


@dataclass(frozen=True)
class EffortDay:
    """One person's work on one day (UTC), for plots over time."""

    person: str | None
    day: str  # YYYY-MM-DD
    clicks: int
    active_seconds: float
    edited_frames: int
    annotated_frames: int  # masks in force made that day


@dataclass(frozen=True)
class EffortTable:
    by: str  # person or video
    rows: tuple[EffortRow, ...]
    total: EffortRow
    days: tuple[EffortDay, ...]  # per person and day, whatever ``by`` is

    def json(self) -> dict[str, Any]:
        """The table as a JSON object: ``by``, ``rows``, ``total`` and ``days``."""
        return {"by": self.by, "rows": [r.json() for r in self.rows], "total": self.total.json(),
                "days": [asdict(d) for d in self.days]}

    def csv(self) -> str:
        """The rows and the total (named "all") as CSV, with the columns of ``by`` (person, or video id and name)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        skip = ("video_id", "video") if self.by == "person" else ("person",)
        names = [f.name for f in fields(EffortRow) if f.name not in skip]
        writer.writerow(names)
        for row in self.rows:
            writer.writerow(["" if getattr(row, n) is None else getattr(row, n) for n in names])
        writer.writerow(["all", *("" if n == "video" or getattr(self.total, n) is None else getattr(self.total, n)
                                  for n in names[1:])])
        return out.getvalue()


class _Tally:
    """Sums of one group while the facts are read."""

    def __init__(self) -> None:
        self.clicks, self.active, self.annotated, self.prompted, self.reviews = 0, 0.0, 0, 0, 0
        self.clicked: set[tuple[int, int, int]] = set()
        self.edited: set[tuple[int, int, int]] = set()
        self.masklets: set[tuple[int, int]] = set()

    def action(self, a: ActionRow) -> None:
        self.clicks += a.clicks
        self.active += a.active
        for obj_id in a.obj_ids:
            self.masklets.add((a.video_id, obj_id))
            if a.kind in ("prompt", "clear") and isinstance(a.detail.get("frame"), int):
                self.edited.add((a.video_id, obj_id, a.detail["frame"]))
                if a.kind == "prompt" and a.clicks > 0:
                    self.clicked.add((a.video_id, obj_id, a.detail["frame"]))

    def frames(self, f: FramesInForce) -> None:
        self.annotated += f.frames
        self.prompted += f.prompted


def _ratio(a: float, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _row(t: _Tally, objects: dict[tuple[int, int], ObjectRow], sent_back: Counter, person: str | None = None,
         video: VideoRow | None = None) -> EffortRow:
    live = [objects[m] for m in t.masklets if m in objects]
    return EffortRow(
        person, None if video is None else video.id, None if video is None else video.name, len(live), t.clicks,
        len(t.clicked), t.prompted, len(t.edited), t.annotated, round(t.active, 3), _ratio(t.active, t.annotated),
        _ratio(t.clicks, len(t.clicked)), _ratio(len(t.edited), t.annotated),
        sum(o.review_status == "accepted" for o in live), sum(sent_back[(o.video_id, o.obj_id)] for o in live),
        sum(o.review_status == "rejected" for o in live), t.reviews)


def effort_table(store: Store, by: str) -> EffortTable:
    """The paper's measures per person (every person of the studio, and whoever made actions or reviews) or per
    video (``by``: ``"person"`` or ``"video"``, else :class:`InvalidInputError`), their total, and per person and
    day, computed from the store's actions, masks in force and reviews."""
    if by not in BY:
        raise InvalidInputError(f"by: expected person or video, got {by!r:.40}")
    actions, frames, reviews = store.effort.actions(), store.effort.frames_in_force(), store.effort.reviews()
    objects = {(o.video_id, o.obj_id): o for o in store.videos.all_objects()}
    videos = {v.id: v for v in store.videos.all()}
    sent_back = Counter((r.video_id, r.obj_id) for r in reviews if r.status == "needs_fix")
    groups: dict[Any, _Tally] = defaultdict(_Tally)
    if by == "person":
        for p in store.people.all():  # a row for everyone, even before their first action
            groups[p.name] = _Tally()
    else:
        for vid in videos:
            groups[vid].masklets.update(k for k in objects if k[0] == vid)
    total, days = _Tally(), defaultdict(_Tally)
    total.masklets.update(objects)
    for a in actions:
        groups[a.person if by == "person" else a.video_id].action(a)
        total.action(a)
        days[(a.person, _day(a.created))].action(a)
    for f in frames:
        total.frames(f)
        if f.attributed:
            days[(f.person, _day(f.day * DAY))].frames(f)
        if by == "video" or f.attributed:
            groups[f.person if by == "person" else f.video_id].frames(f)
    for r in reviews:
        groups[(r.reviewer or None) if by == "person" else r.video_id].reviews += 1
        total.reviews += 1
    if by == "person":
        rows = [_row(t, objects, sent_back, person=k) for k, t in groups.items()]
        rows.sort(key=lambda r: (r.person is None, r.person or ""))
    else:
        rows = [_row(t, objects, sent_back, video=videos[k]) for k, t in sorted(groups.items()) if k in videos]
    series = [EffortDay(p, d, t.clicks, round(t.active, 3), len(t.edited), t.annotated)
              for (p, d), t in sorted(days.items(), key=lambda kv: (kv[0][1], kv[0][0] or ""))]
    return EffortTable(by, tuple(rows), _row(total, objects, sent_back), tuple(series))


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")
