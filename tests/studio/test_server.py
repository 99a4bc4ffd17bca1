"""A real studio server process on loopback: annotate over HTTP, export, score, kill -9, restart, resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import samstream
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.eval.sav import evaluate_sav
from samstream.io.masks import write_object_pngs
from samstream.io.rle import decode_rle
from tests.studio.conftest import centre_click, clip, write_frames
from tests.studio.helpers import parse_sse, stored_masks, wait_propagation

FRAMES = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "samstream.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


class Server:
    """``python -m samstream studio DATA_DIR --port P [--host H --token T]`` as a child process; its
    ``client`` speaks to it at 127.0.0.1 (with the token, when there is one)."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str | None = None,
                 token: str | None = None, extra: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.port = free_port() if port is None else port
        self.token = token
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        extra = [*(["--host", host] if host else []), *(["--token", token] if token else []), *(extra or [])]
        self.proc = subprocess.Popen([sys.executable, "-m", "samstream.cli", "studio", str(data_dir), "--port",
                                      str(self.port), *extra], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120, headers=headers)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.client.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.client.close()


def stream_until_done(port: int, video_id: int, since: int, out: list, ready: threading.Event) -> None:
    """Collect a video's events after ``since`` until its propagation finishes."""
    with httpx.stream("GET", f"http://127.0.0.1:{port}/api/videos/{video_id}/events?since={since}",
                      timeout=120) as reply:
        buf = ""
        for chunk in reply.iter_text():
            ready.set()
            buf += chunk
            *blocks, buf = buf.split("\n\n")
            for event in parse_sse("\n\n".join(blocks) + "\n\n"):
                out.append(event)
                if event[1] in ("propagation_done", "propagation_failed"):
                    return


def sav_pngs(root: Path, video: str, masks: dict[int, np.ndarray], stride: int = 4) -> Path:
    """One object's masks (frame -> (H, W) bool) in SA-V's PNG layout, every ``stride``-th frame."""
    for frame in range(0, FRAMES, stride):
        write_object_pngs(root / video, f"{frame:05d}", [0], masks[frame][None].astype(np.uint8))
    return root


LONG = 40  # frames of the clip whose propagation is killed midway


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    c = clip(frames=FRAMES)
    write_frames(root / "walk", c.frames)
    long = generate_clip(0, SyntheticConfig(size=128, num_frames=LONG, max_objects=2, exit_prob=0.0))
    write_frames(root / "long", long.frames)
    return root, c, long


def test_add_creates_a_data_dir_only_where_it_may_and_asks_before_adding_a_file_twice(clip_dir, tmp_path):
    root, _, _ = clip_dir
    data = tmp_path / "data"
    added = cli("studio", "add", str(data), str(root / "walk"))
    assert added.returncode == 0 and "created the data dir" in added.stderr
    twice = cli("studio", "add", str(data), str(root / "walk"))
    assert twice.returncode == 2 and "--force" in twice.stderr and len(twice.stderr.strip().splitlines()) == 1
    assert cli("studio", "add", str(data), str(root / "walk"), "--force").returncode == 0
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine\n")
    refused = cli("studio", "add", str(other), str(root / "walk"))
    assert refused.returncode == 2 and "other files" in refused.stderr
    assert sorted(p.name for p in other.iterdir()) == ["todo.txt"]  # nothing written into someone's folder
    for action in ("export", "import"):
        args = [str(other)] + (["1", str(root / "walk")] if action == "import" else [])
        nope = cli("studio", action, *args)
        assert nope.returncode == 2 and "not a studio data dir" in nope.stderr
        assert nope.stderr.count("\n") == 1 and "Traceback" not in nope.stderr
    assert sorted(p.name for p in other.iterdir()) == ["todo.txt"]
    for action, option in (("add", "--force"), ("export", "--accepted-only"), ("import", "--stride")):
        helped = cli("studio", action, "--help")
        assert helped.returncode == 0 and option in helped.stdout


