"""Runs one authors' tracker (SAMURAI, DAM4SAM or SAM2Long) on a CPU and records what it did.

This file is executed as a script in a child process whose ``sys.path`` starts with the fork's
directory, so that ``import sam2`` loads the fork's own copy. It imports nothing from samstream and
nothing from the fork at module level. Usage (``make_traces.py`` calls it):

    python fork_runner.py SPEC.json OUT.npz

SPEC.json names the method, the fork directory, the checkpoint, the frame folder, the box and the
overrides. OUT.npz receives the full video-resolution logits of every frame, the object scores and
a JSON record (``info``) of the method's observable choices and of the memory read on each frame.

How the forks are made to run on a CPU (all at run time; no file of a fork is changed):
- ``Tensor.cuda`` / ``Module.cuda`` return their receiver, and ``torch.device("cuda...")`` gives the
  CPU device (DAM4SAM builds its state with ``torch.device("cuda")`` and calls ``.cuda()`` on memories;
  ``sam2.utils.misc`` of all forks has ``torch.device("cuda")`` as a default argument).
- The ``torch`` that the forks' predictor modules see maps ``torch.bfloat16`` to ``torch.float32``, so
  stored memories (and SAM2Long's bf16 score tensors) stay float32, as the samstream parity tests do for
  sam2==1.1.0.

What is recorded without reading SAM2Long's tracking code: forward hooks on the model's modules
(``fork_probe.py``) and the entry points' inputs and outputs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fork_probe import Probe, wrap_frame_context  # this script's folder is first on sys.path


# ----------------------------------------------------------------------------------------------
# CPU adaptation


def patch_cuda() -> None:
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    real_device = torch.device

    class _DeviceMeta(type):
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, real_device)

    class device(metaclass=_DeviceMeta):  # noqa: N801 - stands in for torch.device
        def __new__(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
            if args and isinstance(args[0], str) and args[0].startswith("cuda"):
                args = ("cpu",)
            if str(kwargs.get("type", "")).startswith("cuda"):
                kwargs = {"type": "cpu"}
            return real_device(*args, **kwargs)

    torch.device = device  # type: ignore[misc, assignment]


class _Float32Torch:
    """Stands in for ``torch`` inside a fork module: ``torch.bfloat16`` means float32 there."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return torch.float32 if name == "bfloat16" else getattr(torch, name)


def keep_float32(*modules) -> None:  # type: ignore[no-untyped-def]
    for module in modules:
        module.torch = _Float32Torch()


NO_HOLE_FILLING = """The builders' post-processing sets fill_hole_area=8 after any override; the forks' hole filling
needs their CUDA extension (sam2._C), which a CPU run cannot load, so the traces are made with
fill_hole_area=0 set on the built predictor (DAM4SAM's copy of the filling returns its input anyway)."""


def frame_paths(folder: str) -> list[Path]:
    return sorted(Path(folder).glob("*.jpg"), key=lambda p: int(p.stem))


def object_score(state: dict, frame: int) -> float:
    """The object score the fork stored for a frame (a prompted frame's output may still be a temporary one)."""
    stores = [state["output_dict"]["cond_frame_outputs"], state["output_dict"]["non_cond_frame_outputs"]]
    stores += [d["cond_frame_outputs"] for d in state["temp_output_dict_per_obj"].values()]
    out = next(s[frame] for s in stores if frame in s)
    return float(out["object_score_logits"].flatten()[0])


# ----------------------------------------------------------------------------------------------
# SAMURAI


def run_samurai(spec: dict) -> tuple[dict, dict]:
    from sam2.build_sam import build_sam2_video_predictor
    import sam2.sam2_video_predictor as predictor_module

    keep_float32(predictor_module)
    predictor = build_sam2_video_predictor(spec["fork_config"], spec["checkpoint"], device="cpu",
                                           hydra_overrides_extra=spec["overrides"], apply_postprocessing=True)
    predictor.fill_hole_area = 0  # see NO_HOLE_FILLING
    probe = Probe(predictor)
    wrap_frame_context(predictor, probe)
    heads = _wrap_samurai_heads(predictor, probe)
    logits, scores = {}, {}
    with torch.inference_mode():
        state = predictor.init_state(spec["frames"])
        _, _, masks = predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=spec["box"])
        prompt_logits = masks[0, 0].float().numpy().copy()
        for frame, _, masks in predictor.propagate_in_video(state):
            logits[frame] = masks[0, 0].float().numpy().copy()
            scores[frame] = object_score(state, frame)
    info = {"heads": heads, "probe": probe.summary(), "prompt_equals_propagated_frame0": bool(np.array_equal(prompt_logits, logits[0]))}
    return {"logits": logits, "scores": scores}, info


