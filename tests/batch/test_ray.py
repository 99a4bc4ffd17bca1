"""Batch jobs on a real local Ray cluster (one per module): the same outputs as the local engine
(images, tracked videos, automatic masklets), a worker killed mid-item, an interrupted job resumed,
a corrupt item skipped.

The cluster gets 4 logical CPUs whatever the machine has: with fewer than one per actor plus one,
Ray Data's planner waits forever on a 2-core machine. A worker is killed as a crash would kill it:
the test finds the actor's process while it runs an item and sends it SIGKILL (:class:`Killer`);
samstream holds no hook for it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from samstream.batch import BatchJob, Item, JobSpec, list_images, list_video_files, list_videos, run_local, run_ray
from samstream.batch.work import STAGING
from tests.batch.conftest import (assert_same_outputs, auto_spec, auto_video_spec, done_keys, error_records,
                                  read_outputs, track_spec, write_clips, write_images, write_videos)

ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install 'samstream[ray]')")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds worker processes in /proc")

THREADS = torch.get_num_threads()  # this process's count, restored by the tests that change it
# Ray titles an actor process "ray::MapWorker(MapBatches(<class>))" and appends ".submit" (or the
# method's name) while the actor runs a call: the mark of a worker inside an item
WORKER_TITLE = "ray::MapWorker(MapBatches(BatchWorker))"


def busy_workers() -> list[int]:
    """Process ids of BatchWorker actors running a call now."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
            if title.startswith(WORKER_TITLE + "."):
                found.append(int(entry))
    return found


class Killer:
    """Beside a running job: once ``ready()`` holds, SIGKILL one BatchWorker actor that is running an
    item (a real crash, mid-item), once. ``killed`` is its pid (None if it never found one)."""

    def __init__(self, ready: Callable[[], bool] = lambda: True, timeout: float = 120.0) -> None:
        self.ready, self.timeout, self.killed = ready, timeout, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            pids = busy_workers() if self.ready() else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                self.killed = pids[0]
                return
            time.sleep(0.002)

    def __enter__(self) -> "Killer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def staged(out: Path) -> Callable[[], bool]:
    """True once an item has written part of its outputs into the job's staging folder."""
    return lambda: any(p.is_file() for p in (out / STAGING).rglob("*"))


@pytest.fixture(scope="module")
def cluster():
    """A running local Ray cluster for the module."""
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    yield
    ray.shutdown()


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
    """The local engine's outputs. It runs with the job's ``threads``, as each Ray actor does: the
    outputs are then equal bit for bit (whatever this process's own thread count)."""
    BatchJob.open(spec, items).run(functools.partial(run_local, model=model))
    return read_outputs(Path(spec.out_dir))


def test_small_job_on_ray_equals_local_despite_a_killed_worker_and_a_corrupt_item(cluster, nano, tmp_path) -> None:
    """The default suite's Ray test: 3 images and a corrupt one on one worker, killed in its first item."""
    items = list_images([str(write_images(tmp_path / "imgs", 3, corrupt=("img_99.png",)))])
    expected = _local_outputs(auto_spec(tmp_path / "local"), items, nano)
    out = tmp_path / "ray"
    with Killer() as killer:
        summary = BatchJob.open(auto_spec(out), items).run(functools.partial(run_ray, workers=1))
    assert killer.killed is not None and not Path(f"/proc/{killer.killed}").exists()
    assert (summary.done, summary.failed) == (3, 1)  # the one worker was restarted and did them all
    assert [e["key"] for e in error_records(out)] == ["img_99"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, ["img_00", "img_01", "img_02"])


def test_a_video_killed_with_staged_outputs_is_redone_and_published_once(cluster, nano, tmp_path) -> None:
    """A worker killed while an automatic-masklet video is half written (files in the staging
    folder): the retry publishes the whole video, the staging folder is gone."""
    folder = write_clips(tmp_path / "clips", 2)
    items = list_video_files([str(folder)])
    expected = _local_outputs(auto_video_spec(tmp_path / "local"), items, nano)
    out = tmp_path / "ray"
    with Killer(ready=staged(out)) as killer:
        summary = BatchJob.open(auto_video_spec(out), items).run(functools.partial(run_ray, workers=1))
    assert killer.killed is not None
    assert (summary.done, summary.failed) == (2, 0)
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, ["clip_0", "clip_1"])


