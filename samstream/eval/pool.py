"""Running one evaluation task per sequence, serially or in a process pool."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from samstream.errors import InvalidInputError

T = TypeVar("T")
R = TypeVar("R")


def map_tasks(fn: Callable[[T], R], items: Iterable[T], workers: int = 1) -> list[R]:
    """``[fn(x) for x in items]``, spread over ``workers`` processes when ``workers > 1``.

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one). On Linux
    the workers are forked, which starts them without re-importing anything; the tasks only use
    numpy and Pillow, so this is safe even when the parent has torch loaded.
    """
    items = list(items)
    if workers < 1:
        raise InvalidInputError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context) as pool:
        return list(pool.map(fn, items, chunksize=1))
