"""Every studio endpoint through an in-process client, against what the library gives for the same prompts."""

from __future__ import annotations

import numpy as np

import samstream
from samstream.io.rle import decode_rle, encode_rle
from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import parse_sse, stored_masks, wait_propagation


def click(client, obj_id=1, frame=0, point=None, label=1, **extra):
    point = point or centre_click(clip().masks[frame, 0])
    return client.post("/api/videos/1/prompts", json={"obj_id": obj_id, "frame": frame, "points": [point],
                                                      "labels": [label], **extra})


def test_health_index_and_video_listing(studio):
    assert studio.get("/api/health").json()["ok"] is True
    page = studio.get("/")
    assert page.status_code == 200 and "samstream studio" in page.text
    (video,) = studio.get("/api/videos").json()["videos"]
    assert (video["num_frames"], video["height"], video["width"], video["num_objects"]) == (8, 128, 128, 0)
    detail = studio.get("/api/videos/1").json()
    assert detail["objects"] == [] and detail["propagation"] is None


def test_frames_are_served_at_the_requested_size_with_caching(studio, media):
    from PIL import Image
    import io

    reply = studio.get("/api/videos/1/frames/2?format=png")
    assert reply.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(reply.content))), clip().frames[2])  # lossless
    small = studio.get("/api/videos/1/frames/2?size=64")
    assert small.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(small.content)).size == (64, 64)
    again = studio.get("/api/videos/1/frames/2?size=64", headers={"If-None-Match": small.headers["etag"]})
    assert again.status_code == 304 and "max-age" in small.headers["cache-control"]


def test_objects_reviews_and_filters(studio):
    first = studio.post("/api/videos/1/objects", json={"name": "disc", "category": "toy", "colour": "#ff0000"})
    assert first.status_code == 201 and first.json()["object"]["obj_id"] == 1
    studio.post("/api/videos/1/objects", json={"obj_id": 5})
    renamed = studio.patch("/api/videos/1/objects/5", json={"name": "square", "version": 2})
    assert renamed.json()["object"]["name"] == "square" and renamed.json()["version"] == 3
    review = studio.post("/api/videos/1/objects/5/review", json={"status": "needs_fix", "reviewer": "kim",
                                                                 "note": "edge"})
    assert review.json()["object"]["review_status"] == "needs_fix"
    assert [o["obj_id"] for o in studio.get("/api/videos/1/objects?status=needs_fix").json()["objects"]] == [5]
    assert [o["obj_id"] for o in studio.get("/api/objects?status=unreviewed").json()["objects"]] == [1]
    deleted = studio.delete("/api/videos/1/objects/5")
    assert deleted.status_code == 200
    assert [o["obj_id"] for o in studio.get("/api/videos/1/objects").json()["objects"]] == [1]
    events = parse_sse(studio.get("/api/videos/1/events?limit=5").text)
    assert [e[1] for e in events] == ["object_created", "object_created", "object_updated", "review", "object_deleted"]
    assert [e[2]["version"] for e in events] == [1, 2, 3, 4, 5]
    since = parse_sse(studio.get(f"/api/videos/1/events?limit=1&since={events[3][0]}").text)
    assert since[0][1] == "object_deleted"  # a reconnecting client catches up from its last event


def test_clicks_propagation_undo_redo_equal_the_library(studio, media, nano):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    point = centre_click(c.masks[0, 0])
    reply = click(studio, point=point)
    assert reply.status_code == 200
    with samstream.VideoPredictor(nano).open(media["frames"]) as session:
        want = session.add_points(0, 1, [point], [1]).masks[0].numpy()
        want_prop = {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}
    assert np.array_equal(decode_rle(reply.json()["masks"]["1"]), want)
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 202
    assert wait_propagation(studio, 1)["status"] == "done"
    masks = stored_masks(studio, 1)
    for frame, mask in want_prop.items():
        assert np.array_equal(masks[(1, frame)], mask), frame
    events = [e for e in parse_sse(studio.get("/api/videos/1/events?limit=12").text) if e[1] == "frame"]
    assert [e[2]["frame"] for e in events] == list(range(8)) and events[-1][2]["done"] == 8
    assert np.array_equal(decode_rle(events[3][2]["masks"]["1"]), want_prop[3])

    neg = click(studio, frame=3, point=[2.0, 2.0], label=0)  # a correction on a later frame
    assert neg.status_code == 200 and np.array_equal(stored_masks(studio, 1)[(1, 3)], decode_rle(neg.json()["masks"]["1"]))
    undone = studio.post("/api/videos/1/undo", json={})
    assert undone.json()["changed"] and (1, 3) not in stored_masks(studio, 1)  # the prompt's mask went with it
    redone = studio.post("/api/videos/1/redo", json={})
    assert redone.json()["changed"] and redone.json()["frame"] == 3 and (1, 3) in stored_masks(studio, 1)
    assert studio.post("/api/videos/1/redo", json={}).json()["changed"] is False
    cleared = studio.post("/api/videos/1/clear", json={"obj_id": 1, "frame": 3})
    assert cleared.status_code == 200
    effort = studio.get("/api/videos/1/effort").json()["videos"][0]["objects"][0]
    assert (effort["clicks"], effort["prompted_frames"], effort["edited_frames"]) == (2, 1, 2)
    assert studio.get("/api/effort").json()["totals"]["clicks"] == 2


