"""Exports and imports: SA-V JSON (the example's layout), DAVIS PNGs, YouTube-VIS RLE JSON, overlay MP4.

Masks imported unchanged and exported again score J&F = 1.0 with samstream's own evaluators.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from samstream.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under numpy 2
from samstream.eval.davis import evaluate_davis
from samstream.io.labels import write_label_png
from samstream.eval.sav import evaluate_sav
from samstream.io.masks import write_object_pngs
from samstream.io.rle import decode_rle, encode_rle
from tests.studio.conftest import clip
from tests.studio.helpers import stored_masks

EXAMPLE = Path("/work/shared/data/sav_example/sav_000001_manual.json")


def sav_ground_truth(c, stride: int = 4) -> dict:
    """An SA-V manual file of the clip's objects, written by hand (the import's input)."""
    frames = list(range(0, len(c.frames), stride))
    n = len(c.obj_ids)
    return {"video_id": "clip", "video_duration": 1.0, "video_frame_count": float(len(c.frames)),
            "video_height": 128.0, "video_width": 128.0, "video_resolution": 16384.0,
            "video_environment": "Indoor", "video_split": "test",
            "masklet": [[encode_rle(c.masks[f, k]) for k in range(n)] for f in frames],
            "masklet_id": list(range(n)), "masklet_size_rel": [0.1] * n, "masklet_size_abs": [10.0] * n,
            "masklet_size_bucket": ["medium"] * n, "masklet_visibility_changes": [0] * n,
            "masklet_first_appeared_frame": [0.0] * n, "masklet_frame_count": [len(frames)] * n,
            "masklet_edited_frame_count": [1] * n, "masklet_type": ["manual"] * n,
            "masklet_stability_score": [None] * n, "masklet_num": n}


@pytest.mark.skipif(not EXAMPLE.is_file(), reason="the SA-V example file is not available")
def test_sav_export_has_the_layout_of_the_example(studio):
    studio.post("/api/videos/1/objects", json={})
    studio.post("/api/videos/1/prompts", json={"obj_id": 1, "frame": 2, "points": [[60, 60]], "labels": [1]})
    written = studio.post("/api/videos/1/export", json={"format": "sav", "stride": 2}).json()
    doc = studio.get(f"/api/exports/{written['files'][0]}").json()
    example = json.loads(EXAMPLE.read_text())
    assert list(doc) == list(example)
    for key, value in example.items():
        assert type(doc[key]) is type(value), key
        if isinstance(value, list) and key != "masklet_stability_score":
            assert type(doc[key][0]) is type(value[0]), key
    assert len(doc["masklet"]) == 4 and doc["masklet_num"] == 1  # frames 0, 2, 4, 6
    assert decode_rle(doc["masklet"][1][0]).any() and not decode_rle(doc["masklet"][0][0]).any()
    assert doc["masklet_first_appeared_frame"] == [1.0]  # counted in annotated frames: frame 2 is the second
    assert doc["masklet_edited_frame_count"] == [1] and doc["masklet_frame_count"] == [4]
    sidecar = studio.get(f"/api/exports/{written['files'][1]}").json()
    assert sidecar["masklets"][0]["effort"]["clicks"] == 1


def test_sav_import_then_export_scores_one(studio, tmp_path):
    c = clip()
    reply = studio.post("/api/videos/1/import", json=sav_ground_truth(c))
    assert reply.status_code == 201 and reply.json()["objects"] == [1, 2]
    written = studio.post("/api/videos/1/export", json={"format": "sav"}).json()
    assert "sav/Annotations_6fps/clip" in written["files"]
    gt = tmp_path / "gt"
    for f in (0, 4):
        write_object_pngs(gt / "clip", f"{f:05d}", [0, 1], c.masks[f].astype(np.uint8))
    exported = studio.app_state.studio.data_dir / "exports" / "sav" / "Annotations_6fps"
    result = evaluate_sav(exported, gt, keep_first_last=True)
    assert result.jf == 1.0 and len(result.per_object) == 2
    # imported masklets are editable: their first mask is a prompt, so they propagate
    assert studio.post("/api/videos/1/propagate", json={"end": 2}).status_code == 202


def test_davis_import_export_scores_one(studio, tmp_path):
    c = clip()
    gt = tmp_path / "davis"
    labels = np.zeros((8, 128, 128), np.uint8)
    for k in range(len(c.obj_ids)):
        labels[c.masks[:, k]] = k + 1
    for f in range(8):
        write_label_png(gt / "Annotations" / "480p" / "clip" / f"{f:05d}.png", labels[f])
    (gt / "ImageSets" / "2017").mkdir(parents=True)
    (gt / "ImageSets" / "2017" / "val.txt").write_text("clip\n")
    data_dir = studio.app_state.studio.data_dir
    studio.app_state.studio.store.close()  # the CLI opens the data dir itself
    assert main(["studio", "import", str(data_dir), "1", str(gt / "Annotations" / "480p" / "clip"), "-q"]) == 0
    assert main(["studio", "export", str(data_dir), "--format", "davis", "-q"]) == 0
    exported = data_dir / "exports" / "davis"
    assert (exported / "ImageSets" / "2017" / "val.txt").read_text().split() == ["clip"]
    assert evaluate_davis(exported / "Annotations" / "480p", gt, "val").jf == 1.0
    assert evaluate_davis(gt / "Annotations" / "480p", exported, "val").jf == 1.0


def test_coco_and_mp4_exports(studio):
    import av

    c = clip()
    assert studio.post("/api/videos/1/import?stride=1", json=sav_ground_truth(c, stride=1)).status_code == 201
    coco = studio.post("/api/export", json={"format": "coco"}).json()
    doc = studio.get(coco["urls"][0]).json()
    assert doc["videos"][0]["length"] == 8 and len(doc["annotations"]) == 2
    ann = doc["annotations"][0]
    assert np.array_equal(decode_rle(ann["segmentations"][5]), c.masks[5, 0])
    assert ann["areas"][5] == int(c.masks[5, 0].sum()) and "effort" in ann
    mp4 = studio.post("/api/videos/1/export", json={"format": "mp4"}).json()
    path = studio.app_state.studio.data_dir / "exports" / mp4["files"][0]
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8


def test_accepted_masklets_export_as_a_training_set(studio):
    from samstream.train.sav_source import SavJsonSource

    c = clip()
    studio.post("/api/videos/1/import", json=sav_ground_truth(c, stride=4))
    studio.post("/api/videos/1/objects/2/review", json={"status": "accepted", "reviewer": "kim"})
    studio.post("/api/videos/1/objects/1/review", json={"status": "rejected"})
    written = studio.post("/api/videos/1/export", json={"format": "sav", "accepted_only": True,
                                                        "with_media": True}).json()
    assert "sav/clip" in written["files"]
    source = SavJsonSource(studio.app_state.studio.data_dir / "exports" / "sav")
    assert source.video_ids == ["clip"]
    doc = studio.get("/api/exports/sav/clip_manual.json").json()
    assert doc["masklet_num"] == 1 and np.array_equal(decode_rle(doc["masklet"][1][0]), c.masks[4, 1])
    assert stored_masks(studio, 1)[(2, 4)].sum() == c.masks[4, 1].sum()


def test_finetune_on_accepted_masklets_then_switch_the_studio_to_it(studio, tmp_path, nano):
    """The data-engine loop: accepted masklets -> SA-V export -> `samstream finetune` -> the studio's model."""
    c = clip()
    studio.post("/api/videos/1/import", json=sav_ground_truth(c, stride=1))
    studio.post("/api/videos/1/objects/2/review", json={"status": "accepted", "reviewer": "kim"})
    studio.post("/api/videos/1/export", json={"format": "sav", "accepted_only": True, "with_media": True})
    run = tmp_path / "ft"
    code = main(["finetune", "--data", str(studio.app_state.studio.data_dir / "exports" / "sav"), "--format", "sav",
                 "--model", "samstream-nano", "--steps", "2", "--image-size", "128", "--out", str(run), "-q",
                 "--device", "cpu", "data.num_frames=2", "prompts.num_correction_points=1", "optim.lr=1e-3"])
    assert code == 0
    checkpoint = run / "checkpoints" / "model.pt"
    trained = torch.load(checkpoint, map_location="cpu", weights_only=True)
    trained = trained.get("model", trained)
    before = nano.state_dict()
    changed = [k for k, v in trained.items() if k in before and v.dtype.is_floating_point
               and not torch.equal(v, before[k])]
    assert changed  # two optimiser steps moved the weights

    switched = studio.post("/api/model", json={"model": str(checkpoint)})
    assert switched.status_code == 200 and switched.json() == {"model": str(checkpoint)}
    served = studio.app_state.studio.pool.workers[0].host.annotator.model.state_dict()
    assert all(torch.equal(served[k], trained[k]) for k in changed)  # the studio now serves the fine-tuned weights
    ys, xs = np.nonzero(c.masks[0, 0])
    studio.post("/api/videos/1/objects", json={})
    reply = studio.post("/api/videos/1/prompts", json={"obj_id": 3, "frame": 0, "points": [[float(xs[0]), float(ys[0])]],
                                                       "labels": [1]})
    assert reply.status_code == 200, reply.text


