"""Bad requests: each gets its 4xx JSON error naming what was wrong, and leaves the database unchanged."""

from __future__ import annotations

import warnings

import pytest

from samstream.io.rle import encode_rle
from tests.studio.helpers import snapshot

import numpy as np

P = "/api/videos/1"
GOOD = {"obj_id": 1, "frame": 0, "points": [[60, 60]], "labels": [1]}

CASES = [  # (id, method, url, request arguments, status, word the error must contain)
    ("malformed json", "post", P + "/objects", {"content": b"{name: 1"}, 400, "JSON"),
    ("json not an object", "post", P + "/prompts", {"json": [1, 2]}, 400, "object"),
    ("unknown video", "post", "/api/videos/99/objects", {"json": {}}, 404, "99"),
    ("video id not a number", "get", "/api/videos/abc", {}, 400, "video_id"),
    ("unknown object", "post", P + "/prompts", {"json": {**GOOD, "obj_id": 7}}, 404, "7"),
    ("object id not an integer", "post", P + "/prompts", {"json": {**GOOD, "obj_id": "one"}}, 400, "obj_id"),
    ("frame out of range", "post", P + "/prompts", {"json": {**GOOD, "frame": 8}}, 400, "frame"),
    ("negative frame", "post", P + "/clear", {"json": {"obj_id": 1, "frame": -1}}, 400, "frame"),
    ("frame image out of range", "get", P + "/frames/99", {}, 400, "frame"),
    ("frame size too big", "get", P + "/frames/0?size=100000", {}, 400, "size"),
    ("frame format", "get", P + "/frames/0?format=gif", {}, 400, "format"),
    ("empty points", "post", P + "/prompts", {"json": {**GOOD, "points": [], "labels": []}}, 400, "points"),
    ("no prompt at all", "post", P + "/prompts", {"json": {"obj_id": 1, "frame": 0}}, 400, "prompt"),
    ("labels do not match", "post", P + "/prompts", {"json": {**GOOD, "labels": [1, 0]}}, 400, "labels"),
    ("label not 0/1", "post", P + "/prompts", {"json": {**GOOD, "labels": [3]}}, 400, "labels"),
    ("point not a pair", "post", P + "/prompts", {"json": {**GOOD, "points": [[1, 2, 3]]}}, 400, "points"),
    ("box of 3 numbers", "post", P + "/prompts", {"json": {"obj_id": 1, "frame": 0, "box": [1, 2, 3]}}, 400, "box"),
    ("mask of the wrong size", "post", P + "/prompts",
     {"json": {"obj_id": 1, "frame": 0, "mask": encode_rle(np.ones((4, 4), bool))}}, 400, "size"),
    ("mask not an RLE", "post", P + "/prompts", {"json": {"obj_id": 1, "frame": 0, "mask": [1, 0]}}, 400, "RLE"),
    ("stale version", "post", P + "/prompts", {"json": {**GOOD, "version": 0}}, 409, "version"),
    ("stale version on rename", "patch", P + "/objects/1", {"json": {"name": "x", "version": 0}}, 409, "version"),
    ("stale version on review", "post", P + "/objects/1/review", {"json": {"status": "accepted", "version": 0}}, 409,
     "version"),
    ("stale version on clear", "post", P + "/clear", {"json": {"obj_id": 1, "frame": 0, "version": 0}}, 409, "version"),
    ("clear a frame without prompts", "post", P + "/clear", {"json": {"obj_id": 1, "frame": 3}}, 400, "no prompt"),
    ("point outside the frame", "post", P + "/prompts", {"json": {**GOOD, "points": [[500, 5]]}}, 400, "outside"),
    ("box upside down", "post", P + "/prompts", {"json": {"obj_id": 1, "frame": 0, "box": [9, 9, 1, 1]}}, 400, "box"),
    ("bad review status", "post", P + "/objects/1/review", {"json": {"status": "great"}}, 400, "status"),
    ("bad status filter", "get", P + "/objects?status=great", {}, 400, "status"),
    ("duplicate object id", "post", P + "/objects", {"json": {"obj_id": 1}}, 400, "already"),
    ("object id out of range", "post", P + "/objects", {"json": {"obj_id": 2**40}}, 400, "obj_id"),
    ("rename with nothing", "patch", P + "/objects/1", {"json": {}}, 400, "name"),
    ("name too long", "patch", P + "/objects/1", {"json": {"name": "x" * 5000}}, 400, "name"),
    ("delete unknown object", "delete", P + "/objects/9", {}, 404, "9"),
    ("bad direction", "post", P + "/propagate", {"json": {"direction": "sideways"}}, 400, "direction"),
    ("forward end before start", "post", P + "/propagate", {"json": {"start": 5, "end": 2}}, 400, "before start"),
    ("bad until", "post", P + "/propagate", {"json": {"until": "soon"}}, 400, "until"),
    ("a frame both ways", "post", P + "/propagate", {"json": {"until": 3, "direction": "both"}}, 400, "until"),
    ("objects not a list", "post", P + "/propagate", {"json": {"obj_ids": 1}}, 400, "obj_ids"),
    ("propagate an unknown object", "post", P + "/propagate", {"json": {"obj_ids": [4]}}, 404, "4"),
    ("focus outside the video", "post", P + "/focus", {"json": {"frame": 8}}, 400, "frame"),
    ("resume with nothing to resume", "post", P + "/propagate/resume", {}, 400, "interrupted"),
    ("unknown export format", "post", P + "/export", {"json": {"format": "xml"}}, 400, "format"),
    ("export stride 0", "post", P + "/export", {"json": {"format": "sav", "stride": 0}}, 400, "stride"),
    ("unknown proposal", "post", P + "/proposals/5/accept", {}, 404, "proposal"),
    ("download outside exports", "get", "/api/exports/..%2Fstudio.sqlite3", {}, 404, "export"),
    ("download unknown", "get", "/api/exports/sav/none.json", {}, 404, "export"),
    ("import not SA-V", "post", P + "/import", {"json": {"hello": 1}}, 400, "SA-V"),
    ("switch to no model", "post", "/api/model", {"json": {}}, 400, "model"),
    ("a video id of two minus signs", "get", "/api/videos/--5", {}, 400, "video_id"),
    ("a superscript digit in a query", "get", P + "/events?limit=%C2%B2", {}, 400, "limit"),
    ("upload without a name", "post", "/api/videos", {"content": b"abc"}, 400, "name"),
    ("upload path traversal", "post", "/api/videos?name=../../evil.mp4", {"content": b"abc"}, 400, "path"),
    ("upload backslash path", "post", "/api/videos?name=..%5Cevil.mp4", {"content": b"abc"}, 400, "path"),
    ("upload of a non-video type", "post", "/api/videos?name=tool.exe", {"content": b"MZ"}, 400, "video"),
    ("upload of a fake video", "post", "/api/videos?name=notes.mp4", {"content": b"not a video\n" * 10}, 415, "video"),
    ("upload empty", "post", "/api/videos?name=a.mp4", {"content": b""}, 400, "empty"),
    ("upload too large", "post", "/api/videos?name=big.mp4", {"content": b"\0" * ((1 << 20) + 1)}, 413, "limit"),
]


