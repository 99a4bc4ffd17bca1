"""People on the command line and against a real server process: tokens are never stored or logged in
clear, the page's cookie is HttpOnly and SameSite=Strict, the user and assign commands answer bad
input with one line and exit code 2."""

from __future__ import annotations

import json

import httpx
import pytest

from samstream.cli import main
from tests.studio.test_server import Server, cli


@pytest.fixture()
def data_dir(tmp_path, media):
    data = tmp_path / "data"
    assert main(["studio", "add", str(data), str(media["frames"]), "-q"]) == 0
    return data


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["studio", *args])
    out, err = capsys.readouterr()
    return code, out, err


def add_person(capsys, data, name: str, role: str) -> str:
    code, out, _ = run(capsys, "user", "add", str(data), name, "--role", role, "--jsonl")
    assert code == 0
    return json.loads(out)["token"]


def test_user_and_assign_commands(data_dir, capsys):
    token = add_person(capsys, data_dir, "ann", "annotator")
    assert len(token) > 40 and "." in token
    code, out, _ = run(capsys, "user", "add", str(data_dir), "rev", "--role", "reviewer", "-q")
    assert code == 0 and out.strip().count(".") == 1  # -q prints the token alone: it is shown only now
    code, out, err = run(capsys, "user", "add", str(data_dir), "ann", "--role", "admin")
    assert (code, out) == (2, "") and err.strip() == "samstream studio: error: name: there is already a person called 'ann'"
    for bad in (["user", "add", str(data_dir), "x", "--role", "boss"], ["user", "add", str(data_dir), "a b", "--role",
                                                                         "admin"],
                ["user", "disable", str(data_dir), "nobody"], ["user", "token", str(data_dir), "nobody"],
                ["assign", str(data_dir), "1", "rev"], ["assign", str(data_dir), "9", "ann"],
                ["assign", str(data_dir), "1", "ann", "--reviewer", "ann"], ["assign", str(data_dir), "one", "ann"],
                ["user", "list", str(data_dir / "missing")], ["user"]):
        code, out, err = run(capsys, *bad)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "error" in err, (bad, err)
    code, out, _ = run(capsys, "assign", str(data_dir), "1", "ann", "--reviewer", "rev")
    assert code == 0 and "assigned to ann, reviewed by rev" in out
    code, out, _ = run(capsys, "user", "token", str(data_dir), "ann", "--jsonl")
    new = json.loads(out)["token"]
    assert code == 0 and new != token
    assert run(capsys, "user", "disable", str(data_dir), "rev")[0] == 0
    code, out, _ = run(capsys, "user", "list", str(data_dir))
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ann", "annotator", "enabled"]
    assert lines[1].split()[:3] == ["rev", "reviewer", "disabled"] and token not in out and new not in out


def test_tokens_are_never_stored_or_logged_in_clear(data_dir, capsys):
    admin = add_person(capsys, data_dir, "adm", "admin")
    ann = add_person(capsys, data_dir, "ann", "annotator")
    assert run(capsys, "assign", str(data_dir), "1", "ann")[0] == 0
    server = Server(data_dir, extra=["--access-log"], headers={"Authorization": f"Bearer {admin}"})
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as page:  # a browser: the address once, then its cookie
            first = page.get(f"/?token={ann}")
            assert first.status_code == 200 and "samstream studio" in first.text
            cookie = first.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
            assert page.get("/api/me").json() == {"name": "ann", "role": "annotator", "solo": False}
            assert page.get("/api/videos/1/events?limit=0").status_code == 200
        assert httpx.get(f"{base}/api/videos/1/events?limit=0&token={ann}").status_code == 200
        assert httpx.get(f"{base}/api/me").status_code == 401
        assert httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {ann[:13]}wrong"}).status_code == 401
        assert server.client.post("/api/videos/1/objects", json={}).status_code == 201  # the admin
        assert server.client.get("/api/people").json()["people"][0]["name"] == "adm"
        new = server.client.post("/api/people", json={"name": "kim", "role": "reviewer"}).json()["token"]
        assert httpx.get(f"{base}/api/me?token={new}").json()["name"] == "kim"
    finally:
        server.stop()
    log = server.proc.stderr.read().decode()
    assert "GET /api/me" in log and "GET /api/videos/1/events?limit=0" in log  # the access log was on
    secrets = [t for token in (admin, ann, new) for t in (token, token.split(".", 1)[1])]
    for secret in secrets:
        assert secret not in log
    stored = b"".join(p.read_bytes() for p in data_dir.glob("studio.sqlite3*"))
    assert stored and not any(s.encode() in stored for s in secrets)
    assert ann.split(".")[0].encode() in stored  # only the public key part is kept as it is


def test_a_data_dir_without_people_keeps_one_person_on_loopback(data_dir):
    server = Server(data_dir)
    try:
        assert server.client.get("/api/me").json() == {"name": None, "role": None, "solo": True}
        assert server.client.post("/api/videos/1/objects", json={}).status_code == 201
        assert cli("studio", "user", "list", str(data_dir)).stdout.strip().endswith("no people: the studio serves "
                                                                                   "one person")
    finally:
        server.stop()
