"""Make (or check) a small reference trace of SAMURAI, DAM4SAM or SAM2Long run by its authors' code.

    python tests/video/methods/make_traces.py --fork /work/forks/samurai --method samurai \\
        --out tests/video/methods/traces/samurai.npz
    python tests/video/methods/make_traces.py --fork /work/forks/samurai --check tests/video/methods/traces/samurai.npz

The weights are random and made by samstream from a seed (plus the recorded parameter changes that
make each branch of the method run); the clip is a samstream synthetic clip written as JPEG files,
whose bytes the trace keeps, so samstream reads exactly the files the fork read. The fork runs in a
child process (``fork_runner.py``) with its own ``sam2`` package first on ``sys.path``; nothing of a
fork is copied into this repository. ``README.md`` beside this file describes the trace format.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the repository's samstream and tests
    sys.path.insert(0, str(ROOT))

from samstream.checkpoints import build_model  # noqa: E402
from samstream.config import config_to_dict, config_from_dict  # noqa: E402
from samstream.data.synthetic import SyntheticConfig, generate_clip  # noqa: E402
from samstream.registry import get_variant  # noqa: E402
from tests.video.methods.trace_summary import summarize  # noqa: E402

FORMAT = 1
RUNNER = Path(__file__).resolve().parent / "fork_runner.py"
REPOS = {"samurai": "yangchris11/samurai", "dam4sam": "jovanavidenovic/DAM4SAM", "sam2long": "Mark12Ding/SAM2Long"}
NUM_SAMPLES = 512  # logit sample positions per frame
LOGIT_TOL = 1e-4  # max|Δ| / max(1, max|ref|), as in tests/parity/conftest.py


def _tiny(image_size: int, **tracking: object):  # type: ignore[no-untyped-def]
    cfg = get_variant("sam2.1-tiny").config.with_image_size(image_size)
    return replace(cfg, tracking=replace(cfg.tracking, **tracking)) if tracking else cfg


def _reduced_1024():  # type: ignore[no-untyped-def]
    """The smallest layout SAM2Long accepts at its one input size (1024): a 5-block Hiera (a global block may not change stage) and one memory-attention layer."""
    from samstream.config import HieraConfig

    cfg = get_variant("sam2.1-tiny").config
    hiera = HieraConfig(embed_dim=16, num_heads=1, stages=(1, 1, 2, 1), global_att_blocks=(3,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    return replace(cfg, hiera=hiera, memory=replace(cfg.memory, attention_layers=1, attention_ff_dim=256))


# ---- weight changes that make every branch of a method run on random weights.
# An op changes one named parameter after build_model + perturb_constants_: "mul" or "add" a number or
# a (nested) list broadcast against the parameter. Random weights give mask logits with no spatial
# structure, predicted IoUs near 0.5 and object scores that hardly change; these ops shape them.
_DEC = "sam_mask_decoder."
_ZERO31 = [0.0] * 31


def _score_head(name: str, center: float, gain: float) -> list[dict]:
    """The head's output s becomes (s - center) * gain: spread around 0 so both sides of a threshold occur."""
    last = f"{_DEC}{name}.layers.2"
    return [{"param": f"{last}.bias", "op": "add", "value": -center},
            {"param": f"{last}.weight", "op": "mul", "value": gain},
            {"param": f"{last}.bias", "op": "mul", "value": gain}]


def _constant_channel() -> list[dict]:
    """Channel 0 of the decoder's finest features gets +10: it passes the GELU as (x + 10), so a mask
    token's channel-0 hypernetwork output becomes a near-uniform shift of that token's logits."""
    return [{"param": f"{_DEC}conv_s0.bias", "op": "add", "value": [10.0] + _ZERO31}]


def _token_shift(token: int, beta: float) -> list[dict]:
    """Mask token ``token``'s logits shift by about 10 * beta (its channel-0 hypernetwork output fixed at beta)."""
    last = f"{_DEC}output_hypernetworks_mlps.{token}.layers.2"
    return [{"param": f"{last}.weight", "op": "mul", "value": [[0.0]] + [[1.0]] * 31},
            {"param": f"{last}.bias", "op": "mul", "value": [0.0] + [1.0] * 31},
            {"param": f"{last}.bias", "op": "add", "value": [beta] + _ZERO31}]


