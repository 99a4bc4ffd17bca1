"""The onnxruntime host against samstream's PyTorch predictors, its numpy steps, and its errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samstream.errors import CheckpointError, InvalidInputError, PromptError, UnknownObjectError
from samstream.image.postprocess import fill_holes as torch_fill_holes
from samstream.image.predictor import ImagePredictor
from samstream.image.transforms import preprocess
from samstream.onnx import OnnxImagePredictor, OnnxTracker
from samstream.onnx.arrays import fill_holes, resize_bilinear, to_bfloat16_values
from samstream.onnx.runtime import OnnxGraphs
from samstream.video.stream import StreamTracker
from tests.onnx.conftest import agree, moving_discs, rel_diff, same_result

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graphs(onnx_export) -> OnnxGraphs:
    return OnnxGraphs(onnx_export[0], threads=1)


def test_tracker_matches_stream_tracker(onnx_model, graphs, single_threads) -> None:
    """30 frames, object 1 clicked on frame 0 and corrected on frame 20, object 2 boxed on frame 10."""
    ref, ours = StreamTracker(onnx_model), OnnxTracker(graphs)
    worst, compared, foreground = 0.0, 0, 0

    def check(a, b) -> None:
        nonlocal worst, compared, foreground
        worst = max(worst, same_result(a, b))
        compared += len(a.obj_ids)
        foreground += int((a.logits > 0).sum())

    for t, frame in enumerate(moving_discs(30)):
        check(ref.step(frame), ours.step(frame))
        if t == 0:
            check(ref.add_points(1, [[20, 30]], [1]), ours.add_points(1, [[20, 30]], [1]))
        if t == 10:
            check(ref.add_box(2, [68, 52, 92, 76]), ours.add_box(2, [68, 52, 92, 76]))
        if t == 20:
            args = (1, [[42, 30], [5, 5]], [1, 0])
            check(ref.add_points(*args), ours.add_points(*args))
    assert compared == 1 + 10 + 1 + 2 * 9 + 2 + 2 * 10 + 2 - 1  # objects' results seen (frame 0: none yet)
    assert worst < 1e-2 and foreground > 0
    print(f"tracker: worst relative logit difference {worst:.2e} over {compared} object-frames")


def _decoding_masks(onnx_export, tmp_path) -> OnnxGraphs:
    """The export as it would be of a model whose tracker decodes mask prompts instead of taking them
    as the output (``use_mask_input_as_output_without_sam=False``: no graph changes, only the manifest)."""
    folder = tmp_path / "decoding-masks"
    shutil.copytree(onnx_export[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tracking"]["use_mask_input_as_output_without_sam"] = False
    manifest["config"]["tracking"]["use_mask_input_as_output_without_sam"] = False
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return OnnxGraphs(folder, threads=1)


@pytest.mark.parametrize("as_output", [True, False])
def test_add_mask_matches_stream_tracker(onnx_model, onnx_export, graphs, single_threads, tmp_path,
                                         as_output) -> None:
    """Mask prompts at the frame size (96 x 120, resized to the 128 input): a new object's disc as bools
    on frame 0, a second object's square as 0 / 1 integers and a third's empty mask on frame 3, a
    correction of the first (a tracked frame) on frame 5, clicks on top of a mask on frame 3. Masks
    taken as the output (the released models' setting), or decoded as the decoder's mask input."""
    if as_output:
        ref, ours = StreamTracker(onnx_model), OnnxTracker(graphs)
    else:
        policy = replace(onnx_model.cfg.tracking, use_mask_input_as_output_without_sam=False)
        ref, ours = StreamTracker(onnx_model, tracking=policy), OnnxTracker(_decoding_masks(onnx_export, tmp_path))
    yy, xx = np.mgrid[:96, :120]
    worst, scores = 0.0, []
    for t, frame in enumerate(moving_discs(9)):
        steps = [(ref.step, ours.step, (frame,))]
        if t == 0:
            steps.append((ref.add_mask, ours.add_mask, (1, (xx - 20) ** 2 + (yy - 30) ** 2 <= 144)))
        if t == 3:
            square = ((abs(xx - 87) <= 9) & (abs(yy - 61) <= 9)).astype(np.uint8)
            steps += [(ref.add_mask, ours.add_mask, (2, square)),
                      (ref.add_mask, ours.add_mask, (3, np.zeros((96, 120), bool))),
                      (ref.add_points, ours.add_points, (2, [[87, 61]], [1], False))]
        if t == 5:
            steps.append((ref.add_mask, ours.add_mask, (1, ((xx - 25) ** 2 + (yy - 30) ** 2 <= 100).astype(float))))
        for ref_verb, our_verb, args in steps:
            a, b = ref_verb(*args), our_verb(*args)
            worst = max(worst, same_result(a, b))
            scores.append(b.object_scores)
            if our_verb == ours.add_mask:  # the pointer the later frames attend to
                track = ours.objects[args[0]]
                got = track.pending_cond.get(t) or track.pending_non_cond[t]
                worst = max(worst, rel_diff(ref.tracker.track(args[0]).output_on(t).obj_ptr, got.obj_ptr))
    present = np.concatenate(scores)
    assert (present > 0).any()
    assert (present < 0).any() or not as_output  # taken as the output, an empty mask is an absent object
    assert worst < 1e-4  # measured 3e-6 (as the output) and 1e-6 (decoded), 2026-12-03
    print(f"add_mask (as output: {as_output}): worst relative difference of logits and pointers {worst:.2e}")


def test_add_mask_bad_input(graphs, onnx_export, tmp_path) -> None:
    tracker = OnnxTracker(graphs)
    with pytest.raises(PromptError, match="add_mask: no frame yet"):
        tracker.add_mask(1, np.ones((96, 120), bool))
    tracker.step(moving_discs(1)[0])
    for bad, message in ((np.ones((1, 96, 120), bool), "mask: shape"), (np.full((96, 120), 0.5), "mask: values"),
                         (np.full((96, 120), "1"), "mask: values"), (np.zeros((0, 5)), "mask: shape")):
        with pytest.raises(PromptError, match=message):
            tracker.add_mask(1, bad)
    with pytest.raises(PromptError, match="obj_id"):
        tracker.add_mask("one", np.ones((96, 120), bool))
    assert tracker.obj_ids == []  # nothing half-added
    with pytest.raises(UnknownObjectError, match="obj_id: unknown object 7"):
        tracker.remove_object(7)
    folder = tmp_path / "older"  # an export made before the manifest carried the host's constants
    shutil.copytree(onnx_export[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["constants"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    older = OnnxTracker(folder)
    older.step(moving_discs(1)[0])
    older.add_points(1, [[20, 30]], [1])  # everything else still runs
    with pytest.raises(CheckpointError, match="export the model again"):
        older.add_mask(2, np.ones((96, 120), bool))
    assert older.obj_ids == [1]


@pytest.mark.parametrize("multimask", [True, False])
def test_image_predictor_matches(onnx_model, graphs, multimask) -> None:
    image = moving_discs(1, h=90, w=150)[0]
    ref, ours = ImagePredictor(onnx_model), OnnxImagePredictor(graphs)
    ref.set_image(image)
    ours.set_image(image)
    for prompt in ({"points": [[20, 30], [100, 60]], "labels": [1, 0]}, {"box": [5, 10, 60, 70]},
                   {"points": [[[20, 30]], [[90, 60]]], "labels": [[1], [1]]}):
        a = ref.predict(**prompt, multimask=multimask, return_logits=True)
        b = ours.predict(**prompt, multimask=multimask, return_logits=True)
        assert rel_diff(a.masks, b.masks) <= 1e-4 and rel_diff(a.scores, b.scores) <= 1e-4
        assert rel_diff(a.logits, b.logits) <= 1e-4
        agree(a.masks, b.masks)
    out = ours.predict(points=[[20, 30]], labels=[1], multimask=multimask)
    assert out.masks.dtype == bool and out.masks.shape[1:] == (90, 150)


BAD_PROMPTS = [  # one of each rule of samstream.prompt_rules
    dict(),
    dict(points=[[10, 10]]),
    dict(points=[[10, 10]], labels=[1, 1]),
    dict(points=[[10, 10]], labels=[2]),
    dict(points=[[10, 10]], labels=[0.5]),
    dict(points=[[500, 10]], labels=[1]),
    dict(points=[[np.nan, 1]], labels=[1]),
    dict(points=[1, 2, 3], labels=[1]),
    dict(points=np.zeros((0, 2)), labels=[]),
    dict(points=[[[1, 1]]], labels=[1]),
    dict(points=[[[1, 1]], [[2, 2]], [[3, 3]]], labels=[[1], [1], [1]], box=[[0, 0, 5, 5], [0, 0, 6, 6]]),
    dict(box=[50, 50, 10, 10]),
    dict(box=[0, 0, 10]),
    dict(box=[0, 0, 10, 400]),
    dict(box=[0, 0, 10, 10], mask=np.zeros((1, 8, 8))),
    dict(box=[0, 0, 10, 10], mask=np.full((1, 32, 32), np.inf)),
    dict(box=[[0, 0, 10, 10]] * 2, mask=np.zeros((3, 1, 32, 32))),
]


def test_bad_prompts_get_the_same_error_on_both_hosts(onnx_model, graphs) -> None:
    # one set of rules: the PyTorch predictor and the ONNX host refuse the same prompts with the same
    # message, "prompt: empty" when there is none at all (the host used to speak of a mask prompt)
    image = moving_discs(1, h=90, w=150)[0]
    ref, ours = ImagePredictor(onnx_model), OnnxImagePredictor(graphs)
    ref.set_image(image)
    ours.set_image(image)
    assert graphs.image_size // 4 == 32
    for prompt in BAD_PROMPTS:
        with pytest.raises(PromptError) as a:
            ref.predict(**prompt)
        with pytest.raises(PromptError) as b:
            ours.predict(**prompt)
        assert str(a.value) == str(b.value), prompt
    with pytest.raises(PromptError, match="prompt: empty; give points"):
        ours.predict()


def test_image_input_matches_predictor_preprocessing(graphs) -> None:
    rng = np.random.default_rng(3)
    size = graphs.image_size
    for shape in ((90, 150), (size, size), (size // 2, size * 3), (size * 2 + 3, size + 1)):
        rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        ref = preprocess([rgb], size, graphs.config.pixel_mean, graphs.config.pixel_std, torch.device("cpu"))
        ours = graphs.image_input(rgb)
        assert ours.dtype == np.float32 and ours.shape == (1, 3, size, size)
        assert np.abs(ref.numpy() - ours).max() <= 1e-5, shape


def test_images_are_read_as_the_pytorch_predictor_reads_them(onnx_model, graphs) -> None:
    """One image conversion for both hosts: float, 16-bit and RGBA forms of a picture give the uint8
    picture's masks, and what the PyTorch predictor refuses the ONNX host refuses alike."""
    rgb = moving_discs(1, h=90, w=150)[0]
    pred = OnnxImagePredictor(graphs)
    pred.set_image(rgb)
    expected = pred.predict(points=[[20, 30]], labels=[1], return_logits=True).masks
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 7, np.uint8)], axis=2)
    for form in (rgb.astype(np.float32) / 255.0, rgb.astype(np.uint16) * 257, rgba):
        pred.set_image(form)
        assert np.array_equal(pred.predict(points=[[20, 30]], labels=[1], return_logits=True).masks, expected)
    for bad, words in ((torch.zeros(8, 8, 3, dtype=torch.uint8), "torch.Tensor"),
                       (np.full((8, 8, 3), 2.0, np.float32), r"\[0, 1\]"), (np.zeros((8, 8, 2), np.uint8), "shape")):
        for host in (pred, ImagePredictor(onnx_model)):
            with pytest.raises(InvalidInputError, match=words):
                host.set_image(bad)


