"""Every route of the studio against every kind of caller, with the status each gets.

Callers (columns): no token, a disabled person's token, the annotator of the videos (ann), another
annotator (other: the videos are not theirs), the videos' reviewer (rev), another reviewer (rev2),
an admin (adm). Video 1 is in annotation, video 2 waits for review; both are ann's and reviewed by
rev. A refused role is a 403 naming the roles that may; a closed state is a 409. Where a caller may
use a route the request is chosen so that it succeeds or is refused by the handler itself (a 400 or
404 says the role check let it through), without changing what later rows depend on.
"""

from __future__ import annotations

from typing import Any

from samstream.studio.auth import ACCESS, PAGE_CONTROLS, VIDEO_CONTROLS, add_person
from tests.studio.conftest import centre_click, clip

CALLERS = (None, "off", "ann", "other", "rev", "rev2", "adm")
V, V1, V2 = "/api/videos/{video_id}", "/api/videos/1", "/api/videos/2"
POINT = centre_click(clip().masks[0, 0])


def prompt(who: str | None) -> dict[str, Any]:  # each on its own frame: undo takes back only the caller's own
    return {"obj_id": 1, "frame": {"adm": 2}.get(who, 1), "points": [POINT], "labels": [1]}


# (route as the role table names it, method, address, body) and the statuses of
#                                                                               none off ann other rev rev2 adm
TABLE: list[tuple[str, str, str, Any, str]] = [
    ("GET /", "GET", "/", None,                                                  "401 401 200 200 200 200 200"),
    ("GET /dashboard", "GET", "/dashboard", None,                                "401 401 403 403 200 200 200"),
    ("GET /api/health", "GET", "/api/health", None,                              "401 401 200 200 200 200 200"),
    ("GET /api/stats", "GET", "/api/stats", None,                                "401 401 200 200 200 200 200"),
    ("GET /api/me", "GET", "/api/me", None,                                      "401 401 200 200 200 200 200"),
    ("GET /api/next", "GET", "/api/next", None,                                  "401 401 200 200 200 200 403"),
    ("POST /api/model", "POST", "/api/model", {"model": ""},                     "401 401 403 403 403 403 400"),
    ("GET /api/videos", "GET", "/api/videos", None,                              "401 401 200 200 200 200 200"),
    ("POST /api/videos", "POST", "/api/videos?name=a.mp4", None,                 "401 401 403 403 403 403 400"),
    ("GET /api/objects", "GET", "/api/objects", None,                            "401 401 403 403 200 200 200"),
    ("GET /api/effort", "GET", "/api/effort?by=person", None,                    "401 401 403 403 200 200 200"),
    ("POST /api/export", "POST", "/api/export", {"format": "none"},              "401 401 403 403 403 403 400"),
    ("GET /api/exports/{path:path}", "GET", "/api/exports/none.zip", None,       "401 401 403 403 403 403 404"),
    ("GET /api/people", "GET", "/api/people", None,                              "401 401 403 403 403 403 200"),
    ("POST /api/people", "POST", "/api/people", {"name": "new", "role": "reviewer"}, "401 401 403 403 403 403 201"),
    ("POST /api/people/{name}/token", "POST", "/api/people/temp/token", None,    "401 401 403 403 403 403 200"),
    ("POST /api/people/{name}/disable", "POST", "/api/people/temp/disable", None, "401 401 403 403 403 403 200"),
    # reading a video: its annotator, any reviewer, admins
    (f"GET {V}", "GET", V1, None,                                              "401 401 200 403 200 200 200"),
    (f"GET {V}/frames/{{frame}}", "GET", V1 + "/frames/0", None,                "401 401 200 403 200 200 200"),
    (f"POST {V}/focus", "POST", V1 + "/focus", {"frame": 0},                    "401 401 200 403 200 200 200"),
    (f"GET {V}/objects", "GET", V1 + "/objects", None,                          "401 401 200 403 200 200 200"),
    (f"GET {V}/objects/{{obj_id}}/reviews", "GET", V1 + "/objects/1/reviews", None, "401 401 200 403 200 200 200"),
    (f"GET {V}/actions", "GET", V1 + "/actions", None,                          "401 401 200 403 200 200 200"),
    (f"GET {V}/history", "GET", V1 + "/history", None,                          "401 401 200 403 200 200 200"),
    (f"GET {V}/masks", "GET", V1 + "/masks", None,                              "401 401 200 403 200 200 200"),
    (f"GET {V}/masks/{{frame}}", "GET", V1 + "/masks/0", None,                  "401 401 200 403 200 200 200"),
    (f"GET {V}/propagation", "GET", V1 + "/propagation", None,                  "401 401 200 403 200 200 200"),
    (f"GET {V}/events", "GET", V1 + "/events?limit=0", None,                    "401 401 200 403 200 200 200"),
    (f"GET {V}/effort", "GET", V1 + "/effort", None,                            "401 401 200 403 200 200 200"),
    (f"GET {V}/auto-masklets", "GET", V1 + "/auto-masklets", None,              "401 401 200 403 200 200 200"),
    (f"GET {V}/permissions", "GET", V1 + "/permissions", None,                  "401 401 200 403 200 200 200"),
    (f"GET {V}/masklet-proposals/{{proposal_id}}", "GET", V1 + "/masklet-proposals/9", None,
                                                                                 "401 401 404 403 404 404 404"),
    # reviewing: the video's reviewer (or an admin) who never edited the masklet, while it waits for review
    (f"POST {V}/objects/{{obj_id}}/review", "POST", V2 + "/objects/1/review", {"status": "accepted"},
                                                                                 "401 401 403 403 200 403 200"),
    (f"POST {V}/objects/{{obj_id}}/review", "POST", V1 + "/objects/1/review", {"status": "accepted"},
                                                                                 "401 401 403 403 409 403 409"),
    # the work flow: steps taken from a state that does not allow them (409) tell the role check let them through
    (f"POST {V}/submit", "POST", V2 + "/submit", None,                          "401 401 409 403 403 403 409"),
    (f"POST {V}/accept", "POST", V1 + "/accept", None,                          "401 401 403 403 409 403 409"),
    (f"POST {V}/send-back", "POST", V1 + "/send-back", {"note": "no"},          "401 401 403 403 409 403 409"),
    (f"POST {V}/assign", "POST", V1 + "/assign", {"annotator": "ann", "reviewer": "rev"},
                                                                                 "401 401 403 403 403 403 200"),
    (f"POST {V}/export", "POST", V1 + "/export", {"format": "none"},            "401 401 403 403 403 403 400"),
    # editing: the video's annotator and admins, while it is in annotation
    (f"POST {V}/prompts", "POST", V2 + "/prompts", prompt,                      "401 401 409 403 403 403 409"),
    (f"POST {V}/objects", "POST", V1 + "/objects", {},                          "401 401 201 403 403 403 201"),
    (f"PATCH {V}/objects/{{obj_id}}", "PATCH", V1 + "/objects/2", {"name": "renamed"},
                                                                                 "401 401 200 403 403 403 200"),
    (f"DELETE {V}/objects/{{obj_id}}", "DELETE", V1 + "/objects/9", None,       "401 401 404 403 403 403 404"),
    (f"POST {V}/prompts", "POST", V1 + "/prompts", prompt,                      "401 401 200 403 403 403 200"),
    (f"PATCH {V}", "PATCH", V1, {"method": "tracker"},                          "401 401 400 403 403 403 400"),
    (f"POST {V}/clear", "POST", V1 + "/clear", {"obj_id": 1, "frame": 5},       "401 401 400 403 403 403 400"),
    (f"POST {V}/undo", "POST", V1 + "/undo", None,                              "401 401 200 403 403 403 200"),
    (f"POST {V}/redo", "POST", V1 + "/redo", None,                              "401 401 200 403 403 403 200"),
    (f"POST {V}/propagate", "POST", V1 + "/propagate", {"direction": "up"},     "401 401 400 403 403 403 400"),
    (f"POST {V}/propagate/cancel", "POST", V1 + "/propagate/cancel", None,      "401 401 200 403 403 403 200"),
    (f"POST {V}/propagate/resume", "POST", V1 + "/propagate/resume", None,      "401 401 400 403 403 403 400"),
    (f"POST {V}/segment-everything", "POST", V1 + "/segment-everything", {"frame": 0, "points_per_side": 0},
                                                                                 "401 401 400 403 403 403 400"),
    (f"POST {V}/proposals/{{proposal_id}}/accept", "POST", V1 + "/proposals/9/accept", {},
                                                                                 "401 401 404 403 403 403 404"),
    (f"POST {V}/auto-masklets", "POST", V1 + "/auto-masklets", {"points_per_side": 0},
                                                                                 "401 401 400 403 403 403 400"),
    (f"POST {V}/auto-masklets/cancel", "POST", V1 + "/auto-masklets/cancel", None, "401 401 200 403 403 403 200"),
    (f"DELETE {V}/masklet-proposals/{{proposal_id}}", "DELETE", V1 + "/masklet-proposals/9", None,
                                                                                 "401 401 404 403 403 403 404"),
    (f"POST {V}/masklet-proposals/{{proposal_id}}/accept", "POST", V1 + "/masklet-proposals/9/accept", {},
                                                                                 "401 401 404 403 403 403 404"),
    (f"POST {V}/import", "POST", V1 + "/import", {},                            "401 401 400 403 403 403 400"),
]


