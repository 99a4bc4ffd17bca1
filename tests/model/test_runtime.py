"""The runtime setting: kernels chosen once per placement, bfloat16 compute, torch.compile without
recompilation as objects come and go (all on the CPU, tiny layout at a 128 input)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from samstream.checkpoints import build_model
from samstream.errors import InvalidInputError
from samstream.model.kernels import PLAIN, Kernels, current_kernels
from samstream.model.runtime import MIN_COMPILED_BATCH, RuntimeOptions, pad_rows
from samstream.registry import get_variant
from samstream.video.predictor import VideoPredictor

CONFIG = get_variant("sam2.1-tiny").config.with_image_size(128)  # an 8x8 memory grid: seconds per test
T, H, W = 5, 48, 64


def _model(options: RuntimeOptions | None = None):
    model = build_model(CONFIG, device="cpu", seed=0)
    with torch.no_grad():  # objects predicted present, so the masks compared are not all empty
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(5.0)
    return model if options is None else model.optimize(options)


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    for t in range(T):
        frames[t, 10:25, 5 + 3 * t : 20 + 3 * t] = [250, 30, 30]
        frames[t, 30:45, 40:60] = [30, 30, 250]
    return frames


def _track(model, video, late_object: bool = False,
           on_late_object: Callable[[], None] = lambda: None) -> dict[tuple[int, int], tuple[torch.Tensor, float]]:
    """(object, frame) -> (logits (H, W), object score) for two objects clicked on frame 0 (or the second
    one on frame 2, added after frames 0-1 were tracked with the first alone; ``on_late_object`` is
    called just before)."""
    out = {}
    with VideoPredictor(model, fill_hole_area=0, memory_dtype=torch.float32).open(video) as s:
        s.add_points(0, 1, [[12, 17]], [1])
        if late_object:
            for r in s.propagate(max_frames=2):
                pass
            on_late_object()
            s.add_points(2, 2, [[50, 37]], [1])
        else:
            s.add_points(0, 2, [[50, 37]], [1])
        for r in s.propagate():
            for i, obj_id in enumerate(r.obj_ids):
                out[obj_id, r.frame_idx] = (r.logits[i].clone(), float(r.object_scores[i]))
    return out


def test_options_are_checked() -> None:
    assert RuntimeOptions(dtype="bfloat16").dtype is torch.bfloat16
    with pytest.raises(InvalidInputError, match="dtype"):
        RuntimeOptions(dtype="float16")
    with pytest.raises(InvalidInputError, match="object_chunk"):
        RuntimeOptions(object_chunk=0)
    with pytest.raises(InvalidInputError, match="no field"):
        RuntimeOptions().with_(fast=True)
    with pytest.raises(InvalidInputError, match="CUDA device"):
        _model(RuntimeOptions(cuda_graphs=True))


def test_kernels_chosen_at_placement() -> None:
    model = _model()
    cpu = Kernels(inference=True, cpu_blocks=True, object_chunk=1)
    assert current_kernels(model) == cpu and model.memory_attention.objects_per_batch(5) == 1
    model.optimize(RuntimeOptions(object_chunk=3))
    assert model.memory_attention.objects_per_batch(5) == 3
    model.place("cpu")  # a move keeps the options and chooses again for the device
    assert model.runtime.options.object_chunk == 3 and model.memory_attention.objects_per_batch(5) == 3
    model.optimize(RuntimeOptions(kernels="plain"))
    assert current_kernels(model) == PLAIN and model.memory_attention.objects_per_batch(5) == 5
    model.optimize(RuntimeOptions())
    assert model.image_encoder.trunk.blocks[0].blocked
    model.train()  # training mode is always the plain, differentiable form
    assert not model.image_encoder.trunk.blocks[0].fast and model.memory_attention.objects_per_batch(5) == 5


def test_casts_and_moves_change_no_runtime_behind_the_user() -> None:
    model = _model(RuntimeOptions(compile=True, compile_backend="eager"))
    runtime, encoder = model.runtime, model.runtime.image_encoder
    model.float()
    model.to("cpu")
    model.to(torch.float32)
    assert model.runtime is runtime and model.runtime.image_encoder is encoder  # nothing recompiled
    model.to("meta")  # another device (no data: nothing runs on it), without optimize
    with pytest.raises(InvalidInputError, match=r"parameters are on meta but its runtime was chosen for cpu.*place"):
        model.encode_image(torch.zeros(1, 3, 128, 128, device="meta"))
    model.place("meta")
    assert model.runtime.device == torch.device("meta") and model.runtime.options.compile


def test_pad_rows_repeats_the_last_entry() -> None:
    t = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(pad_rows(t, 5, 0), torch.tensor([[0, 1], [2, 3], [4, 5], [4, 5], [4, 5.0]]))
    assert pad_rows(t, 2, 0) is t


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0, b > 0
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def test_bfloat16_close_to_float32(video) -> None:
    """bfloat16 compute (float32 memories, as the parity tests keep them): masks and scores agree.

    Random weights predict IoUs within 0.002 of each other for the three candidates; before the IoU
    head ran in float32 bfloat16 rounded them equal, the first candidate won and the tracks parted
    (IoU 0.69 from frame 1 on). Measured on 2026-12-03: lowest IoU 0.9939, scores within 1e-3."""
    f32 = _track(_model(), video)
    bf16 = _track(_model(RuntimeOptions(dtype="bfloat16")), video)
    assert f32.keys() == bf16.keys()
    assert sum(int((logits > 0).sum()) for logits, _ in f32.values()) > 0  # not all empty
    for key, (logits, score) in f32.items():
        other, other_score = bf16[key]
        assert other.dtype == torch.float32
        assert _iou(logits, other) >= 0.99, key
        assert (score > 0) == (other_score > 0), key


class _CountingBackend:
    """A torch.compile backend that counts the graphs dynamo hands it and runs them as captured.

    Why not inductor or aot_eager here: on 2 shared cores aot_eager took 48 s to trace the three
    parts and 21 s to run this clip, inductor longer still (see the slow test below); what can
    recompile is dynamo's capture and its guards, which this backend exercises in a second."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list) -> object:
        self.graphs += 1
        return gm.forward


