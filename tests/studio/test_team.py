"""A studio run by a team: the work flow of a video, its history, effort per person, the training-set export.

In-process (the `team` fixture of conftest: ann annotates videos 1 and 2, rev reviews them, adm is an
admin). The effort test runs on a clock it sets, and computes the expected figures itself from the
actions it made.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import parse_sse, wait_propagation
from tests.studio.test_export import sav_ground_truth

V1, V2 = "/api/videos/1", "/api/videos/2"


def point(frame: int, obj: int = 0) -> list[float]:
    return centre_click(clip().masks[frame, obj])


def click(team, who: str, obj_id: int, frame: int, points: list, video: str = V1):
    reply = team.post(who, video + "/prompts", json={"obj_id": obj_id, "frame": frame, "points": points,
                                                     "labels": [1] * len(points)})
    assert reply.status_code == 200, reply.json()
    return reply


def status(team, video: str = V1) -> str:
    return team.get("adm", video).json()["status"]


def test_the_work_flow_from_assignment_to_done_with_a_round_of_fixes(team):
    assert status(team) == "to_annotate"
    refused = team.post("ann", V1 + "/submit")
    assert refused.status_code == 409 and "to_annotate" in refused.json()["error"]
    assert team.get("ann", "/api/next").json()["video"]["id"] == 1
    team.post("ann", V1 + "/objects", json={"name": "disc"})
    assert status(team) == "in_annotation"  # the first edit starts the annotation
    click(team, "ann", 1, 0, [point(0)])
    assert team.post("ann", V1 + "/submit").json()["video"]["status"] == "to_review"
    assert team.get("ann", "/api/next").json()["video"]["id"] == 2  # video 1 is with the reviewer
    late = team.post("ann", V1 + "/prompts", json={"obj_id": 1, "frame": 1, "points": [point(1)], "labels": [1]})
    assert late.status_code == 409 and "to_review" in late.json()["error"]

    item = team.get("rev", "/api/next").json()["masklet"]
    assert (item["video"]["id"], item["object"]["obj_id"], item["frames"], item["prompted_frames"]) == (1, 1, [0], [0])
    assert item["effort"]["clicks"] == 1 and item["editors"] == ["ann"]
    assert team.post("rev", V1 + "/accept").status_code == 409  # masklet 1 is not decided yet
    team.post("rev", V1 + "/objects/1/review", json={"status": "needs_fix", "note": "the edge is off"})
    assert team.get("rev", "/api/next").json()["masklet"] is None  # decided in this round
    back = team.post("rev", V1 + "/send-back", json={"note": "fix masklet 1"})
    assert back.json()["video"]["status"] == "in_annotation"

    todo = team.get("ann", "/api/next").json()
    assert todo["video"]["id"] == 1 and todo["note"] == "fix masklet 1"  # sent back: before the new video
    assert todo["needs_fix"] == [{"obj_id": 1, "name": "disc", "note": "the edge is off", "reviewer": "rev"}]
    click(team, "ann", 1, 0, [point(0), [point(0)[0] + 2, point(0)[1]]])
    team.post("ann", V1 + "/submit")
    again = team.get("rev", "/api/next").json()["masklet"]
    assert (again["video"]["id"], again["object"]["obj_id"]) == (1, 1)  # needs fix, from the last round
    team.post("rev", V1 + "/objects/1/review", json={"status": "accepted"})
    since = team.get("rev", V1).json()["last_event_id"]
    assert team.post("rev", V1 + "/accept").json()["video"]["status"] == "done"
    (event,) = parse_sse(team.get("ann", V1 + f"/events?since={since}&limit=1").text)
    assert event[1] == "workflow" and event[2]["video"]["status"] == "done"  # told to every page of the video
    assert team.post("ann", V1 + "/submit").status_code == 409
    assert team.post("rev", V1 + "/accept").status_code == 409
    assert team.get("rev", "/api/next").json()["masklet"] is None

    history = team.get("ann", V1 + "/history").json()["history"]
    steps = [(h["person"], h["kind"], h["detail"].get({"status": "step", "review": "status"}.get(h["kind"], "-")))
             for h in history]
    assert steps == [("adm", "assigned", None), ("ann", "object_created", None), ("ann", "status", "start"),
                     ("ann", "prompt", None), ("ann", "status", "submit"), ("rev", "review", "needs_fix"),
                     ("rev", "status", "send_back"), ("ann", "prompt", None), ("ann", "status", "submit"),
                     ("rev", "review", "accepted"), ("rev", "status", "accept")]
    assert [h["created"] for h in history] == sorted(h["created"] for h in history)



def test_imported_masklets_are_recorded_as_made_by_who_imported_them(team):
    reply = team.post("ann", V1 + "/import", json=sav_ground_truth(clip()))
    assert reply.status_code == 201 and reply.json()["objects"] == [1, 2]
    made = [(h["person"], h["kind"]) for h in team.get("adm", V1 + "/history").json()["history"]
            if h["kind"] in ("object_created", "imported")]
    assert made and {p for p, _ in made} == {"ann"}  # every object of the import, and the import itself


def test_assignments_are_checked_and_recorded(team):
    assert team.post("adm", V1 + "/assign", json={"annotator": "rev"}).status_code == 400  # a reviewer
    assert team.post("adm", V1 + "/assign", json={"annotator": "off"}).status_code == 400  # disabled
    assert team.post("adm", V1 + "/assign", json={"reviewer": "ann"}).status_code == 400  # annotates it
    assert team.post("adm", V1 + "/assign", json={"annotator": "nobody"}).status_code == 404
    moved = team.post("adm", V1 + "/assign", json={"annotator": "other", "reviewer": None}).json()["video"]
    assert (moved["annotator"], moved["reviewer"]) == ("other", None)
    assert [v["id"] for v in team.get("other", "/api/videos").json()["videos"]] == [1]
    assert [v["id"] for v in team.get("ann", "/api/videos").json()["videos"]] == [2]
    assert team.get("ann", V1).status_code == 403
    last = team.get("adm", V1 + "/history").json()["history"][-1]
    assert (last["person"], last["kind"], last["detail"]) == ("adm", "assigned", {"annotator": "other",
                                                                                   "reviewer": None})


class Clock:
    """The store's clock, set by the test: tomorrow 01:00 UTC plus the given seconds (later than the
    fixture's real-time rows, and one day for every row here)."""

    def __init__(self) -> None:
        day = datetime.now(timezone.utc).replace(hour=1, minute=0, second=0, microsecond=0) + timedelta(days=1)
        self.base, self.now = day.timestamp(), day.timestamp()

    def at(self, seconds: float) -> None:
        self.now = self.base + seconds

    def __call__(self) -> float:
        return self.now


