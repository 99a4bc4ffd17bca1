"""Batch jobs on a real local Ray cluster (one per module): the same outputs as the local engine
(images, tracked videos, automatic masklets), a worker killed mid-item, an interrupted job resumed,
a corrupt item skipped.

The cluster gets 4 logical CPUs whatever the machine has: with fewer than one per actor plus one,
Ray Data's planner waits forever on a 2-core machine. A worker is killed through the test hook of
:data:`samstream.batch.work.CRASH_DIR_ENV` (set before the cluster starts, so workers inherit it).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import torch

from samstream.batch import BatchJob, Item, JobSpec, list_images, list_video_files, list_videos, run_local, run_ray
from samstream.batch.work import CRASH_DIR_ENV, STAGING
from tests.batch.conftest import (assert_same_outputs, auto_spec, auto_video_spec, done_keys, error_records,
                                  read_outputs, track_spec, write_clips, write_images, write_videos)

ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install 'samstream[ray]')")


@pytest.fixture(scope="module")
def crash_dir(tmp_path_factory):
    """A running local Ray cluster; yields the folder where a ``<key>.crash`` file kills a worker once."""
    folder = tmp_path_factory.mktemp("crash")
    before = os.environ.get(CRASH_DIR_ENV)
    os.environ[CRASH_DIR_ENV] = str(folder)
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    yield folder
    ray.shutdown()
    if before is None:
        del os.environ[CRASH_DIR_ENV]
    else:
        os.environ[CRASH_DIR_ENV] = before


@pytest.fixture(scope="module")
def images(tmp_path_factory, nano) -> tuple[Path, dict]:
    """20 images and a corrupt one, and the outputs of the local engine on them."""
    root = tmp_path_factory.mktemp("ray_images")
    folder = write_images(root / "imgs", 20, corrupt=("img_99.png",))
    return folder, _local_outputs(auto_spec(root / "local"), list_images([str(folder)]), nano)


def _check_clean(out: Path, keys: list[str]) -> None:
    """Each item done once, no temporary or staging file left."""
    assert sorted(done_keys(out)) == sorted(keys)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name == STAGING]


def _local_outputs(spec: JobSpec, items: list[Item], model: torch.nn.Module) -> dict:
    """The local engine's outputs, on one torch thread as the Ray actors run (one logical CPU each)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        BatchJob.open(spec, items).run(functools.partial(run_local, model=model))
    finally:
        torch.set_num_threads(threads)
    return read_outputs(Path(spec.out_dir))


def test_small_job_on_ray_equals_local_despite_a_killed_worker_and_a_corrupt_item(crash_dir, nano, tmp_path) -> None:
    """The default suite's Ray test: 3 images and a corrupt one, one worker killed once."""
    items = list_images([str(write_images(tmp_path / "imgs", 3, corrupt=("img_99.png",)))])
    expected = _local_outputs(auto_spec(tmp_path / "local"), items, nano)
    (crash_dir / "img_01.crash").touch()
    out = tmp_path / "ray"
    summary = BatchJob.open(auto_spec(out), items).run(functools.partial(run_ray, workers=1))
    assert not (crash_dir / "img_01.crash").exists()  # the worker reached the hook and died there
    assert (summary.done, summary.failed) == (3, 1)
    assert [e["key"] for e in error_records(out)] == ["img_99"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, ["img_00", "img_01", "img_02"])


@pytest.mark.slow
def test_images_on_ray_equal_local_despite_a_killed_worker_and_a_corrupt_item(crash_dir, images, tmp_path) -> None:
    folder, expected = images
    (crash_dir / "img_07.crash").touch()
    out = tmp_path / "ray"
    items = list_images([str(folder)])
    engine = functools.partial(run_ray, workers=2, batch_size=2)
    summary = BatchJob.open(auto_spec(out), items).run(engine)
    assert not (crash_dir / "img_07.crash").exists()  # a worker reached the hook and died there
    assert (summary.done, summary.failed) == (20, 1)
    assert [e["key"] for e in error_records(out)] == ["img_99"]
    assert "not a readable image" in error_records(out)[0]["message"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, [i.key for i in items if i.key != "img_99"])


@pytest.mark.slow
def test_interrupted_job_resumes_with_only_the_missing_items(crash_dir, images, tmp_path) -> None:
    folder, expected = images
    out = tmp_path / "ray"
    items = list_images([str(folder)])
    engine = functools.partial(run_ray, workers=2, batch_size=1)

    def cancel_after_five(result) -> None:
        if len(done_keys(out)) == 5:
            raise KeyboardInterrupt  # the user's Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        BatchJob.open(auto_spec(out), items).run(engine, on_result=cancel_after_five)
    first = done_keys(out)
    assert len(first) == 5
    seen: list[str] = []

    def recording(spec, pending):
        seen.extend(i.key for i in pending)
        yield from engine(spec, pending)

    summary = BatchJob.open(auto_spec(out), items).run(recording)
    assert sorted(seen) == sorted(set(i.key for i in items) - set(first))
    assert (summary.skipped, summary.done, summary.failed) == (5, 15, 1)
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, [i.key for i in items if i.key != "img_99"])


@pytest.mark.slow
def test_videos_on_ray_equal_local_despite_a_killed_worker(crash_dir, nano, tmp_path) -> None:
    root = write_videos(tmp_path / "davis", 6)
    items = list_videos(str(root), "davis")
    expected = _local_outputs(track_spec(tmp_path / "local", root), items, nano)
    (crash_dir / "vid_3.crash").touch()
    out = tmp_path / "ray"
    summary = BatchJob.open(track_spec(out, root), items).run(functools.partial(run_ray, workers=2))
    assert not (crash_dir / "vid_3.crash").exists()
    assert (summary.done, summary.failed) == (6, 0)
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, [i.key for i in items])


@pytest.mark.slow
def test_auto_videos_on_ray_equal_local_despite_a_killed_worker_and_a_corrupt_video(crash_dir, nano, tmp_path) -> None:
    folder = write_clips(tmp_path / "clips", 3, frame_folders=1, corrupt=("broken.mp4",))
    items = list_video_files([str(folder)])
    expected = _local_outputs(auto_video_spec(tmp_path / "local"), items, nano)
    assert sorted({rel.split("/")[0] for rel in expected}) == ["clip_0", "clip_1", "clip_2", "frames_0"]
    (crash_dir / "clip_1.crash").touch()
    out = tmp_path / "ray"
    summary = BatchJob.open(auto_video_spec(out), items).run(functools.partial(run_ray, workers=2))
    assert not (crash_dir / "clip_1.crash").exists()
    assert (summary.done, summary.failed) == (4, 1)
    assert [e["key"] for e in error_records(out)] == ["broken"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, ["clip_0", "clip_1", "clip_2", "frames_0"])