def test_annotate_export_score_over_http_then_kill_and_resume(clip_dir, nano):
    root, c, long = clip_dir
    data = root / "data"
    added = cli("studio", "add", str(data), str(root / "walk"), str(root / "long"), "--jsonl")
    assert added.returncode == 0, added.stderr
    server = Server(data)
    try:
        s = server.client
        assert s.post("/api/videos/1/objects", json={"name": "thing"}).status_code == 201
        first, fix = centre_click(c.masks[0, 0]), [2.0, 2.0]
        s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [first], "labels": [1]})
        events: list = []
        ready = threading.Event()
        since = s.get("/api/videos/1").json()["last_event_id"]
        reader = threading.Thread(target=stream_until_done, args=(server.port, 1, since, events, ready))
        reader.start()
        ready.wait(30)
        assert s.post("/api/videos/1/propagate", json={}).status_code == 202
        reader.join(120)
        frames = [e[2] for e in events if e[1] == "frame"]
        assert [f["frame"] for f in frames] == list(range(FRAMES))  # streamed live, in order, with progress
        assert [f["done"] for f in frames] == list(range(1, FRAMES + 1)) and frames[-1]["fps"] > 0
        s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 6, "points": [fix], "labels": [0]})
        s.post("/api/videos/1/propagate", json={})
        wait_propagation(s, 1)
        export = s.post("/api/videos/1/export", json={"format": "sav"}).json()
        assert "sav/walk_manual.json" in export["files"]
        doc = s.get("/api/exports/sav/walk_manual.json").json()
        assert doc["masklet_num"] == 1 and len(doc["masklet"]) == 2  # frames 0 and 4

        # the library, same prompts in the same order
        with samstream.VideoPredictor(nano).open(root / "walk") as session:
            session.add_points(0, 1, [first], [1])
            list(session.propagate())
            session.add_points(6, 1, [fix], [0], clear_old=False)
            library = {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}
        gt = sav_pngs(root / "gt", "walk", {f: c.masks[f, 0] for f in range(FRAMES)})
        lib = sav_pngs(root / "lib", "walk", library)
        scored = cli("eval", "sav", str(gt), str(data / "exports" / "sav" / "Annotations_6fps"), "--jsonl",
                     "--keep-first-last")
        assert scored.returncode == 0, scored.stderr
        served = json.loads(scored.stdout.splitlines()[-1])["J&F"]
        assert served == pytest.approx(evaluate_sav(lib, gt, keep_first_last=True).jf, abs=1e-9)

        # video 2 (40 frames): one click, a propagation killed midway
        long_click = centre_click(long.masks[0, 0])
        s.post("/api/videos/2/objects", json={})
        s.post("/api/videos/2/prompts", json={"obj_id": 1, "frame": 0, "points": [long_click], "labels": [1]})
        s.post("/api/videos/2/propagate", json={})
        deadline = time.monotonic() + 120
        while s.get("/api/videos/2/propagation").json()["propagation"]["frames_done"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        acknowledged = stored_masks(s, 2)
        server.kill()

        server = Server(data)
        s = server.client
        prop = s.get("/api/videos/2/propagation").json()["propagation"]
        assert prop["status"] == "interrupted" and 3 <= prop["frames_done"] < LONG
        after = stored_masks(s, 2)
        assert all(np.array_equal(after[k], m) for k, m in acknowledged.items())  # nothing acknowledged lost
        assert [o["name"] for o in s.get("/api/videos/1/objects").json()["objects"]] == ["thing"]
        assert np.array_equal(stored_masks(s, 1)[(1, 4)], library[4])  # video 1 intact
        resumed_reply = s.post("/api/videos/2/propagate/resume")
        assert resumed_reply.status_code == 202 and resumed_reply.json()["frames_done_before"] == prop["frames_done"]
        done = wait_propagation(s, 2)
        assert done["status"] == "done" and done["frames_done"] == LONG and done["id"] == prop["id"]
        # it went on from the frame after the last one stored: nothing was tracked twice
        assert s.get("/api/stats").json()["frames_tracked"] == LONG - prop["frames_done"]
        with samstream.VideoPredictor(nano).open(root / "long") as session:
            session.add_points(0, 1, [long_click], [1])
            want = {r.frame_idx: r.masks[0].numpy() for r in session.propagate()}
        resumed = stored_masks(s, 2)
        assert all(np.array_equal(resumed[(1, f)], want[f]) for f in range(LONG))  # as if never interrupted
        # one undo takes back the whole run, both halves
        assert s.post("/api/videos/2/undo", json={}).json()["kind"] == "propagate"
        assert sorted(stored_masks(s, 2)) == [(1, 0)]
        assert not list((data / "exports").rglob(".*.tmp"))
    finally:
        server.stop()


def test_kill_during_a_correction_keeps_or_drops_it_whole(clip_dir, tmp_path):
    root, c, _ = clip_dir
    data = tmp_path / "data"
    assert cli("studio", "add", str(data), str(root / "walk")).returncode == 0
    server = Server(data)
    try:
        s = server.client
        s.post("/api/videos/1/objects", json={})
        s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [centre_click(c.masks[0, 0])],
                                              "labels": [1]})
        s.post("/api/videos/1/propagate", json={})
        wait_propagation(s, 1)
        before = stored_masks(s, 1)
        acked = s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 3, "labels": [0],
                                                      "points": [centre_click(c.masks[3, 0])]}).json()
        in_flight = threading.Thread(target=lambda: _post_quietly(server.port, {"obj_id": 1, "frame": 5,
                                     "points": [centre_click(c.masks[5, 0])], "labels": [0]}))
        in_flight.start()
        time.sleep(0.05)
        server.kill()
        in_flight.join(30)
        server = Server(data)
        s = server.client
        masks = stored_masks(s, 1)
        assert np.array_equal(masks[(1, 3)], decode_rle(acked["masks"]["1"]))  # acknowledged: kept
        obj = s.get("/api/videos/1/objects").json()["objects"][0]
        five = s.get("/api/videos/1/masks/5").json()
        if obj["version"] == acked["version"]:  # the click in flight left nothing
            assert np.array_equal(masks[(1, 5)], before[(1, 5)]) and five["sources"]["1"] == "propagated"
        else:  # or all of it: its mask, its prompt and its action
            assert obj["version"] == acked["version"] + 1 and five["sources"]["1"] == "prompt"
        again = s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 6, "labels": [1],
                                                      "points": [centre_click(c.masks[6, 0])]})
        assert again.status_code == 200  # the video works on, from what was kept
    finally:
        server.stop()