def expected_effort(log: list[tuple], annotated: dict[str, int], prompted: dict[str, int], idle: float = 60.0):
    """Per person, from the test's own record of what each did: (who, seconds, kind, frame, clicks)."""
    out: dict[str, dict] = {}
    last: dict[str, float] = {}
    for who, t, kind, frame, clicks in log:
        row = out.setdefault(who, {"clicks": 0, "clicked": set(), "edited": set(), "active": 0.0})
        if kind in ("prompt", "clear", "propagate"):  # an action: counts the person's own gap before it
            gap = t - last[who] if who in last else None
            row["active"] += gap if gap is not None and gap <= idle else 0.0
            row["clicks"] += clicks
            if kind in ("prompt", "clear"):
                row["edited"].add(frame)
            if kind == "prompt" and clicks:
                row["clicked"].add(frame)
        last[who] = t
    return {who: {"clicks": r["clicks"], "clicked_frames": len(r["clicked"]), "edited_frames": len(r["edited"]),
                  "active_seconds": r["active"], "annotated_frames": annotated[who], "prompted_frames": prompted[who],
                  "seconds_per_frame": r["active"] / annotated[who],
                  "clicks_per_clicked_frame": r["clicks"] / len(r["clicked"]),
                  "edited_share": len(r["edited"]) / annotated[who]} for who, r in out.items()}


