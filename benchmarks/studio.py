"""The studio server against the library it serves: click latency, streamed propagation, memory, 4 clients.

    python benchmarks/studio.py [--model samstream-nano] [--size 256] [--frames 24] [--clicks 15]
                                [--long-frames 2000] [--clients 4]
    python benchmarks/studio.py --scenario loop      # the annotator's loop: click, correction, undo, redo,
                                                     # first click after a restart and after an eviction
    python benchmarks/studio.py --scenario workers   # clicks while another video propagates, 1 or 2 workers

The default scenario (``overhead``):

A real server process (``python -m samstream.cli studio DATA_DIR``) on loopback, driven over HTTP:

* click-to-mask: the round trip of ``POST /prompts`` (parse, the worker's ``add_points``, RLE, SQLite
  commit, JSON) against ``VideoSession.add_points`` on the same frame and click in this process;
* propagation: frames per second seen by a client reading the event stream (from the request to the
  ``propagation_done`` event) against ``VideoSession.propagate`` in this process;
* memory: the server's resident memory while it propagates a ``--long-frames`` video (sampled);
* ``--clients`` clients, each on its own video, clicking at once: latency median and p95.

The two sides run one after the other, never at once, each in a fresh process. Figures from a loaded machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, machine, table  # noqa: E402

import samstream  # noqa: E402
from samstream.data.synthetic import SyntheticConfig, generate_clip  # noqa: E402
from samstream.video.frames.decode import write_video  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(data: Path, model: str) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "samstream.cli", "studio", str(data), "--port", str(port),
                             "--model", model, "-q"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
    for _ in range(1200):
        try:
            if client.get("/api/health").status_code == 200:
                return proc, client
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the studio server did not start")


def clicks_for(mask: np.ndarray, n: int) -> list[list[float]]:
    ys, xs = np.nonzero(mask)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(xs), n)
    return [[float(xs[i]), float(ys[i])] for i in picks]


def click_latency(client: httpx.Client, video_id: int, points: list[list[float]],
                  model_times: list[float] | None = None) -> list[float]:
    """Round trips of single clicks (each replacing the last); the server's model time goes to ``model_times``."""
    times = []
    for p in points:
        t = time.perf_counter()
        reply = client.post(f"/api/videos/{video_id}/prompts",
                            json={"obj_id": 1, "frame": 0, "points": [p], "labels": [1], "clear_old": True})
        times.append(time.perf_counter() - t)
        reply.raise_for_status()
        if model_times is not None:
            model_times.append(reply.json()["model_ms"] / 1000)
    return times


def streamed_propagation(client: httpx.Client, video_id: int) -> tuple[float, int]:
    """Seconds from the request to the last frame event read by a client, and frames received."""
    since = client.get(f"/api/videos/{video_id}").json()["last_event_id"]
    received, t0 = [], time.perf_counter()
    client.post(f"/api/videos/{video_id}/propagate", json={}).raise_for_status()
    with client.stream("GET", f"/api/videos/{video_id}/events?since={since}") as reply:
        for line in reply.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                if kind == "frame":
                    received.append(time.perf_counter())
                if kind.startswith("propagation_") and kind != "propagation_started":
                    break
    return received[-1] - t0, len(received)