def _wrap_samurai_heads(predictor, probe: Probe) -> dict:  # type: ignore[no-untyped-def]
    """Per tracked frame: which phase of the Kalman-filter logic ran, the candidates' scores and the choice."""
    records: dict[str, dict] = {}
    original = predictor._forward_sam_heads
    kf_ious: list = []
    original_iou = predictor.kf.compute_iou

    def compute_iou(pred_bbox, bboxes):  # type: ignore[no-untyped-def]
        result = original_iou(pred_bbox, bboxes)
        kf_ious.append({"kf_box_xyxy": [float(v) for v in predictor.kf.xyah_to_xyxy(pred_bbox)],
                        "candidate_boxes": [[int(v) for v in b] for b in bboxes], "kf_ious": [float(v) for v in result]})
        return result

    predictor.kf.compute_iou = compute_iou

    def heads(*args, **kwargs):  # type: ignore[no-untyped-def]
        before_none = predictor.kf_mean is None
        before_stable = int(predictor.stable_frames)
        kf_ious.clear()
        out = original(*args, **kwargs)
        low_multi, _, ious, low_best, _, _, obj_score, best_iou, best_kf = out
        multimask = low_multi.shape[1] > 1
        # the index whose predicted IoU the heads returned (masks may all be -1024 for an absent object)
        choice = next(i for i in range(ious.shape[1]) if float(ious[0, i]) == float(best_iou.flatten()[0]))
        if not multimask:
            phase = "single-output"
        elif before_none or before_stable == 0:
            phase = "init"
        elif before_stable < predictor.stable_frames_threshold:
            phase = "warmup"
        else:
            phase = "motion"
        rec = {"phase": phase, "stable_before": before_stable, "stable_after": int(predictor.stable_frames),
               "ious": [float(v) for v in ious[0]], "object_score": float(obj_score.flatten()[0]), "choice": int(choice),
               "best_iou": float(best_iou.flatten()[0]),
               "best_kf_iou": None if best_kf is None else float(best_kf.flatten()[0]),
               "kf_mean_after": None if predictor.kf_mean is None else [float(v) for v in predictor.kf_mean]}
        if kf_ious:
            rec.update(kf_ious[-1])
        records.setdefault(str(probe.frame), []).append(rec)
        return out

    predictor._forward_sam_heads = heads
    return records


# ----------------------------------------------------------------------------------------------
# DAM4SAM


