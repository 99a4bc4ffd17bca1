"""MaskGenerator behaviour on a random-weight model: options, record layout, output modes."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samstream.amg import MaskGenerator
from samstream.amg import generator as generator_module
from samstream.compat import SAM2AutomaticMaskGenerator
from samstream.errors import InvalidInputError
from samstream.io.rle import decode_rle, uncompressed_to_mask

LOOSE = dict(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(points_per_side=None), "exactly one of points_per_side and point_grids"),
        (dict(point_grids=[np.zeros((3, 2))]), "exactly one"),
        (dict(points_per_side=0), "points_per_side"),
        (dict(points_per_side=2.5), "points_per_side"),
        (dict(points_per_batch=0), "points_per_batch"),
        (dict(pred_iou_thresh=float("nan")), "pred_iou_thresh"),
        (dict(stability_score_thresh="high"), "stability_score_thresh"),
        (dict(box_nms_thresh=1.5), "box_nms_thresh"),
        (dict(crop_nms_thresh=-0.1), "crop_nms_thresh"),
        (dict(crop_n_layers=-1), "crop_n_layers"),
        (dict(crop_overlap_ratio=1.0), "crop_overlap_ratio"),
        (dict(crop_n_points_downscale_factor=0), "crop_n_points_downscale_factor"),
        (dict(points_per_side=2, crop_n_layers=2, crop_n_points_downscale_factor=2), "no points in crop layer 2"),
        (dict(min_mask_region_area=-1), "min_mask_region_area"),
        (dict(output_mode="png"), "output_mode"),
        (dict(use_m2m="yes"), "use_m2m"),
        (dict(points_per_side=None, point_grids=[np.zeros((3, 3))]), r"point_grids\[0\]"),
        (dict(points_per_side=None, point_grids=[np.full((3, 2), 2.0)]), r"\[0, 1\]"),
        (dict(points_per_side=None, point_grids=[np.zeros((3, 2))], crop_n_layers=1), "one grid per crop layer"),
        (dict(points_per_side=None, point_grids=np.zeros((3, 2))), "list of"),
    ],
)
def test_invalid_options(tiny_model, options: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        MaskGenerator(tiny_model, **options)


def test_options_defined_once_with_keyword_shortcuts(tiny_model) -> None:
    from samstream.amg import GeneratorOptions

    base = GeneratorOptions(points_per_side=4, crop_n_layers=1)
    gen = MaskGenerator(tiny_model, base, points_per_batch=8)
    assert gen.options == GeneratorOptions(points_per_side=4, crop_n_layers=1, points_per_batch=8)
    assert MaskGenerator(tiny_model).options == GeneratorOptions()  # the defaults live in one place
    assert gen.with_options(box_nms_thresh=0.5).options.crop_n_layers == 1
    with pytest.raises(InvalidInputError, match="unknown option"):
        MaskGenerator(tiny_model, points_per_sid=4)
    with pytest.raises(InvalidInputError, match="expected a GeneratorOptions"):
        MaskGenerator(tiny_model, 32)


def test_records_layout(tiny_model, image) -> None:
    records = MaskGenerator(tiny_model, **LOOSE).generate(image)
    assert len(records) == 2 * 2 * 3  # nothing filtered
    for rec in records:
        assert list(rec) == ["segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score",
                             "crop_box"]
        seg = rec["segmentation"]
        assert seg.shape == (60, 80) and seg.dtype == bool
        assert rec["area"] == int(seg.sum()) and type(rec["area"]) is int
        if seg.any():
            ys, xs = np.nonzero(seg)
            assert rec["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
        assert all(type(v) is float for v in rec["bbox"] + rec["crop_box"] + rec["point_coords"][0])
        assert rec["crop_box"] == [0.0, 0.0, 80.0, 60.0]
        assert rec["point_coords"][0] in ([20.0, 15.0], [60.0, 15.0], [20.0, 45.0], [60.0, 45.0])
    ious = [r["predicted_iou"] for r in records]
    assert ious == sorted(ious, reverse=True)  # NMS hands them back best first


def test_output_modes_agree(tiny_model, image) -> None:
    pytest.importorskip("pycocotools")
    gen = MaskGenerator(tiny_model, **LOOSE)
    binary = gen.generate(image)
    unc = gen.with_options(output_mode="uncompressed_rle").generate(image)
    coco = SAM2AutomaticMaskGenerator(tiny_model, output_mode="coco_rle", **LOOSE).generate(image)
    assert len(binary) == len(unc) == len(coco)
    for b, u, c in zip(binary, unc, coco):
        np.testing.assert_array_equal(uncompressed_to_mask(u["segmentation"]), b["segmentation"])
        np.testing.assert_array_equal(decode_rle(c["segmentation"]), b["segmentation"])
        assert isinstance(c["segmentation"]["counts"], str)
        assert b["bbox"] == u["bbox"] == c["bbox"] and b["area"] == u["area"] == c["area"]


def test_strict_thresholds_give_no_records(tiny_model, image) -> None:
    gen = MaskGenerator(tiny_model, points_per_side=2, pred_iou_thresh=0.99999)
    assert gen.generate(image) == []


@pytest.mark.slow
def test_crops_keep_records_inside_the_image(tiny_model, image) -> None:
    gen = MaskGenerator(tiny_model, **dict(LOOSE, crop_n_layers=1, crop_nms_thresh=1.0))
    records = gen.generate(image)
    crops = {tuple(r["crop_box"]) for r in records}
    assert (0.0, 0.0, 80.0, 60.0) in crops
    for r in records:
        x, y, w, h = r["bbox"]
        assert 0 <= x and 0 <= y and x + w < 80 and y + h < 60
        cx, cy, cw, ch = r["crop_box"]
        px, py = r["point_coords"][0]
        assert cx <= px <= cx + cw and cy <= py <= cy + ch


def test_compat_exposes_options(tiny_model) -> None:
    gen = SAM2AutomaticMaskGenerator(tiny_model, points_per_side=4, crop_n_layers=1, unknown_extra=1)
    assert gen.points_per_batch == 64 and gen.box_nms_thresh == 0.7 and gen.output_mode == "binary_mask"
    assert [len(g) for g in gen.point_grids] == [16, 16]


def test_postprocess_small_regions(tiny_model) -> None:
    masks = np.zeros((2, 20, 20), dtype=bool)
    masks[0, 2:12, 2:12] = True
    masks[0, 5, 5] = False  # a one-pixel hole
    masks[1, 2:12, 2:12] = True  # same object without the hole: a duplicate after filling
    out, keep = SAM2AutomaticMaskGenerator.postprocess_small_regions(masks, 3, 0.7)
    assert keep.tolist() == [1] and out.shape == (1, 20, 20) and out[0].sum() == 100


def _comparable(record: dict) -> dict:
    seg = record["segmentation"]
    return {**record, "segmentation": seg.tobytes() if isinstance(seg, np.ndarray) else seg}


def _records_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("samstream-records")]


@pytest.mark.parametrize("output_mode", ["binary_mask", "coco_rle"])
def test_generate_all_equals_generate_with_records_on_a_worker(tiny_model, image, monkeypatch, output_mode) -> None:
    """Records (masks and their RLE encoding) built on the worker thread while the model runs on the
    next image: the same records as one generate() per image, in order."""
    gen = MaskGenerator(tiny_model, output_mode=output_mode, **LOOSE)
    images = [image, image[::-1].copy(), image[:, ::-1].copy()]
    sequential = [gen.generate(im) for im in images]
    built_on: list[str] = []
    build = generator_module.build_records

    def recorded(*args, **kwargs):
        built_on.append(threading.current_thread().name)
        return build(*args, **kwargs)

    monkeypatch.setattr(generator_module, "build_records", recorded)
    overlapped = list(gen.generate_all(iter(images)))
    assert sum(len(r) for r in sequential) > 0
    assert len(overlapped) == len(sequential)
    for got, expected in zip(overlapped, sequential):
        assert [_comparable(r) for r in got] == [_comparable(r) for r in expected]  # every field
    assert len(built_on) == 3 and all(name.startswith("samstream-records") for name in built_on)
    assert not _records_threads()


def test_generate_all_raises_and_stops_on_a_bad_image(tiny_model, image) -> None:
    gen = MaskGenerator(tiny_model, **LOOSE)
    results = gen.generate_all([image, np.zeros((4, 4), dtype=np.float64) - 1, image])
    with pytest.raises(InvalidInputError, match="image"):
        list(results)
    assert not _records_threads()


def test_points_per_batch_is_the_decoder_batch(tiny_model, image, monkeypatch) -> None:
    """Prompts reach the model points_per_batch at a time, and the grouping changes no record."""
    one_batch = MaskGenerator(tiny_model, **{**LOOSE, "points_per_side": 4}).generate(image)
    sizes: list[int] = []
    decode = tiny_model.decode

    def counted(embed, high_res, points, mask, multimask):
        sizes.append(points[0].shape[0])
        return decode(embed, high_res, points, mask, multimask)

    monkeypatch.setattr(tiny_model, "decode", counted)
    batched = MaskGenerator(tiny_model, **{**LOOSE, "points_per_side": 4}, points_per_batch=5).generate(image)
    assert sizes == [5, 5, 5, 1]
    assert len(batched) == len(one_batch)
    for a, b in zip(batched, one_batch):
        assert np.array_equal(a["segmentation"], b["segmentation"]) and a["bbox"] == b["bbox"]
        assert a["predicted_iou"] == pytest.approx(b["predicted_iou"], abs=1e-5)