def test_compiled_equals_eager_and_late_object_does_not_recompile(video) -> None:
    """Dynamo-compiled parts (counted) give the eager results within 1e-5; once one object has been
    prompted and tracked, a second one added mid-video (tracked with a future conditioning frame and
    no pointers on frames 0-1, then in one batch with the first) compiles nothing new."""
    torch._dynamo.reset()
    eager = _track(_model(), video, late_object=True)
    counter = _CountingBackend()
    model = _model(RuntimeOptions(compile=True, compile_backend=counter))
    assert model.runtime.min_batch == MIN_COMPILED_BATCH
    before_late: list[int] = []
    compiled = _track(model, video, late_object=True, on_late_object=lambda: before_late.append(counter.graphs))
    assert before_late and before_late[0] > 0
    assert counter.graphs == before_late[0], f"{counter.graphs - before_late[0]} graphs compiled for the late object"
    assert compiled.keys() == eager.keys()
    for key, (logits, score) in eager.items():
        other, other_score = compiled[key]
        assert (logits - other).abs().max() <= 1e-5 * max(1.0, float(logits.abs().max())), key
        assert abs(score - other_score) <= 1e-5 * max(1.0, abs(score)), key


@pytest.mark.slow
def test_inductor_compiled_equals_eager(video) -> None:
    """The real compiler (inductor, C++ on the CPU): results within 1e-5 of eager."""
    torch._dynamo.reset()
    eager = _track(_model(), video)
    compiled = _track(_model(RuntimeOptions(compile=True)), video)
    for key, (logits, _) in eager.items():
        assert (logits - compiled[key][0]).abs().max() <= 1e-5 * max(1.0, float(logits.abs().max())), key
