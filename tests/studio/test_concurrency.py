"""Work at once: clicks between the frames of a propagation, two objects of one video, sessions in a budget."""

from __future__ import annotations

import time
import warnings

import numpy as np

from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import parse_sse, stored_masks, wait_propagation


def _frames_done(client, video_id: int) -> int:
    prop = client.get(f"/api/videos/{video_id}/propagation").json()["propagation"]
    return 0 if prop is None else prop["frames_done"]


def test_click_on_b_is_served_while_a_propagates_and_stale_edits_are_refused(studio, media):
    from samstream.studio.service import add_video

    s = studio.app_state.studio
    add_video(s.store, s.data_dir, media["frames"], "second.png", force=True)
    point = centre_click(clip().masks[0, 0])
    for vid in (1, 2):
        studio.post(f"/api/videos/{vid}/objects", json={})
    studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]})
    since = studio.get("/api/videos/1").json()["last_event_id"]
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 202
    while _frames_done(studio, 1) < 1:
        time.sleep(0.01)
    # a second client clicks on video B while A propagates; its answer must not wait for A's 8 frames
    reply = studio.post("/api/videos/2/prompts", json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]})
    assert reply.status_code == 200
    click_tick = reply.json()["tick"]
    wait_propagation(studio, 1)
    run = parse_sse(studio.get(f"/api/videos/1/events?since={since}&limit=10").text)  # started, 8 frames, done
    ticks = [e[2]["tick"] for e in run if e[1] == "frame"]
    assert len(ticks) == 8 and ticks == sorted(ticks)
    assert ticks[0] < click_tick < ticks[-1]  # served between two frames of A's propagation

    # two clients on video B saw version v of object 1; the first edit wins, the second is refused with 409
    version = reply.json()["version"]
    first = studio.post("/api/videos/2/objects/1/review", json={"status": "accepted", "version": version})
    second = studio.post("/api/videos/2/objects/1/review", json={"status": "rejected", "version": version})
    assert first.status_code == 200 and second.status_code == 409
    assert second.json()["version"] == version + 1 and "version" in second.json()["error"]
    assert studio.get("/api/videos/2/objects").json()["objects"][0]["review_status"] == "accepted"


def test_a_click_on_another_object_does_not_stop_a_propagation(studio):
    """Two annotators on one video: one propagates object 1 while the other clicks object 2."""
    c = clip()
    for _ in range(2):
        studio.post("/api/videos/1/objects", json={})
    studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [centre_click(c.masks[0, 0])],
                                               "labels": [1]})
    studio.post("/api/videos/1/propagate", json={"obj_ids": [1]})
    while _frames_done(studio, 1) < 1:
        time.sleep(0.01)
    other = studio.post("/api/videos/1/prompts", json={"obj_id": 2, "frame": 3, "labels": [1],
                                                       "points": [centre_click(c.masks[3, 1])], "version": 0})
    assert other.status_code == 200
    done = wait_propagation(studio, 1)
    assert done["status"] == "done" and done["frames_done"] == 8
    masks = stored_masks(studio, 1)
    assert sorted(f for o, f in masks if o == 1) == list(range(8)) and [f for o, f in masks if o == 2] == [3]


def test_sessions_fit_a_memory_budget_and_are_rebuilt_without_re_tracking(tmp_path, nano, media):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from samstream.io.rle import decode_rle
    from samstream.studio.app import create_app
    from samstream.studio.service import Settings, add_video

    app = create_app(Settings(data_dir=tmp_path / "data", session_memory=1), model=nano)  # room for one session
    with TestClient(app) as client:
        s = app.app.state.studio
        for name in ("a.png", "b.png", "c.png"):
            add_video(s.store, s.data_dir, media["frames"], name, force=True)
        point = centre_click(clip().masks[0, 0])
        firsts = {}
        for vid in (1, 2, 3):
            client.post(f"/api/videos/{vid}/objects", json={})
            firsts[vid] = client.post(f"/api/videos/{vid}/prompts",
                                      json={"obj_id": 1, "frame": 0, "points": [point], "labels": [1]}).json()
        client.post("/api/videos/1/propagate", json={})
        wait_propagation(client, 1)
        stats = client.get("/api/stats").json()
        assert stats["warm_sessions"] == [1]  # the budget holds one: the others were closed
        before = stats
        # video 2 again: rebuilt from the store; its first click encodes its frame and re-tracks nothing
        again = client.post("/api/videos/2/prompts", json={"obj_id": 1, "frame": 3, "labels": [1],
                                                           "points": [centre_click(clip().masks[3, 0])]})
        after = client.get("/api/stats").json()
        assert again.status_code == 200 and after["sessions_built"] == before["sessions_built"] + 1
        assert after["frames_tracked"] == before["frames_tracked"]
        assert after["images_encoded"] - before["images_encoded"] == 1  # frame 3 only
        # video 1 again (evicted after 2 was built): undo of its propagation re-tracks nothing either
        tracked = stored_masks(client, 1)
        client.post("/api/videos/1/undo", json={})
        assert set(stored_masks(client, 1)) == {(1, 0)}
        client.post("/api/videos/1/redo", json={})
        assert all(np.array_equal(stored_masks(client, 1)[k], m) for k, m in tracked.items())
        assert client.get("/api/stats").json()["frames_tracked"] == after["frames_tracked"]
        assert decode_rle(firsts[3]["masks"]["1"]).any()


def test_what_a_killed_server_left_is_cleaned_at_start_and_errors_name_the_users_files(tmp_path, nano):
    import pytest

    from samstream.errors import VideoReadError
    from samstream.studio.service import Studio, Settings, add_video

    data = tmp_path / "data"
    Studio(Settings(data_dir=data), model=nano).close()
    spill = data / "cache" / "samstream-spill-abc123"  # an older server's spill folder, killed midway
    spill.mkdir(parents=True)
    (spill / "obj1_3.pt").write_bytes(b"x")
    upload = data / "media" / ".upload-1234.mp4.tmp"
    upload.parent.mkdir(exist_ok=True)
    upload.write_bytes(b"half an upload")
    studio = Studio(Settings(data_dir=data), model=nano)
    try:
        assert not (data / "cache").exists() and not upload.exists()
        broken = tmp_path / "my frames"
        broken.mkdir()
        (broken / "00000.jpg").write_bytes(b"not a jpeg")
        with pytest.raises(VideoReadError) as err:
            add_video(studio.store, data, broken)
        assert "my frames" in str(err.value) and ".tmp" not in str(err.value)
    finally:
        studio.close()
