"""Every studio endpoint through an in-process client, against what the library gives for the same prompts."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

import samstream
from samstream.io.rle import decode_rle, encode_rle
from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import parse_sse, stored_masks, wait_propagation


def click(client, obj_id=1, frame=0, point=None, label=1, video=1, **extra):
    point = point or centre_click(clip().masks[frame, obj_id - 1])
    return client.post(f"/api/videos/{video}/prompts", json={"obj_id": obj_id, "frame": frame, "points": [point],
                                                             "labels": [label], **extra})


def version_of(client, obj_id, video=1):
    return next(o["version"] for o in client.get(f"/api/videos/{video}/objects").json()["objects"]
                if o["obj_id"] == obj_id)


def test_health_index_and_video_listing(studio):
    assert studio.get("/api/health").json()["ok"] is True
    page = studio.get("/")
    assert page.status_code == 200 and "samstream studio" in page.text
    (video,) = studio.get("/api/videos").json()["videos"]
    assert (video["num_frames"], video["height"], video["width"], video["num_objects"]) == (8, 128, 128, 0)
    detail = studio.get("/api/videos/1").json()
    assert detail["objects"] == [] and detail["propagation"] is None


def test_frames_are_served_at_the_requested_size_with_caching(studio, media):
    reply = studio.get("/api/videos/1/frames/2?format=png")
    assert reply.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(reply.content))), clip().frames[2])  # lossless
    small = studio.get("/api/videos/1/frames/2?size=64")
    assert small.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(small.content)).size == (64, 64)
    again = studio.get("/api/videos/1/frames/2?size=64", headers={"If-None-Match": small.headers["etag"]})
    assert again.status_code == 304 and "max-age" in small.headers["cache-control"]


def test_objects_reviews_and_filters(studio):
    first = studio.post("/api/videos/1/objects", json={"name": "disc", "category": "toy", "colour": "#ff0000"})
    assert first.status_code == 201 and first.json()["object"]["obj_id"] == 1 and first.json()["version"] == 0
    studio.post("/api/videos/1/objects", json={"obj_id": 5})
    renamed = studio.patch("/api/videos/1/objects/5", json={"name": "square", "version": 0})
    assert renamed.json()["object"]["name"] == "square" and renamed.json()["version"] == 1
    stale = studio.patch("/api/videos/1/objects/5", json={"name": "late", "version": 0})
    assert stale.status_code == 409 and stale.json()["version"] == 1 and stale.json()["obj_id"] == 5
    review = studio.post("/api/videos/1/objects/5/review", json={"status": "needs_fix", "reviewer": "kim",
                                                                 "note": "edge"})
    assert review.json()["object"]["review_status"] == "needs_fix"
    studio.post("/api/videos/1/objects/5/review", json={"status": "accepted", "reviewer": "kim"})
    history = studio.get("/api/videos/1/objects/5/reviews").json()["reviews"]
    assert [(r["status"], r["reviewer"]) for r in history] == [("needs_fix", "kim"), ("accepted", "kim")]
    assert [o["obj_id"] for o in studio.get("/api/videos/1/objects?status=accepted").json()["objects"]] == [5]
    assert [o["obj_id"] for o in studio.get("/api/objects?status=unreviewed").json()["objects"]] == [1]
    deleted = studio.delete("/api/videos/1/objects/5")
    assert deleted.status_code == 200
    assert [o["obj_id"] for o in studio.get("/api/videos/1/objects").json()["objects"]] == [1]
    events = parse_sse(studio.get("/api/videos/1/events?limit=6").text)
    assert [e[1] for e in events] == ["object_created", "object_created", "object_updated", "review", "review",
                                      "object_deleted"]
    since = parse_sse(studio.get(f"/api/videos/1/events?limit=1&since={events[4][0]}").text)
    assert since[0][1] == "object_deleted"  # a reconnecting client catches up from its last event


def test_clicks_and_propagation_equal_the_library(studio, media, nano):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    point = centre_click(c.masks[0, 0])
    reply = click(studio, point=point, version=0)
    assert reply.status_code == 200 and reply.json()["version"] == 1 and reply.json()["empty"] is False
    assert reply.json()["prompts"] == [{"points": [point], "labels": [1], "box": None, "mask": None}]
    with samstream.VideoPredictor(nano).open(media["frames"]) as session:
        want = session.add_points(0, 1, [point], [1]).masks[0].numpy()
        want_prop = {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}
    assert np.array_equal(decode_rle(reply.json()["masks"]["1"]), want)
    since = studio.get("/api/videos/1").json()["last_event_id"]
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 202
    assert wait_propagation(studio, 1)["status"] == "done"
    masks = stored_masks(studio, 1)
    for frame, mask in want_prop.items():
        assert np.array_equal(masks[(1, frame)], mask), frame
    run = parse_sse(studio.get(f"/api/videos/1/events?since={since}&limit=10").text)  # started, 8 frames, done
    assert [e[1] for e in run] == ["propagation_started"] + ["frame"] * 8 + ["propagation_done"]
    events = [e for e in run if e[1] == "frame"]
    assert [e[2]["frame"] for e in events] == list(range(8)) and events[-1][2]["done"] == 8
    assert np.array_equal(decode_rle(events[3][2]["masks"]["1"]), want_prop[3])
    rows = studio.get("/api/videos/1/masks/0").json()
    assert rows["sources"] == {"1": "prompt"} and rows["prompts"]["1"][0]["points"] == [point]
    effort = studio.get("/api/videos/1/effort").json()["videos"][0]["objects"][0]
    assert (effort["clicks"], effort["prompted_frames"], effort["edited_frames"]) == (1, 1, 1)


def test_a_correction_sticks_propagates_locally_and_undo_redo_are_exact(studio, media, nano):
    c = clip()
    for _ in range(2):
        studio.post("/api/videos/1/objects", json={})
    first, second = centre_click(c.masks[0, 0]), centre_click(c.masks[0, 1])
    click(studio, 1, point=first)
    click(studio, 2, point=second)
    studio.post("/api/videos/1/propagate", json={})
    wait_propagation(studio, 1)
    before = stored_masks(studio, 1)
    counts = studio.get("/api/stats").json()

    fix = centre_click(c.masks[4, 0])
    corrected = click(studio, 1, frame=4, point=fix, label=0).json()
    fixed = decode_rle(corrected["masks"]["1"])
    local = studio.post("/api/videos/1/propagate", json={"start": 4, "obj_ids": [1], "until": "next_prompt"}).json()
    assert local["total"] == 4 and local["legs"] == [[4, 7]]
    wait_propagation(studio, 1)
    after = stored_masks(studio, 1)
    assert np.array_equal(after[(1, 4)], fixed)  # the correction stays on its frame
    for (obj_id, frame), mask in before.items():  # earlier frames and the other object: bit-identical
        if obj_id == 2 or frame < 4:
            assert np.array_equal(after[(obj_id, frame)], mask), (obj_id, frame)
    assert studio.get("/api/stats").json()["frames_tracked"] - counts["frames_tracked"] == 3  # frames 5, 6, 7

    # the library, with the same clicks: the studio's masks are the library's
    with samstream.VideoPredictor(nano).open(media["frames"]) as session:
        session.add_points(0, 1, [first], [1])
        session.add_points(0, 2, [second], [1])
        list(session.propagate())
        assert np.array_equal(session.add_points(4, 1, [fix], [0], clear_old=False).masks[0].numpy(), fixed)
        lib = {r.frame_idx: r.masks[0].numpy() for r in session.propagate(4, obj_ids=[1], stop_at_prompt=True)}
    assert all(np.array_equal(after[(1, f)], lib[f]) for f in range(4, 8))

    # a propagation from the start keeps it too
    studio.post("/api/videos/1/propagate", json={"obj_ids": [1]})
    wait_propagation(studio, 1)
    assert np.array_equal(stored_masks(studio, 1)[(1, 4)], fixed)
    again = stored_masks(studio, 1)

    tracked = studio.get("/api/stats").json()["frames_tracked"]
    undone = studio.post("/api/videos/1/undo", json={}).json()  # the propagation from the start
    assert undone["kind"] == "propagate" and all(np.array_equal(stored_masks(studio, 1)[k], after[k]) for k in after)
    undone = studio.post("/api/videos/1/undo", json={}).json()  # the local propagation
    # frame 4: its prompt entered memory when the run began; 5 to 7 were tracked
    assert undone["kind"] == "propagate" and sorted(undone["frames"]["1"]) == [4, 5, 6, 7]
    undone = studio.post("/api/videos/1/undo", json={}).json()  # the correction: the tracked mask is back
    assert undone["kind"] == "prompt" and undone["frame"] == 4
    assert all(np.array_equal(stored_masks(studio, 1)[k], m) for k, m in before.items())
    for _ in range(3):
        assert studio.post("/api/videos/1/redo", json={}).json()["changed"]
    assert all(np.array_equal(stored_masks(studio, 1)[k], m) for k, m in again.items())
    assert studio.post("/api/videos/1/redo", json={}).json()["changed"] is False
    assert studio.get("/api/stats").json()["frames_tracked"] == tracked  # undo and redo re-track nothing

    # the session is a cache: dropped (an eviction) and rebuilt from the store, tracking goes on the same
    studio.app_state.studio.pool.workers[0].host.annotator.drop(1)
    studio.post("/api/videos/1/undo", json={})
    studio.post("/api/videos/1/redo", json={})
    studio.post("/api/videos/1/propagate", json={"start": 4, "obj_ids": [1], "until": "next_prompt"})
    wait_propagation(studio, 1)
    assert all(np.array_equal(stored_masks(studio, 1)[k], m) for k, m in again.items())


def test_two_clients_edit_two_objects_without_conflict_and_a_stale_edit_is_refused(studio):
    c = clip()
    for _ in range(2):
        studio.post("/api/videos/1/objects", json={})
    a = click(studio, 1, point=centre_click(c.masks[0, 0]), version=0)
    b = click(studio, 2, point=centre_click(c.masks[0, 1]), version=0)  # the video changed; object 2 did not
    assert a.status_code == 200 and b.status_code == 200
    stale = click(studio, 1, frame=1, point=centre_click(c.masks[1, 0]), version=0)
    assert stale.status_code == 409 and stale.json()["version"] == 1 and stale.json()["obj_id"] == 1
    assert (1, 1) not in stored_masks(studio, 1)  # nothing of the refused click was kept


def test_undo_of_the_only_prompt_removes_its_mask(studio):
    studio.post("/api/videos/1/objects", json={})
    click(studio)
    assert (1, 0) in stored_masks(studio, 1)
    studio.post("/api/videos/1/undo", json={})
    assert stored_masks(studio, 1) == {}
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 400  # nothing to track any more


def test_backward_range_until_a_frame_and_cancel(studio):
    studio.post("/api/videos/1/objects", json={})
    click(studio, frame=5, point=centre_click(clip().masks[5, 0]))
    reply = studio.post("/api/videos/1/propagate", json={"start": 5, "until": 2, "direction": "backward"})
    assert reply.json()["total"] == 4
    assert wait_propagation(studio, 1)["frames_done"] == 4
    assert sorted(f for (_, f) in stored_masks(studio, 1)) == [2, 3, 4, 5]
    studio.post("/api/videos/1/propagate", json={"direction": "both"})
    studio.post("/api/videos/1/propagate/cancel")
    assert wait_propagation(studio, 1)["status"] in ("cancelled", "done")


def test_clear_keeps_the_tracked_mask_and_can_be_undone(studio):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    click(studio, point=centre_click(c.masks[0, 0]))
    studio.post("/api/videos/1/propagate", json={})
    wait_propagation(studio, 1)
    click(studio, frame=3, point=centre_click(c.masks[3, 0]))
    with_prompt = stored_masks(studio, 1)[(1, 3)]
    cleared = studio.post("/api/videos/1/clear", json={"obj_id": 1, "frame": 3})
    assert cleared.status_code == 200
    assert studio.get("/api/videos/1/masks/3").json()["sources"]["1"] == "propagated"  # the output stays, tracked
    assert studio.post("/api/videos/1/clear", json={"obj_id": 1, "frame": 3}).status_code == 400  # nothing left
    studio.post("/api/videos/1/undo", json={})
    assert np.array_equal(stored_masks(studio, 1)[(1, 3)], with_prompt)
    assert studio.get("/api/videos/1/masks/3").json()["sources"]["1"] == "prompt"


def test_box_and_mask_prompts(studio):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    ys, xs = np.nonzero(c.masks[0, 0])
    box = studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0,
                                                     "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]})
    assert box.status_code == 200 and box.json()["prompts"][0]["box"] == [xs.min(), ys.min(), xs.max(), ys.max()]
    mask = studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 2, "mask": encode_rle(c.masks[2, 0])})
    assert mask.status_code == 200 and decode_rle(mask.json()["masks"]["1"]).any()


def test_an_empty_result_says_so(studio):
    studio.post("/api/videos/1/objects", json={})
    reply = click(studio, point=[1.0, 1.0], label=0)  # only a background click: nothing to segment
    assert reply.status_code == 200 and reply.json()["empty"] is True


def test_segment_everything_and_accept(studio):
    # the small bundled model's IoU predictions are low: no thresholds, a 2x2 grid (cheap)
    reply = studio.post("/api/videos/1/segment-everything", json={"frame": 0, "points_per_side": 2,
                                                                  "pred_iou_thresh": 0, "stability_score_thresh": 0})
    assert reply.status_code == 200
    proposals = reply.json()["proposals"]
    assert proposals and all(decode_rle(p["rle"]).shape == (128, 128) for p in proposals)
    assert [p["score"] for p in proposals] == sorted((p["score"] for p in proposals), reverse=True)
    accepted = studio.post(f"/api/videos/1/proposals/{proposals[0]['proposal_id']}/accept", json={"name": "auto"})
    assert accepted.status_code == 201 and accepted.json()["object"]["name"] == "auto"
    assert decode_rle(accepted.json()["masks"][str(accepted.json()["object"]["obj_id"])]).any()


def test_upload_keeps_the_name_and_refuses_the_same_file_twice(studio, media):
    data = media["video"].read_bytes()
    reply = studio.post("/api/videos?name=my cüp.mp4", content=data)
    assert reply.status_code == 201, reply.text
    video = reply.json()
    assert (video["name"], video["num_frames"], video["height"]) == ("my cüp.mp4", 8, 128)
    assert studio.get(f"/api/videos/{video['id']}/frames/7?size=32").status_code == 200
    again = studio.post("/api/videos?name=other.mp4", content=data)
    assert again.status_code == 409 and f"video {video['id']}" in again.json()["error"]
    forced = studio.post("/api/videos?name=other.mp4&force=1", content=data)
    assert forced.status_code == 201 and forced.json()["id"] == video["id"] + 1


def test_switch_model(studio, nano, tmp_path):
    from samstream.checkpoints import save_checkpoint

    pool = studio.app_state.studio.pool
    assert studio.post("/api/model", json={"model": "samstream-nano"}).json() == {"model": "samstream-nano"}
    assert studio.post("/api/model", json={"model": "/nonexistent/x.pt"}).status_code == 400
    assert [w.spec.model for w in pool.workers] == ["samstream-nano"]  # a refused switch changes nothing
    save_checkpoint(nano, tmp_path / "mine.pt")
    assert studio.post("/api/model", json={"model": str(tmp_path / "mine.pt")}).status_code == 200
    # a worker started later (a restart) loads the model in use, not the one the server started with
    assert [w.spec.model for w in pool.workers] == [str(tmp_path / "mine.pt")]


def test_a_video_s_tracking_method_is_a_setting_and_masks_name_the_method_that_made_them(studio, media, nano):
    c = clip()
    point = centre_click(c.masks[0, 0])
    assert studio.patch("/api/videos/1", json={"method": "tracker"}).status_code == 400
    since = studio.get("/api/videos/1").json()["last_event_id"]
    assert studio.patch("/api/videos/1", json={"method": "samurai"}).json()["method"] == "samurai"
    (event,) = parse_sse(studio.get(f"/api/videos/1/events?since={since}&limit=1").text)
    assert event[1] == "video_updated" and event[2]["method"] == "samurai"  # every page of the video is told
    assert studio.get("/api/videos/1").json()["method"] == "samurai"
    studio.post("/api/videos/1/objects", json={})
    click(studio, point=point)
    studio.post("/api/videos/1/propagate", json={})
    wait_propagation(studio, 1)
    rows = studio.get("/api/videos/1/masks").json()["masks"]
    assert {r["method"] for r in rows} == {"samurai"}
    for method in ("samurai", "sam2long"):
        if method == "sam2long":  # the setting changes: the next run uses it, one frame per worker turn
            assert studio.patch("/api/videos/1", json={"method": "sam2long"}).status_code == 200
            studio.post("/api/videos/1/propagate", json={})
            assert wait_propagation(studio, 1)["frames_done"] == 8
        with samstream.VideoPredictor(nano, method=method).open(media["frames"]) as session:
            session.add_points(0, 1, [point], [1])
            want = {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}
        stored = stored_masks(studio, 1)
        assert all(np.array_equal(stored[(1, f)], want[f]) for f in want), method
    rows = studio.get("/api/videos/1/masks").json()["masks"]
    assert {r["method"] for r in rows if r["frame"] > 0} == {"sam2long"}


def test_a_worker_given_up_on_leaves_its_runs_interrupted_not_running(studio):
    """A worker process that keeps dying is not started again; its videos' runs must not stay "running"
    (that refuses every later propagation of those videos until the server restarts)."""
    from samstream.studio import service

    s = studio.app_state.studio
    studio.post("/api/videos/1/objects", json={})
    assert s.pool.for_video(1).index == 0
    _, _, run = s.store.tracks.begin_propagation(1, None, [1], {"start": 0, "direction": "forward", "until": "end"},
                                                 {}, {"obj_ids": [1], "legs": []}, 8)

    class LastDeath:  # worker 0 as the server sees it when it dies for the last time allowed
        index, pid, restarts = 0, 12345, service.MAX_RESTARTS

        def wait_started(self, timeout: float) -> bool:
            return True

    s._worker_exited(LastDeath())
    assert s.store.tracks.propagation(run).status == "interrupted"
