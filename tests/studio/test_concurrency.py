"""Two videos at once: a click on one is served between the frames of the other's propagation."""

from __future__ import annotations

import time

from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import parse_sse, wait_propagation


def test_click_on_b_is_served_while_a_propagates_and_stale_edits_are_refused(studio, media):
    from samstream.studio.service import add_video

    s = studio.app_state.studio
    add_video(s.store, s.data_dir, media["frames"], "second.png")
    point = centre_click(clip().masks[0, 0])
    for vid in (1, 2):
        studio.post(f"/api/videos/{vid}/objects", json={})
    studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]})
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 202
    while studio.get("/api/videos/1/propagation").json()["propagation"]["frames_done"] < 1:
        time.sleep(0.01)
    # a second client clicks on video B while A propagates; its answer must not wait for A's 8 frames
    reply = studio.post("/api/videos/2/prompts", json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]})
    assert reply.status_code == 200
    click_tick = reply.json()["tick"]
    wait_propagation(studio, 1)
    ticks = [e[2]["tick"] for e in parse_sse(studio.get("/api/videos/1/events?limit=11").text) if e[1] == "frame"]
    assert len(ticks) == 8 and ticks == sorted(ticks)
    assert ticks[0] < click_tick < ticks[-1]  # served between two frames of A's propagation

    # two clients on video B saw version v; the first edit wins, the second is refused with 409
    version = studio.get("/api/videos/2").json()["version"]
    first = studio.post("/api/videos/2/objects/1/review", json={"status": "accepted", "version": version})
    second = studio.post("/api/videos/2/objects/1/review", json={"status": "rejected", "version": version})
    assert first.status_code == 200 and second.status_code == 409
    assert second.json()["version"] == version + 1 and "version" in second.json()["error"]
    assert studio.get("/api/videos/2/objects").json()["objects"][0]["review_status"] == "accepted"


def test_warm_sessions_are_bounded_and_rebuilt_from_the_store(studio, media):
    from samstream.io.rle import decode_rle
    from samstream.studio.service import add_video

    s = studio.app_state.studio
    for name in ("b.png", "c.png"):
        add_video(s.store, s.data_dir, media["frames"], name)
    point = centre_click(clip().masks[0, 0])
    first = None
    for vid in (1, 2, 3):  # three videos, two warm sessions: video 1 is evicted
        studio.post(f"/api/videos/{vid}/objects", json={})
        reply = studio.post(f"/api/videos/{vid}/prompts",
                            json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]})
        first = first or reply.json()
    builds = s.annotator.builds
    again = studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [[2.0, 2.0]],
                                                       "labels": [0]})
    assert s.annotator.builds == builds + 1  # rebuilt: the first click re-run from the store, then this one
    assert again.status_code == 200 and decode_rle(first["masks"]["1"]).any()
    undone = studio.post("/api/videos/1/undo", json={}).json()
    assert decode_rle(undone["masks"]["1"]).tolist() == decode_rle(first["masks"]["1"]).tolist()