def test_undo_and_redo_of_a_correction_after_propagating_give_the_original_masks(studio, media, nano):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    point = centre_click(c.masks[0, 0])
    click(studio, point=point)
    studio.post("/api/videos/1/propagate", json={})
    assert wait_propagation(studio, 1)["status"] == "done"
    fix = [float(p) for p in centre_click(c.masks[5, 0])]
    corrected = click(studio, frame=5, point=fix, label=0).json()  # decided against the tracked frame 5
    first = decode_rle(corrected["masks"]["1"])
    with samstream.VideoPredictor(nano).open(media["frames"]) as session:
        session.add_points(0, 1, [point], [1])
        for _ in session.propagate():
            pass
        want = session.add_points(5, 1, [fix], [0]).masks[0].numpy()
        with samstream.VideoPredictor(nano).open(media["frames"]) as fresh:  # the same click without tracking
            fresh.add_points(0, 1, [point], [1])
            untracked = fresh.add_points(5, 1, [fix], [0]).masks[0].numpy()
    assert np.array_equal(first, want)
    assert not np.array_equal(want, untracked)  # the case matters: tracking changes the correction's result

    assert studio.post("/api/videos/1/undo", json={}).json()["changed"]
    redone = studio.post("/api/videos/1/redo", json={}).json()
    assert redone["frame"] == 5 and np.array_equal(decode_rle(redone["masks"]["1"]), first)
    assert np.array_equal(stored_masks(studio, 1)[(1, 5)], first)
    studio.app_state.studio.annotator.drop(1)  # an evicted session is rebuilt from the store the same way
    studio.post("/api/videos/1/undo", json={})
    again = studio.post("/api/videos/1/redo", json={}).json()
    assert np.array_equal(decode_rle(again["masks"]["1"]), first)


def test_backward_range_and_cancel(studio):
    studio.post("/api/videos/1/objects", json={})
    click(studio, frame=5, point=centre_click(clip().masks[5, 0]))
    reply = studio.post("/api/videos/1/propagate", json={"start": 5, "end": 2, "direction": "backward"})
    assert reply.json()["total"] == 4
    assert wait_propagation(studio, 1)["frames_done"] == 4
    frames = sorted(f for (_, f) in stored_masks(studio, 1))
    assert frames == [2, 3, 4, 5]
    studio.post("/api/videos/1/propagate", json={"direction": "both"})
    studio.post("/api/videos/1/propagate/cancel")
    assert wait_propagation(studio, 1)["status"] in ("cancelled", "done")


def test_undo_of_the_only_prompt_removes_its_mask(studio):
    studio.post("/api/videos/1/objects", json={})
    click(studio)
    assert (1, 0) in stored_masks(studio, 1)
    studio.post("/api/videos/1/undo", json={})
    assert stored_masks(studio, 1) == {}
    assert studio.post("/api/videos/1/propagate", json={}).status_code == 400  # nothing to track any more


def test_box_and_mask_prompts(studio):
    c = clip()
    studio.post("/api/videos/1/objects", json={})
    ys, xs = np.nonzero(c.masks[0, 0])
    box = studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0,
                                                     "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]})
    assert box.status_code == 200
    mask = studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 2, "mask": encode_rle(c.masks[2, 0])})
    assert mask.status_code == 200 and decode_rle(mask.json()["masks"]["1"]).any()


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


def test_upload_a_video(studio, media):
    data = media["video"].read_bytes()
    reply = studio.post("/api/videos?name=my clip.mp4", content=data)
    assert reply.status_code == 201, reply.text
    video = reply.json()
    assert (video["name"], video["num_frames"], video["height"]) == ("my_clip.mp4", 8, 128)
    assert studio.get(f"/api/videos/{video['id']}/frames/7?size=32").status_code == 200


def test_switch_model(studio):
    assert studio.post("/api/model", json={"model": "samstream-nano"}).json() == {"model": "samstream-nano"}
    assert studio.post("/api/model", json={"model": "/nonexistent/x.pt"}).status_code == 400