def setup_videos(team) -> None:
    """Video 1: ann's object 1 prompted on frame 0, in annotation. Video 2: the same, submitted for review."""
    for video in (V1, V2):
        assert team.post("ann", video + "/objects", json={}).status_code == 201
        assert team.post("ann", video + "/prompts", json={"obj_id": 1, "frame": 0, "points": [POINT],
                                                           "labels": [1]}).status_code == 200
    assert team.post("ann", V2 + "/submit").json()["video"]["status"] == "to_review"
    add_person(team.store, "temp", "annotator")


def test_every_route_and_role_gets_its_status(team):
    setup_videos(team)
    got = []
    for route, method, address, body, expected in TABLE:
        for who, want in zip(CALLERS, expected.split()):
            kw = {} if body is None else {"json": body(who) if callable(body) else body}
            if method == "POST" and address.startswith("/api/videos?"):
                kw = {"content": b""}
            reply = team.request(who, method, address, **kw)
            got.append((route, address, who, reply.status_code, int(want)))
            if reply.status_code == 403:  # a refusal names the roles that would be let in
                error = reply.json()
                assert error["needs"] and all(role in error["error"] for role in ("an " + r if r[0] == "a" else "a " + r
                                                                                  for r in error["needs"])), error
            if reply.status_code == 401:
                assert "token" in reply.json()["error"]
    wrong = [g for g in got if g[3] != g[4]]
    assert not wrong, "\n".join(f"{a} as {w}: got {s}, want {x}" for _, a, w, s, x in wrong)
    assert {row[0] for row in TABLE} == set(ACCESS)  # every rule is exercised


