"""Annotation effort, the paper's measures, from what the store recorded of every action.

Per object: clicks, prompted frames (prompts in force), edited frames (frames a prompt or a clear was
ever made on), active seconds (time between interactions, pauses longer than the store's idle gap
left out); per video and over videos: the same totals and seconds per frame.
"""

from __future__ import annotations

from typing import Any

from samstream.studio.store import Store

__all__ = ["KEYS", "effort_rows", "effort_summary"]

KEYS = ("clicks", "prompted_frames", "edited_frames", "active_seconds")


def effort_rows(store: Store, video_id: int) -> list[dict[str, Any]]:
    """Per object of a video: its effort figures."""
    prompted = store.tracks.prompted_frames(video_id)
    edited = store.tracks.edited_frames(video_id)
    return [{"obj_id": o.obj_id, "clicks": o.clicks, "prompted_frames": len(prompted.get(o.obj_id, ())),
             "edited_frames": int(edited.get(o.obj_id, 0)), "active_seconds": round(o.active_seconds, 3)}
            for o in store.videos.objects(video_id)]


def effort_summary(store: Store, video_ids: list[int]) -> dict[str, Any]:
    """Effort per masklet, per video and for all of ``video_ids``."""
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
