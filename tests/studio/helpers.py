"""Helpers shared by the studio tests."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from samstream.io.rle import decode_rle

TABLES = ("videos", "objects", "records", "current", "actions", "changes", "reviews", "propagations", "proposals",
          "auto_runs", "masklet_proposals", "masklet_proposal_masks")


def snapshot(data_dir: Path) -> dict[str, list[tuple]]:
    """Every row of every table (read through a second connection: what was committed)."""
    db = sqlite3.connect(f"file:{data_dir / 'studio.sqlite3'}?mode=ro", uri=True)
    try:
        return {t: sorted(map(tuple, db.execute(f"SELECT * FROM {t}").fetchall()), key=repr) for t in TABLES}
    finally:
        db.close()


def wait_propagation(client: Any, video_id: int, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prop = client.get(f"/api/videos/{video_id}/propagation").json()["propagation"]
        if prop is not None and prop["status"] != "running":
            return prop
        time.sleep(0.05)
    raise AssertionError(f"propagation of video {video_id} did not finish in {timeout} s")


def parse_sse(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def stored_masks(client: Any, video_id: int) -> dict[tuple[int, int], np.ndarray]:
    rows = client.get(f"/api/videos/{video_id}/masks").json()["masks"]
    return {(r["obj_id"], r["frame"]): decode_rle(r["rle"]) for r in rows}