def test_the_role_table_covers_every_route_of_the_app(team):
    routes = team.client.app.app.routes
    declared = {f"{m} {r.path}" for r in routes if hasattr(r, "methods") for m in r.methods if m != "HEAD"}
    assert declared == set(ACCESS)
    assert team.get(None, "/static/css/studio.css").status_code == 401  # the page's files: any valid token
    assert team.get("rev", "/static/css/studio.css").status_code == 200


def test_a_reviewer_never_verifies_a_masklet_they_edited(team):
    setup_videos(team)
    team.post("adm", V2 + "/send-back", json={"note": "one more object"})
    assert team.post("adm", V2 + "/objects", json={}).status_code == 201  # the admin makes masklet 2
    team.post("ann", V2 + "/submit")
    mine = team.post("adm", V2 + "/objects/2/review", json={"status": "accepted"})
    assert mine.status_code == 403 and "adm edited masklet 2" in mine.json()["error"]
    assert team.post("adm", V2 + "/objects/1/review", json={"status": "accepted"}).status_code == 200
    assert team.post("rev", V2 + "/objects/2/review", json={"status": "accepted", "note": "fine"}).status_code == 200
    review = team.get("rev", V2 + "/objects/2/reviews").json()["reviews"][-1]
    assert (review["reviewer"], review["note"]) == ("rev", "fine")  # the reviewer is who asked, not the body


