"""Inference past one process: worker processes (``--workers 2``) and Ray actors.

A real server with two worker processes on loopback: videos pinned to different workers, a click on
one video answered while another video propagates on the other worker, a worker killed mid-propagation
started again and its run resumed from the frame after the last one stored (same masks as an
uninterrupted run, nothing tracked twice), and a bounded load of eight annotators. Then the same
model work through Ray actors of a real local Ray cluster.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import samstream
from samstream.data.synthetic import SyntheticConfig, generate_clip
from tests.studio.conftest import centre_click, write_frames
from tests.studio.helpers import stored_masks, wait_propagation
from tests.studio.test_server import Server, cli

FRAMES = 40


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    c = generate_clip(0, SyntheticConfig(size=128, num_frames=FRAMES, max_objects=2, exit_prob=0.0))
    write_frames(root / "frames", c.frames)
    return root, c


def library_run(nano, folder, point) -> dict[int, np.ndarray]:
    with samstream.VideoPredictor(nano).open(folder) as session:
        session.add_points(0, 1, [point], [1])
        return {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}


def wait_status(client, video_id: int, status: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prop = client.get(f"/api/videos/{video_id}/propagation").json()["propagation"]
        if prop is not None and prop["status"] == status:
            return prop
        time.sleep(0.05)
    raise AssertionError(f"the propagation of video {video_id} did not become {status!r}")


def test_two_worker_processes_a_killed_one_resumes_and_eight_annotators_are_all_answered(long_clip, nano):
    root, c = long_clip
    data = root / "data"
    assert cli("studio", "add", str(data), *[str(root / "frames")] * 1).returncode == 0
    for _ in range(7):
        assert cli("studio", "add", str(data), str(root / "frames"), "--force").returncode == 0
    server = Server(data, extra=["--workers", "2"])
    try:
        s = server.client
        point = centre_click(c.masks[0, 0])
        for vid in range(1, 9):
            s.post(f"/api/videos/{vid}/objects", json={})
        for vid in (1, 2):
            assert s.post(f"/api/videos/{vid}/prompts", json={"obj_id": 1, "frame": 0, "points": [point],
                                                              "labels": [1]}).status_code == 200
        workers = s.get("/api/stats").json()["workers"]
        assert [w["videos"] for w in workers] == [[1], [2]]  # pinned apart, the least loaded first

        # video 1 propagates on worker 0; a click on video 2 (worker 1) is answered meanwhile
        s.post("/api/videos/1/propagate", json={})
        wait_status(s, 1, "running")
        reply = s.post("/api/videos/2/prompts", json={"obj_id": 1, "frame": 5, "labels": [1],
                                                      "points": [centre_click(c.masks[5, 0])]})
        prop = s.get("/api/videos/1/propagation").json()["propagation"]
        assert reply.status_code == 200 and prop["status"] == "running" and prop["frames_done"] < FRAMES

        # worker 0 dies mid-propagation: started again, the run goes on from the last stored frame
        while s.get("/api/videos/1/propagation").json()["propagation"]["frames_done"] < 5:
            time.sleep(0.01)
        acknowledged = stored_masks(s, 1)
        os.kill(workers[0]["pid"], signal.SIGKILL)
        done = wait_status(s, 1, "done")
        after = s.get("/api/stats").json()["workers"][0]
        assert after["restarts"] == 1 and after["pid"] != workers[0]["pid"]
        masks = stored_masks(s, 1)
        assert all(np.array_equal(masks[k], m) for k, m in acknowledged.items())  # nothing acknowledged lost
        want = library_run(nano, root / "frames", point)
        assert all(np.array_equal(masks[(1, f)], want[f]) for f in range(FRAMES))  # as if never interrupted
        left = FRAMES - len(acknowledged)  # frames the dead worker had not stored
        assert done["frames_done"] == FRAMES and 0 < after["frames_tracked"] <= left

        # load: eight annotators clicking on eight videos (two workers) while two propagations run
        s.post("/api/videos/1/propagate", json={})
        s.post("/api/videos/2/propagate", json={"start": 5})
        replies: dict[int, list[int]] = {}

        def annotate(vid: int) -> None:
            import httpx

            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120) as client:
                for frame in (10, 15, 20, 25, 30):
                    r = client.post(f"/api/videos/{vid}/prompts",
                                    json={"obj_id": 1 if vid > 2 else 2, "frame": frame, "labels": [1],
                                          "points": [centre_click(c.masks[frame, 0])]})
                    replies.setdefault(vid, []).append(r.status_code)

        for vid in (1, 2):
            s.post(f"/api/videos/{vid}/objects", json={})  # object 2 of the propagating videos
        threads = [threading.Thread(target=annotate, args=(vid,)) for vid in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        assert {vid: codes for vid, codes in replies.items()} == {vid: [200] * 5 for vid in range(1, 9)}
        for vid in range(1, 9):  # every click answered is stored, as a prompt of its object
            rows = s.get(f"/api/videos/{vid}/masks?obj_id={1 if vid > 2 else 2}").json()["masks"]
            assert {r["frame"] for r in rows if r["source"] == "prompt"} >= {10, 15, 20, 25, 30}
        for vid in (1, 2):
            assert wait_propagation(s, vid)["status"] == "done"
    finally:
        server.stop()


def test_ray_actors_track_as_the_library_and_a_killed_actor_resumes(long_clip, nano, tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray (pip install 'samstream[ray]')")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from samstream.studio.app import create_app
    from samstream.studio.service import Settings, add_video

    root, c = long_clip
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    try:
        app = create_app(Settings(data_dir=tmp_path / "data", engine="ray", workers=2))
        with TestClient(app) as s:
            studio = app.app.state.studio
            for _ in range(2):
                add_video(studio.store, studio.data_dir, root / "frames", "clip.png", force=True)
            point = centre_click(c.masks[0, 0])
            for vid in (1, 2):
                s.post(f"/api/videos/{vid}/objects", json={})
                assert s.post(f"/api/videos/{vid}/prompts", json={"obj_id": 1, "frame": 0, "points": [point],
                                                                  "labels": [1]}).status_code == 200
            s.post("/api/videos/1/propagate", json={})
            s.post("/api/videos/2/propagate", json={})
            while s.get("/api/videos/1/propagation").json()["propagation"]["frames_done"] < 5:
                time.sleep(0.01)
            studio.pool.for_video(1).kill()  # Ray starts the actor again; its run goes on
            want = library_run(nano, root / "frames", point)
            for vid in (1, 2):
                assert wait_status(s, vid, "done")["frames_done"] == FRAMES
                masks = stored_masks(s, vid)
                assert all(np.array_equal(masks[(1, f)], want[f]) for f in range(FRAMES))
            assert studio.pool.for_video(1).restarts == 1
    finally:
        ray.shutdown()
