"""Videos, their objects and reviews.

A video's ``version`` counts every change to it (clients reload when they see a newer one); an object's
``version`` counts the changes to that object, and an edit of an object made against an older
version is refused (:class:`ConflictError`), so two people editing two objects of one video never
conflict.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from samstream.config import TRACKING_METHODS
from samstream.errors import InvalidInputError, UnknownObjectError
from samstream.studio.rows import ObjectRow, ReviewRow, VideoRow, from_row
from samstream.studio.store.db import ConflictError, Database, NotFoundError
from samstream.studio.store.history import start_annotation, write

__all__ = ["REVIEW_STATUSES", "VideoStore", "bump_object", "bump_video", "check_status"]

REVIEW_STATUSES = ("unreviewed", "accepted", "needs_fix", "rejected")
ORIGINS = ("manual", "auto", "imported")


def check_status(status: Any) -> str:
    """``status`` if it is a review status (:data:`REVIEW_STATUSES`); else :class:`InvalidInputError` naming them."""
    if status not in REVIEW_STATUSES:
        raise InvalidInputError(f"status: expected one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
    return status


def bump_video(db: sqlite3.Connection, video_id: int) -> int:
    """Inside a transaction (``db``): count one change of video ``video_id``; returns its new version.
    :class:`NotFoundError` when there is no such video."""
    row = db.execute("UPDATE videos SET version=version+1 WHERE id=? RETURNING version", (video_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"video_id: no video {video_id}")
    return int(row[0])


def bump_object(db: sqlite3.Connection, video_id: int, obj_id: int, expect: int | None) -> int:
    """Inside a transaction (``db``): check ``expect`` (None: not checked) against the version of object ``obj_id``
    of video ``video_id`` and count one change; returns the new version.

    :class:`UnknownObjectError` when there is no such object; :class:`ConflictError` (carrying the current version)
    when ``expect`` is stale.
    """
    row = db.execute("SELECT version FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id)).fetchone()
    if row is None:
        raise UnknownObjectError(f"obj_id: video {video_id} has no object {obj_id}")
    if expect is not None and int(expect) != row[0]:
        raise ConflictError(f"version: object {obj_id} of video {video_id} was changed meanwhile (your version "
                            f"{expect}, now {row[0]}); the page shows the newer state: try again", row[0], obj_id)
    db.execute("UPDATE objects SET version=version+1 WHERE video_id=? AND obj_id=?", (video_id, obj_id))
    return int(row[0]) + 1


class VideoStore:
    """Rows of ``videos``, ``objects`` and ``reviews``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ videos
    def add(self, name: str, path: str, kind: str, num_frames: int, height: int, width: int,
            fps: float | None, fingerprint: str | None = None) -> VideoRow:
        """Add a video whose media are already in place; returns its row.

        ``name``: the name the user gave; ``path``: its media, relative to the data dir; ``kind``: file, image or
        folder; ``num_frames``, ``height`` and ``width`` (pixels) and ``fps`` (None: unknown) as probed;
        ``fingerprint``: what tells its source apart (:func:`samstream.studio.media.fingerprint`).
        """
        with self.db.transaction() as db:
            cur = db.execute("INSERT INTO videos (name, path, kind, num_frames, height, width, fps, fingerprint, "
                             "created) VALUES (?,?,?,?,?,?,?,?,?)",
                             (name, path, kind, num_frames, height, width, fps, fingerprint, self.db.clock()))
            video_id = int(cur.lastrowid)  # type: ignore[arg-type]
        return self.get(video_id)

    def get(self, video_id: int) -> VideoRow:
        """Video ``video_id``; :class:`NotFoundError` when there is none."""
        row = self.db.row("SELECT * FROM videos WHERE id=?", (video_id,))
        if row is None:
            raise NotFoundError(f"video_id: no video {video_id}")
        return from_row(VideoRow, row)

    def all(self, annotator: str | None = None) -> list[VideoRow]:
        """Every video (``annotator``: only those assigned to that person) with its object count and
        review progress."""
        where, args = ("WHERE v.annotator=? ", (annotator,)) if annotator is not None else ("", ())
        rows = self.db.rows(
            "SELECT v.*, COUNT(o.obj_id) AS num_objects, "
            "COALESCE(SUM(o.review_status='accepted'), 0) AS num_accepted, "
            "COALESCE(SUM(o.review_status!='unreviewed'), 0) AS num_reviewed "
            f"FROM videos v LEFT JOIN objects o ON o.video_id=v.id {where}GROUP BY v.id ORDER BY v.id", args)
        return [from_row(VideoRow, r) for r in rows]

    def with_fingerprint(self, fingerprint: str) -> VideoRow | None:
        """A video added earlier from a source with this ``fingerprint`` (see
        :func:`samstream.studio.media.fingerprint`), the first if several; None when there is none."""
        row = self.db.row("SELECT * FROM videos WHERE fingerprint=? ORDER BY id LIMIT 1", (fingerprint,))
        return None if row is None else from_row(VideoRow, row)

    def set_method(self, video_id: int, method: str) -> VideoRow:
        """Set the tracking ``method`` of video ``video_id`` from now on (one of
        :data:`samstream.config.TRACKING_METHODS`, else :class:`InvalidInputError`); returns the video."""
        if method not in TRACKING_METHODS:
            raise InvalidInputError(f"method: expected one of {', '.join(TRACKING_METHODS)}, got {method!r:.40}")
        with self.db.transaction() as db:
            bump_video(db, video_id)
            db.execute("UPDATE videos SET method=? WHERE id=?", (method, video_id))
        return self.get(video_id)

    def version(self, video_id: int) -> int:
        """The version of video ``video_id`` (counts every change to it); :class:`NotFoundError` when there is none."""
        return self.get(video_id).version

    def check_frame(self, video_id: int, frame: Any) -> int:
        """``frame`` if it is a frame of video ``video_id`` (an integer in [0, num_frames - 1]); else
        :class:`InvalidInputError` naming the range."""
        n = self.get(video_id).num_frames
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n:
            raise InvalidInputError(f"frame: expected an integer in [0, {n - 1}] for video {video_id}, got {frame!r}")
        return frame

    def touch(self, db: sqlite3.Connection, video_id: int) -> float | None:
        """Inside a transaction (``db``): record an interaction with video ``video_id`` now (shown in the library);
        returns the seconds since the previous one (None: first). Effort counts each person's own gaps instead
        (:func:`.history.last_seen`)."""
        now = self.db.clock()
        last = db.execute("SELECT last_interaction FROM videos WHERE id=?", (video_id,)).fetchone()
        db.execute("UPDATE videos SET last_interaction=? WHERE id=?", (now, video_id))
        return None if last is None or last[0] is None else now - last[0]

    # ------------------------------------------------------------------ objects
    def objects(self, video_id: int, status: str | None = None) -> list[ObjectRow]:
        """The objects of video ``video_id`` by id (``status``: only those with that review status, checked by
        :func:`check_status`); :class:`NotFoundError` for an unknown video."""
        self.get(video_id)
        if status is not None:
            check_status(status)
            rows = self.db.rows("SELECT * FROM objects WHERE video_id=? AND review_status=? ORDER BY obj_id",
                                (video_id, status))
        else:
            rows = self.db.rows("SELECT * FROM objects WHERE video_id=? ORDER BY obj_id", (video_id,))
        return [from_row(ObjectRow, r) for r in rows]

    def all_objects(self, status: str | None = None) -> list[ObjectRow]:
        """The objects of every video, by video then id (``status``: only those with that review status, checked by
        :func:`check_status`)."""
        if status is None:
            rows = self.db.rows("SELECT * FROM objects ORDER BY video_id, obj_id")
        else:
            rows = self.db.rows("SELECT * FROM objects WHERE review_status=? ORDER BY video_id, obj_id",
                                (check_status(status),))
        return [from_row(ObjectRow, r) for r in rows]

    def object(self, video_id: int, obj_id: int) -> ObjectRow:
        """Object ``obj_id`` of video ``video_id``; :class:`NotFoundError` for an unknown video,
        :class:`UnknownObjectError` for an unknown object."""
        row = self.db.row("SELECT * FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id))
        if row is None:
            self.get(video_id)
            raise UnknownObjectError(f"obj_id: video {video_id} has no object {obj_id}")
        return from_row(ObjectRow, row)

    def check_object(self, video_id: int, obj_id: int, expect: int | None) -> ObjectRow:
        """Object ``obj_id`` of video ``video_id``, refused with :class:`ConflictError` when ``expect`` (None: not
        checked) is not its version."""
        obj = self.object(video_id, obj_id)
        if expect is not None and int(expect) != obj.version:
            raise ConflictError(f"version: object {obj_id} of video {video_id} was changed meanwhile (your version "
                                f"{expect}, now {obj.version}); the page shows the newer state: try again",
                                obj.version, obj_id)
        return obj

    def create_object(self, video_id: int, obj_id: int | None, name: str | None, category: str, colour: str,
                      origin: str = "manual", person: str | None = None) -> tuple[ObjectRow, int]:
        """A new object of video ``video_id``, made by ``person``; returns it and the video's version.

        ``obj_id``: its id (None: the next free one; one taken is an :class:`InvalidInputError`); ``name`` (None or
        empty: ``object <id>``), ``category`` and ``colour`` as the page shows them; ``origin``: manual, auto or
        imported. Written to the history; a video's first object takes it from to_annotate to in_annotation.
        """
        if origin not in ORIGINS:
            raise InvalidInputError(f"origin: expected one of {', '.join(ORIGINS)}, got {origin!r}")
        with self.db.transaction() as db:
            version = bump_video(db, video_id)
            if obj_id is None:
                obj_id = int(db.execute("SELECT COALESCE(MAX(obj_id), 0) + 1 FROM objects WHERE video_id=?",
                                        (video_id,)).fetchone()[0])
            elif db.execute("SELECT 1 FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id)).fetchone():
                raise InvalidInputError(f"obj_id: video {video_id} already has an object {obj_id}")
            now, name = self.db.clock(), name or f"object {obj_id}"
            db.execute("INSERT INTO objects (video_id, obj_id, name, category, colour, origin, created) "
                       "VALUES (?,?,?,?,?,?,?)", (video_id, obj_id, name, category, colour, origin, now))
            self.touch(db, video_id)
            # effort starts here: the history row is the person's first interaction (history.last_seen)
            write(db, now, video_id, person, "object_created", {"name": name, "category": category,
                                                                 "origin": origin}, obj_id)
            start_annotation(db, now, video_id, person)
        return self.object(video_id, obj_id), version

    def update_object(self, video_id: int, obj_id: int, fields: dict[str, str], expect: int | None,
                      person: str | None = None) -> ObjectRow:
        """Change the ``name``, ``category`` and/or ``colour`` in ``fields`` (other keys are ignored) of object
        ``obj_id`` of video ``video_id``, checked against ``expect`` (:class:`ConflictError` when stale) and written
        to the history as ``person``'s. Returns the object."""
        with self.db.transaction() as db:
            bump_object(db, video_id, obj_id, expect)
            bump_video(db, video_id)
            for key in ("name", "category", "colour"):
                if key in fields:
                    db.execute(f"UPDATE objects SET {key}=? WHERE video_id=? AND obj_id=?",
                               (fields[key], video_id, obj_id))
            write(db, self.db.clock(), video_id, person, "object_updated",
                  {k: fields[k] for k in ("name", "category", "colour") if k in fields}, obj_id)
        return self.object(video_id, obj_id)

    def set_review(self, video_id: int, obj_id: int, status: str, reviewer: str, note: str,
                   expect: int | None) -> ObjectRow:
        """A review decision on object ``obj_id`` of video ``video_id``: its ``status`` (:func:`check_status`),
        ``reviewer`` and ``note``, and one more row of its review history. Checked against ``expect`` (None: not
        checked; :class:`ConflictError` when stale). Returns the object."""
        check_status(status)
        now = self.db.clock()
        with self.db.transaction() as db:
            bump_object(db, video_id, obj_id, expect)
            bump_video(db, video_id)
            db.execute("UPDATE objects SET review_status=?, reviewer=?, note=?, reviewed_at=? "
                       "WHERE video_id=? AND obj_id=?", (status, reviewer, note, now, video_id, obj_id))
            db.execute("INSERT INTO reviews (video_id, obj_id, status, reviewer, note, created) VALUES (?,?,?,?,?,?)",
                       (video_id, obj_id, status, reviewer, note, now))
        return self.object(video_id, obj_id)

    def reviews(self, video_id: int, obj_id: int | None = None) -> list[ReviewRow]:
        """The review decisions on video ``video_id`` (or only on object ``obj_id``), oldest first."""
        if obj_id is None:
            rows = self.db.rows("SELECT * FROM reviews WHERE video_id=? ORDER BY id", (video_id,))
        else:
            rows = self.db.rows("SELECT * FROM reviews WHERE video_id=? AND obj_id=? ORDER BY id", (video_id, obj_id))
        return [from_row(ReviewRow, r) for r in rows]

    def delete_object(self, video_id: int, obj_id: int, expect: int | None, person: str | None = None) -> int:
        """Delete object ``obj_id`` of video ``video_id`` and everything it held, checked against ``expect`` (None:
        not checked) and written to the history as ``person``'s; returns the video's version. Actions that touched
        only this object can no longer be undone (they are dropped); the history keeps them."""
        with self.db.transaction() as db:
            bump_object(db, video_id, obj_id, expect)  # UnknownObjectError when there is none
            name = db.execute("SELECT name FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id)).fetchone()
            write(db, self.db.clock(), video_id, person, "object_deleted", {"name": name[0]}, obj_id)
            version = bump_video(db, video_id)
            for table in ("objects", "current", "records", "reviews"):
                db.execute(f"DELETE FROM {table} WHERE video_id=? AND obj_id=?", (video_id, obj_id))
            db.execute("DELETE FROM changes WHERE obj_id=? AND action_id IN (SELECT id FROM actions WHERE video_id=?)",
                       (obj_id, video_id))
            db.execute("UPDATE actions SET state='dropped' WHERE video_id=? AND state IN ('active', 'undone') "
                       "AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.action_id=actions.id)", (video_id,))
        return version
