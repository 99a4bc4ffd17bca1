"""GPU speed of samstream against the reference ``sam2==1.1.0`` in one run on one card.

    python benchmarks/gpu.py [--json benchmarks/gpu_results.json] [--budget-s 450]
    python benchmarks/gpu.py --smoke            # CPU, tiny sizes: checks that the script runs

One table (stdout, and the same rows in a JSON file): video frames/s for tiny, small, base+ and large
(random weights, 1024 input, a 200-frame synthetic 480x640 video, 1 and 16 objects clicked on frame
0) for samstream float32 / bfloat16 / bfloat16+compile and the reference (``vos_optimized=True``,
bfloat16 autocast, as its own benchmark runs it), with peak GPU memory; bfloat16-vs-float32 parity
(mask IoU and object-score signs, one object); automatic mask generation images/s for tiny and large
against the reference's generator; the stream tracker's memory at a quarter and at the end of the
video. Hole filling is off on both sides (the reference's needs its CUDA extension).

Compiling costs a minute or two per model and side, so by default only tiny and large are compiled
(``--compile-all`` for all four); rows that would pass ``--budget-s`` are reported as skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402

import samstream  # noqa: E402
from samstream.files import write_json  # noqa: E402
from samstream.model.runtime import RuntimeOptions  # noqa: E402

CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
HEADER = ["model", "objects", "side", "frames/s", "peak GPU MiB", "note"]


@dataclass
class Sizes:
    image_size: int
    frames: int
    hw: tuple[int, int]
    objects: tuple[int, ...]
    amg_images: int
    amg_points: int
    warmup_frames: int


FULL = Sizes(1024, 200, (480, 640), (1, 16), 3, 32, 12)
SMOKE = Sizes(128, 6, (96, 128), (1, 3), 1, 4, 2)


class Clock:
    """The run's time budget: rows that would start after it are skipped."""

    def __init__(self, budget_s: float) -> None:
        self.start, self.budget = time.perf_counter(), budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device.type == "cuda" else "-"