def run_dam4sam(spec: dict) -> tuple[dict, dict]:
    from PIL import Image

    import dam4sam_tracker as tracker_module
    import sam2.build_sam as build_module
    import sam2.sam2_video_predictor as predictor_module

    keep_float32(predictor_module)
    tracker_module.determine_tracker = lambda name: (spec["checkpoint"], spec["fork_config"])
    real_build = build_module.build_sam2_video_predictor

    def build(config_file, ckpt_path=None, device="cuda", **kwargs):  # type: ignore[no-untyped-def]
        extra = list(kwargs.pop("hydra_overrides_extra", [])) + spec["overrides"]
        predictor = real_build(config_file, ckpt_path, device="cpu", hydra_overrides_extra=extra, **kwargs)
        predictor.fill_hole_area = 0  # see NO_HOLE_FILLING
        return predictor

    tracker_module.build_sam2_video_predictor = build
    tracker = tracker_module.DAM4SAMTracker("sam21pp-T")
    tracker.input_image_size = spec["image_size"]  # the wrapper resizes to 1024 otherwise
    predictor = tracker.predictor
    probe = Probe(predictor)
    wrap_frame_context(predictor, probe)
    decisions = _wrap_dam4sam(tracker_module, tracker, predictor, probe)
    captured: dict = {}
    real_propagate, real_add_mask = predictor.propagate_in_video, predictor.add_new_mask

    def propagate(*args, **kwargs):  # type: ignore[no-untyped-def]
        for out in real_propagate(*args, **kwargs):
            captured["logits"] = out[2]
            captured["alternatives"] = out[3] if len(out) == 4 else None
            yield out

    def add_mask(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_add_mask(*args, **kwargs)
        captured["logits"] = out[2]
        return out

    predictor.propagate_in_video, predictor.add_new_mask = propagate, add_mask
    logits, scores, init_mask = {}, {}, None
    x0, y0, x1, y1 = spec["box"]
    for frame, path in enumerate(frame_paths(spec["frames"])):
        image = Image.open(path)
        if frame == 0:
            out = tracker.initialize(image, None, bbox=[x0, y0, x1 - x0, y1 - y0])
            init_mask = out["pred_mask"]
        else:
            decisions["current"] = frame
            out = tracker.track(image)
            decisions["frames"][str(frame)]["alternatives_ious"] = [float(v) for v in captured["alternatives"][1]]
        logits[frame] = captured["logits"][0, 0].float().numpy().copy()
        scores[frame] = object_score(tracker.inference_state, frame)
        assert np.array_equal(out["pred_mask"], (logits[frame] > 0).astype(np.uint8))
    decisions.pop("current")
    info = {"dam": decisions, "probe": probe.summary(), "init_mask_pixels": int(init_mask.sum()),
            "drm_frames": list(tracker.inference_state["adds_in_drm_per_obj"][0])}
    return {"logits": logits, "scores": scores}, info


def _wrap_dam4sam(tracker_module, tracker, predictor, probe: Probe) -> dict:  # type: ignore[no-untyped-def]
    """Per tracked frame: the DRM test's inputs and outcome, observed through the names the wrapper calls."""
    decisions: dict = {"frames": {}, "current": -1}
    real_overlaps, real_largest, real_add = (tracker_module.calculate_overlaps, tracker_module.keep_largest_component,
                                            predictor.add_to_drm)

    def rec() -> dict:
        return decisions["frames"].setdefault(str(decisions["current"]), {"box_ious": [], "largest_component_calls": 0,
                                                                          "added_to_drm": False})

    def overlaps(first, second, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_overlaps(first, second, *args, **kwargs)
        rec()["box_ious"].append(float(result[0]))
        rec().setdefault("boxes", []).append([[float(v) for v in (r.x, r.y, r.width, r.height)] for r in (first[0], second[0])])
        return result

    def largest(mask):  # type: ignore[no-untyped-def]
        rec()["largest_component_calls"] += 1
        return real_largest(mask)

    def add_to_drm(*args, **kwargs):  # type: ignore[no-untyped-def]
        rec()["added_to_drm"] = True
        return real_add(*args, **kwargs)

    tracker_module.calculate_overlaps, tracker_module.keep_largest_component = overlaps, largest
    predictor.add_to_drm = add_to_drm
    real_track = tracker.track

    def track(image, init=False):  # type: ignore[no-untyped-def]
        last_added = tracker.last_added
        out = real_track(image, init)
        r = rec()
        sizes = tracker.object_sizes
        n = int(sizes[-1])
        ratio = -1.0
        if len(sizes) > 1 and n >= 1:
            ratio = float(n / np.median([s for s in sizes[-300:] if s >= 1][-10:]))
        r.update({"n_pixels": n, "size_ratio": ratio, "last_added_before": int(last_added)})
        return out

    tracker.track = track
    return decisions


# ----------------------------------------------------------------------------------------------
# SAM2Long (run through its documented entry point; its tracking code is not read)


def run_sam2long(spec: dict) -> tuple[dict, dict]:
    from sam2.build_sam import build_sam2_video_predictor
    import sam2.modeling.sam2_base as base_module
    import sam2.sam2_video_predictor as predictor_module

    keep_float32(predictor_module, base_module)
    _use_config_dir(spec["config_dir"])
    predictor = build_sam2_video_predictor(config_file=spec["fork_config"], ckpt_path=spec["checkpoint"], device="cpu",
                                           apply_postprocessing=False, hydra_overrides_extra=spec["overrides"])
    probe = Probe(predictor)
    wrap_frame_context(predictor, probe)
    with torch.inference_mode():
        state = predictor.init_state(video_path=spec["frames"], async_loading_frames=False)
        state["num_pathway"] = spec["num_pathway"]
        state["iou_thre"] = spec["iou_thre"]
        state["uncertainty"] = spec["uncertainty"]
        _, _, masks = predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=spec["box"])
        prompt_logits = masks[0, 0].float().numpy().copy()
        obj_ids, per_frame = predictor.propagate_in_video(state, start_frame_idx=0, reverse=False)
    logits = {f: torch.as_tensor(m).reshape(-1, *m.shape[-2:])[0].float().numpy().copy() for f, m in enumerate(per_frame)}
    scores = {f: _sam2long_score(probe, logits[f], f, state) for f in logits}
    info = {"probe": probe.summary(), "obj_ids": [int(i) for i in obj_ids],
            "prompt_equals_output_frame0": bool(np.array_equal(prompt_logits, logits[0])),
            "final_choice": {str(f): _sam2long_choice(probe, logits[f], f, state) for f in logits},
            # every decoder call's candidates: predicted IoUs and the object score (one call per pathway)
            "decoder": {str(f): [{"ious": [float(v) for v in d["ious"].flatten()], "score": float(d["scores"].flatten()[0])}
                                 for d in probe.decoder_outputs if d["frame"] == f] for f in logits}}
    return {"logits": logits, "scores": scores}, info


def _use_config_dir(folder: str) -> None:
    """Point hydra at a folder of configs written for this run (the fork initialises its own module path)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    initialize_config_dir(config_dir=folder, version_base="1.2")


def _candidates(probe: Probe, frame: int, state: dict) -> list[tuple[int, int, torch.Tensor, float]]:
    """(decoder call, candidate, video-resolution logits, object score) of every decoder output on a frame."""
    h, w = state["video_height"], state["video_width"]
    out = []
    calls = [d for d in probe.decoder_outputs if d["frame"] == frame]
    for c, d in enumerate(calls):
        for b in range(d["masks"].shape[0]):
            up = torch.nn.functional.interpolate(d["masks"][b:b + 1], size=(h, w), mode="bilinear", align_corners=False)
            for k in range(up.shape[1]):
                out.append((c, k, up[0, k], float(d["scores"][b].flatten()[0])))
    return out


def _sam2long_choice(probe: Probe, logits: np.ndarray, frame: int, state: dict) -> dict:
    """Which decoder output on this frame became the final mask (observed by equality of the logits)."""
    target = torch.from_numpy(logits)
    if bool((target == target.flatten()[0]).all()):
        return {"call": None, "candidate": None, "constant": float(target.flatten()[0])}
    best, best_d = None, float("inf")
    for c, k, up, _ in _candidates(probe, frame, state):
        d = float((up - target).abs().amax())
        if d < best_d:
            best, best_d = (c, k), d
    return {"call": best[0] if best else None, "candidate": best[1] if best else None, "dist": best_d,
            "decoder_calls": probe.calls.get(frame, {}).get("decoder", 0)}


def _sam2long_score(probe: Probe, logits: np.ndarray, frame: int, state: dict) -> float:
    choice = _sam2long_choice(probe, logits, frame, state)
    calls = [d for d in probe.decoder_outputs if d["frame"] == frame]
    if choice["call"] is None:
        # an absent object: the lowest object score among this frame's decoder calls (recorded for reference only)
        return float(min(float(d["scores"].min()) for d in calls)) if calls else float("nan")
    return float(calls[choice["call"]]["scores"].flatten()[0])


# ----------------------------------------------------------------------------------------------


RUNNERS = {"samurai": run_samurai, "dam4sam": run_dam4sam, "sam2long": run_sam2long}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    out_path = Path(sys.argv[2])
    torch.set_num_threads(int(os.environ.get("FORK_THREADS", "2")))
    patch_cuda()
    import sam2

    loaded = Path(sam2.__file__).resolve()
    if not str(loaded).startswith(str(Path(spec["fork_package_root"]).resolve())):
        raise SystemExit(f"the fork's sam2 was not the one imported: {loaded}")
    start = time.perf_counter()
    result, info = RUNNERS[spec["method"]](spec)
    info["seconds"] = round(time.perf_counter() - start, 2)
    info["sam2_loaded_from"] = str(loaded)
    frames = sorted(result["logits"])
    np.savez(out_path, logits=np.stack([result["logits"][f] for f in frames]).astype(np.float32),
             scores=np.array([result["scores"][f] for f in frames], dtype=np.float32),
             info=np.array(json.dumps(info)))


if __name__ == "__main__":
    main()