def test_two_threads_a_worker_give_the_same_outputs_on_both_engines(cluster, nano, tmp_path) -> None:
    """The job's thread count is each worker's on either engine: at 2 threads as at 1, Ray and local
    agree to the bit (different counts need not: see JobSpec)."""
    folder = write_clips(tmp_path / "clips", 2)
    items = list_video_files([str(folder)])
    spec = functools.partial(dataclasses.replace, auto_video_spec(tmp_path / "local"), threads=2)
    torch.set_num_threads(1)  # this process's own count does not matter
    try:
        expected = _local_outputs(spec(), items, nano)
        assert torch.get_num_threads() == 1  # restored after the job
    finally:
        torch.set_num_threads(THREADS)
    out = tmp_path / "ray"
    summary = BatchJob.open(spec(out_dir=str(out)), items).run(functools.partial(run_ray, workers=1))
    assert (summary.done, summary.failed) == (2, 0)
    assert_same_outputs(read_outputs(out), expected)
    for folder in (out, tmp_path / "local"):  # each item says where it ran with 2 threads
        assert [r["threads"] for r in map(json.loads, (folder / "batch.done.jsonl").read_text().splitlines())] == [2, 2]


@pytest.mark.slow
def test_images_on_ray_equal_local_despite_a_killed_worker_and_a_corrupt_item(cluster, images, tmp_path) -> None:
    folder, expected = images
    out = tmp_path / "ray"
    items = list_images([str(folder)])
    engine = functools.partial(run_ray, workers=2, batch_size=2)
    with Killer() as killer:
        summary = BatchJob.open(auto_spec(out), items).run(engine)
    assert killer.killed is not None
    assert (summary.done, summary.failed) == (20, 1)
    assert [e["key"] for e in error_records(out)] == ["img_99"]
    assert "not a readable image" in error_records(out)[0]["message"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, [i.key for i in items if i.key != "img_99"])


@pytest.mark.slow
def test_interrupted_job_resumes_with_only_the_missing_items(cluster, images, tmp_path) -> None:
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
def test_videos_on_ray_equal_local_despite_a_killed_worker(cluster, nano, tmp_path) -> None:
    root = write_videos(tmp_path / "davis", 6)
    items = list_videos(str(root), "davis")
    expected = _local_outputs(track_spec(tmp_path / "local", root), items, nano)
    out = tmp_path / "ray"
    with Killer(ready=staged(out)) as killer:
        summary = BatchJob.open(track_spec(out, root), items).run(functools.partial(run_ray, workers=2))
    assert killer.killed is not None
    assert (summary.done, summary.failed) == (6, 0)
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, [i.key for i in items])


@pytest.mark.slow
def test_auto_videos_on_ray_equal_local_despite_a_killed_worker_and_a_corrupt_video(cluster, nano, tmp_path) -> None:
    folder = write_clips(tmp_path / "clips", 3, frame_folders=1, corrupt=("broken.mp4",))
    items = list_video_files([str(folder)])
    expected = _local_outputs(auto_video_spec(tmp_path / "local"), items, nano)
    assert sorted({rel.split("/")[0] for rel in expected}) == ["clip_0", "clip_1", "clip_2", "frames_0"]
    out = tmp_path / "ray"
    with Killer(ready=staged(out)) as killer:
        summary = BatchJob.open(auto_video_spec(out), items).run(functools.partial(run_ray, workers=2))
    assert killer.killed is not None
    assert (summary.done, summary.failed) == (4, 1)
    assert [e["key"] for e in error_records(out)] == ["broken"]
    assert_same_outputs(read_outputs(out), expected)
    _check_clean(out, ["clip_0", "clip_1", "clip_2", "frames_0"])