def _token_bias(token: int, delta: float) -> dict:
    return {"param": f"{_DEC}output_hypernetworks_mlps.{token}.layers.2.bias", "op": "add", "value": [delta] + _ZERO31}


# SAMURAI: token 1 never has a pixel (its box is [0,0,0,0], so its Kalman IoU is 0) while its predicted
# IoU rises past token 2's late in the clip: the motion-weighted choice then differs from the argmax.
# Object scores spread around -1..0 exercise SAMURAI's -1 presence threshold and its memory test.
SAMURAI_OPS = (_constant_channel() + _token_shift(1, -1.0) + _token_shift(2, 0.0) + _token_shift(3, 0.04)
               + [{"param": f"{_DEC}iou_prediction_head.layers.2.weight", "op": "mul", "value": 30.0},
                  {"param": f"{_DEC}iou_prediction_head.layers.2.bias", "op": "add", "value": [0.0, 0.0, -0.15, 0.3]}]
               + _score_head("pred_obj_score_head", 0.0876, 400.0))
# DAM4SAM: a smooth spatial field (Hiera's background position embedding x50) gives masks with
# structure; token 1 (small mask, predicted IoU ~0.88 > 0.8) is chosen, tokens 2 and 3 give larger
# alternatives whose box IoU with the chosen one is <= 0.7: frames enter the DRM every 6th frame. The
# clip's blank frames score ~0.1270 against >= 0.1276 elsewhere: centred between, the object is absent
# there (empty masks, which DAM's RAM and pointers skip).
DAM4SAM_OPS = ([{"param": "image_encoder.trunk.pos_embed", "op": "mul", "value": 50.0}] + _constant_channel()
               + [_token_bias(0, -0.3), _token_bias(1, -0.352), _token_bias(2, -0.08), _token_bias(3, -0.12),
                  {"param": f"{_DEC}iou_prediction_head.layers.2.bias", "op": "add", "value": [0.0, 2.0, 0.0, 0.0]}]
               + _score_head("pred_obj_score_head", 0.1273, 500.0))
# SAM2Long: object scores spread across -2..3 (absent frames, certain and uncertain frames); token 3's
# predicted IoU ~0.05, below the IoU threshold 0.1.
SAM2LONG_OPS = (_score_head("pred_obj_score_head", 0.020, 1000.0)
                + [{"param": f"{_DEC}iou_prediction_head.layers.2.bias", "op": "add", "value": [0.0, 0.0, 0.0, -3.0]}])


# Per method: the samstream layout, the fork's config and overrides, the clip, and the weight changes.
METHODS: dict[str, dict] = {
    "samurai": {
        "config": lambda: _tiny(256),
        "fork_config": "configs/samurai/sam2.1_hiera_t.yaml",
        "package_root": "sam2",  # the folder of the fork that holds the sam2 package
        "overrides": ["++model.image_size=256"],
        "clip": {"seed": 3, "size": 128, "num_frames": 32, "crop": [0, 96, 0, 128], "quality": 90},
        "weight_ops": SAMURAI_OPS,
        "params": {"apply_postprocessing": True},
    },
    "dam4sam": {
        "config": lambda: _tiny(256, max_cond_frames_in_attn=4, memory_temporal_stride_for_eval=5, multimask_max_pt_num=3),
        "fork_config": "sam21pp_hiera_t.yaml",
        "package_root": ".",
        "overrides": ["++model.image_size=256"],
        "clip": {"seed": 3, "size": 128, "num_frames": 32, "crop": [0, 96, 0, 128], "quality": 90,
                 "blank_frames": [11, 12, 17]},
        "weight_ops": DAM4SAM_OPS,
        "params": {"apply_postprocessing": True, "input_image_size": 256},
    },
    "sam2long": {
        "config": _reduced_1024,
        "fork_config": "sam2long_reduced.yaml",
        "package_root": ".",
        "overrides": [],
        "clip": {"seed": 3, "size": 128, "num_frames": 10, "crop": [0, 96, 0, 128], "quality": 90},
        "weight_ops": SAM2LONG_OPS,
        "params": {"apply_postprocessing": False, "num_pathway": 3, "iou_thre": 0.1, "uncertainty": 2},
    },
}


