"""Per-method summaries of a fork run: counters that prove each branch ran, and per-frame choices.

``summarize(method, info)`` takes the ``info`` record that ``fork_runner.py`` writes and returns
``(counters, frames)``. ``frames[f]`` holds what the method chose on frame ``f``; keys starting with
``choice`` must be equal in a re-run (``make_traces.py --check``) and in samstream's implementation, the
other keys are the inputs of that choice (scores), kept for diagnosis.

Memory entries are ``[frame, tpos]``: the frame whose stored memory a memory-attention block read, and
the row of ``maskmem_tpos_enc`` its position encoding carried (``num_maskmem - 1`` = the prompted-frame
row; 0 = the most recent row). A frame's SAM2Long entries are per pathway (one memory-attention call each).
"""

from __future__ import annotations


def _attention(info: dict, frame: int) -> list[dict]:
    return info["probe"].get(str(frame), {}).get("attention", [])


def _memory(call: dict) -> list:
    blocks = call.get("blocks") or []
    return [[int(b[0]["src"][0]), int(b[0]["tpos"])] for b in blocks]


def _memory_src(call: dict) -> list:
    blocks = call.get("blocks") or []
    return [[int(b[0]["src"][0]), int(b[0]["src"][1])] for b in blocks]


def _pointers(call: dict) -> list:
    """``[frame, t / t_diff_max]`` per object pointer read ("no_obj" for the learned no-object pointer)."""
    return [[p["src"][0] if p["src"][0] == "no_obj" else int(p["src"][0]),
             None if p["pos"] is None else round(p["pos"], 4)] for p in (call.get("pointers") or [[]])[0]]


def _num_frames(info: dict) -> int:
    return len(info["probe"])


def summarize(method: str, info: dict) -> tuple[dict, list[dict]]:
    return {"samurai": _samurai, "dam4sam": _dam4sam, "sam2long": _sam2long}[method](info)


def _samurai(info: dict) -> tuple[dict, list[dict]]:
    frames, counters = [], {"single-output": 0, "init": 0, "warmup": 0, "motion": 0, "warmup_resets": 0,
                            "motion_resets": 0, "motion_choice_not_argmax_iou": 0, "memory_not_sam2_window": 0,
                            "mask_kept_with_score_in_(-1,0]": 0, "absent_score_le_-1": 0}
    for f in range(_num_frames(info)):
        head = info["heads"][str(f)][0]
        calls = _attention(info, f)
        memory = _memory(calls[0]) if calls else []
        phase = head["phase"]
        counters[phase] += 1
        if phase in ("warmup", "motion") and head["stable_after"] == 0:
            counters[f"{phase}_resets"] += 1
        argmax = max(range(len(head["ious"])), key=lambda i: (head["ious"][i], -i))
        if phase == "motion" and head["choice"] != argmax:
            counters["motion_choice_not_argmax_iou"] += 1
        if f > 0 and sorted({m[0] for m in memory}) != sorted({0} | {t for t in range(max(1, f - 6), f)}):
            counters["memory_not_sam2_window"] += 1
        score = head["object_score"]
        if f > 0 and -1 < score <= 0:
            counters["mask_kept_with_score_in_(-1,0]"] += 1
        if f > 0 and score <= -1:
            counters["absent_score_le_-1"] += 1
        frames.append({"choice_phase": phase, "choice_index": head["choice"], "choice_memory": memory,
                       "choice_pointers": _pointers(calls[0]) if calls else [], "ious": head["ious"],
                       "kf_ious": head.get("kf_ious"), "stable_after": head["stable_after"], "object_score": score})
    return counters, frames


