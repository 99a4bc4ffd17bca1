"""Whole-video proposals: automatic masklets run in the studio's worker, accepted or dismissed one by one."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from samstream.amg.video import VideoMaskGenerator
from samstream.io.rle import decode_rle
from samstream.studio.store import Store
from tests.studio.conftest import CLIP_FRAMES
from tests.studio.helpers import parse_sse, stored_masks, wait_propagation

# the small bundled model's IoU predictions are low: no thresholds, a 4x4 grid (cheap)
OPTIONS = {"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": 0, "keyframe_interval": 4}


def wait_run(client: Any, video_id: int = 1, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.get(f"/api/videos/{video_id}/auto-masklets").json()
        if reply["run"] is not None and reply["run"]["status"] != "running":
            return reply
        time.sleep(0.05)
    raise AssertionError(f"automatic masklets of video {video_id} did not finish in {timeout} s")


def library_masklets(nano, frames) -> dict[int, dict[int, np.ndarray]]:
    """masklet id -> frame -> mask, as the library's generator gives them for the studio's options."""
    options = {**OPTIONS, "max_absent_frames": 16, "merge_iou_thresh": 0.8, "track_backward": False}
    out: dict[int, dict[int, np.ndarray]] = {}
    with torch.inference_mode():
        for frame in VideoMaskGenerator(nano, **options).generate(frames):
            for obj_id, mask in zip(frame.obj_ids, frame.masks):
                if mask.any():
                    out.setdefault(obj_id, {})[frame.frame_idx] = np.asarray(mask)
    return out


def test_whole_video_proposals_equal_the_library_and_are_accepted_as_objects(studio, media, nano):
    reply = studio.post("/api/videos/1/auto-masklets", json=OPTIONS)
    assert reply.status_code == 202, reply.text
    assert reply.json()["total"] == CLIP_FRAMES
    listing = wait_run(studio)
    assert listing["run"]["status"] == "done" and listing["run"]["frames_done"] == CLIP_FRAMES

    want = library_masklets(nano, media["frames"])
    assert want, "the generator found no masklet on the clip"
    proposals = listing["proposals"]
    assert sorted(p["masklet"] for p in proposals) == sorted(want)
    for p in proposals:
        full = studio.get(f"/api/videos/1/masklet-proposals/{p['id']}").json()
        masks = {int(f): decode_rle(r) for f, r in full["masks"].items()}
        assert sorted(masks) == sorted(want[p["masklet"]])
        assert (p["first_frame"], p["last_frame"], p["num_frames"]) == (min(masks), max(masks), len(masks))
        for f, mask in masks.items():
            assert np.array_equal(mask, want[p["masklet"]][f]), (p["masklet"], f)

    events = [e for e in parse_sse(studio.get(f"/api/videos/1/events?limit={CLIP_FRAMES + 2}").text)]
    assert events[0][1] == "auto_started" and events[-1][1] == "auto_done"
    assert [e[2]["frame"] for e in events if e[1] == "auto_frame"] == list(range(CLIP_FRAMES))

    # accepting makes an object with exactly the proposal's masks, ready to be propagated like any other
    first = proposals[0]
    accepted = studio.post(f"/api/videos/1/masklet-proposals/{first['id']}/accept", json={"name": "car"})
    assert accepted.status_code == 201, accepted.text
    obj = accepted.json()["object"]
    assert obj["name"] == "car" and accepted.json()["masks"] == first["num_frames"]
    stored = {f: m for (o, f), m in stored_masks(studio, 1).items() if o == obj["obj_id"]}
    assert sorted(stored) == sorted(want[first["masklet"]])
    assert all(np.array_equal(stored[f], want[first["masklet"]][f]) for f in stored)
    left = studio.get("/api/videos/1/auto-masklets").json()["proposals"]
    assert first["id"] not in [p["id"] for p in left]
    assert studio.post("/api/videos/1/propagate", json={"start": first["first_frame"]}).status_code == 202
    assert wait_propagation(studio, 1)["status"] == "done"

    # dismissing deletes one proposal; a second dismissal of it is a clear 404
    if left:
        gone = studio.delete(f"/api/videos/1/masklet-proposals/{left[0]['id']}")
        assert gone.status_code == 200 and gone.json()["dismissed"] is True
        again = studio.delete(f"/api/videos/1/masklet-proposals/{left[0]['id']}")
        assert again.status_code == 404 and "proposal_id" in again.json()["error"]


def test_a_new_run_replaces_the_proposals_and_a_run_can_be_cancelled(studio):
    studio.post("/api/videos/1/auto-masklets", json=OPTIONS)
    before = {p["id"] for p in wait_run(studio)["proposals"]}
    studio.post("/api/videos/1/auto-masklets", json=OPTIONS)
    after = wait_run(studio)
    assert before and not before & {p["id"] for p in after["proposals"]}
    assert len(after["proposals"]) == len(before)  # same options, same masklets, new rows

    studio.post("/api/videos/1/auto-masklets", json=OPTIONS)
    cancelled = studio.post("/api/videos/1/auto-masklets/cancel")
    assert cancelled.status_code == 200
    run = wait_run(studio)["run"]
    # the cancel is queued behind at most the worker turn in progress: it wins unless the run already ended
    assert run["status"] == ("cancelled" if cancelled.json()["cancelled"] else "done")
    assert studio.post("/api/videos/1/auto-masklets/cancel").json() == {"cancelled": False}


def test_bad_requests_name_what_was_wrong(studio):
    for body, status, words in [({"points": 4}, 400, "points: not an option"),
                                ({"points_per_side": 0}, 400, "points_per_side: expected 1 to 64"),
                                ({"points_per_side": "4"}, 400, "points_per_side: expected int"),
                                ({"pred_iou_thresh": 2}, 400, "pred_iou_thresh: expected a number in [0, 1]")]:
        reply = studio.post("/api/videos/1/auto-masklets", json=body)
        assert reply.status_code == status and words in reply.json()["error"], (body, reply.text)
    assert studio.get("/api/videos/1/auto-masklets").json() == {"proposals": [], "run": None}
    assert studio.post("/api/videos/9/auto-masklets", json={}).status_code == 404
    assert studio.get("/api/videos/1/masklet-proposals/3").status_code == 404
    assert studio.post("/api/videos/1/masklet-proposals/3/accept", json={}).status_code == 404



def test_an_accepted_masklet_is_exported_as_auto_until_a_person_edits_it(studio):
    studio.post("/api/videos/1/auto-masklets", json=OPTIONS)
    proposal = wait_run(studio)["proposals"][0]
    obj = studio.post(f"/api/videos/1/masklet-proposals/{proposal['id']}/accept", json={}).json()["object"]
    assert obj["origin"] == "auto"
    studio.post(f"/api/videos/1/objects/{obj['obj_id']}/review", json={"status": "accepted", "reviewer": "kim"})
    doc = studio.get(studio.post("/api/videos/1/export", json={"format": "sav"}).json()["urls"][0]).json()
    assert doc["masklet_type"] == ["auto"] and doc["masklet_edited_frame_count"] == [0]
    frame = proposal["first_frame"]
    version = studio.get("/api/videos/1/objects").json()["objects"][0]["version"]
    edited = studio.post("/api/videos/1/prompts", json={"obj_id": obj["obj_id"], "frame": frame, "points": [[5, 5]],
                                                        "labels": [0], "version": version})
    assert edited.status_code == 200, edited.text
    after = studio.get("/api/videos/1/objects").json()["objects"][0]
    assert (after["origin"], after["review_status"]) == ("manual", "unreviewed")  # edited after review
    doc = studio.get(studio.post("/api/videos/1/export", json={"format": "sav"}).json()["urls"][0]).json()
    assert doc["masklet_type"] == ["manual"]
    accepted_only = studio.post("/api/videos/1/export", json={"format": "sav", "accepted_only": True}).json()
    assert studio.get(accepted_only["urls"][0]).json()["masklet_num"] == 0  # nothing edited after review exported as accepted


def test_a_dead_run_is_marked_interrupted(tmp_path):
    store = Store(tmp_path / "studio.sqlite3")
    store.videos.add("a", "a", "folder", 3, 8, 8, 1.0)
    run = store.proposals.start_auto_run(1, 3, {"points_per_side": 4})
    store.proposals.put_auto_frame(1, run, 0, [(7, 0.5, {"size": [8, 8], "counts": "0"})], 1)
    # no close(): the server died while the run was going
    store = Store(tmp_path / "studio.sqlite3")
    assert store.proposals.latest_auto_run(1)["status"] == "interrupted"
    assert [p["masklet"] for p in store.proposals.masklet_proposals(1)] == [7]
    store.close()
