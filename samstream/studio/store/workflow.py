"""The work flow of videos: assignments, the steps between states, the queues, and a video's history.

A video moves ``to_annotate -> in_annotation -> to_review -> done``; a reviewer sends it back to
``in_annotation`` with a note (from ``to_review``, or from ``done`` to reopen it). Its first edit
starts the annotation (:func:`.history.start_annotation`). Who may take a step is decided by the
role table (:mod:`samstream.studio.auth`); this module checks only that the step fits the video's
state (else :class:`ConflictError`, a 409) and writes it with who and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from samstream.errors import InvalidInputError
from samstream.studio.rows import HistoryRow, ObjectRow, VideoRow, from_row
from samstream.studio.store.db import ConflictError, Database
from samstream.studio.store.history import write
from samstream.studio.store.people import PeopleStore
from samstream.studio.store.videos import VideoStore, bump_video

__all__ = ["ASSIGNABLE", "STATUSES", "STEPS", "Step", "WorkflowStore"]

STATUSES = ("to_annotate", "in_annotation", "to_review", "done")


@dataclass(frozen=True)
class Step:
    """A step of the work flow: the states it may start from and the state it leads to."""

    name: str
    sources: tuple[str, ...]
    target: str

    def refusal(self, video_id: int, status: str) -> str | None:
        """Why this step cannot start from ``status`` (the words of its 409, naming video ``video_id``), or None
        when it can."""
        if status in self.sources:
            return None
        return (f"status: video {video_id} is {status}; {self.name.replace('_', ' ')} needs it "
                f"{' or '.join(self.sources)}")


STEPS = {s.name: s for s in (Step("submit", ("in_annotation",), "to_review"),
                             Step("accept", ("to_review",), "done"),
                             Step("send_back", ("to_review", "done"), "in_annotation"))}
# who may be assigned to do what (admins may do both)
ASSIGNABLE = {"annotator": ("annotator", "admin"), "reviewer": ("reviewer", "admin")}


class WorkflowStore:
    """Work-flow columns of ``videos``, the ``history`` rows, and the queues of annotators and reviewers."""

    def __init__(self, db: Database, videos: VideoStore, people: PeopleStore) -> None:
        self.db, self.videos, self.people = db, videos, people

    # ------------------------------------------------------------------ assignments and steps
    def assign(self, video_id: int, fields: dict[str, str | None], by: str | None) -> VideoRow:
        """Set who annotates and who verifies video ``video_id``; returns the video.

        ``fields``: ``annotator`` and/or ``reviewer``, a person's name or None for nobody; the person must be
        enabled and of a role :data:`ASSIGNABLE` allows, and nobody verifies a video they annotate (else
        :class:`InvalidInputError`; an unknown name is a :class:`NotFoundError`). Written to the history as assigned
        ``by`` that person.
        """
        video = self.videos.get(video_id)
        for key, name in fields.items():
            if key not in ASSIGNABLE:
                raise InvalidInputError(f"{key}: expected annotator or reviewer")
            if name is not None:
                person = self.people.get(name)  # NotFoundError names it
                if person.disabled or person.role not in ASSIGNABLE[key]:
                    state = "disabled" if person.disabled else f"a {person.role}"
                    raise InvalidInputError(f"{key}: {name} is {state}; expected an enabled "
                                            f"{' or '.join(ASSIGNABLE[key])}")
        after = {"annotator": video.annotator, "reviewer": video.reviewer, **fields}
        if after["annotator"] is not None and after["annotator"] == after["reviewer"]:
            raise InvalidInputError(f"reviewer: {after['reviewer']} annotates video {video_id}; a masklet is "
                                    "verified by someone else")
        with self.db.transaction() as db:
            db.execute("UPDATE videos SET annotator=?, reviewer=? WHERE id=?",
                       (after["annotator"], after["reviewer"], video_id))
            bump_video(db, video_id)
            write(db, self.db.clock(), video_id, by, "assigned", after)
        return self.videos.get(video_id)

    def step(self, video_id: int, name: str, by: str | None, note: str = "") -> VideoRow:
        """Take the work-flow step ``name`` (submit, accept, send_back) on video ``video_id``, as ``by``, with
        ``note`` (a sending back's reasons); returns the video.

        :class:`ConflictError` (409) when the video's state does not allow it, when a submit finds a propagation
        running, or when an accept finds masklets neither accepted nor rejected.
        """
        step = STEPS[name]
        self.videos.get(video_id)  # NotFoundError (404) first
        with self.db.transaction() as db:
            status = db.execute("SELECT status FROM videos WHERE id=?", (video_id,)).fetchone()[0]
            refused = step.refusal(video_id, status)
            if refused:
                raise ConflictError(refused)
            if name == "submit" and db.execute("SELECT 1 FROM propagations WHERE video_id=? AND status='running'",
                                               (video_id,)).fetchone():
                raise ConflictError(f"status: a propagation is running on video {video_id}; wait for it or "
                                    "cancel it before submitting")
            if name == "accept":
                open_ = [r[0] for r in db.execute("SELECT obj_id FROM objects WHERE video_id=? AND review_status "
                                                  "NOT IN ('accepted', 'rejected') ORDER BY obj_id", (video_id,))]
                if open_:
                    raise ConflictError(f"status: objects {open_} of video {video_id} are not accepted or rejected "
                                        "yet; review them, or send the video back")
            now = self.db.clock()
            db.execute("UPDATE videos SET status=?, submitted=CASE WHEN ?='submit' THEN ? ELSE submitted END "
                       "WHERE id=?", (step.target, name, now, video_id))
            bump_video(db, video_id)
            write(db, now, video_id, by, "status", {"step": name, "from": status, "to": step.target,
                                                     "note": note})
        return self.videos.get(video_id)

    # ------------------------------------------------------------------ queues
    def next_video(self, annotator: str) -> VideoRow | None:
        """The next video of ``annotator``: one in annotation (sent back, or begun) first, then one to annotate, the
        lowest id first; None when they have none."""
        row = self.db.row("SELECT id FROM videos WHERE annotator=? AND status IN ('in_annotation', 'to_annotate') "
                          "ORDER BY status='to_annotate', id LIMIT 1", (annotator,))
        return None if row is None else self.videos.get(row[0])

    def next_masklet(self, reviewer: str) -> ObjectRow | None:
        """The next masklet ``reviewer`` should verify: of a video to review (theirs, or one with no reviewer
        assigned), not decided since the video was submitted, and never edited by them; the longest waiting video
        first. None when there is none."""
        row = self.db.row(
            "SELECT o.* FROM objects o JOIN videos v ON v.id=o.video_id WHERE v.status='to_review' "
            "AND (v.reviewer IS NULL OR v.reviewer=?) AND (o.review_status='unreviewed' OR "
            "(o.review_status='needs_fix' AND (o.reviewed_at IS NULL OR o.reviewed_at < v.submitted))) "
            f"AND NOT {_EDITED} ORDER BY v.submitted, v.id, o.obj_id LIMIT 1", (reviewer, reviewer, reviewer))
        return None if row is None else from_row(ObjectRow, row)

    def edited_by(self, video_id: int, obj_id: int, person: str) -> bool:
        """Whether ``person`` ever edited masklet ``obj_id`` of video ``video_id`` (an action on it, or created or
        renamed it)."""
        return self.db.row(f"SELECT 1 FROM objects o WHERE o.video_id=? AND o.obj_id=? AND {_EDITED}",
                           (video_id, obj_id, person, person)) is not None

    def editors(self, video_id: int) -> dict[int, list[str]]:
        """obj_id -> the people who edited it on video ``video_id``, in the order of their first action on it."""
        out: dict[int, list[str]] = {}
        for obj_id, person in self.db.rows(
                "SELECT j.value, a.person FROM actions a, json_each(a.obj_ids) j WHERE a.video_id=? "
                "AND a.person IS NOT NULL GROUP BY j.value, a.person ORDER BY MIN(a.id)", (video_id,)):
            out.setdefault(int(obj_id), []).append(person)
        return out

    # ------------------------------------------------------------------ history
    def history(self, video_id: int) -> list[HistoryRow]:
        """Every change of video ``video_id`` with who and when, in time order: actions, reviews and history rows
        (at the same instant: history rows, then actions, then reviews, each in the order written).
        :class:`NotFoundError` for an unknown video."""
        self.videos.get(video_id)
        rows: list[tuple[float, int, int, HistoryRow]] = []
        for r in self.db.rows("SELECT * FROM history WHERE video_id=? ORDER BY id", (video_id,)):
            ids = [] if r["obj_id"] is None else [r["obj_id"]]
            rows.append((r["created"], 0, r["id"], HistoryRow(r["created"], r["person"], r["kind"], ids,
                                                             json.loads(r["detail"]))))
        for r in self.db.rows("SELECT * FROM actions WHERE video_id=? ORDER BY id", (video_id,)):
            detail = {**json.loads(r["detail"]), "clicks": r["clicks"], "state": r["state"], "action_id": r["id"]}
            rows.append((r["created"], 1, r["id"], HistoryRow(r["created"], r["person"], r["kind"],
                                                             json.loads(r["obj_ids"]), detail)))
        for r in self.db.rows("SELECT * FROM reviews WHERE video_id=? ORDER BY id", (video_id,)):
            rows.append((r["created"], 2, r["id"], HistoryRow(r["created"], r["reviewer"] or None, "review",
                                                             [r["obj_id"]], {"status": r["status"],
                                                                             "note": r["note"]})))
        return [h for *_, h in sorted(rows, key=lambda t: t[:3])]

    def last_step(self, video_id: int, name: str) -> HistoryRow | None:
        """The latest work-flow step ``name`` taken on video ``video_id`` (None: never)."""
        r = self.db.row("SELECT * FROM history WHERE video_id=? AND kind='status' AND json_extract(detail, '$.step')=? "
                        "ORDER BY id DESC LIMIT 1", (video_id, name))
        return None if r is None else HistoryRow(r["created"], r["person"], r["kind"], [], json.loads(r["detail"]))


# the masklet ``o`` was edited by the person bound twice after it (an action on it, or made or renamed by them)
_EDITED = ("(EXISTS (SELECT 1 FROM actions a, json_each(a.obj_ids) j WHERE a.video_id=o.video_id AND a.person=? "
           "AND j.value=o.obj_id) OR EXISTS (SELECT 1 FROM history h WHERE h.video_id=o.video_id "
           "AND h.obj_id=o.obj_id AND h.person=? AND h.kind IN ('object_created', 'object_updated')))")
