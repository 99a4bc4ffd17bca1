"""The inference worker's queue and the per-video event hub, on their own (no model, no server)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import pytest

from samstream.studio import events
from samstream.studio.events import EventHub
from samstream.studio.worker import BACKGROUND, IDLE, INTERACTIVE, Steps, Worker


def test_interactive_work_goes_before_background_steps_and_idle_work_last():
    worker = Worker()
    order: list[str] = []
    gate = threading.Event()
    try:
        worker.submit(lambda: gate.wait(10))  # holds the worker while the queue fills
        steps = iter(range(3))

        def step() -> bool:
            n = next(steps)
            order.append(f"run{n}")
            return n < 2

        idle_left = iter(range(2))

        def idle() -> bool:
            order.append("idle")
            return next(idle_left) < 1

        worker.start_steps(Steps(idle, lambda exc: None), IDLE)
        worker.start_steps(Steps(step, lambda exc: None), BACKGROUND)
        clicks = [worker.submit(lambda i=i: order.append(f"click{i}")) for i in range(2)]
        assert worker.ahead() == 1 + 2  # a new click waits for the running job and the two clicks only
        assert worker.ahead(BACKGROUND) == 1 + 2 + 1 and worker.ahead(IDLE) == 1 + 2 + 2
        gate.set()
        for c in clicks:
            c.result(10)
        worker.submit(lambda: None, BACKGROUND + 1).result(10)  # after every step queued before it
        assert order[:2] == ["click0", "click1"]  # interactive first, in arrival order
        assert order.index("run2") < order.index("idle")  # idle work only when nothing else is queued
    finally:
        worker.stop()


def test_a_failed_step_ends_its_job_not_the_worker_and_errors_reach_the_caller():
    worker = Worker()
    failures: list[BaseException] = []
    try:
        worker.start_steps(Steps(lambda: 1 / 0, failures.append))
        with pytest.raises(ValueError, match="bad"):
            worker.submit(lambda: (_ for _ in ()).throw(ValueError("bad"))).result(10)
        assert worker.submit(lambda: 42).result(10) == 42
        assert len(failures) == 1 and isinstance(failures[0], ZeroDivisionError)
        assert asyncio.run(worker.call(lambda: "awaited")) == "awaited"
    finally:
        worker.stop()


def test_the_worker_says_what_it_is_doing():
    seen: list[tuple] = []
    worker = Worker(on_change=lambda doing, queued, tick: seen.append((doing, tick)))
    try:
        worker.submit(lambda: None, label="a click on frame 3").result(10)
        worker.start_steps(Steps(lambda: False, lambda exc: None, lambda: "propagating video 2"))
        worker.submit(lambda: None).result(10)
        assert [d for d, _ in seen if d] == ["a click on frame 3", "a request", "propagating video 2"]
        assert worker.doing is None and worker.ahead() == 0
    finally:
        worker.stop()


def _collect(hub: EventHub, video_id: int, since: int, limit: int) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in hub.stream(video_id, since, limit)]

    return asyncio.run(run())


def test_events_fan_out_per_video_and_reconnecting_clients_catch_up():
    hub = EventHub()
    first = hub.publish(1, "prompt", {"frame": 0})
    hub.publish(2, "prompt", {"frame": 9})  # another video's: never in video 1's stream
    second = hub.publish(1, "frame", {"frame": 1})
    assert hub.last_id(1) == second and hub.last_id(3) == 0
    chunks = _collect(hub, 1, 0, 2)
    text = b"".join(chunks).decode()
    assert f"id: {first}\nevent: prompt" in text and f"id: {second}\nevent: frame" in text and '"frame": 9' not in text
    assert b"event: frame" in b"".join(_collect(hub, 1, first, 1))  # only what came after the last id seen


def test_the_backlog_is_bounded_in_bytes_and_a_client_past_it_is_told_to_reload(monkeypatch):
    monkeypatch.setattr(events, "BACKLOG_BYTES", 2000)
    hub = EventHub()
    first = hub.publish(1, "frame", {"masks": {"1": "x" * 500}})
    for _ in range(10):  # ten whole-frame masks of ~500 bytes: only the latest fit
        hub.publish(1, "frame", {"masks": {"1": "x" * 500}})
    assert len(hub.backlog(1)) <= 4  # ~500 bytes each within 2000
    text = b"".join(_collect(hub, 1, first, 1)).decode()
    assert "event: resync" in text  # its gap is older than the backlog: it reloads instead


def test_the_page_listens_for_every_kind_of_event_the_server_sends():
    # an EventSource hears only the kinds it listens for: a kind missing from the page is never seen
    source = (Path(events.__file__).parent / "static" / "js" / "api.js").read_text()
    listed = re.search(r"export const EVENT_KINDS = \[(.*?)\];", source, re.S).group(1)
    assert sorted(re.findall(r'"([a-z_]+)"', listed)) == sorted(events.EVENT_KINDS)
    # and every kind the server's code publishes by name is one of them
    code = "\n".join(p.read_text() for p in Path(events.__file__).parent.rglob("*.py"))
    named = set(re.findall(r'publish\([^,()]+, "([a-z_]+)"', code))
    named |= {f"{prefix}_{s}" for prefix in ("propagation", "auto") for s in ("done", "cancelled", "failed")}
    assert named <= events.EVENT_KINDS and "video_updated" in named
    with pytest.raises(ValueError, match="not in EVENT_KINDS"):
        EventHub().publish(1, "video_changed", {})


def test_the_warm_up_leaves_no_session_and_is_not_counted(tmp_path):
    """The warm-up (a blank clip: a click and a tracked frame, before a host serves) is nobody's work."""
    import samstream
    from samstream.studio.annotate import Annotator
    from samstream.studio.sessions import SessionCache
    from samstream.studio.store import Store

    worker = Worker()
    store = Store(tmp_path / "studio.sqlite3")
    model = samstream.load_model("samstream-nano", device="cpu")
    annotator = Annotator(store, EventHub(), worker, SessionCache(store, tmp_path, 1 << 30, {}), model)
    annotator.warm_up()
    assert annotator.sessions.video_ids() == [] and annotator.counts() == type(annotator.counts())()
    assert worker.tick == 0  # it did not queue anything either
    worker.stop()
    store.close()


def test_a_stopped_worker_tells_the_callers_of_the_jobs_it_never_ran():
    from samstream.studio.worker import WorkerStopped

    worker = Worker()
    gate, started = threading.Event(), threading.Event()
    running = worker.submit(lambda: started.set() or (gate.wait(5) and "ran"))
    assert started.wait(5)
    left = [worker.submit(lambda: "never", label="a queued click") for _ in range(3)]
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    time.sleep(0.1)  # the stop is queued ahead of the three
    gate.set()
    stopper.join(10)
    assert running.result(timeout=5) == "ran"  # the job under way ends
    for future in left:  # the queued ones fail at once, saying so, instead of leaving their callers waiting
        with pytest.raises(WorkerStopped, match="stopped before it ran a queued click"):
            future.result(timeout=1)