def _dam4sam(info: dict) -> tuple[dict, list[dict]]:
    decisions = info["dam"]["frames"]
    counters = {"box_tests": 0, "drm_adds": 0, "frames_with_4_drm_memories": 0, "drm_frames_not_selected": 0,
                "previous_frame_is_drm_used_as_ram": 0, "ram_not_sam2_stride_window": 0, "empty_masks": 0,
                "ram_skips_empty_previous_frame": 0, "pointers_skip_empty_frames": 0}
    frames = []
    drm: list[int] = []
    empty = {int(f) for f, d in decisions.items() if d.get("n_pixels", 1) == 0}
    for f in range(_num_frames(info)):
        d = decisions.get(str(f), {})
        calls = _attention(info, f)
        memory = _memory(calls[0]) if calls else []
        tpos_drm = max((m[1] for m in memory), default=-1)
        drm_used = [m[0] for m in memory if m[1] == tpos_drm and tpos_drm == 6]
        counters["box_tests"] += int(bool(d.get("box_ious")))
        counters["drm_adds"] += int(bool(d.get("added_to_drm")))
        counters["frames_with_4_drm_memories"] += int(len(drm_used) == 4)
        counters["drm_frames_not_selected"] += int(bool(set([0] + drm) - set(drm_used) - {f - 1}) and f > 0)
        counters["previous_frame_is_drm_used_as_ram"] += int((f - 1) in drm and [f - 1, 0] in memory)
        counters["empty_masks"] += int(d.get("n_pixels", 1) == 0)
        counters["ram_skips_empty_previous_frame"] += int((f - 1) in empty and all(m[0] != f - 1 for m in memory))
        window = set(range(max(0, f - 15), f))  # the pointers' reach in frames
        # a pointer's frame from its distance (an absent frame's pointer is the no-object pointer, so its
        # content does not name it); DAM4SAM normalises distances by min(frame, 15)
        pointer_frames = {f - round(p[1] * min(f, 15)) for p in (_pointers(calls[0]) if calls else []) if p[1]}
        counters["pointers_skip_empty_frames"] += int(bool(empty & window) and not (empty & window & pointer_frames))
        ram = sorted(m[0] for m in memory if m[1] != 6)
        sam2_ram = {f - 1} | {((f - 2) // 5) * 5 - k * 5 for k in range(5)}  # SAM 2's stride-5 slots
        if f > 1 and ram != sorted(t for t in sam2_ram if t > 0):
            counters["ram_not_sam2_stride_window"] += 1
        alt = d.get("alternatives_ious", [])
        frames.append({"choice_index": max(range(len(alt)), key=lambda i: (alt[i], -i)) if alt else None,
                       "choice_added_to_drm": bool(d.get("added_to_drm")), "choice_memory": memory,
                       "choice_pointers": _pointers(calls[0]) if calls else [], "ious": alt,
                       "n_pixels": d.get("n_pixels"), "size_ratio": d.get("size_ratio"), "box_ious": d.get("box_ious", [])})
        if d.get("added_to_drm"):
            drm.append(f)
    return counters, frames


def _sam2long(info: dict) -> tuple[dict, list[dict]]:
    """Pathways observed through memory-attention calls (one per pathway and frame).

    A pathway on frame f reads, as its newest memory, the memory encoded for it on frame f - 1
    (``[f - 1, k]``: the k-th memory-encoder call on that frame) and, as its second newest, the
    memory of the pathway it descends from. Two pathways with the same second-newest memory branched
    from one parent; a parent pathway of frame f - 1 that no pathway of frame f descends from was pruned.
    """
    counters = {"frames": 0, "max_pathways": 0, "frames_with_branching": 0, "frames_with_pruning": 0,
                "frames_pathway_memories_differ": 0, "frames_memory_not_sam2_window": 0,
                "frames_object_score_weights": 0, "absent_final_frames": 0}
    frames = []
    for f in range(_num_frames(info)):
        calls = _attention(info, f)
        srcs = [_memory_src(c) for c in calls]
        counters["frames"] += 1
        counters["max_pathways"] = max(counters["max_pathways"], len(calls))
        if len({str(s) for s in srcs}) > 1:
            counters["frames_pathway_memories_differ"] += 1
        window = sorted({0} | set(range(max(1, f - 6), f)))
        if f > 0 and any(sorted({m[0] for m in s}) != window for s in srcs):
            counters["frames_memory_not_sam2_window"] += 1
        if any("object_frame_scores" in c.get("extra_args", {}) for c in calls):
            counters["frames_object_score_weights"] += 1
        parents = [tuple(s[-2]) for s in srcs if len(s) >= 3]
        previous_calls = len(_attention(info, f - 1)) if f > 0 else 0
        if len(parents) != len(set(parents)):
            counters["frames_with_branching"] += 1
        if parents and len(set(parents)) < previous_calls:
            counters["frames_with_pruning"] += 1
        final = info["final_choice"][str(f)]
        counters["absent_final_frames"] += int(final.get("call") is None)
        frames.append({"choice_final": [final.get("call"), final.get("candidate")], "choice_pathway_memory": srcs,
                       "choice_tpos": [[m[1] for m in _memory(c)] for c in calls],
                       "choice_pointers": [_pointers(c) for c in calls],
                       "memory_weights": [c.get("extra_args") for c in calls],
                       "decoder": info.get("decoder", {}).get(str(f))})
    return counters, frames
