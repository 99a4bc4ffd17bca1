"""RLE encodings and the COCO JSON writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from samstream.errors import InvalidInputError
from samstream.io.rle import (
    decode_rle, encode_rle, encode_rles, to_uncompressed_rle, to_uncompressed_rles, uncompressed_to_mask,
    write_coco_json,
)

mask_utils = pytest.importorskip("pycocotools.mask")


def _masks(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    masks = rng.random((6, 9, 13)) > 0.6
    masks[1] = True
    masks[2] = False
    masks[3, 0, 0], masks[4, 0, 0] = True, False
    return masks


def _naive_uncompressed(mask: np.ndarray) -> list[int]:
    """Runs of the column-major pixels, starting with a run of zeros, by a plain loop."""
    counts, current, run = [], False, 0
    for v in mask.T.ravel():
        if bool(v) != current:
            counts.append(run)
            current, run = bool(v), 0
        run += 1
    counts.append(run)
    return counts


def test_uncompressed_matches_a_plain_loop_and_round_trips() -> None:
    masks = _masks()
    rles = to_uncompressed_rles(torch.from_numpy(masks))
    assert rles == to_uncompressed_rles(masks)  # numpy in, same result
    for m, rle in zip(masks, rles):
        assert rle["size"] == [9, 13]
        assert rle["counts"] == _naive_uncompressed(m)
        assert all(type(c) is int for c in rle["counts"])
        np.testing.assert_array_equal(uncompressed_to_mask(rle), m)
    assert to_uncompressed_rle(masks[0]) == rles[0]
    assert to_uncompressed_rles(np.zeros((0, 3, 4), bool)) == []


def test_uncompressed_is_what_pycocotools_compresses_to_the_same_rle() -> None:
    for m in _masks(1):
        ours = to_uncompressed_rle(m)
        via_coco = mask_utils.frPyObjects(ours, *ours["size"])
        direct = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert via_coco["counts"] == direct["counts"]


def test_compressed_round_trip_against_pycocotools() -> None:
    masks = _masks(2)
    rles = encode_rles(masks)
    for m, rle in zip(masks, rles):
        assert isinstance(rle["counts"], str) and rle["size"] == [9, 13]
        assert rle == encode_rle(m)
        coded = {"size": rle["size"], "counts": rle["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(coded).astype(bool), m)
        np.testing.assert_array_equal(decode_rle(rle), m)
        np.testing.assert_array_equal(decode_rle(to_uncompressed_rle(m)), m)
        assert mask_utils.area(coded) == m.sum()


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match=r"\(H, W\)"):
        encode_rle(np.zeros((2, 3, 4), bool))
    with pytest.raises(InvalidInputError, match="counts"):
        uncompressed_to_mask({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(InvalidInputError, match="size"):
        decode_rle([1, 2])


def test_write_coco_json(tmp_path) -> None:
    masks = _masks(3)
    records = [
        {"segmentation": masks[0], "predicted_iou": 0.9, "stability_score": 0.97},
        {"segmentation": to_uncompressed_rle(masks[3]), "area": int(masks[3].sum()), "bbox": [0.0, 0.0, 12.0, 8.0],
         "predicted_iou": 0.8},
        {"segmentation": encode_rle(masks[5]), "score": 0.5},
    ]
    path = write_coco_json(tmp_path / "out" / "pred.json", [("a.png", 9, 13), ("b.png", 9, 13)], [records, []])
    doc = json.loads(path.read_text())
    assert [im["id"] for im in doc["images"]] == [1, 2] and doc["images"][0]["file_name"] == "a.png"
    anns = doc["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3] and {a["image_id"] for a in anns} == {1}
    assert doc["categories"][0]["id"] == 1 and all(a["category_id"] == 1 and a["iscrowd"] == 0 for a in anns)
    for ann, m in zip(anns, [masks[0], masks[3], masks[5]]):
        np.testing.assert_array_equal(decode_rle(ann["segmentation"]), m)
        assert ann["area"] == int(m.sum())
    for ann, m in zip([anns[0], anns[2]], [masks[0], masks[5]]):  # no bbox given: the mask's extent
        ys, xs = np.nonzero(m)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    assert anns[1]["bbox"] == [0.0, 0.0, 12.0, 8.0]  # a given bbox is kept
    assert [a["score"] for a in anns] == [0.9, 0.8, 0.5] and anns[0]["stability_score"] == 0.97
    assert not list((tmp_path / "out").glob("*.tmp"))
    with pytest.raises(InvalidInputError, match="one list per image"):
        write_coco_json(tmp_path / "x.json", [("a.png", 9, 13)], [])