def test_a_token_stops_working_when_replaced_or_disabled(team):
    me = team.get("ann", "/api/me").json()
    assert (me["name"], me["role"], me["solo"]) == ("ann", "annotator", False)
    old = team.tokens["ann"]
    new = team.post("adm", "/api/people/ann/token").json()["token"]
    assert team.client.get("/api/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert team.client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).json()["name"] == "ann"
    assert team.client.get("/api/me", headers={"Authorization": f"Bearer {new[:-1]}x"}).status_code == 401
    team.post("adm", "/api/people/ann/disable")
    refused = team.client.get("/api/me", headers={"Authorization": f"Bearer {new}"})
    assert refused.status_code == 401 and "ann is disabled" in refused.json()["error"]
    assert team.post("adm", "/api/people/adm/disable").status_code == 400  # not oneself


# the page's controls outside a video, per caller: what GET /api/me's `may` says
#            upload export model people dashboard next assign
PAGE_MAY = {"ann":   "0 0 0 0 0 1 0", "rev": "0 0 0 0 1 1 0", "adm": "1 1 1 1 1 0 1"}
# a control's request, made for real where the page is told it is refused: the same status and words
CONTROL_REQUESTS = {"edit": ("/prompts", prompt), "method": ("", {"method": "samurai"}),
                    "cancel": ("/propagate/cancel", None), "submit": ("/submit", None),
                    "accept": ("/accept", None), "send_back": ("/send-back", {"note": "x"}),
                    "assign": ("/assign", {"annotator": "ann"}), "export": ("/export", {"format": "none"})}


def test_the_page_is_told_what_each_person_may_do_in_the_words_the_server_would_refuse_with(team):
    setup_videos(team)  # video 1 in annotation, video 2 waits for review; ann made masklet 1 of both
    assert team.post("adm", V2 + "/send-back", json={"note": "one more"}).status_code == 200
    assert team.post("adm", V2 + "/objects", json={}).status_code == 201  # masklet 2: the admin's
    assert team.post("ann", V2 + "/submit").status_code == 200
    for who, row in PAGE_MAY.items():
        may = team.get(who, "/api/me").json()["may"]
        assert may == dict(zip(PAGE_CONTROLS, (bit == "1" for bit in row.split()))), who
    #         video: edit method cancel review submit accept send_back assign export     masklets reviewable
    want = {("ann", 1): ("1 1 1 0 1 0 0 0 0", []), ("ann", 2): ("0 0 1 0 0 0 0 0 0", []),
            ("rev", 1): ("0 0 0 0 0 0 0 0 0", []), ("rev", 2): ("0 0 0 1 0 1 1 0 0", ["1", "2"]),
            ("rev2", 2): ("0 0 0 0 0 0 0 0 0", []), ("adm", 1): ("1 1 1 0 1 0 0 1 1", []),
            ("adm", 2): ("0 0 1 1 0 1 1 1 1", ["1"])}
    for (who, vid), (bits, reviewable) in want.items():
        got = team.get(who, f"/api/videos/{vid}/permissions").json()
        assert got["status"] == ("in_annotation", "to_review")[vid - 1] and got["annotator"] == "ann"
        assert got["may"] == dict(zip(VIDEO_CONTROLS, (b == "1" for b in bits.split()))), (who, vid)
        assert [o for o, why in got["masklets"].items() if why is None] == reviewable, (who, vid)
        for control, why in got["refused"].items():  # refused: the real request gets the same reply
            if control == "review":
                continue
            path, body = CONTROL_REQUESTS[control]
            kw = {} if body is None else {"json": body(who) if callable(body) else body}
            reply = team.request(who, "PATCH" if control == "method" else "POST", f"/api/videos/{vid}{path}", **kw)
            assert (reply.status_code, reply.json()["error"]) == (why["status"], why["error"]), (who, vid, control)
        for obj, why in got["masklets"].items():
            if why is not None:
                reply = team.post(who, f"/api/videos/{vid}/objects/{obj}/review", json={"status": "accepted"})
                assert (reply.status_code, reply.json()["error"]) == (why["status"], why["error"]), (who, vid, obj)
    mine = team.get("adm", V2 + "/permissions").json()["masklets"]["2"]
    assert mine["status"] == 403 and "adm edited masklet 2" in mine["error"]
    people = team.get("adm", "/api/people").json()
    assert people["assignable"] == {"annotator": ["annotator", "admin"], "reviewer": ["reviewer", "admin"]}


def test_a_studio_without_people_may_do_everything_but_steps_its_video_is_not_ready_for(studio):
    me = studio.get("/api/me").json()
    assert me["solo"] and all(me["may"].values())
    got = studio.get("/api/videos/1/permissions").json()
    assert got["refused"] == {"submit": {"status": 409, "error": "status: video 1 is to_annotate; submit needs it "
                                                                 "in_annotation"},
                              "accept": {"status": 409, "error": "status: video 1 is to_annotate; accept needs it "
                                                                 "to_review"},
                              "send_back": {"status": 409, "error": "status: video 1 is to_annotate; send back needs "
                                                                    "it to_review or done"}}