def library_side(video: str, model_name: str, points: list[list[float]]) -> None:
    """Child process: the library's click times and propagation time on ``video``, as one JSON line."""
    model = samstream.load_model(model_name, device="cpu")
    with samstream.VideoPredictor(model).open(video) as session:
        session.add_points(0, 1, [points[0]], [1])  # warm-up
        clicks = []
        for p in points:
            t = time.perf_counter()
            session.add_points(0, 1, [p], [1])
            clicks.append(time.perf_counter() - t)
        t = time.perf_counter()
        frames = sum(1 for _ in session.propagate())
        print(json.dumps({"clicks": clicks, "frames": frames, "seconds": time.perf_counter() - t}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=None, help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--points", default="[]", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="samstream-nano")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--clicks", type=int, default=15)
    ap.add_argument("--long-frames", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--scenario", default="overhead", choices=("overhead", "loop", "workers"))
    ap.add_argument("--models", default="nano,tiny@512,tiny@1024", help="loop: models (nano, tiny@SIZE)")
    ap.add_argument("--video", default=None, help="loop: the clip (default: vtest.avi when installed)")
    ap.add_argument("--repeats", type=int, default=9, help="loop, workers: repetitions of each measure")
    ap.add_argument("--propagate", type=int, default=8, help="loop: frames propagated before the measures")
    args = ap.parse_args()
    if args.library:
        return library_side(args.library, args.model, json.loads(args.points))
    if args.scenario == "loop":
        from studio_loop import run_loop  # noqa: PLC0415  (benchmarks/ is on sys.path)

        return run_loop(args.models.split(","), args.video, args.repeats, args.propagate)
    if args.scenario == "workers":
        from studio_loop import run_workers  # noqa: PLC0415

        return run_workers(args.repeats)

    root = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    clip = generate_clip(3, SyntheticConfig(size=args.size, num_frames=args.frames, max_objects=2, exit_prob=0.0))
    write_video(root / "clip.mp4", clip.frames, 24)
    long = np.concatenate([clip.frames] * (args.long_frames // args.frames + 1))[: args.long_frames]
    write_video(root / "long.mp4", long, 24)
    data = root / "data"
    videos = [root / "clip.mp4"] * (1 + args.clients) + [root / "long.mp4"]
    # the same clip for each client: the first `add` makes the data dir, the next ones must --force
    subprocess.run([sys.executable, "-m", "samstream.cli", "studio", "add", str(data), str(videos[0]), "-q"],
                   check=True)
    subprocess.run([sys.executable, "-m", "samstream.cli", "studio", "add", str(data), *map(str, videos[1:]), "-q",
                    "--force"], check=True)
    points = clicks_for(clip.masks[0, 0], args.clicks)

    # the library on its own, in a fresh process like the server's
    lib = json.loads(subprocess.run([sys.executable, __file__, "--library", str(root / "clip.mp4"), "--model",
                                     args.model, "--points", json.dumps(points)], check=True, capture_output=True,
                                    text=True).stdout.splitlines()[-1])
    lib_click, n_lib, lib_prop = lib["clicks"], lib["frames"], lib["seconds"]

    proc, client = start_server(data, args.model)
    try:
        client.post("/api/videos/1/objects", json={}).raise_for_status()
        click_latency(client, 1, points[:1])  # warm-up: opens the session
        server_model: list[float] = []
        http_click = click_latency(client, 1, points, server_model)
        stream_s, n_stream = streamed_propagation(client, 1)

        # clients at once, each on its own video
        per_client: list[list[float]] = [[] for _ in range(args.clients)]

        def run(k: int) -> None:
            with httpx.Client(base_url=str(client.base_url), timeout=600) as c:
                c.post(f"/api/videos/{k + 2}/objects", json={}).raise_for_status()
                per_client[k] = click_latency(c, k + 2, points)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        together = sorted(t for ts in per_client for t in ts)

        long_id = len(videos)
        client.post(f"/api/videos/{long_id}/objects", json={}).raise_for_status()
        click_latency(client, long_id, points[:1])
        rss = [rss_mb(proc.pid)]
        client.post(f"/api/videos/{long_id}/propagate", json={}).raise_for_status()
        while True:
            prop = client.get(f"/api/videos/{long_id}/propagation").json()["propagation"]
            rss.append(rss_mb(proc.pid))
            if prop["status"] != "running":
                break
            time.sleep(1.0)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    med = statistics.median
    overhead_ms = (med(http_click) - med(lib_click)) * 1000
    same_request_ms = med([h - m for h, m in zip(http_click, server_model)]) * 1000
    p95 = together[int(0.95 * (len(together) - 1))]
    rows = [
        ["click to mask, median (ms)", f"{med(lib_click) * 1000:.1f}", f"{med(http_click) * 1000:.1f}",
         f"overhead {overhead_ms:+.1f} ms; in the same request {same_request_ms:.1f} ms "
         f"(model {med(server_model) * 1000:.1f} ms; target <= 30)"],
        ["propagation (frames/s)", f"{n_lib / lib_prop:.2f}", f"{n_stream / stream_s:.2f}",
         f"{(n_stream / stream_s) / (n_lib / lib_prop):.2f}x (target >= 0.9x)"],
        [f"{args.clients} clients clicking at once (ms)", "", f"median {med(together) * 1000:.1f}, p95 {p95 * 1000:.1f}",
         f"{len(together)} clicks, all answered"],
        [f"server RSS over a {args.long_frames}-frame propagation (MB)", "",
         f"start {rss[0]:.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}", f"{prop['frames_done']} frames, {prop['status']}"],
    ]
    print(f"studio benchmark, {args.model}, {args.size}x{args.size}, {args.frames} frames, {machine()}")
    print(table(rows, ["measure", "library", "studio over HTTP", "note"]))
    print(json.dumps({"click_lib_ms": med(lib_click) * 1000, "click_http_ms": med(http_click) * 1000,
                      "click_overhead_same_request_ms": same_request_ms,
                      "prop_lib_fps": n_lib / lib_prop, "prop_stream_fps": n_stream / stream_s,
                      "clients_median_ms": med(together) * 1000, "clients_p95_ms": p95 * 1000,
                      "rss_mb": rss, "os_cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