def test_a_300_frame_clip_exports_in_every_format(tmp_path, nano):
    """More than 255 masks per object (COCO areas, SA-V annotated frames) and a progress report."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from samstream.data.synthetic import SyntheticConfig, generate_clip
    from samstream.studio.app import create_app
    from samstream.studio.service import Settings, add_video
    from tests.studio.conftest import write_frames

    n = 300
    long = generate_clip(5, SyntheticConfig(size=64, num_frames=n, max_objects=1, exit_prob=0.0))
    write_frames(tmp_path / "long", long.frames)
    app = create_app(Settings(data_dir=tmp_path / "data"), model=nano)
    with TestClient(app) as client:
        studio = app.app.state.studio
        add_video(studio.store, studio.data_dir, tmp_path / "long", "long.png")
        doc = {"video_id": "long", "video_duration": 10.0, "video_frame_count": float(n), "video_height": 64.0,
               "video_width": 64.0, "video_resolution": 4096.0, "video_environment": "", "video_split": "",
               "masklet": [[encode_rle(long.masks[f, 0])] for f in range(n)], "masklet_id": [0],
               "masklet_size_rel": [0.1], "masklet_size_abs": [10.0], "masklet_size_bucket": ["medium"],
               "masklet_visibility_changes": [0], "masklet_first_appeared_frame": [0.0], "masklet_frame_count": [n],
               "masklet_edited_frame_count": [0], "masklet_type": ["manual"], "masklet_stability_score": [None],
               "masklet_num": 1}
        assert client.post("/api/videos/1/import?stride=1", json=doc).status_code == 201
        for fmt in ("coco", "sav", "davis", "mp4"):
            reply = client.post("/api/videos/1/export", json={"format": fmt, "stride": 1})
            assert reply.status_code == 201, (fmt, reply.text)
            assert reply.json()["urls"] and all(client.get(u).status_code == 200 for u in reply.json()["urls"])
        coco = client.get("/api/exports/coco/long.json").json()["annotations"][0]
        assert len(coco["areas"]) == n and coco["areas"][299] == int(long.masks[299, 0].sum())
        sav = client.get("/api/exports/sav/long_manual.json").json()
        assert len(sav["masklet"]) == n and sav["masklet_size_abs"][0] > 0
        assert any(u.endswith(".zip") for u in client.post("/api/videos/1/export", json={"format": "davis"}).json()["urls"])
        progress = [data for _, kind, data in studio.hub.backlog(1) if kind == "export_progress"]
        mp4 = [p for p in progress if p["format"] == "mp4"]
        assert mp4 and mp4[-1]["done"] == mp4[-1]["total"] == n and len(mp4) <= 60  # bounded number of events
