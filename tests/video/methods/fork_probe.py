"""Forward hooks that say what a SAM 2 model read on each frame (used by ``fork_runner.py``).

Runs in the fork's child process: it imports only torch, and the fork's ``sam2`` lazily (for one helper).
The memory-attention hook decodes each call's memory into frame blocks — which stored memory each block is
(by matching it with the memory encoder's outputs) and which temporal encoding it carries (by matching
``memory_pos - spatial_pos`` with the rows of ``maskmem_tpos_enc``) — and object-pointer tokens (which
pointer each is, by matching with the pointer head's outputs, and its normalised temporal distance).
"""

from __future__ import annotations

import time

import torch


class Probe:
    """Forward hooks on a SAM 2 model that say, per frame, what memory each memory-attention call read."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.frame = -1  # the frame whose image features were fetched last
        self.calls: dict[int, dict] = {}  # frame -> counters and memory-attention records
        self.memories: list[tuple[tuple[int, int], torch.Tensor]] = []  # ((frame, k), (HW, 64))
        self.pointers: list[tuple[tuple[int, int], torch.Tensor]] = []  # ((frame, k), (C,))
        self.decoder_outputs: list[dict] = []
        mem_dim = model.maskmem_tpos_enc.shape[-1]
        self.mem_dim = mem_dim
        self.hooks = [
            model.memory_attention.register_forward_pre_hook(self._on_attention, with_kwargs=True),
            model.memory_encoder.register_forward_hook(self._on_memory),
            model.obj_ptr_proj.register_forward_hook(self._on_pointer),
            model.sam_mask_decoder.register_forward_hook(self._on_decoder),
        ]
        self._spatial: dict[int, torch.Tensor] = {}
        self.start = time.perf_counter()

    def _bucket(self) -> dict:
        return self.calls.setdefault(self.frame, {"attention": [], "memory_encoder": 0, "decoder": 0, "pointer_head": 0})

    def set_frame(self, frame: int) -> None:
        self.frame = int(frame)

    # --- hooks
    def _on_memory(self, module, args, output) -> None:  # type: ignore[no-untyped-def]
        feats = output["vision_features"].detach().float()  # (B, 64, H, W)
        bucket = self._bucket()
        for b in range(feats.shape[0]):
            key = (self.frame, bucket["memory_encoder"])
            self.memories.append((key, feats[b].flatten(1).t().clone()))
            bucket["memory_encoder"] += 1

    def _on_pointer(self, module, args, output) -> None:  # type: ignore[no-untyped-def]
        bucket = self._bucket()
        out = output.detach().float().reshape(-1, output.shape[-1])  # every pointer the head made, one per row
        for b in range(out.shape[0]):
            self.pointers.append(((self.frame, bucket["pointer_head"]), out[b].clone()))
            bucket["pointer_head"] += 1

    def _on_decoder(self, module, args, output) -> None:  # type: ignore[no-untyped-def]
        bucket = self._bucket()
        bucket["decoder"] += 1
        masks, ious, _, scores = output
        self.decoder_outputs.append({"frame": self.frame, "masks": masks.detach().float().clone(),
                                     "ious": ious.detach().float().clone(), "scores": scores.detach().float().clone()})

    def _spatial_pos(self, hw: int) -> torch.Tensor:
        if hw not in self._spatial:
            side = int(round(hw ** 0.5))
            dummy = torch.zeros(1, self.mem_dim, side, side)
            pos = self.model.memory_encoder.position_encoding(dummy)  # (1, 64, H, W)
            self._spatial[hw] = pos[0].flatten(1).t().float()
        return self._spatial[hw]

    def _on_attention(self, module, args, kwargs) -> None:  # type: ignore[no-untyped-def]
        memory = kwargs["memory"].detach().float()
        memory_pos = kwargs["memory_pos"].detach().float()
        n_ptr = int(kwargs.get("num_obj_ptr_tokens", 0))
        curr = kwargs["curr"]
        curr = curr[0] if isinstance(curr, list) else curr
        hw = curr.shape[0]
        record = {"tokens": int(memory.shape[0]), "ptr_tokens": n_ptr, "batch": int(memory.shape[1]),
                  "t": round(time.perf_counter() - self.start, 3)}
        extra = sorted(set(kwargs) - {"curr", "curr_pos", "memory", "memory_pos", "num_obj_ptr_tokens"})
        if extra or args:  # anything a fork passes beyond SAM 2's own arguments
            record["extra_args"] = {k: _describe(kwargs[k]) for k in extra}
            record["positional_args"] = [_describe(a) for a in args]
        n_spatial = memory.shape[0] - n_ptr
        if n_spatial % hw:  # the no-memory token of an initial frame, or an unexpected layout
            record["blocks"] = None
        else:
            record["blocks"] = [self._decode_block(memory[k * hw:(k + 1) * hw], memory_pos[k * hw:(k + 1) * hw])
                                for k in range(n_spatial // hw)]
        if n_ptr:
            record["pointers"] = self._decode_pointers(memory[n_spatial:], memory_pos[n_spatial:])
        self._bucket()["attention"].append(record)

    def _decode_block(self, feats: torch.Tensor, pos: torch.Tensor) -> list:
        tpos = self.model.maskmem_tpos_enc.detach().float().reshape(-1, self.mem_dim)  # (num_maskmem, 64)
        out = []
        for b in range(feats.shape[1]):
            diff = pos[:, b] - self._spatial_pos(feats.shape[0])
            err = (diff[:, None, :] - tpos[None]).abs().amax(dim=(0, 2))
            t_index = int(err.argmin())
            src, dist = self._nearest(feats[:, b], self.memories)
            no_obj = getattr(self.model, "no_obj_embed_spatial", None)
            if no_obj is not None and dist > 1e-4:
                src2, dist2 = self._nearest(feats[:, b] - no_obj.detach().float().reshape(1, -1), self.memories)
                if dist2 < dist:
                    src, dist = [src2[0], src2[1], "no_obj"], dist2
            entry = {"src": list(src), "tpos": t_index, "tpos_err": float(err[t_index]), "dist": dist}
            if dist > 1e-4 and src[0] != "?":  # a scaled memory? (least-squares factor against the matched one)
                ref = dict(self.memories)[tuple(src[:2])]
                scale = float((feats[:, b] * ref).sum() / (ref * ref).sum())
                entry.update(scale=scale, scaled_dist=float((feats[:, b] - scale * ref).abs().amax()))
            out.append(entry)
        return out

    def _decode_pointers(self, tokens: torch.Tensor, pos: torch.Tensor) -> list:
        hidden = self.model.hidden_dim
        split = hidden // self.mem_dim if self.mem_dim < hidden else 1
        n = tokens.shape[0] // split
        result = []
        for b in range(tokens.shape[1]):
            vecs = tokens[:, b].reshape(n, split * self.mem_dim)
            per = []
            for i in range(n):
                candidates = self.pointers + [(("no_obj", -1), self.model.no_obj_ptr.detach().float()[0])]
                src, dist = self._nearest(vecs[i], candidates)
                per.append({"src": list(src), "dist": dist, "pos": self._pointer_distance(pos[i * split, b])})
            result.append(per)
        return result

    def _pointer_distance(self, row: torch.Tensor) -> float | None:
        """The normalised temporal distance t / t_diff_max whose projected sine encoding equals ``row``."""
        from sam2.modeling.sam2_utils import get_1d_sine_pe  # the fork's own helper, loaded by now

        grid = torch.tensor(sorted({round(t / m, 6) for m in range(1, 16) for t in range(-64, 65)}), dtype=torch.float32)
        table = self.model.obj_ptr_tpos_proj(get_1d_sine_pe(grid, dim=self.model.hidden_dim)).detach().float()
        err = (table - row[None]).abs().amax(dim=1)
        i = int(err.argmin())
        return float(grid[i]) if float(err[i]) < 1e-4 else None

    @staticmethod
    def _nearest(x: torch.Tensor, items: list) -> tuple[tuple, float]:
        best, best_d = ("?", -1), float("inf")
        for key, ref in items:
            if ref.shape != x.shape:
                continue
            d = float((ref - x).abs().amax())
            if d < best_d:
                best, best_d = key, d
        return best, best_d

    def summary(self) -> dict:
        return {str(k): v for k, v in sorted(self.calls.items())}


def _describe(value: object) -> object:
    """A small JSON description of an argument (its values when it is small)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().float().flatten()
        return {"shape": list(value.shape), "values": [float(v) for v in flat[:64]]}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value[:16]]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return type(value).__name__


def wrap_frame_context(predictor, probe: Probe) -> None:  # type: ignore[no-untyped-def]
    """Every ``_get_image_feature(state, frame_idx, batch)`` call sets the probe's current frame."""
    original = predictor._get_image_feature

    def fetch(inference_state, frame_idx, batch_size):  # type: ignore[no-untyped-def]
        probe.set_frame(frame_idx)
        return original(inference_state, frame_idx, batch_size)

    predictor._get_image_feature = fetch
