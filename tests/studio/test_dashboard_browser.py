"""The effort dashboard in a real Chromium against a real server, over a data dir with a team's week of work.

The data dir is written through the store on a clock the test sets (five days, three annotators, a
reviewer), so the plots have several days and people to draw. The screenshot goes to
``test-artifacts/studio/dashboard.png``.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

import numpy as np
import pytest

from samstream.io.rle import encode_rle
from samstream.studio.auth import add_person
from samstream.studio.store import FrameChange, Store
from tests.studio.test_browser import CHROMIUM_FLAGS, chromium_path, shot
from tests.studio.test_server import Server

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is part of the studio test extra")

ANNOTATORS = ("ana", "bo", "chen")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, tzinfo=timezone.utc).timestamp()

    def __call__(self) -> float:
        return self.now


def mask(frame: int) -> dict:
    m = np.zeros((48, 64), dtype=bool)
    m[10 : 20 + frame % 7, 5 + frame : 30 + frame] = True
    return encode_rle(m)


def seed(data_dir) -> str:
    """Five days of three annotators (each on their own video, at their own pace) and a reviewer; returns
    the admin's token."""
    clock, rng = Clock(), random.Random(0)
    data_dir.mkdir()
    store = Store(data_dir / "studio.sqlite3", clock=clock)
    _, admin = add_person(store, "adm", "admin")
    add_person(store, "rev", "reviewer")
    for k, name in enumerate(ANNOTATORS):
        add_person(store, name, "annotator")
        store.videos.add(f"{['walk', 'dogs', 'bikes'][k]}.mp4", f"media/v{k}.mp4", "file", 48, 48, 64, 24.0)
        store.workflow.assign(k + 1, {"annotator": name, "reviewer": "rev"}, "adm")
    start = clock.now
    for day in range(5):
        for k, name in enumerate(ANNOTATORS):
            vid, pace = k + 1, (8.0, 20.0, 40.0)[k]  # seconds between a person's clicks
            clock.now = start + day * 86400 + k * 3600
            obj, _ = store.videos.create_object(vid, None, None, "", "", person=name)
            for frame in rng.sample(range(48), 2 + day % 3):
                clock.now += pace * rng.uniform(0.5, 1.5)
                clicks = rng.randint(1, 4)
                store.tracks.record_action(vid, name, "prompt", [obj.obj_id], {"frame": frame}, [
                    FrameChange(obj.obj_id, frame, mask(frame), "prompt", 1.0, [{"points": [[1, 1]] * clicks}])],
                    clicks)
            clock.now += pace
            store.tracks.record_action(vid, name, "propagate", [obj.obj_id], {}, [
                FrameChange(obj.obj_id, f, mask(f)) for f in range(0, 48, 4)])
    for k in range(len(ANNOTATORS)):
        clock.now += 30
        store.workflow.step(k + 1, "submit", ANNOTATORS[k])
        for obj in store.videos.objects(k + 1):
            store.videos.set_review(k + 1, obj.obj_id, rng.choice(["accepted", "accepted", "needs_fix", "rejected"]),
                                    "rev", "", None)
    store.close()
    return admin


def test_the_dashboard_draws_the_team_per_person_over_time_and_per_video(tmp_path):
    admin = seed(tmp_path / "data")
    server = Server(tmp_path / "data", headers={"Authorization": f"Bearer {admin}"})
    pw = playwright.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        base = f"http://127.0.0.1:{server.port}"
        page.goto(f"{base}/?token={admin}")  # the library, as the admin: the cookie is set here
        page.click("#dashboard-link")
        page.wait_for_selector("body[data-ready='true']", timeout=60000)
        assert page.inner_text("#who") == "adm · admin"
        assert page.locator("#plot-days polyline.series").count() == len(ANNOTATORS)  # a line per person
        assert page.locator("#plot-days circle.point").count() == 5 * len(ANNOTATORS)  # five days each
        assert page.locator("#plot-person-spf rect.bar").count() == len(ANNOTATORS)  # the reviewer has no frames
        assert page.locator("#plot-video-spf rect.bar").count() == 3
        assert page.locator("#plot-video-review rect.bar").count() >= 3
        rows = page.locator("#table-person tr").all_inner_texts()
        assert len(rows) == 1 + 5 + 1 and rows[-1].startswith("all")  # header, five people, the total
        ana = next(r for r in rows if r.startswith("ana")).split("\t")
        bo = next(r for r in rows if r.startswith("bo")).split("\t")
        assert float(ana[8]) < float(bo[8])  # seconds per frame: ana clicks faster
        assert not errors, errors
        shot(page, "dashboard")
        page.set_viewport_size({"width": 1280, "height": 1700})
        shot(page, "dashboard_tables")
        csv = page.request.get(f"{base}/api/effort?by=video&format=csv")
        assert csv.ok and csv.text().splitlines()[1].startswith("1,walk.mp4,")
    finally:
        browser.close()
        pw.stop()
        server.stop()