def write_video(folder: Path, sizes: Sizes) -> Path:
    """JPEG frames 0.jpg ... with 16 coloured discs drifting over a textured background."""
    h, w = sizes.hw
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([80 + 30 * np.sin(xx / 9.0), 100 + 30 * np.cos(yy / 7.0), 90 + 0 * xx], -1)
    colours = rng.integers(40, 255, (16, 3))
    for t in range(sizes.frames):
        img = base + rng.normal(0, 6, base.shape)
        for k, (cy, cx) in enumerate(object_points(sizes, 16)):
            img[(yy - cy - t % 20) ** 2 + (xx - cx - t % 30) ** 2 < (min(h, w) // 24) ** 2] = colours[k]
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{t}.jpg", quality=90)
    return folder


def object_points(sizes: Sizes, n: int) -> list[tuple[int, int]]:
    """(y, x) of the i-th disc: a 4x4 grid over the frame."""
    h, w = sizes.hw
    return [(h * (1 + i // 4) // 5, w * (1 + i % 4) // 5) for i in range(n)]


# ------------------------------------------------------------------ samstream
def ours_video(model, folder: Path, sizes: Sizes, objects: int, memory_dtype: torch.dtype,
               keep: bool = False) -> tuple[float, list]:
    """frames/s of a propagation (after a warm-up session), and per frame (masks, scores) if ``keep``."""
    predictor = samstream.VideoPredictor(model, fill_hole_area=0, memory_dtype=memory_dtype)
    kept: list = []
    with torch.inference_mode(), predictor.open(folder) as s:  # warm-up: compiles, cudnn autotuning
        for k, (y, x) in enumerate(object_points(sizes, objects)):
            s.add_points(0, k + 1, [[x, y]], [1])
        for _ in s.propagate(max_frames=sizes.warmup_frames):
            pass
    with torch.inference_mode(), predictor.open(folder) as s:  # the timed run
        for k, (y, x) in enumerate(object_points(sizes, objects)):
            s.add_points(0, k + 1, [[x, y]], [1])
        sync(model.device)
        start = time.perf_counter()
        for r in s.propagate():
            if keep:
                kept.append((r.masks.cpu(), r.object_scores.cpu()))
        sync(model.device)
    return sizes.frames / (time.perf_counter() - start), kept


def parity(f32: list, bf16: list) -> str:
    ious, signs = [], 0
    for (m32, s32), (m16, s16) in zip(f32, bf16):
        union = (m32 | m16).sum().item()
        ious.append(1.0 if union == 0 else (m32 & m16).sum().item() / union)
        signs += int(((s32 > 0) != (s16 > 0)).sum())
    return f"bf16 vs f32: mean IoU {np.mean(ious):.4f}, min {np.min(ious):.4f}, {signs} score sign flips"


def stream_memory(model, folder: Path, sizes: Sizes) -> str:
    """The stream tracker's state bytes (and GPU memory) at a quarter and at the end of the video."""
    tracker = samstream.StreamTracker(model)
    marks = {}
    frames = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))
    with torch.inference_mode():
        for t, path in enumerate(frames):
            tracker.step(np.asarray(Image.open(path).convert("RGB")))
            if t == 0:
                y, x = object_points(sizes, 1)[0]
                tracker.add_points(1, [[x, y]], [1])
            if t + 1 in (len(frames) // 4, len(frames)):
                gpu = torch.cuda.memory_allocated() / 2**20 if model.device.type == "cuda" else 0.0
                marks[t + 1] = (tracker.nbytes() / 2**20, gpu)
    (q, (sq, gq)), (n, (sn, gn)) = sorted(marks.items())
    return f"stream state {sq:.1f} MiB at frame {q}, {sn:.1f} MiB at {n}; GPU {gq:.0f} -> {gn:.0f} MiB"


# ------------------------------------------------------------------ reference
def reference_video(config: str, ckpt: Path, folder: Path, sizes: Sizes, objects: int, device: torch.device,
                    vos: bool) -> float:
    from sam2.build_sam import build_sam2_video_predictor  # the oracle, only in this script

    predictor = build_sam2_video_predictor(config, str(ckpt), device=str(device), vos_optimized=vos,
                                           hydra_overrides_extra=[f"++model.image_size={sizes.image_size}"])
    predictor.fill_hole_area = 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        state = predictor.init_state(str(folder))

        def prompt() -> None:
            predictor.reset_state(state)
            for k, (y, x) in enumerate(object_points(sizes, objects)):
                predictor.add_new_points_or_box(state, 0, k + 1, points=np.array([[x, y]], np.float32),
                                                labels=np.array([1], np.int32))

        prompt()
        for i, _ in enumerate(predictor.propagate_in_video(state)):
            if i >= sizes.warmup_frames:
                break
        prompt()
        sync(device)
        start = time.perf_counter()
        for _ in predictor.propagate_in_video(state):
            pass
        sync(device)
    return sizes.frames / (time.perf_counter() - start)


def reference_weights(config: str, path: Path, image_size: int) -> Path:
    """Random reference weights (seeded), saved as an official-style checkpoint."""
    from sam2.build_sam import build_sam2  # the oracle, only in this script

    torch.manual_seed(0)
    model = build_sam2(config, None, device="cpu", hydra_overrides_extra=[f"++model.image_size={image_size}"])
    torch.save({"model": model.state_dict()}, path)
    return path


def amg_rates(name: str, ckpt: Path, sizes: Sizes, device: torch.device, image: np.ndarray) -> list[list]:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2  # the oracle, only in this script

    rows = []
    model = samstream.load_model(ckpt, device=device, image_size=sizes.image_size, dtype="bfloat16")
    ours = samstream.MaskGenerator(model, points_per_side=sizes.amg_points, points_per_batch=256)
    ref_model = build_sam2(CONFIGS[name], str(ckpt), device=str(device),
                           hydra_overrides_extra=[f"++model.image_size={sizes.image_size}"])
    ref = SAM2AutomaticMaskGenerator(ref_model, points_per_side=sizes.amg_points, points_per_batch=256)
    # the reference's image predictor has its feature-map sizes written for a 1024 input; at the smoke
    # size they must follow the input (strides 4, 8, 16) or its decoder sees mis-shaped features
    s = sizes.image_size
    ref.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    for side, fn in (("samstream bf16", ours.generate), ("reference bf16", ref.generate)):
        with torch.inference_mode(), (autocast if side.startswith("reference") else contextlib.nullcontext()):
            fn(image)  # warm-up
            reset_peak(device)
            sync(device)
            start = time.perf_counter()
            for _ in range(sizes.amg_images):
                n = len(fn(image))
            sync(device)
        rate = sizes.amg_images / (time.perf_counter() - start)
        rows.append([name, "AMG", side, f"{rate:.2f} img/s", peak_mib(device), f"{n} masks"])
    return rows


# ------------------------------------------------------------------ driver
def bench_variant(name: str, args: argparse.Namespace, sizes: Sizes, folder: Path, work: Path,
                  device: torch.device, clock: Clock) -> list[list]:
    rows: list[list] = []
    ckpt = reference_weights(CONFIGS[name], work / f"{name}.pt", sizes.image_size)
    compiled = args.compile_all or name in ("tiny", "large")
    modes = [("samstream f32", RuntimeOptions(), torch.float32),
             ("samstream bf16", RuntimeOptions(dtype="bfloat16"), torch.bfloat16)]
    if compiled:
        backend = "eager" if args.smoke else "inductor"  # smoke: dynamo only, seconds on a CPU
        modes.append(("samstream bf16+compile", RuntimeOptions(dtype="bfloat16", compile=True,
                                                                compile_backend=backend), torch.bfloat16))
    for objects in sizes.objects:
        kept = {}
        for side, options, memory_dtype in modes:
            if clock.left() < 0:
                rows.append([name, objects, side, "skipped", "-", "over --budget-s"])
                continue
            torch._dynamo.reset()
            model = samstream.load_model(ckpt, device=device, image_size=sizes.image_size, runtime=options)
            reset_peak(device)
            fps, kept[side] = ours_video(model, folder, sizes, objects, memory_dtype, keep=objects == 1)
            rows.append([name, objects, side, f"{fps:.1f}", peak_mib(device), ""])
            if objects == 1 and side == "samstream bf16" and name in ("tiny", "large"):
                rows.append([name, objects, "samstream bf16", "-", "-", stream_memory(model, folder, sizes)])
            del model
        if objects == 1 and "samstream bf16" in kept and kept.get("samstream f32"):
            rows.append([name, objects, "parity", "-", "-", parity(kept["samstream f32"], kept["samstream bf16"])])
        vos = compiled and not args.smoke  # compiling the reference on a CPU takes minutes
        side = f"reference{' vos_optimized' if vos else ''} bf16"
        if args.no_reference or clock.left() < 0:
            rows.append([name, objects, side, "skipped", "-", "--no-reference" if args.no_reference else "budget"])
            continue
        torch._dynamo.reset()
        reset_peak(device)
        fps = reference_video(CONFIGS[name], ckpt, folder, sizes, objects, device, vos)
        rows.append([name, objects, side, f"{fps:.1f}", peak_mib(device), ""])
    if name in ("tiny", "large") and not args.no_reference and clock.left() > 0:
        image = np.asarray(Image.open(folder / "0.jpg").convert("RGB"))
        rows.extend(amg_rates(name, ckpt, sizes, device, image))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: check that the script runs")
    parser.add_argument("--variants", default="tiny,small,base+,large")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/gpu_results.json"))
    parser.add_argument("--budget-s", type=float, default=450.0, help="skip rows that would start later")
    parser.add_argument("--compile-all", action="store_true", help="compile all four variants, not tiny and large")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else FULL
    device = torch.device("cpu") if args.smoke or not torch.cuda.is_available() else torch.device("cuda")
    variants = ["tiny"] if args.smoke else args.variants.split(",")
    clock, rows = Clock(args.budget_s), []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "frames"
        folder.mkdir()
        write_video(folder, sizes)
        for name in variants:
            rows.extend(bench_variant(name, args, sizes, folder, work, device, clock))
            print(f"[{time.perf_counter() - clock.start:.0f} s] {name} done", file=sys.stderr, flush=True)
    title = (f"{machine()}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}, input {sizes.image_size}, "
             f"{sizes.frames} frames of {sizes.hw[1]}x{sizes.hw[0]}, {time.perf_counter() - clock.start:.0f} s")
    print(title)
    print(table([[str(c) for c in r] for r in rows], HEADER))
    write_json(args.json, {"title": title, "header": HEADER, "rows": rows})


if __name__ == "__main__":
    main()