@pytest.fixture()
def annotated(studio):
    """Video 1 with object 1, one click and one mask; the state every bad request must leave alone."""
    assert studio.post(P + "/objects", json={"name": "disc"}).status_code == 201
    assert studio.post(P + "/prompts", json=GOOD).status_code == 200
    return studio


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_a_4xx_that_changes_nothing(annotated, case):
    _, method, url, kwargs, status, word = case
    data_dir = annotated.app_state.studio.data_dir
    before = snapshot(data_dir)
    media_before = sorted(p.name for p in (data_dir / "media").iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # httpx's note about raw content
        reply = getattr(annotated, method)(url, **kwargs)
    assert reply.status_code == status, reply.text
    assert word.lower() in reply.json()["error"].lower()
    assert snapshot(data_dir) == before
    assert sorted(p.name for p in (data_dir / "media").iterdir()) == media_before  # no partial upload left
    assert annotated.get("/api/health").status_code == 200  # and the server keeps serving


def test_token_is_required_off_loopback(tmp_path, nano, media):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from samstream.studio.app import create_app
    from samstream.studio.service import Settings

    settings = Settings(data_dir=tmp_path / "d", host="0.0.0.0")
    assert settings.token and len(settings.token) >= 24  # generated, since none was given
    with TestClient(create_app(settings, model=nano)) as client:
        for headers, url in (({}, "/api/videos"), ({"Authorization": "Bearer wrong"}, "/api/videos"),
                             ({}, "/"), ({}, "/api/videos/1/events"), ({}, "/static/index.html"),
                             ({}, "/api/videos?token=wrong")):
            reply = client.get(url, headers=headers)
            assert reply.status_code == 401 and "token" in reply.json()["error"]
        assert client.get("/api/videos", headers={"Authorization": f"Bearer {settings.token}"}).status_code == 200
        first = client.get(f"/?token={settings.token}")  # the printed address: the page loads on the first try
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Strict" in first.headers["set-cookie"]
        assert client.get("/static/css/studio.css").status_code == 200  # its stylesheet carries the cookie
        client.cookies.clear()
        # a wrong token in the address beside a good one in the header: the request passes on the header's,
        # and the wrong one is never made the page's cookie
        mixed = client.get("/api/videos?token=wrong", headers={"Authorization": f"Bearer {settings.token}"})
        assert mixed.status_code == 200 and "set-cookie" not in mixed.headers
    loopback = Settings(data_dir=tmp_path / "e")
    assert loopback.token is None
