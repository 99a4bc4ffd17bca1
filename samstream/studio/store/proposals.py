"""Proposals: "segment everything" on one frame, and automatic masklets over a whole video (their runs).

These rows go to the page as they are (JSON objects), so they are handed out as plain dicts.
"""

from __future__ import annotations

import json
from typing import Any

from samstream.studio.store.db import Database, NotFoundError

__all__ = ["ProposalStore"]


class ProposalStore:
    """Rows of ``proposals``, ``auto_runs``, ``masklet_proposals`` and ``masklet_proposal_masks``."""

    def __init__(self, db: Database, check_video: Any) -> None:
        self.db = db
        self._check_video = check_video  # raises NotFoundError for an unknown video

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.rows(sql, args)]

    # ------------------------------------------------------------------ proposals
    def add(self, video_id: int, frame: int, items: list[tuple[dict[str, Any], float, list[int]]]) -> list[int]:
        """Keep the "segment everything" proposals of one frame; returns their ids, in the order of ``items``.

        ``items``: (COCO RLE, predicted IoU, XYWH box in pixels) per proposal on frame ``frame`` of video
        ``video_id``. The video's earlier proposals (of any frame) are deleted: a video has one frame's proposals at
        a time.
        """
        with self.db.transaction() as db:
            db.execute("DELETE FROM proposals WHERE video_id=?", (video_id,))  # one frame's proposals at a time
            ids = []
            for rle, score, bbox in items:
                cur = db.execute("INSERT INTO proposals (video_id, frame, rle, score, bbox, created) VALUES (?,?,?,?,?,?)",
                                 (video_id, frame, json.dumps(rle), score, json.dumps(bbox), self.db.clock()))
                ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
        return ids

    def get(self, video_id: int, proposal_id: int) -> dict[str, Any]:
        """Proposal ``proposal_id`` of video ``video_id`` as a dict (``rle`` and ``bbox`` decoded from JSON);
        :class:`NotFoundError` when the video has no such proposal."""
        rows = self._rows("SELECT * FROM proposals WHERE video_id=? AND id=?", (video_id, proposal_id))
        if not rows:
            raise NotFoundError(f"proposal_id: video {video_id} has no proposal {proposal_id}")
        row = rows[0]
        row["rle"], row["bbox"] = json.loads(row["rle"]), json.loads(row["bbox"])
        return row

    def drop(self, proposal_id: int) -> None:
        """Delete proposal ``proposal_id`` (accepted as an object); nothing happens when there is none."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM proposals WHERE id=?", (proposal_id,))

    # ------------------------------------------------------------------ masklet proposals (whole video)
    def start_auto_run(self, video_id: int, total: int, options: dict[str, Any]) -> int:
        """A new automatic-masklet run of video ``video_id`` over ``total`` frames with the generator ``options``;
        returns its id. The video's earlier masklet proposals (and their masks) are deleted: the run's own replace
        them."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM masklet_proposals WHERE video_id=?", (video_id,))  # cascades to their masks
            cur = db.execute("INSERT INTO auto_runs (video_id, status, total, options, created) VALUES (?,?,?,?,?)",
                             (video_id, "running", total, json.dumps(options), self.db.clock()))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def put_auto_frame(self, video_id: int, run_id: int, frame: int, items: list[tuple[int, float, dict[str, Any]]],
                       frames_done: int) -> None:
        """One final frame ``frame`` of run ``run_id`` on video ``video_id``: ``items`` holds (masklet id, score,
        RLE) of each masklet visible on it, each added to that masklet's proposal (made on its first frame); the
        run's progress becomes ``frames_done``. One transaction."""
        with self.db.transaction() as db:
            for masklet, score, rle in items:
                pid = db.execute("INSERT INTO masklet_proposals (video_id, run_id, masklet, first_frame, last_frame, "
                                 "num_frames, score, created) VALUES (?,?,?,?,?,1,?,?) ON CONFLICT (run_id, masklet) "
                                 "DO UPDATE SET last_frame=excluded.last_frame, num_frames=num_frames+1 RETURNING id",
                                 (video_id, run_id, masklet, frame, frame, score, self.db.clock())).fetchone()[0]
                db.execute("INSERT INTO masklet_proposal_masks (proposal_id, frame, rle) VALUES (?,?,?)",
                           (pid, frame, json.dumps(rle)))
            db.execute("UPDATE auto_runs SET frames_done=? WHERE id=?", (frames_done, run_id))

    def finish_auto_run(self, run_id: int, status: str) -> None:
        """End run ``run_id`` with ``status`` (done, cancelled, failed) and the time it ended; the proposals it
        stored stay."""
        with self.db.transaction() as db:
            db.execute("UPDATE auto_runs SET status=?, finished=? WHERE id=?", (status, self.db.clock(), run_id))

    def latest_auto_run(self, video_id: int) -> dict[str, Any] | None:
        """The latest automatic-masklet run of video ``video_id`` as a dict (``options`` decoded), or None when it
        never had one."""
        rows = self._rows("SELECT * FROM auto_runs WHERE video_id=? ORDER BY id DESC LIMIT 1", (video_id,))
        if rows:
            rows[0]["options"] = json.loads(rows[0]["options"])
        return rows[0] if rows else None

    def masklet_proposals(self, video_id: int) -> list[dict[str, Any]]:
        """The masklet proposals of video ``video_id``, without their masks (see :meth:`masklet_proposal`), in the
        order they appeared; :class:`NotFoundError` for an unknown video."""
        self._check_video(video_id)
        return self._rows("SELECT * FROM masklet_proposals WHERE video_id=? ORDER BY id", (video_id,))

    def masklet_proposal(self, video_id: int, proposal_id: int) -> dict[str, Any]:
        """Masklet proposal ``proposal_id`` of video ``video_id`` with its masks (``masks``: frame -> RLE);
        :class:`NotFoundError` when there is no such video or proposal."""
        rows = self._rows("SELECT * FROM masklet_proposals WHERE video_id=? AND id=?", (video_id, proposal_id))
        if not rows:
            self._check_video(video_id)
            raise NotFoundError(f"proposal_id: video {video_id} has no masklet proposal {proposal_id}")
        masks = self._rows("SELECT frame, rle FROM masklet_proposal_masks WHERE proposal_id=? ORDER BY frame",
                           (proposal_id,))
        return {**rows[0], "masks": {r["frame"]: json.loads(r["rle"]) for r in masks}}

    def drop_masklet_proposal(self, video_id: int, proposal_id: int) -> None:
        """Delete masklet proposal ``proposal_id`` of video ``video_id`` and its masks (dismissed, or accepted as an
        object); :class:`NotFoundError`, before anything changes, when there is none."""
        self.masklet_proposal(video_id, proposal_id)  # NotFoundError before anything changes
        with self.db.transaction() as db:
            db.execute("DELETE FROM masklet_proposals WHERE id=?", (proposal_id,))