def _post_quietly(port: int, body: dict) -> None:
    try:
        httpx.post(f"http://127.0.0.1:{port}/api/videos/1/prompts", json=body, timeout=30)
    except httpx.HTTPError:
        pass  # the server died under it: the point of the test


def test_the_core_loop_on_a_real_server(clip_dir, tmp_path):
    """Over HTTP against a server process: a correction sticks and propagates locally; undo and redo
    give back exactly the earlier masks; after a kill -9 the first click re-tracks nothing."""
    root, _, long = clip_dir
    data = tmp_path / "data"
    assert cli("studio", "add", str(data), str(root / "long")).returncode == 0
    server = Server(data)
    try:
        s = server.client
        for obj in (1, 2):
            s.post("/api/videos/1/objects", json={})
            s.post("/api/videos/1/prompts", json={"obj_id": obj, "frame": 0, "labels": [1],
                                                  "points": [centre_click(long.masks[0, obj - 1])]})
        s.post("/api/videos/1/propagate", json={})
        wait_propagation(s, 1)
        before = stored_masks(s, 1)
        fix = s.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 20, "labels": [0],
                                                    "points": [centre_click(long.masks[20, 0])]}).json()
        tracked = s.get("/api/stats").json()["frames_tracked"]
        s.post("/api/videos/1/propagate", json={"start": 20, "obj_ids": [1], "until": "next_prompt"})
        wait_propagation(s, 1)
        assert s.get("/api/stats").json()["frames_tracked"] - tracked == LONG - 21  # only after the correction
        local = stored_masks(s, 1)
        assert np.array_equal(local[(1, 20)], decode_rle(fix["masks"]["1"]))
        assert all(np.array_equal(local[k], m) for k, m in before.items() if k[0] == 2 or k[1] < 20)
        s.post("/api/videos/1/propagate", json={})  # from the start, both objects: the correction stays
        wait_propagation(s, 1)
        assert np.array_equal(stored_masks(s, 1)[(1, 20)], decode_rle(fix["masks"]["1"]))
        for _ in range(3):
            s.post("/api/videos/1/undo", json={})
        assert all(np.array_equal(stored_masks(s, 1)[k], m) for k, m in before.items())
        for _ in range(2):
            s.post("/api/videos/1/redo", json={})
        assert all(np.array_equal(stored_masks(s, 1)[k], m) for k, m in local.items())
        server.kill()
        server = Server(data)
        s = server.client
        first = s.post("/api/videos/1/prompts", json={"obj_id": 2, "frame": 15, "labels": [1],
                                                      "points": [centre_click(long.masks[15, 1])]})
        stats = s.get("/api/stats").json()
        assert first.status_code == 200 and (stats["frames_tracked"], stats["images_encoded"]) == (0, 1)
    finally:
        server.stop()