# ----------------------------------------------------------------------------------------------
# weights


def apply_weight_ops(model: torch.nn.Module, ops: list[dict]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for op in ops:
            p = params[op["param"]]
            value = torch.as_tensor(op["value"], dtype=p.dtype)  # a number, or a list broadcast over the last axis
            if op["op"] == "mul":
                p.mul_(value)
            elif op["op"] == "add":
                p.add_(value)
            else:
                raise ValueError(op)


def perturb_constants_(module: torch.nn.Module, seed: int) -> None:
    """Random values for parameters that are constant after init: the rule of tests/parity/conftest.py,
    repeated here because that module skips itself where sam2==1.1.0 is not installed, which these
    traces do not need (the weights' SHA-256 in each trace pins the result)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            flat = p.detach().flatten()
            if flat.numel() and bool((flat == flat[0]).all()):
                p.copy_(p + (torch.randn(p.shape, generator=gen) * 0.1).to(p.dtype))


def build_weights(cfg, seed: int, ops: list[dict]) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    """samstream's random model for a trace: ``build_model`` from the seed, constants perturbed, ops applied."""
    model = build_model(cfg, seed=seed)
    perturb_constants_(model, seed)
    apply_weight_ops(model, ops)
    return model.eval()


def state_sha256(sd: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(sd):
        h.update(name.encode())
        h.update(sd[name].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# clip


def make_jpegs(spec: dict) -> tuple[list[bytes], list[int]]:
    """The clip's frames as JPEG bytes, and the prompt box (x0, y0, x1, y1) of object 1 on frame 0."""
    from PIL import Image

    clip = generate_clip(spec["seed"], SyntheticConfig(size=spec["size"], num_frames=spec["num_frames"]))
    y0, y1, x0, x1 = spec["crop"]
    frames = clip.frames[:, y0:y1, x0:x1].copy()
    for i in spec.get("blank_frames", []):  # uniform grey frames: the object is surely gone there
        frames[i] = 128
    mask = clip.masks[0, 0, y0:y1, x0:x1]
    ys, xs = np.nonzero(mask)
    if not len(xs):
        raise SystemExit(f"object 1 is not visible on frame 0 of clip {spec}")
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    data = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=spec["quality"])
        data.append(buf.getvalue())
    return data, box


def write_jpegs(data: list[bytes], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, blob in enumerate(data):
        (folder / f"{i}.jpg").write_bytes(blob)
    return folder


# ----------------------------------------------------------------------------------------------
# the fork's config (SAM2Long only: a reduced layout written from samstream's config)


def write_reduced_config(fork: Path, cfg, folder: Path) -> None:  # type: ignore[no-untyped-def]
    from omegaconf import OmegaConf

    base = OmegaConf.load(fork / "sam2" / "configs" / "sam2.1" / "sam2.1_hiera_t.yaml")
    m = base.model
    m.image_encoder.trunk.embed_dim = cfg.hiera.embed_dim
    m.image_encoder.trunk.num_heads = cfg.hiera.num_heads
    m.image_encoder.trunk.stages = list(cfg.hiera.stages)
    m.image_encoder.trunk.global_att_blocks = list(cfg.hiera.global_att_blocks)
    m.image_encoder.neck.backbone_channel_list = list(cfg.hiera.channel_list)
    m.memory_attention.num_layers = cfg.memory.attention_layers
    m.memory_attention.layer.dim_feedforward = cfg.memory.attention_ff_dim
    OmegaConf.save(base, folder / "sam2long_reduced.yaml")


# ----------------------------------------------------------------------------------------------
# running the fork


def fork_commit(fork: Path) -> str:
    marker = fork / ".fork_commit"
    return marker.read_text().strip() if marker.exists() else "unknown"


def run_fork(fork: Path, method: str, settings: dict, jpegs: list[bytes], box: list[int], tmp: Path) -> tuple[dict, float]:
    cfg = config_from_dict(settings["samstream_config"])
    model = build_weights(cfg, settings["weights_seed"], settings["weight_ops"])
    sd = model.state_dict()
    digest = state_sha256(sd)
    if settings.get("weights_sha256") not in (None, digest):
        raise SystemExit(f"weights differ from the trace's ({digest} != {settings['weights_sha256']}): torch's "
                         "random init or samstream's layout changed; regenerate the trace")
    settings["weights_sha256"] = digest
    ckpt = tmp / "model.pt"
    torch.save({"model": sd}, ckpt)
    if method == "sam2long":
        write_reduced_config(fork, cfg, tmp)
    info = METHODS[method]
    package_root = (fork / info["package_root"]).resolve()
    spec = {"method": method, "checkpoint": str(ckpt), "frames": str(write_jpegs(jpegs, tmp / "frames")),
            "box": box, "fork_config": settings["fork_config"], "overrides": settings["overrides"],
            "image_size": cfg.image_size, "config_dir": str(tmp), "fork_package_root": str(package_root),
            **settings["params"]}
    (tmp / "spec.json").write_text(json.dumps(spec))
    site = os.environ.get("FORK_SITE", str(fork.parent / "site"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(package_root), str(fork.resolve()), site]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(RUNNER), str(tmp / "spec.json"), str(tmp / "out.npz")], env=env,
                          cwd=str(package_root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"the fork failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    with np.load(tmp / "out.npz") as out:
        result = {"logits": out["logits"], "scores": out["scores"], "info": json.loads(str(out["info"]))}
    return result, seconds


# ----------------------------------------------------------------------------------------------
# trace


def sample_positions(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.choice(h * w, size=min(NUM_SAMPLES, h * w), replace=False)
    return np.stack([idx // w, idx % w], 1).astype(np.int32)


def save_trace(path: Path, settings: dict, jpegs: list[bytes], result: dict) -> None:
    logits = result["logits"]
    t, h, w = logits.shape
    yx = sample_positions(h, w, settings["clip"]["seed"])
    counters, frames = summarize(settings["method"], result["info"])
    meta = {**settings, "counters": counters, "frames": frames, "fork_info": _compact(result["info"])}
    offsets = np.cumsum([0] + [len(b) for b in jpegs]).astype(np.int64)
    np.savez_compressed(
        path, meta=np.array(json.dumps(meta)), jpeg_bytes=np.frombuffer(b"".join(jpegs), np.uint8),
        jpeg_offsets=offsets, sample_yx=yx, sample_logits=logits[:, yx[:, 0], yx[:, 1]].astype(np.float32),
        logit_absmax=np.abs(logits).reshape(t, -1).max(1).astype(np.float32),
        mask_bits=np.packbits((logits > 0).reshape(t, -1), axis=1), mask_shape=np.array([h, w], np.int32),
        obj_score=result["scores"].astype(np.float32))


def _compact(value):  # type: ignore[no-untyped-def]
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def load_trace(path: Path) -> dict:
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["meta"] = json.loads(str(data["meta"]))
    offs = data["jpeg_offsets"]
    data["jpegs"] = [data["jpeg_bytes"][offs[i]:offs[i + 1]].tobytes() for i in range(len(offs) - 1)]
    return data


def resummarize(path: Path) -> None:
    """Recompute a trace's counters and per-frame choices from its recorded observations (``fork_info``),
    after ``trace_summary.py`` changed; the observations, outputs and clip stay as they are."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta"]))
    meta["counters"], meta["frames"] = summarize(meta["method"], meta["fork_info"])
    data["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **data)


def compare(trace: dict, result: dict) -> list[str]:
    """Differences between a trace and a new run; empty when they agree."""
    problems = []
    logits = result["logits"]
    h, w = (int(v) for v in trace["mask_shape"])
    if logits.shape != (len(trace["obj_score"]), h, w):
        return [f"shape {logits.shape} != {(len(trace['obj_score']), h, w)}"]
    yx = trace["sample_yx"]
    for f in range(logits.shape[0]):
        scale = max(1.0, float(trace["logit_absmax"][f]))
        d = float(np.abs(logits[f][yx[:, 0], yx[:, 1]].astype(np.float64) - trace["sample_logits"][f]).max()) / scale
        if d > LOGIT_TOL:
            problems.append(f"frame {f}: sampled logits differ by {d:.2e} (relative)")
        bits = np.unpackbits(trace["mask_bits"][f])[: h * w].reshape(h, w).astype(bool)
        differ = (logits[f] > 0) != bits
        near = np.abs(logits[f]) <= LOGIT_TOL * scale
        if (differ & ~near).any():
            problems.append(f"frame {f}: {int((differ & ~near).sum())} mask pixels differ away from the threshold")
        if abs(float(result["scores"][f]) - float(trace["obj_score"][f])) > LOGIT_TOL * max(1.0, abs(float(trace["obj_score"][f]))):
            problems.append(f"frame {f}: object score {result['scores'][f]} != {trace['obj_score'][f]}")
    counters, frames = summarize(trace["meta"]["method"], result["info"])
    for f, (ref, new) in enumerate(zip(trace["meta"]["frames"], frames)):
        for key in ref:
            if key.startswith("choice") and ref[key] != new.get(key):
                problems.append(f"frame {f}: {key} {new.get(key)} != {ref[key]}")
    if counters != trace["meta"]["counters"]:
        problems.append(f"counters {counters} != {trace['meta']['counters']}")
    return problems


# ----------------------------------------------------------------------------------------------


def make(fork: Path, method: str, out: Path, weight_ops: list[dict] | None = None, clip: dict | None = None) -> None:
    info = dict(METHODS[method])
    if weight_ops is not None:
        info["weight_ops"] = weight_ops
    if clip is not None:
        info["clip"] = {**info["clip"], **clip}
    cfg = info["config"]()
    settings = {
        "format": FORMAT, "method": method, "repo": REPOS[method], "fork_commit": fork_commit(fork),
        "samstream_config": config_to_dict(cfg), "image_size": cfg.image_size, "fork_config": info["fork_config"],
        "overrides": info["overrides"], "weights_seed": 0, "weight_ops": info["weight_ops"], "clip": info["clip"],
        "params": info["params"], "logit_tolerance": LOGIT_TOL,
    }
    jpegs, box = make_jpegs(info["clip"])
    settings["box_xyxy"] = box
    settings["frame_sha256"] = [hashlib.sha256(b).hexdigest()[:16] for b in jpegs]
    with tempfile.TemporaryDirectory() as tmp:
        result, seconds = run_fork(fork, method, settings, jpegs, box, Path(tmp))
    settings["fork_seconds"] = round(seconds, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_trace(out, settings, jpegs, result)
    counters, _ = summarize(method, result["info"])
    print(json.dumps({"trace": str(out), "bytes": out.stat().st_size, "fork_seconds": round(seconds, 1),
                      "counters": counters}, indent=1))


def check(fork: Path, path: Path) -> int:
    trace = load_trace(path)
    settings = {k: trace["meta"][k] for k in ("method", "samstream_config", "fork_config", "overrides", "weights_seed",
                                              "weight_ops", "params", "weights_sha256")}
    with tempfile.TemporaryDirectory() as tmp:
        result, seconds = run_fork(fork, settings["method"], settings, trace["jpegs"], trace["meta"]["box_xyxy"], Path(tmp))
    problems = compare(trace, result)
    for p in problems:
        print(p)
    print(f"{path.name}: {'OK' if not problems else 'DIFFERS'} ({len(trace['obj_score'])} frames, fork ran {seconds:.1f} s)")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fork", type=Path, help="local checkout of the authors' repository")
    parser.add_argument("--method", choices=sorted(METHODS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--check", type=Path, help="re-run the fork and compare with this trace")
    parser.add_argument("--weight-ops", type=json.loads, help="JSON list replacing the method's weight changes")
    parser.add_argument("--clip", type=json.loads, help="JSON object updating the method's clip settings")
    parser.add_argument("--resummarize", type=Path, help="recompute a trace's counters and choices from its observations")
    args = parser.parse_args()
    if args.resummarize:
        resummarize(args.resummarize)
        return 0
    if not args.fork:
        parser.error("--fork is needed to make or check a trace")
    if args.check:
        return check(args.fork, args.check)
    if not (args.method and args.out):
        parser.error("--method and --out are needed to make a trace")
    make(args.fork, args.method, args.out, args.weight_ops, args.clip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
