"""``samstream batch auto`` / ``auto-video`` throughput: the local engine against Ray with 1 and 2 workers.

    python benchmarks/batch.py [--task auto|auto-video] [--images 16] [--image-hw 96,128]
                               [--points-per-side 8] [--frames 8] [--model samstream-nano] [--workers 1,2]

Each engine runs in a fresh process on the same generated items (a new output folder each time):
``--images`` images for ``auto``; for ``auto-video`` as many MP4 clips of ``--frames`` frames (a key
frame every 4, no overlay video, mask thresholds 0: samstream-nano's masks rarely pass 0.5, and a
clip without masklets would measure only decoding).
Figures: wall time of the job, items/s over the whole job and in the steady part (first result to
last), Ray's fixed start-up cost (``ray.init`` of a local cluster, then the time until the first
result minus one item: actors starting, importing torch and loading the model), and peak resident
memory: of the process for the local engine, of each Ray actor (VmHWM of its process, polled).
Each Ray actor gets one logical CPU, which Ray turns into one torch thread (OMP_NUM_THREADS=1); the
local engine runs with ``--local-threads`` torch threads (default 1, the same; on a loaded machine
more threads can be many times slower). On a small machine 2 actors compete for the same cores.
The closing paragraph is an estimate on paper for a multi-GPU cluster, from the measured per-item
time; it is not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, run_child, table  # noqa: E402


def _scene(rng: np.random.Generator, hw: tuple[int, int]) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """A noisy background and 4 flat coloured rectangles (corner, colour): something to segment."""
    img = rng.integers(40, 90, (*hw, 3), dtype=np.uint8)
    boxes = [(int(rng.integers(0, hw[0] * 3 // 4)), int(rng.integers(0, hw[1] * 3 // 4)), rng.integers(120, 255, 3))
             for _ in range(4)]
    return img, boxes


def _paint(img: np.ndarray, boxes: list, shift: int = 0) -> np.ndarray:
    out = img.copy()
    h, w = img.shape[:2]
    for y, x, colour in boxes:
        x = min(x + shift, w - w // 4)
        out[y : y + h // 4, x : x + w // 4] = colour
    return out


def _write_items(task: str, folder: Path, count: int, hw: tuple[int, int], frames: int) -> None:
    from PIL import Image

    from samstream.video.frames.decode import write_video

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        img, boxes = _scene(rng, hw)
        if task == "auto":
            Image.fromarray(_paint(img, boxes)).save(folder / f"img_{i:04d}.png")
        else:  # the rectangles move right by 2 pixels a frame
            write_video(folder / f"clip_{i:04d}.mp4", [_paint(img, boxes, 2 * t) for t in range(frames)], 24)


class _ActorMemory:
    """Peak resident memory (VmHWM, MB) of every Ray map-worker process, polled in a thread."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "_ActorMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    self._sample(int(pid))

    def _sample(self, pid: int) -> None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"MapWorker" not in cmdline and b"BatchWorker" not in cmdline:
                return
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
        except OSError:
            return  # the process ended


