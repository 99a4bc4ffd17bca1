"""Unit tests of samstream.io.masks (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.errors import InvalidInputError
from samstream.io.labels import davis_palette, write_label_png
from samstream.io.masks import (
    JsonLinesWriter,
    TrackedFrame,
    label_map,
    mask_bbox,
    prepare_output_dir,
    write_tracking_run,
)
from samstream.io.rle import decode_rle


def test_prepare_output_dir_guards(tmp_path: Path) -> None:
    out = prepare_output_dir(tmp_path / "o", ["a.json", "masks/"])
    assert out.is_dir()
    (out / "masks").mkdir()
    prepare_output_dir(out, ["a.json", "masks/"])  # an empty folder is not an output
    (out / "masks" / "0.png").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="--force"):
        prepare_output_dir(out, ["masks/"])
    prepare_output_dir(out, ["masks/"], force=True)
    assert not (out / "masks").exists()  # --force clears the output folders it names
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        prepare_output_dir(tmp_path / "file", [])


def test_indexed_png_round_trip(tmp_path: Path) -> None:
    labels = np.zeros((5, 7), np.uint8)
    labels[1:3, 2:5] = 3
    path = write_label_png(tmp_path / "x.png", labels)
    with Image.open(path) as img:
        assert img.mode == "P"
        assert (np.asarray(img) == labels).all()
        assert np.array_equal(np.array(img.getpalette()[:768], np.uint8).reshape(-1, 3), davis_palette())
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left
    with pytest.raises(InvalidInputError, match="ids must lie"):
        write_label_png(tmp_path / "y.png", np.full((2, 2), 300))


def test_label_map_and_bbox() -> None:
    masks = np.zeros((2, 4, 6), bool)
    masks[0, 1:3, 1:4] = True
    masks[1, 2:4, 3:6] = True
    labels = label_map([4, 9], masks)
    assert labels[1, 1] == 4 and labels[2, 3] == 9 and labels[0, 0] == 0  # the later object wins overlaps
    assert mask_bbox(masks[0]) == [1, 1, 3, 2]
    assert mask_bbox(np.zeros((3, 3), bool)) == [0, 0, 0, 0]
    assert label_map([], masks[:0], (4, 6)).shape == (4, 6)


def test_jsonl_writer_is_atomic(tmp_path: Path) -> None:
    w = JsonLinesWriter(tmp_path / "a.jsonl")
    w.write({"i": 1})
    assert not (tmp_path / "a.jsonl").exists()  # only the temporary file so far
    w.close()
    assert (tmp_path / "a.jsonl").read_text() == '{"i": 1}\n'
    with JsonLinesWriter(tmp_path / "b.jsonl") as w2:
        w2.write({"i": 2})
    with pytest.raises(RuntimeError):
        with JsonLinesWriter(tmp_path / "c.jsonl") as w3:
            w3.write({"i": 3})
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]


def test_write_tracking_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for t in range(3):
        masks = rng.random((2, 12, 16)) > 0.6
        frames.append(TrackedFrame(t, f"{t:05d}", rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), [1, 5],
                                   masks, [0.5, float("nan")]))
    seen = []
    n = write_tracking_run(tmp_path, iter(frames), per_object=True, video=None, on_frame=seen.append)
    assert n == 3 and len(seen) == 3
    lines = [json.loads(line) for line in (tmp_path / "masks.jsonl").read_text().splitlines()]
    for f, rec in zip(frames, lines):
        for k, obj in enumerate(rec["objects"]):
            assert np.array_equal(decode_rle(obj["segmentation"]), f.masks[k])
            assert obj["area"] == int(f.masks[k].sum())
        assert rec["objects"][1]["object_score"] is None
        with Image.open(tmp_path / "objects" / "005" / f"{f.name}.png") as img:
            assert np.array_equal(np.asarray(img), f.masks[1].astype(np.uint8))
        with Image.open(tmp_path / "masks" / f"{f.name}.png") as img:
            assert np.array_equal(np.asarray(img), label_map([1, 5], f.masks))
