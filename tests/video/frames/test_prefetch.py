"""FramePrefetcher: values, order, look-ahead bound, errors, early stop."""

from __future__ import annotations

import threading
import time

import pytest

from samstream.errors import InvalidInputError
from samstream.video.frames.prefetch import FramePrefetcher


class Loader:
    """load(i) = i * 10, recording which indices were loaded (and on which thread)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.loaded: list[int] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at

    def __call__(self, index: int) -> int:
        if index == self.fail_at:
            raise ValueError(f"frame {index} is corrupt")
        self.loaded.append(index)
        self.threads.add(threading.current_thread().name)
        return index * 10


def _wait_for(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_values_in_order_loaded_on_the_thread() -> None:
    load = Loader()
    with FramePrefetcher(load, [5, 4, 3, 2], depth=2) as ahead:
        assert [ahead(i) for i in (5, 4, 3, 2)] == [50, 40, 30, 20]
    assert load.loaded == [5, 4, 3, 2] and load.threads == {"samstream-prefetch"}


def test_runs_ahead_by_at_most_depth() -> None:
    load = Loader()
    with FramePrefetcher(load, range(20), depth=3) as ahead:
        assert ahead(0) == 0
        # one frame taken, three queued, one more loaded and waiting for room
        assert _wait_for(lambda: len(load.loaded) == 5)
        time.sleep(0.2)
        assert len(load.loaded) == 5


def test_skipped_and_unplanned_frames() -> None:
    load = Loader()
    with FramePrefetcher(load, range(6), depth=2) as ahead:
        assert ahead(3) == 30  # 0-2 dropped
        assert ahead(3) == 30  # asked again: loaded on the spot
        assert ahead(100) == 1000  # not planned: loaded on the spot
        assert ahead(4) == 40
    assert load.loaded.count(3) == 2 and 100 in load.loaded


def test_error_raised_for_its_frame_then_direct_loads() -> None:
    with FramePrefetcher(Loader(fail_at=2), range(5), depth=4) as ahead:
        assert ahead(0) == 0 and ahead(1) == 10
        with pytest.raises(ValueError, match="frame 2 is corrupt"):
            ahead(2)
        assert ahead(3) == 30


def test_close_stops_the_thread_early() -> None:
    load = Loader()
    ahead = FramePrefetcher(load, range(1000), depth=2)
    ahead(0)
    ahead.close()
    assert len(load.loaded) < 10  # the producer stopped (close joins it)
    assert ahead(7) == 70  # still usable, without look-ahead


def test_depth_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="depth"):
        FramePrefetcher(Loader(), range(3), depth=0)
