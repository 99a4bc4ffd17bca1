"""The studio's database schema: one migration per version, applied in order.

``PRAGMA user_version`` holds the number of migrations applied; a data dir written by a newer
samstream (a higher number) is refused rather than guessed at. Each migration runs in one
transaction, so a data dir is always at one version or the next.

Version 4 (people, roles and the work flow):

- ``people``: a person's name, role (annotator, reviewer, admin) and token, kept only as a per-person
  salt and a scrypt hash of its secret part; ``token_key`` (the token's public first part) finds the
  row without trying every hash;
- ``history``: the changes that are not undoable actions, with who and when (objects created, renamed,
  deleted; assignments; work-flow steps), so that ``actions``, ``reviews`` and ``history`` together say
  who changed what and when;
- videos gain ``status`` (to_annotate, in_annotation, to_review, done), their assigned ``annotator``
  and ``reviewer`` (names) and when they were last ``submitted`` for review. A video of an older data
  dir that has objects is in annotation.

Version 3 (corrections, exact undo, tracker state kept):

- ``records``: one object's result on one frame, append-only: its mask (COCO RLE), where it came from
  (``source``: prompt, propagated, imported, proposal), the prompts in force on that frame in pixels,
  and the tracker's exact state there (``reverse``, ``entry``, ``tracked``: see
  :func:`samstream.video.saved.encode_frame_state`), so that a session is rebuilt without re-tracking;
- ``current``: which record of each (video, frame, object) is in force;
- ``actions`` and ``changes``: every edit and every propagation run as one action, with per frame the
  record it replaced and the record it put; undo and redo repoint ``current`` for those frames only;
- ``reviews``: every review decision (the object row keeps the latest);
- videos gain ``fingerprint`` (size and hashes of the source's ends: the same file added twice is noticed);
- objects gain ``version`` (edits of one object are checked against it; other objects never
  conflict) and ``origin`` (manual, auto, imported).

Version 2 rows move over: masks become records (no tracker state: a prompted frame's state is made
the first time its video's session is built), active edits become migrated actions (kept for effort;
not undoable).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

Step = str | Callable[[sqlite3.Connection], None]  # SQL statements, or a function over the connection

_SQL: list[str] = [
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
    # v3: tracker state per frame, actions with exact undo, per-object versions, review history
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY, video_id INTEGER NOT NULL, obj_id INTEGER NOT NULL, frame INTEGER NOT NULL,
        rle TEXT NOT NULL, source TEXT NOT NULL, score REAL, prompts TEXT, reverse INTEGER,
        entry BLOB, tracked BLOB, method TEXT, action_id INTEGER, created REAL NOT NULL);
    CREATE TABLE current (
        video_id INTEGER NOT NULL, frame INTEGER NOT NULL, obj_id INTEGER NOT NULL, record_id INTEGER NOT NULL,
        PRIMARY KEY (video_id, frame, obj_id)) WITHOUT ROWID;
    CREATE INDEX current_object ON current (video_id, obj_id, frame);
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, person TEXT, kind TEXT NOT NULL,
        obj_ids TEXT NOT NULL, detail TEXT NOT NULL, clicks INTEGER NOT NULL DEFAULT 0,
        active REAL NOT NULL DEFAULT 0,
        state TEXT NOT NULL, created REAL NOT NULL, finished REAL);
    CREATE INDEX actions_video ON actions (video_id, state, id);
    CREATE TABLE changes (
        action_id INTEGER NOT NULL, obj_id INTEGER NOT NULL, frame INTEGER NOT NULL,
        before_id INTEGER, after_id INTEGER, PRIMARY KEY (action_id, obj_id, frame)) WITHOUT ROWID;
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, obj_id INTEGER NOT NULL,
        status TEXT NOT NULL, reviewer TEXT NOT NULL, note TEXT NOT NULL, created REAL NOT NULL);
    ALTER TABLE videos ADD COLUMN fingerprint TEXT;
    ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE objects ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual';
    ALTER TABLE propagations ADD COLUMN action_id INTEGER;
    ALTER TABLE propagations ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    INSERT INTO records (video_id, obj_id, frame, rle, source, score, created)
        SELECT video_id, obj_id, frame, rle, source, score, 0 FROM masks;
    INSERT INTO current (video_id, frame, obj_id, record_id) SELECT video_id, frame, obj_id, id FROM records;
    INSERT INTO actions (video_id, kind, obj_ids, detail, state, created)
        SELECT video_id, CASE kind WHEN 'clear' THEN 'clear' ELSE 'prompt' END, '[' || obj_id || ']',
               json_object('frame', frame, 'kind', kind, 'payload', json(payload)), 'migrated', created
        FROM edits WHERE state = 'active' ORDER BY id;
    INSERT INTO reviews (video_id, obj_id, status, reviewer, note, created)
        SELECT video_id, obj_id, review_status, reviewer, note, COALESCE(reviewed_at, created) FROM objects
        WHERE review_status != 'unreviewed';
    DROP TABLE masks
    """,
    # v4: people and tokens, the history of what is not an action, the work flow of videos
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, token_key TEXT NOT NULL UNIQUE,
        salt BLOB NOT NULL, token_hash BLOB NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL, token_created REAL NOT NULL);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL, obj_id INTEGER, person TEXT,
        kind TEXT NOT NULL, detail TEXT NOT NULL, created REAL NOT NULL);
    CREATE INDEX history_video ON history (video_id, person, created);
    CREATE INDEX actions_person ON actions (video_id, person, created);
    ALTER TABLE videos ADD COLUMN status TEXT NOT NULL DEFAULT 'to_annotate';
    ALTER TABLE videos ADD COLUMN annotator TEXT;
    ALTER TABLE videos ADD COLUMN reviewer TEXT;
    ALTER TABLE videos ADD COLUMN submitted REAL;
    UPDATE videos SET status='in_annotation' WHERE EXISTS (SELECT 1 FROM objects o WHERE o.video_id=videos.id)
    """,
    # v5: the tracking method of each video (samstream.video.methods)
    """
    ALTER TABLE videos ADD COLUMN method TEXT NOT NULL DEFAULT 'sam2'
    """,
]


def prompt_step(kind: str, payload: dict) -> dict:
    """One prompt as ``records.prompts`` keeps it: points and labels (pixels), a box, or a mask RLE.

    ``kind``: points, box or mask; ``payload``: the prompt's fields (``points``, ``labels``, ``box``, ``mask``). The
    box is kept only for a ``box`` prompt and the mask only for a ``mask`` one; the others are None.
    """
    return {"points": payload.get("points"), "labels": payload.get("labels"),
            "box": payload.get("box") if kind == "box" else None, "mask": payload.get("mask") if kind == "mask" else None}


def _v3_prompts(db: sqlite3.Connection) -> None:
    """The prompts in force of version 2 (its active edits, replayed in order) onto the frames' records."""
    steps: dict[tuple[int, int, int], list[dict]] = {}
    for video_id, obj_id, frame, kind, payload in db.execute(
            "SELECT video_id, obj_id, frame, kind, payload FROM edits WHERE state='active' ORDER BY id"):
        key, data = (video_id, obj_id, frame), json.loads(payload)
        if kind == "clear":
            steps.pop(key, None)
        elif kind in ("box", "mask") or data.get("clear_old", True):
            steps[key] = [prompt_step(kind, data)]
        else:
            steps.setdefault(key, []).append(prompt_step(kind, data))
    for (video_id, obj_id, frame), frame_steps in steps.items():
        row = db.execute("SELECT record_id FROM current WHERE video_id=? AND frame=? AND obj_id=?",
                         (video_id, frame, obj_id)).fetchone()
        if row is not None:
            db.execute("UPDATE records SET prompts=? WHERE id=?", (json.dumps(frame_steps), row[0]))


# each version's steps run in one transaction
MIGRATIONS: list[tuple[Step, ...]] = [(_SQL[0],), (_SQL[1],), (_SQL[2], _v3_prompts, "DROP TABLE edits"), (_SQL[3],),
                                      (_SQL[4],)]

SCHEMA_VERSION = len(MIGRATIONS)
