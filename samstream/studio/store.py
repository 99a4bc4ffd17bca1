"""The studio's state in SQLite: the one module that reads or writes the database.

The store is the truth; the worker's warm video sessions are a cache rebuilt from it. Every change is
one explicit transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) that commits before the server replies,
so whatever was acknowledged survives a ``kill -9``. The database runs in WAL mode with
``synchronous=NORMAL``: a committed transaction survives the death of the process.

Each video carries a ``version`` that every user edit increments; an edit made against an older
version is refused with :class:`ConflictError` (optimistic concurrency between clients). Results of
propagation do not bump the version: they are the model's work, not an edit a client could clash with.

Schema changes are new entries of :data:`MIGRATIONS`; ``PRAGMA user_version`` holds the applied count.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samstream.errors import InvalidInputError, SamstreamError, UnknownObjectError

__all__ = ["ConflictError", "NotFoundError", "REVIEW_STATUSES", "SCHEMA_VERSION", "Store", "net_prompts"]

REVIEW_STATUSES = ("unreviewed", "accepted", "needs_fix", "rejected")
EDIT_KINDS = ("points", "box", "mask", "clear")

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE videos (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
        num_frames INTEGER NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, fps REAL,
        version INTEGER NOT NULL DEFAULT 0, last_interaction REAL, created REAL NOT NULL);
    CREATE TABLE objects (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE, obj_id INTEGER NOT NULL,
        name TEXT NOT NULL, category TEXT NOT NULL DEFAULT '', colour TEXT NOT NULL DEFAULT '',
        review_status TEXT NOT NULL DEFAULT 'unreviewed', reviewer TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '', reviewed_at REAL,
        clicks INTEGER NOT NULL DEFAULT 0, active_seconds REAL NOT NULL DEFAULT 0,
        created REAL NOT NULL, PRIMARY KEY (video_id, obj_id));
    CREATE TABLE edits (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, obj_id INTEGER NOT NULL,
        frame INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'active', created REAL NOT NULL);
    CREATE INDEX edits_video ON edits (video_id, state, id);
    CREATE TABLE masks (
        video_id INTEGER NOT NULL, obj_id INTEGER NOT NULL, frame INTEGER NOT NULL,
        rle TEXT NOT NULL, source TEXT NOT NULL, score REAL,
        PRIMARY KEY (video_id, frame, obj_id)) WITHOUT ROWID;
    CREATE TABLE propagations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, start INTEGER NOT NULL,
        end_frame INTEGER NOT NULL, direction TEXT NOT NULL, status TEXT NOT NULL,
        frames_done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, created REAL NOT NULL,
        finished REAL);
    CREATE TABLE proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, frame INTEGER NOT NULL,
        rle TEXT NOT NULL, score REAL NOT NULL, bbox TEXT NOT NULL, created REAL NOT NULL);
    """,
    # v2: whole-video proposals (automatic masklets), and the runs that made them
    """
    CREATE TABLE auto_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, status TEXT NOT NULL,
        frames_done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, options TEXT NOT NULL,
        created REAL NOT NULL, finished REAL);
    CREATE TABLE masklet_proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, run_id INTEGER NOT NULL,
        masklet INTEGER NOT NULL, first_frame INTEGER NOT NULL, last_frame INTEGER NOT NULL,
        num_frames INTEGER NOT NULL, score REAL NOT NULL, created REAL NOT NULL,
        UNIQUE (run_id, masklet));
    CREATE TABLE masklet_proposal_masks (
        proposal_id INTEGER NOT NULL REFERENCES masklet_proposals(id) ON DELETE CASCADE,
        frame INTEGER NOT NULL, rle TEXT NOT NULL, PRIMARY KEY (proposal_id, frame)) WITHOUT ROWID;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class NotFoundError(SamstreamError):
    """A video, proposal, propagation or export that does not exist."""


class ConflictError(SamstreamError):
    """An edit made against a stale version of a video."""

    def __init__(self, video_id: int, expected: int, current: int) -> None:
        super().__init__(f"version: the edit was made on version {expected} of video {video_id}, "
                         f"which is now at version {current}; reload and try again")
        self.current = current


def net_prompts(edits: list[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """The prompts in force per (obj_id, frame) after the active ``edits`` (in id order).

    A clear drops a frame's prompts; a box, a mask or clicks with ``clear_old`` replace them; other
    clicks add to them. Each value lists the edits to apply, in order, to rebuild that frame.
    """
    net: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in edits:
        key = (e["obj_id"], e["frame"])
        if e["kind"] == "clear":
            net.pop(key, None)
        elif e["kind"] in ("box", "mask") or e["payload"].get("clear_old", True):
            net.pop(key, None)  # re-inserted last: replay order follows the latest replacement
            net[key] = [e]
        else:
            net.setdefault(key, []).append(e)
    return net


class Store:
    """SQLite state of one data dir (``DATA_DIR/studio.sqlite3``). Thread-safe (one connection, one lock)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time, idle_gap: float = 60.0) -> None:
        self.path = Path(path)
        self.clock = clock
        self.idle_gap = idle_gap  # seconds between interactions above which the gap is not annotation time
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        with self.transaction() as db:  # a run that died mid-propagation left it 'running'
            db.execute("UPDATE propagations SET status='interrupted' WHERE status='running'")
            db.execute("UPDATE auto_runs SET status='interrupted' WHERE status='running'")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ plumbing
    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise InvalidInputError(f"data dir: {self.path} has schema version {current}, newer than this "
                                    f"samstream's {SCHEMA_VERSION}; upgrade samstream")
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={version + 1}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def _bump(self, db: sqlite3.Connection, video_id: int, expect: int | None, interaction: bool = False) -> int:
        """Check ``expect`` against the video's version and increment it; returns the new version."""
        row = db.execute("SELECT version FROM videos WHERE id=?", (video_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"video_id: no video {video_id}")
        if expect is not None and int(expect) != row[0]:
            raise ConflictError(video_id, int(expect), row[0])
        db.execute("UPDATE videos SET version=version+1 WHERE id=?", (video_id,))
        return row[0] + 1

    # ------------------------------------------------------------------ videos
    def add_video(self, name: str, path: str, kind: str, num_frames: int, height: int, width: int,
                  fps: float | None) -> dict[str, Any]:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO videos (name, path, kind, num_frames, height, width, fps, created) "
                             "VALUES (?,?,?,?,?,?,?,?)", (name, path, kind, num_frames, height, width, fps,
                                                          self.clock()))
            video_id = int(cur.lastrowid)  # type: ignore[arg-type]
        return self.video(video_id)

    def video(self, video_id: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM videos WHERE id=?", (video_id,))
        if not rows:
            raise NotFoundError(f"video_id: no video {video_id}")
        return rows[0]

    def videos(self) -> list[dict[str, Any]]:
        """Every video with its object count and review progress."""
        return self._rows(
            "SELECT v.*, COUNT(o.obj_id) AS num_objects, "
            "COALESCE(SUM(o.review_status='accepted'), 0) AS num_accepted, "
            "COALESCE(SUM(o.review_status!='unreviewed'), 0) AS num_reviewed "
            "FROM videos v LEFT JOIN objects o ON o.video_id=v.id GROUP BY v.id ORDER BY v.id")

    def version(self, video_id: int) -> int:
        return int(self.video(video_id)["version"])

    def check_version(self, video_id: int, expect: int | None) -> int:
        current = self.version(video_id)
        if expect is not None and int(expect) != current:
            raise ConflictError(video_id, int(expect), current)
        return current

    def check_frame(self, video_id: int, frame: Any) -> int:
        n = int(self.video(video_id)["num_frames"])
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n:
            raise InvalidInputError(f"frame: expected an integer in [0, {n - 1}] for video {video_id}, got {frame!r}")
        return frame

    # ------------------------------------------------------------------ objects
    def objects(self, video_id: int, status: str | None = None) -> list[dict[str, Any]]:
        self.video(video_id)
        if status is not None:
            check_status(status)
            return self._rows("SELECT * FROM objects WHERE video_id=? AND review_status=? ORDER BY obj_id",
                              (video_id, status))
        return self._rows("SELECT * FROM objects WHERE video_id=? ORDER BY obj_id", (video_id,))

    def all_objects(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            return self._rows("SELECT * FROM objects ORDER BY video_id, obj_id")
        check_status(status)
        return self._rows("SELECT * FROM objects WHERE review_status=? ORDER BY video_id, obj_id", (status,))

    def object(self, video_id: int, obj_id: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id))
        if not rows:
            self.video(video_id)
            raise UnknownObjectError(f"obj_id: video {video_id} has no object {obj_id}")
        return rows[0]

    def create_object(self, video_id: int, obj_id: int | None, name: str | None, category: str, colour: str,
                      expect: int | None) -> tuple[dict[str, Any], int]:
        with self.transaction() as db:
            version = self._bump(db, video_id, expect)
            if obj_id is None:
                obj_id = int(db.execute("SELECT COALESCE(MAX(obj_id), 0) + 1 FROM objects WHERE video_id=?",
                                        (video_id,)).fetchone()[0])
            elif db.execute("SELECT 1 FROM objects WHERE video_id=? AND obj_id=?", (video_id, obj_id)).fetchone():
                raise InvalidInputError(f"obj_id: video {video_id} already has an object {obj_id}")
            now = self.clock()
            db.execute("INSERT INTO objects (video_id, obj_id, name, category, colour, created) VALUES (?,?,?,?,?,?)",
                       (video_id, obj_id, name or f"object {obj_id}", category, colour, now))
            db.execute("UPDATE videos SET last_interaction=? WHERE id=?", (now, video_id))  # effort starts here
        return self.object(video_id, obj_id), version

    def update_object(self, video_id: int, obj_id: int, fields: dict[str, str], expect: int | None) -> int:
        self.object(video_id, obj_id)
        with self.transaction() as db:
            version = self._bump(db, video_id, expect)
            for key in ("name", "category", "colour"):
                if key in fields:
                    db.execute(f"UPDATE objects SET {key}=? WHERE video_id=? AND obj_id=?",
                               (fields[key], video_id, obj_id))
        return version

    def set_review(self, video_id: int, obj_id: int, status: str, reviewer: str, note: str,
                   expect: int | None) -> int:
        check_status(status)
        self.object(video_id, obj_id)
        with self.transaction() as db:
            version = self._bump(db, video_id, expect)
            db.execute("UPDATE objects SET review_status=?, reviewer=?, note=?, reviewed_at=? "
                       "WHERE video_id=? AND obj_id=?", (status, reviewer, note, self.clock(), video_id, obj_id))
        return version

    def delete_object(self, video_id: int, obj_id: int, expect: int | None) -> int:
        self.object(video_id, obj_id)
        with self.transaction() as db:
            version = self._bump(db, video_id, expect)
            for table in ("objects", "edits", "masks"):
                db.execute(f"DELETE FROM {table} WHERE video_id=? AND obj_id=?", (video_id, obj_id))
        return version

    # ------------------------------------------------------------------ edits (prompts, undo, redo)
    def active_edits(self, video_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM edits WHERE video_id=? AND state='active' ORDER BY id", (video_id,))
        for r in rows:
            r["payload"] = json.loads(r["payload"])
        return rows

    def add_edit(self, video_id: int, obj_id: int, frame: int, kind: str, payload: dict[str, Any],
                 mask_rle: dict[str, Any] | None, expect: int | None) -> int:
        """Record a prompt edit and the mask it gave; drops the redo stack; counts effort."""
        if kind not in EDIT_KINDS:
            raise InvalidInputError(f"kind: expected one of {EDIT_KINDS}, got {kind!r}")
        now = self.clock()
        with self.transaction() as db:
            last = db.execute("SELECT last_interaction FROM videos WHERE id=?", (video_id,)).fetchone()
            version = self._bump(db, video_id, expect)
            db.execute("UPDATE edits SET state='dropped' WHERE video_id=? AND state='undone'", (video_id,))
            db.execute("INSERT INTO edits (video_id, obj_id, frame, kind, payload, created) VALUES (?,?,?,?,?,?)",
                       (video_id, obj_id, frame, kind, json.dumps(payload), now))
            gap = now - last[0] if last is not None and last[0] is not None else None
            active = gap if gap is not None and 0 <= gap <= self.idle_gap else 0.0
            db.execute("UPDATE objects SET clicks=clicks+?, active_seconds=active_seconds+? "
                       "WHERE video_id=? AND obj_id=?", (count_clicks(kind, payload), active, video_id, obj_id))
            db.execute("UPDATE videos SET last_interaction=? WHERE id=?", (now, video_id))
            self._put_prompt_mask(db, video_id, obj_id, frame, mask_rle)
        return version

    def _put_prompt_mask(self, db: sqlite3.Connection, video_id: int, obj_id: int, frame: int,
                         rle: dict[str, Any] | None) -> None:
        if rle is None:
            db.execute("DELETE FROM masks WHERE video_id=? AND obj_id=? AND frame=?", (video_id, obj_id, frame))
        else:
            db.execute("INSERT OR REPLACE INTO masks (video_id, obj_id, frame, rle, source) VALUES (?,?,?,?,?)",
                       (video_id, obj_id, frame, json.dumps(rle), "prompt"))

    def step_history(self, video_id: int, undo: bool, expect: int | None) -> tuple[dict[str, Any] | None, int]:
        """Undo the latest active edit (or redo the earliest undone one); returns it (None if none) and the version."""
        with self.transaction() as db:
            current = db.execute("SELECT version FROM videos WHERE id=?", (video_id,)).fetchone()
            if current is None:
                raise NotFoundError(f"video_id: no video {video_id}")
            sql = ("SELECT * FROM edits WHERE video_id=? AND state='active' ORDER BY id DESC LIMIT 1" if undo else
                   "SELECT * FROM edits WHERE video_id=? AND state='undone' ORDER BY id LIMIT 1")
            row = db.execute(sql, (video_id,)).fetchone()
            if row is None:
                if expect is not None and int(expect) != current[0]:
                    raise ConflictError(video_id, int(expect), current[0])
                return None, int(current[0])
            version = self._bump(db, video_id, expect)
            db.execute("UPDATE edits SET state=? WHERE id=?", ("undone" if undo else "active", row["id"]))
        edit = dict(row)
        edit["payload"] = json.loads(edit["payload"])
        return edit, version

    def set_prompt_mask(self, video_id: int, obj_id: int, frame: int, rle: dict[str, Any] | None) -> None:
        """The mask of a frame's prompts after undo or redo (None: the frame has no prompt any more)."""
        with self.transaction() as db:
            self._put_prompt_mask(db, video_id, obj_id, frame, rle)

    # ------------------------------------------------------------------ masks
    def put_frame_masks(self, video_id: int, frame: int, masks: dict[int, tuple[dict[str, Any], float | None]],
                        prompted: set[tuple[int, int]], propagation_id: int | None = None,
                        frames_done: int | None = None) -> None:
        """One propagated frame's masks (and the propagation's progress) in one transaction."""
        with self.transaction() as db:
            for obj_id, (rle, score) in masks.items():
                source = "prompt" if (obj_id, frame) in prompted else "propagated"
                db.execute("INSERT OR REPLACE INTO masks (video_id, obj_id, frame, rle, source, score) "
                           "VALUES (?,?,?,?,?,?)", (video_id, obj_id, frame, json.dumps(rle), source, score))
            if propagation_id is not None:
                db.execute("UPDATE propagations SET frames_done=? WHERE id=?", (frames_done, propagation_id))

    def put_imported_masks(self, video_id: int, items: list[tuple[int, int, dict[str, Any]]],
                           source: str = "imported") -> None:
        """(obj_id, frame, rle) starting masks from an import (or an accepted proposal: ``source``)."""
        with self.transaction() as db:
            self._bump(db, video_id, None)
            db.executemany("INSERT OR REPLACE INTO masks (video_id, obj_id, frame, rle, source) VALUES (?,?,?,?,?)",
                           [(video_id, o, f, json.dumps(r), source) for o, f, r in items])

    def masks_on(self, video_id: int, frame: int) -> dict[int, dict[str, Any]]:
        rows = self._rows("SELECT obj_id, rle FROM masks WHERE video_id=? AND frame=? ORDER BY obj_id",
                          (video_id, frame))
        return {r["obj_id"]: json.loads(r["rle"]) for r in rows}

    def mask_rows(self, video_id: int, obj_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored mask of a video (or one object): obj_id, frame, rle (decoded JSON), source."""
        if obj_id is None:
            rows = self._rows("SELECT obj_id, frame, rle, source FROM masks WHERE video_id=? ORDER BY frame, obj_id",
                              (video_id,))
        else:
            rows = self._rows("SELECT obj_id, frame, rle, source FROM masks WHERE video_id=? AND obj_id=? "
                              "ORDER BY frame", (video_id, obj_id))
        for r in rows:
            r["rle"] = json.loads(r["rle"])
        return rows

    # ------------------------------------------------------------------ propagations
    def start_propagation(self, video_id: int, start: int, end: int, direction: str, total: int) -> int:
        with self.transaction() as db:
            db.execute("UPDATE propagations SET status='superseded' WHERE video_id=? AND status='interrupted'",
                       (video_id,))
            cur = db.execute("INSERT INTO propagations (video_id, start, end_frame, direction, status, total, created) "
                             "VALUES (?,?,?,?,?,?,?)", (video_id, start, end, direction, "running", total, self.clock()))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def finish_propagation(self, propagation_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE propagations SET status=?, finished=? WHERE id=?", (status, self.clock(), propagation_id))

    def latest_propagation(self, video_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM propagations WHERE video_id=? ORDER BY id DESC LIMIT 1", (video_id,))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ proposals
    def add_proposals(self, video_id: int, frame: int, items: list[tuple[dict[str, Any], float, list[int]]]) -> list[int]:
        with self.transaction() as db:
            db.execute("DELETE FROM proposals WHERE video_id=?", (video_id,))  # one frame's proposals at a time
            ids = []
            for rle, score, bbox in items:
                cur = db.execute("INSERT INTO proposals (video_id, frame, rle, score, bbox, created) VALUES (?,?,?,?,?,?)",
                                 (video_id, frame, json.dumps(rle), score, json.dumps(bbox), self.clock()))
                ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
        return ids

    def proposal(self, video_id: int, proposal_id: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM proposals WHERE video_id=? AND id=?", (video_id, proposal_id))
        if not rows:
            raise NotFoundError(f"proposal_id: video {video_id} has no proposal {proposal_id}")
        row = rows[0]
        row["rle"], row["bbox"] = json.loads(row["rle"]), json.loads(row["bbox"])
        return row

    def drop_proposal(self, proposal_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM proposals WHERE id=?", (proposal_id,))

    # ------------------------------------------------------------------ masklet proposals (whole video)
    def start_auto_run(self, video_id: int, total: int, options: dict[str, Any]) -> int:
        """A new automatic-masklet run; the video's earlier masklet proposals are replaced by its own."""
        with self.transaction() as db:
            db.execute("DELETE FROM masklet_proposals WHERE video_id=?", (video_id,))  # cascades to their masks
            cur = db.execute("INSERT INTO auto_runs (video_id, status, total, options, created) VALUES (?,?,?,?,?)",
                             (video_id, "running", total, json.dumps(options), self.clock()))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def put_auto_frame(self, video_id: int, run_id: int, frame: int, items: list[tuple[int, float, dict[str, Any]]],
                       frames_done: int) -> None:
        """One final frame of a run: (masklet id, score, RLE) of each masklet visible on it, and the progress."""
        with self.transaction() as db:
            for masklet, score, rle in items:
                pid = db.execute("INSERT INTO masklet_proposals (video_id, run_id, masklet, first_frame, last_frame, "
                                 "num_frames, score, created) VALUES (?,?,?,?,?,1,?,?) ON CONFLICT (run_id, masklet) "
                                 "DO UPDATE SET last_frame=excluded.last_frame, num_frames=num_frames+1 RETURNING id",
                                 (video_id, run_id, masklet, frame, frame, score, self.clock())).fetchone()[0]
                db.execute("INSERT INTO masklet_proposal_masks (proposal_id, frame, rle) VALUES (?,?,?)",
                           (pid, frame, json.dumps(rle)))
            db.execute("UPDATE auto_runs SET frames_done=? WHERE id=?", (frames_done, run_id))

    def finish_auto_run(self, run_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE auto_runs SET status=?, finished=? WHERE id=?", (status, self.clock(), run_id))

    def latest_auto_run(self, video_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM auto_runs WHERE video_id=? ORDER BY id DESC LIMIT 1", (video_id,))
        if rows:
            rows[0]["options"] = json.loads(rows[0]["options"])
        return rows[0] if rows else None

    def masklet_proposals(self, video_id: int) -> list[dict[str, Any]]:
        self.video(video_id)
        return self._rows("SELECT * FROM masklet_proposals WHERE video_id=? ORDER BY id", (video_id,))

    def masklet_proposal(self, video_id: int, proposal_id: int) -> dict[str, Any]:
        """One masklet proposal with its masks (``masks``: frame -> RLE)."""
        rows = self._rows("SELECT * FROM masklet_proposals WHERE video_id=? AND id=?", (video_id, proposal_id))
        if not rows:
            self.video(video_id)
            raise NotFoundError(f"proposal_id: video {video_id} has no masklet proposal {proposal_id}")
        masks = self._rows("SELECT frame, rle FROM masklet_proposal_masks WHERE proposal_id=? ORDER BY frame",
                           (proposal_id,))
        return {**rows[0], "masks": {r["frame"]: json.loads(r["rle"]) for r in masks}}

    def drop_masklet_proposal(self, video_id: int, proposal_id: int) -> None:
        self.masklet_proposal(video_id, proposal_id)  # NotFoundError before anything changes
        with self.transaction() as db:
            db.execute("DELETE FROM masklet_proposals WHERE id=?", (proposal_id,))

    # ------------------------------------------------------------------ effort
    def effort(self, video_id: int) -> list[dict[str, Any]]:
        """Per object: clicks, prompted frames (prompts in force), edited frames (ever edited), active seconds."""
        objects = self.objects(video_id)
        prompted: dict[int, set[int]] = {}
        for obj_id, frame in net_prompts(self.active_edits(video_id)):
            prompted.setdefault(obj_id, set()).add(frame)
        edited = {r["obj_id"]: r["n"] for r in self._rows(
            "SELECT obj_id, COUNT(DISTINCT frame) AS n FROM edits WHERE video_id=? GROUP BY obj_id", (video_id,))}
        return [{"obj_id": o["obj_id"], "clicks": o["clicks"], "prompted_frames": len(prompted.get(o["obj_id"], ())),
                 "edited_frames": int(edited.get(o["obj_id"], 0)), "active_seconds": round(o["active_seconds"], 3)}
                for o in objects]


def check_status(status: Any) -> str:
    if status not in REVIEW_STATUSES:
        raise InvalidInputError(f"status: expected one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
    return status


def count_clicks(kind: str, payload: dict[str, Any]) -> int:
    """Clicks an edit cost: one per point, one for a box; a mask or a clear is not a click."""
    points = payload.get("points") or []
    return len(points) + (1 if kind == "box" else 0)
