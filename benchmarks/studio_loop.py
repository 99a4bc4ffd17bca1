"""The annotator's loop and the inference workers, timed over HTTP against a real studio server.

    python benchmarks/studio.py --scenario loop [--models nano,tiny@512,tiny@1024] [--video PATH] [--repeats 9]
    python benchmarks/studio.py --scenario workers [--repeats 15]

``loop`` (per model): on a real 768x576 clip (OpenCV's ``vtest.avi`` when Debian's ``opencv-doc`` is
installed, else a generated one), one object clicked on frame 0 and propagated; then, each repeated,
median and p95 of

* click: a click on a frame whose features are cached (a refinement);
* correction: a background click on a tracked frame (it becomes a prompted frame);
* undo and redo of that correction, and of a propagation run;
* first click after a restart (``kill -9``, a new server): the session is rebuilt from the store;
* first click after an eviction (a session budget of one video, two videos clicked in turn);
* one frame's encoding (the library's ``encode_image`` on this machine), for the targets: undo and
  redo no slower than a click; a first click after a restart within 2x a click plus one encoding.

Also counted (not timed): the object-frames each of these re-tracked, from ``GET /api/stats``.

``workers``: a click on video A while video B propagates, with ``--workers 1`` and ``--workers 2``, and
with B's worker killed mid-propagation (``--workers 2``): median and p95 of A's clicks.
``tiny`` is the SAM 2.1 tiny layout with random weights (saved as an official-format checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

from common import free_port, machine, table  # benchmarks/ is on sys.path (studio.py puts it there)

import samstream
from samstream.checkpoints import build_model, save_checkpoint
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.registry import get_variant
from samstream.video.frames.decode import write_video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def stats(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"{statistics.median(ms):.1f} / {ms[int(0.95 * (len(ms) - 1))]:.1f}"


class Server:
    def __init__(self, data: Path, model: str, extra: list[str]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "samstream.cli", "studio", str(data), "--port",
                                      str(self.port), "--model", model, "-q", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.c = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=3600)
        for _ in range(6000):
            try:
                if self.c.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("the studio server did not start")

    def timed(self, method: str, path: str, **kw: Any) -> tuple[float, dict]:
        t = time.perf_counter()
        reply = getattr(self.c, method)(path, **kw)
        elapsed = time.perf_counter() - t
        if reply.status_code >= 400:
            raise SystemExit(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return elapsed, reply.json()

    def tracked(self) -> int:
        return self.c.get("/api/stats").json()["frames_tracked"]

    def wait_run(self, video: int) -> dict:
        while True:
            prop = self.c.get(f"/api/videos/{video}/propagation").json()["propagation"]
            if prop["status"] != "running":
                return prop
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(120)


def clip_source(root: Path, video: str | None) -> tuple[Path, np.ndarray]:
    """The video and a foreground point on frame 0 (vtest.avi: a walking person; else a generated clip)."""
    if video is None and VTEST.is_file():
        video = str(VTEST)
    if video is not None:
        return Path(video), np.array([[285.0, 248.0], [302.0, 360.0], [560.0, 335.0]])  # people in vtest.avi
    clip = generate_clip(3, SyntheticConfig(size=576, num_frames=120, max_objects=2, exit_prob=0.0))
    write_video(root / "clip.mp4", clip.frames, 24)
    ys, xs = np.nonzero(clip.masks[0, 0])
    return root / "clip.mp4", np.array([[xs[len(xs) // 2], ys[len(ys) // 2]]], float)


def model_arg(name: str, root: Path) -> tuple[str, list[str], str]:
    """(--model value, extra server options, label) of ``nano``, ``tiny@SIZE``."""
    if name == "nano":
        return "samstream-nano", [], "samstream-nano (128)"
    size = int(name.split("@")[1])
    path = root / "tiny.pt"
    if not path.is_file():
        save_checkpoint(build_model(get_variant("sam2.1-tiny").config, device="cpu", seed=0), path)
    return str(path), ["--image-size", str(size)], f"SAM 2.1 tiny layout, random weights ({size})"


def encode_seconds(model_value: str, size: int | None, repeats: int = 3) -> float:
    model = samstream.load_model(model_value, device="cpu", image_size=size)
    image = torch.randn(1, 3, model.image_size, model.image_size)
    with torch.inference_mode():
        model.encode_image(image)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model.encode_image(image)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def loop_one(name: str, root: Path, video: Path, points: np.ndarray, repeats: int, frames: int) -> list[list[str]]:
    model, extra, label = model_arg(name, root)
    data = root / f"data-{name.replace('@', '-')}"
    subprocess.run([sys.executable, "-m", "samstream.cli", "studio", "add", str(data), str(video), "-q"], check=True)
    subprocess.run([sys.executable, "-m", "samstream.cli", "studio", "add", str(data), str(video), "--force", "-q"],
                   check=True)
    size = int(name.split("@")[1]) if "@" in name else None
    encode = encode_seconds(model, size)
    s = Server(data, model, extra)
    out: dict[str, list[float]] = {k: [] for k in ("click", "correction", "undo", "redo", "undo run", "redo run",
                                                   "restart", "eviction")}
    tracked: dict[str, int] = {}
    try:
        s.c.post("/api/videos/1/objects", json={})
        first = points[0].tolist()
        s.timed("post", "/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "points": [first], "labels": [1]})
        s.timed("post", "/api/videos/1/propagate", json={"until": frames - 1})
        s.wait_run(1)
        before = s.tracked()
        for _ in range(max(3, repeats // 3)):  # a whole propagation run, undone and redone
            for verb in ("undo", "redo"):
                t, reply = s.timed("post", f"/api/videos/1/{verb}", json={})
                assert reply["kind"] == "propagate", reply
                out[f"{verb} run"].append(t)
        tracked["undo/redo of a run"] = s.tracked() - before
        for i in range(repeats):  # refinements on frame 0 (cached features)
            t, _ = s.timed("post", "/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "labels": [1],
                                                                  "points": [(points[0] + [i % 3 - 1, 0]).tolist()]})
            out["click"].append(t)
        for i in range(repeats):  # a correction on a tracked frame, undone and redone
            f = 1 + i % (frames - 1)
            before = s.tracked()
            t, _ = s.timed("post", "/api/videos/1/prompts", json={"obj_id": 1, "frame": f, "labels": [0],
                                                                  "points": [[10.0 + i, 10.0]]})
            out["correction"].append(t)
            for verb in ("undo", "redo"):
                t, reply = s.timed("post", f"/api/videos/1/{verb}", json={})
                out[verb].append(t)
            tracked["correction, undo, redo"] = s.tracked() - before
            s.timed("post", "/api/videos/1/undo", json={})  # leave the tracking as it was
        # first click after an eviction: two videos in a budget of one
        s.stop()
        s = Server(data, model, [*extra, "--session-memory-mb", "1"])
        s.c.post("/api/videos/2/objects", json={})
        s.timed("post", "/api/videos/2/prompts", json={"obj_id": 1, "frame": 0, "points": [first], "labels": [1]})
        before = s.tracked()
        for i in range(max(3, repeats // 2)):
            for vid in (1, 2):
                f = 1 + (i * 2 + vid) % (frames - 1)
                t, _ = s.timed("post", f"/api/videos/{vid}/prompts", json={"obj_id": 1, "frame": f, "labels": [1],
                                                                        "points": [first]})
                out["eviction"].append(t)
                s.timed("post", f"/api/videos/{vid}/undo", json={})
        tracked["first clicks after eviction"] = s.tracked() - before
        for i in range(max(3, repeats // 2)):  # first click after a kill -9 and a restart
            s.kill()
            s = Server(data, model, extra)
            t, _ = s.timed("post", "/api/videos/1/prompts", json={"obj_id": 1, "frame": 1 + i % (frames - 1),
                                                                  "labels": [1], "points": [first]})
            out["restart"].append(t)
            tracked[f"first click after restart {i}"] = s.tracked()
            s.timed("post", "/api/videos/1/undo", json={})
    finally:
        s.stop()
    click = statistics.median(out["click"])
    rows = [[label, k, stats(v)] for k, v in out.items()]
    rows.append([label, "one frame's encoding (library)", f"{encode * 1000:.1f}"])
    rows.append([label, "targets", f"undo {statistics.median(out['undo']) / click:.2f}x and redo "
                 f"{statistics.median(out['redo']) / click:.2f}x a click (<= 1); restart "
                 f"{statistics.median(out['restart']) / (click + encode):.2f}x (click + encoding) (<= 2)"])
    rows.append([label, "object-frames re-tracked", json.dumps({k: v for k, v in tracked.items()
                                                                if not k.startswith("first click after restart ")}
                                                               | {"first clicks after restart": sum(
                                                                   v for k, v in tracked.items()
                                                                   if k.startswith("first click after restart "))})])
    return rows


def run_loop(models: list[str], video: str | None, repeats: int, frames: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="studio-loop-"))
    source, points = clip_source(root, video)
    rows: list[list[str]] = []
    for name in models:
        rows += loop_one(name, root, source, points, repeats, frames)
    print(f"studio annotator's loop on {source.name}, {frames} frames propagated, {repeats} repeats; {machine()}; "
          f"median / p95 in ms")
    print(table(rows, ["model", "measure", "median / p95 (ms)"]))


def run_workers(repeats: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="studio-workers-"))
    clip = generate_clip(0, SyntheticConfig(size=128, num_frames=400, max_objects=2, exit_prob=0.0))
    write_video(root / "clip.mp4", clip.frames, 24)
    ys, xs = np.nonzero(clip.masks[0, 0])
    point = [float(xs[len(xs) // 2]), float(ys[len(ys) // 2])]
    rows = []
    for workers, kill in ((1, False), (2, False), (2, True)):
        data = root / f"data-{workers}-{kill}"
        for force in ([], ["--force"]):
            subprocess.run([sys.executable, "-m", "samstream.cli", "studio", "add", str(data), str(root / "clip.mp4"),
                            "-q", *force], check=True)
        s = Server(data, "samstream-nano", ["--workers", str(workers)])
        try:
            for vid in (1, 2):
                s.c.post(f"/api/videos/{vid}/objects", json={})
                s.timed("post", f"/api/videos/{vid}/prompts", json={"obj_id": 1, "frame": 0, "points": [point],
                                                                  "labels": [1]})
            s.timed("post", "/api/videos/2/propagate", json={})
            times = []
            killed = threading.Event()
            for i in range(repeats):
                if kill and i == repeats // 3 and not killed.is_set():
                    pid = [w for w in s.c.get("/api/stats").json()["workers"] if 2 in w["videos"]][0]["pid"]
                    os.kill(pid, signal.SIGKILL)
                    killed.set()
                t, _ = s.timed("post", "/api/videos/1/prompts", json={"obj_id": 1, "frame": 0, "labels": [1],
                                                                      "points": [[point[0] + i % 3 - 1, point[1]]]})
                times.append(t)
            run = s.wait_run(2)
            while run["status"] == "interrupted":  # a killed worker's run is resumed by its new worker
                time.sleep(0.2)
                run = s.wait_run(2)
            rows.append([f"{workers} worker(s){', B killed mid-run' if kill else ''}", stats(times),
                         f"B: {run['status']} {run['frames_done']}/{run['total']} frames"])
        finally:
            s.stop()
    print(f"clicks on video A while video B propagates (samstream-nano, 400 frames); {machine()}")
    print(table(rows, ["workers", "A's clicks median / p95 (ms)", "B's run"]))
