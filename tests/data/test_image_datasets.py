"""SA-1B and COCO instance readers on generated files (RLEs encoded with pycocotools)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samstream.data.image_datasets import CocoInstances, SA1BDataset, decode_segmentation, open_image_dataset
from samstream.errors import InvalidInputError
from tests.data.synth import H, W, write_coco, write_sa1b

pytest.importorskip("pycocotools")


def test_sa1b(tmp_path: Path) -> None:
    expected = write_sa1b(tmp_path / "sa1b", num_images=2)
    (tmp_path / "sa1b" / "orphan.jpg").write_bytes(b"")  # no JSON beside it: not listed
    ds = open_image_dataset("sa1b", tmp_path / "sa1b")
    assert isinstance(ds, SA1BDataset) and len(ds) == 2
    for sample in ds:
        masks = expected[sample.image_path.stem]
        assert sample.masks.dtype == bool and np.array_equal(sample.masks, masks)
        assert sample.ann_ids == [10 * int(sample.image_path.stem[-1]) + k for k in range(len(masks))]


def test_sa1b_bad_json(tmp_path: Path) -> None:
    write_sa1b(tmp_path, num_images=1)
    (tmp_path / "sa_0.json").write_text(json.dumps({"no": "annotations"}))
    with pytest.raises(InvalidInputError, match="SA-1B"):
        SA1BDataset(tmp_path)[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no image"):
        SA1BDataset(empty)


def test_coco(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    ann_file, expected = write_coco(tmp_path / "coco")
    ds = open_image_dataset("coco", tmp_path / "coco", ann_file)
    assert isinstance(ds, CocoInstances) and len(ds) == 2  # the image without annotations is left out
    rect = np.zeros((H, W), bool)
    rect[10:21, 10:31] = True
    for sample, image_id in zip(ds, (1, 2)):
        assert sample.image_path.name == f"{image_id:012d}.png"
        assert sample.ann_ids == [a for a, _ in expected[image_id]]  # the crowd one is skipped
        assert np.array_equal(sample.masks[0], expected[image_id][0][1])
        polygon = [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]
        ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygon, H, W))).astype(bool)
        assert np.array_equal(sample.masks[1], ref)
        assert (sample.masks[1] & rect).sum() / (sample.masks[1] | rect).sum() > 0.8


def test_uncompressed_rle_and_errors() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    counts = [9, 2, 2, 2, 5]  # column-major runs: 0s then 1s, alternating
    assert np.array_equal(decode_segmentation({"size": [4, 5], "counts": counts}, 4, 5), mask)
    with pytest.raises(InvalidInputError, match="segmentation"):
        decode_segmentation("polygon?", 4, 5)
    with pytest.raises(InvalidInputError, match="format"):
        open_image_dataset("voc", ".")