def test_effort_per_person_and_video_from_the_actions_made(team):
    clock = Clock()
    team.store.db.clock = clock
    log: list[tuple] = []

    def do(who: str, t: float, kind: str, frame: int | None = None, clicks: int = 0) -> None:
        clock.at(t)
        log.append((who, t, kind, frame, clicks))

    do("ann", 0, "create")
    team.post("ann", V1 + "/objects", json={})
    do("ann", 4, "prompt", 0, 2)
    click(team, "ann", 1, 0, [point(0), [point(0)[0] + 1, point(0)[1]]])
    do("ann", 10, "prompt", 3, 1)
    click(team, "ann", 1, 3, [point(3)])
    do("adm", 12, "create")  # the admin works on the same video meanwhile: their time is their own
    team.post("adm", V1 + "/objects", json={})
    do("adm", 15, "prompt", 2, 1)
    click(team, "adm", 2, 2, [point(2, 1)])
    do("ann", 16, "propagate")
    assert team.post("ann", V1 + "/propagate", json={"obj_ids": [1]}).status_code == 202
    assert wait_propagation(team.acting("ann"), 1)["status"] == "done"
    do("ann", 200, "clear", 3)  # after a pause: no time counted
    assert team.post("ann", V1 + "/clear", json={"obj_id": 1, "frame": 3}).status_code == 200
    do("ann", 205, "submit")
    team.post("ann", V1 + "/submit")
    for t, obj, verdict in ((206, 1, "needs_fix"), (207, 2, "accepted")):
        clock.at(t)
        team.post("rev", V1 + f"/objects/{obj}/review", json={"status": verdict})
    clock.at(209)
    team.post("rev", V1 + "/send-back", json={"note": "edge"})
    do("ann", 240, "prompt", 5, 1)  # a correction of a tracked frame
    click(team, "ann", 1, 5, [point(5)])
    do("ann", 241, "submit")
    team.post("ann", V1 + "/submit")
    clock.at(250)
    team.post("rev", V1 + "/objects/1/review", json={"status": "accepted"})
    team.post("rev", V1 + "/accept")

    masks = team.get("adm", V1 + "/masks").json()["masks"]
    frames = defaultdict(int)  # object 1 holds ann's masks, object 2 the admin's
    prompted = defaultdict(int)
    for m in masks:
        who = {1: "ann", 2: "adm"}[m["obj_id"]]
        frames[who] += 1
        prompted[who] += bool(m["prompts"])
    assert (frames["ann"], prompted["ann"], frames["adm"]) == (8, 2, 1)
    want = expected_effort(log, frames, prompted)
    want["ann"].update(masklets=1, accepted=1, sent_back=1, rejected=0, reviews=0)
    want["adm"].update(masklets=1, accepted=1, sent_back=0, rejected=0, reviews=0)
    assert want["ann"]["active_seconds"] == 4 + 6 + 6 + 0 + 35  # spelled out: the gaps of ann's own changes

    table = team.get("adm", "/api/effort?by=person").json()
    rows = {r["person"]: r for r in table["rows"]}
    assert sorted(rows) == sorted(["ann", "other", "rev", "rev2", "adm", "off"])
    for who in ("ann", "adm"):
        for key, value in want[who].items():
            assert rows[who][key] == pytest.approx(value, abs=1e-3), (who, key)
    assert rows["rev"]["reviews"] == 3 and rows["rev"]["masklets"] == 0 and rows["rev"]["seconds_per_frame"] is None
    day = datetime.fromtimestamp(clock.base, timezone.utc).strftime("%Y-%m-%d")
    days = {(d["person"], d["day"]): d for d in table["days"]}
    assert days[("ann", day)]["clicks"] == 4 and days[("ann", day)]["annotated_frames"] == 8
    assert days[("adm", day)]["active_seconds"] == pytest.approx(3)

    videos = team.get("rev", "/api/effort?by=video").json()
    one = next(r for r in videos["rows"] if r["video_id"] == 1)
    assert (one["masklets"], one["clicks"], one["annotated_frames"], one["accepted"], one["sent_back"],
            one["reviews"]) == (2, 5, 9, 2, 1, 3)
    assert one["active_seconds"] == pytest.approx(51 + 3) and one["edited_share"] == pytest.approx(4 / 9, abs=1e-4)
    assert videos["total"]["clicks"] == 5 and next(r for r in videos["rows"] if r["video_id"] == 2)["clicks"] == 0

    text = team.get("adm", "/api/effort?by=person&format=csv")
    assert text.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(text.text)))
    assert float(next(r for r in lines if r["person"] == "ann")["seconds_per_frame"]) == pytest.approx(51 / 8, abs=1e-3)
    assert lines[-1]["person"] == "all" and int(lines[-1]["clicks"]) == 5
    assert team.get("adm", "/api/effort?by=day").status_code == 400

    # the training set: done videos, accepted masklets, who annotated and who verified each beside SA-V's file
    written = team.post("adm", "/api/export", json={"format": "sav", "done_only": True, "accepted_only": True}).json()
    names = [f for f in written["files"] if f.endswith(".json")]
    assert names == ["sav/clip_manual.json", "sav/clip_studio.json"]  # video 2 (second.png) is not done
    doc = team.get("adm", "/api/exports/sav/clip_manual.json").json()
    assert list(doc) == list(sav_ground_truth(clip())) and doc["masklet_num"] == 2  # SA-V's fields only
    sidecar = team.get("adm", "/api/exports/sav/clip_studio.json").json()
    assert [(m["obj_id"], m["annotated_by"], m["verified_by"]) for m in sidecar["masklets"]] == [
        (1, ["ann"], "rev"), (2, ["adm"], "rev")]
    assert "annotated_by" not in json.dumps(doc)
    refused = team.post("adm", V2 + "/export", json={"format": "coco", "done_only": True})
    assert refused.status_code == 400 and "video 2 is to_annotate" in refused.json()["error"]