def child(args: argparse.Namespace) -> None:
    """One engine run; prints one JSON line."""
    import functools

    from samstream.batch import BatchJob, JobSpec, list_images, list_video_files, run_local, run_ray

    thresh = 0.5 if args.task == "auto" else 0.0
    generator = {"points_per_side": args.points_per_side, "pred_iou_thresh": thresh, "stability_score_thresh": thresh}
    if args.task == "auto":
        items = list_images([args.folder])
        spec = JobSpec("auto", args.out, args.model, "cpu", generator)
    else:
        items = list_video_files([args.folder])
        spec = JobSpec("auto-video", args.out, args.model, "cpu", {**generator, "keyframe_interval": 4},
                       video={"overlay": False})
    times: list[float] = []
    record: dict = {"engine": args.engine, "workers": args.workers}
    if args.engine == "local":
        import torch

        torch.set_num_threads(args.local_threads)
        engine = run_local
    else:
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=max(os.cpu_count() or 1, args.workers + 1), include_dashboard=False,
                 object_store_memory=256 * 1024**2, log_to_driver=False)
        record["ray_init_s"] = time.perf_counter() - start
        engine = functools.partial(run_ray, workers=args.workers, batch_size=1)
    memory = _ActorMemory()
    start = time.perf_counter()
    with memory:
        summary = BatchJob.open(spec, items).run(engine, on_result=lambda r: times.append(time.perf_counter()))
    wall = time.perf_counter() - start
    done_log = (Path(args.out) / "batch.done.jsonl").read_text().splitlines()
    per_item = [json.loads(line)["seconds"] for line in done_log]
    t_item = float(np.median(per_item))
    record.update(
        done=summary.done, failed=summary.failed, wall_s=wall, items_per_s=summary.done / wall,
        steady_items_per_s=(len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        first_result_s=times[0] - start, item_s=t_item,
        peak_mb=[round(v) for v in sorted(memory.peaks.values())] if args.engine == "ray" else [round(peak_rss_mb())])
    print(json.dumps(record))


def _rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        startup = r.get("ray_init_s", 0.0) + r["first_result_s"] - r["item_s"]  # local: the model load
        rows.append([r["engine"] if r["engine"] == "local" else f"ray, {r['workers']} worker(s)",
                     f"{r['done']} / {r['failed']}", f"{r['wall_s']:.1f}", f"{r['items_per_s']:.2f}", f"{r['steady_items_per_s']:.2f}",
                     f"{r['item_s']:.2f}", f"{startup:.1f}" if r["engine"] == "ray" else f"{max(0.0, startup):.1f} (model load)",
                     ", ".join(map(str, r["peak_mb"]))])
    return rows


def _estimate(results: list[dict], n: int) -> str:
    ray1 = next((r for r in results if r["engine"] == "ray" and r["workers"] == 1), None)
    if ray1 is None or n < 2:
        return ""
    t = ray1["item_s"]  # one item on one actor (one thread)
    per_result = (ray1["wall_s"] - ray1["first_result_s"]) / (n - 1)  # after the first result
    overhead = max(0.0, per_result - t)
    startup = ray1["ray_init_s"] + ray1["first_result_s"] - t
    gpu_t = t / 10
    rate8 = 8 / (gpu_t + overhead)
    return (
        "ESTIMATE (on paper, not measured): with W workers, one per GPU, a job of N items takes about "
        f"C + N * (t + o) / W. C is the fixed start-up cost (here {startup:.0f} s for a local cluster: ray.init, "
        "actors importing torch and loading the model; on a real cluster add copying the weights to each "
        f"node). t is one item's time on one worker (here {t:.3f} s on one CPU thread) and o Ray's per-item "
        f"overhead (here {overhead:.3f} s: {per_result:.3f} s per result after the first, minus t; results "
        "arrive in bunches, so this is coarse). The rate grows linearly in W while the driver records "
        "results faster than W / (t + o) per second and the shared file system keeps up; the driver's "
        "work per result is one JSON line, far below a millisecond. If a GPU ran an item 10x faster than "
        f"this CPU thread (t = {gpu_t:.3f} s; an assumption, not measured here), 8 GPUs would give about "
        f"{rate8:.0f} items/s, and a million items would take about {1e6 / rate8 / 3600:.1f} h after start-up."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("auto", "auto-video"), default="auto")
    parser.add_argument("--images", type=int, default=16, help="images (auto) or clips (auto-video)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (auto-video)")
    parser.add_argument("--image-hw", default="96,128")
    parser.add_argument("--points-per-side", type=int, default=8)
    parser.add_argument("--model", default="samstream-nano")
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray pool sizes")
    parser.add_argument("--local-threads", type=int, default=1, help="torch threads of the local engine")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.workers = int(args.workers)
        return child(args)
    hw = tuple(int(v) for v in args.image_hw.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "items"
        _write_items(args.task, folder, args.images, hw, args.frames)  # type: ignore[arg-type]
        common = ["--child", "--task", args.task, "--folder", str(folder), "--model", args.model,
                  "--points-per-side", str(args.points_per_side), "--local-threads", str(args.local_threads)]
        results = [run_child(Path(__file__), common + ["--engine", "local", "--workers", "1", "--out",
                                                        str(Path(tmp) / "local")])]
        for w in (int(v) for v in args.workers.split(",")):
            results.append(run_child(Path(__file__), common + ["--engine", "ray", "--workers", str(w), "--out",
                                                                str(Path(tmp) / f"ray{w}")]))
    what = "images" if args.task == "auto" else f"clips of {args.frames} frames"
    print(f"samstream batch {args.task}, {args.images} {what} of {hw[0]}x{hw[1]}, "
          f"{args.points_per_side}^2 points, {args.model}; {machine()}; local engine on {args.local_threads} thread(s)")
    print(table(_rows(results), ["engine", "done / failed", "wall s", "items/s", "steady items/s", "s/item (median)",
                                 "fixed start-up s", "peak RSS MB (per worker)"]))
    print()
    print(_estimate(results, args.images))


if __name__ == "__main__":
    main()