def test_numpy_steps_match_torch() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 37, 53, generator=gen)
    for size, aa in (((16, 16), True), ((16, 16), False), ((128, 128), True), ((64, 20), True), ((200, 90), False),
                     ((37, 53), True), ((37, 53), False), ((5, 90), True), ((90, 7), False), ((1, 1), True)):
        ref = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=aa)
        assert rel_diff(ref, resize_bilinear(x.numpy(), size, antialias=aa)) <= 1e-5, (size, aa)
    logits = torch.randn(3, 1, 24, 24, generator=gen) + 0.8  # many small holes, and some large regions
    assert np.array_equal(torch_fill_holes(logits, 8).numpy(), fill_holes(logits.numpy(), 8))
    assert np.array_equal(torch_fill_holes(logits, 30).numpy(), fill_holes(logits.numpy(), 30))
    values = torch.randn(1000, generator=gen) * 100
    assert np.array_equal(values.to(torch.bfloat16).float().numpy(), to_bfloat16_values(values.numpy()))


def test_bad_inputs_are_samstream_errors(onnx_export, graphs, tmp_path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(onnx_export[0], folder)
    with pytest.raises(CheckpointError, match="not 'sam2.1-large'"):
        OnnxGraphs(folder, variant="sam2.1-large")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["graphs"]["decoder"]["shapes"]["image_embed"] = [1, 256, 64, 64]  # as another input size's
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="another variant"):
        OnnxGraphs(folder)
    shutil.copy(onnx_export[0] / "manifest.json", folder / "manifest.json")
    with open(folder / "decoder.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(CheckpointError, match="checksum"):
        OnnxGraphs(folder)
    (folder / "decoder.onnx").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        OnnxGraphs(folder)
    tracker = OnnxTracker(graphs)
    with pytest.raises(PromptError, match="no frame yet"):
        tracker.add_points(1, [[1, 1]], [1])
    frames = moving_discs(2)
    tracker.step(frames[0])
    with pytest.raises(PromptError, match="outside the 120x96 image"):
        tracker.add_points(1, [[130, 10]], [1])
    with pytest.raises(InvalidInputError, match="differs from the stream's 120x96"):
        tracker.step(frames[1][:50])
    predictor = OnnxImagePredictor(graphs)
    with pytest.raises(InvalidInputError, match="set_image"):
        predictor.predict(points=[[1, 1]], labels=[1])


# run in a fresh interpreter where torch and samstream's other core dependencies but numpy and
# Pillow cannot be imported (as where they are not installed): the predictor and the tracker on an
# export, their outputs saved for the test to compare
WITHOUT_TORCH = """
import sys
for name in ("torch", "torchvision", "av", "tqdm"):
    sys.modules[name] = None  # from now on `import torch` (and of any torch.*) raises ImportError
try:
    import torch
except ImportError:
    pass
else:
    sys.exit("the torch blocker does not work")
import numpy as np
from samstream.onnx import OnnxImagePredictor, OnnxTracker

export, clip_file, out_file = sys.argv[1:4]
clip = np.load(clip_file)
predictor = OnnxImagePredictor(export, threads=1)
predictor.set_image(clip[0])
image = predictor.predict(points=[[20, 30]], labels=[1], return_logits=True)
tracker = OnnxTracker(export, threads=1)
logits = []
for t, frame in enumerate(clip):
    result = tracker.step(frame)
    if t == 0:
        result = tracker.add_points(1, [[20, 30]], [1])
    if t == 2:
        result = tracker.add_mask(2, clip[t, :, :, 1] > 150)
    logits.append(result.logits)
np.savez(out_file, image=image.masks, scores=image.scores, tracked=np.concatenate(logits))
"""


def test_host_runs_without_torch(onnx_export, graphs, tmp_path) -> None:
    """The host's outputs where torch cannot be imported equal those of the same host here."""
    clip = np.stack(moving_discs(4))
    np.save(tmp_path / "clip.npy", clip)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(onnx_export[0]), str(tmp_path / "clip.npy"),
                          str(tmp_path / "out.npz")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.load(tmp_path / "out.npz")
    predictor = OnnxImagePredictor(graphs)
    predictor.set_image(clip[0])
    image = predictor.predict(points=[[20, 30]], labels=[1], return_logits=True)
    tracker, logits = OnnxTracker(graphs), []
    for t, frame in enumerate(clip):
        result = tracker.step(frame)
        if t == 0:
            result = tracker.add_points(1, [[20, 30]], [1])
        if t == 2:
            result = tracker.add_mask(2, frame[:, :, 1] > 150)
        logits.append(result.logits)
    assert np.allclose(got["image"], image.masks, atol=1e-5) and np.allclose(got["scores"], image.scores, atol=1e-6)
    tracked = np.concatenate(logits)
    assert tracked.shape == (1 + 1 + 2 + 2, 96, 120) and (tracked > 0).any()
    assert np.allclose(got["tracked"], tracked, atol=1e-5)
