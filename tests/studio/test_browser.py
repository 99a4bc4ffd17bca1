"""The studio page in a real Chromium (Debian's package, driven by Playwright) against a real server.

One server process and one browser for the module; the tests run in order on one synthetic clip
(known masks) uploaded through the page. What the page did is checked through the server's HTTP API
(the stored masks, exactly) and on the page (what it draws). Each test saves a screenshot of its final
page under ``test-artifacts/studio/`` (git-ignored).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

import samstream
from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.eval.sav import evaluate_sav
from samstream.video.frames.decode import write_video
from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import stored_masks, wait_propagation
from tests.studio.test_server import FRAMES, Server, cli, sav_pngs

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is part of the studio test extra")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]
LONG = 60  # frames of the clip whose propagation is killed midway
TOKEN = "t0ken-for-the-browser-test"


def chromium_path() -> str:
    """Debian's chromium, installed with apt-get when missing (browser downloads are not available)."""
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("the browser tests need Debian's chromium package: apt-get install -y chromium")
    return found


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    c = clip(frames=FRAMES)
    write_video(root / "walk.mp4", c.frames, 12)
    long = generate_clip(0, SyntheticConfig(size=128, num_frames=LONG, max_objects=2, exit_prob=0.0))
    write_video(root / "long.mp4", long.frames, 12)
    (root / "notes.mp4").write_text("this is not a video\n")
    data = root / "data"
    data.mkdir()
    server = Server(data)
    pw = playwright.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    state = {"root": root, "clip": c, "long": long, "data": data, "server": server, "browser": browser,
             "page": page, "errors": errors}
    yield state
    browser.close()
    pw.stop()
    state["server"].stop()


def url(state, path: str = "") -> str:
    return f"http://127.0.0.1:{state['server'].port}/{path}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def canvas_point(page, x: float, y: float) -> tuple[float, float]:
    return tuple(page.evaluate("([x, y]) => window.studio.annotation.canvas.toClient(x, y)", [x, y]))


def pixel(page, x: float, y: float) -> list[int]:
    return page.evaluate("([x, y]) => window.studio.annotation.canvas.pixelAt(x, y)", [x, y])


def client_pixel(page, selector: str, x: float, y: float) -> list[int]:
    """The RGBA a canvas shows at client (CSS pixel) coordinates."""
    return page.evaluate("""([sel, x, y]) => {
        const c = document.querySelector(sel), r = c.getBoundingClientRect(), d = window.devicePixelRatio || 1;
        return [...c.getContext('2d').getImageData(Math.floor((x - r.left) * d), Math.floor((y - r.top) * d), 1, 1).data];
    }""", [selector, x, y])


def timeline_point(page, frame: int, row: int, into: float = 0.5) -> tuple[float, float]:
    """Client coordinates in an object's row of the timeline, ``into`` a frame's column, mid-row."""
    return tuple(page.evaluate("""([f, i, into]) => {
        const t = window.studio.annotation.timeline, r = t.canvas.getBoundingClientRect();
        return [r.left + t.frameX(f) + into * r.width / t.count, r.top + t.rowY(i) + t.row / 2];
    }""", [frame, row, into]))


def timeline_pixel(page, frame: int, row: int) -> list[int]:
    """The timeline's colour in an object's row at a frame (a quarter into the frame's column, off the cursor)."""
    return client_pixel(page, "#timeline", *timeline_point(page, frame, row, 0.25))


def marker(page, x: float, y: float) -> list[int]:
    """The colour of the disc drawn for a click at video pixel (x, y) (beside its centre, off its +/- sign)."""
    cx, cy = canvas_point(page, x, y)
    return client_pixel(page, "#frame-canvas", cx + 3, cy - 3)[:3]


def clicked(point: list[float]) -> list[float]:
    """Where a click at a pixel's centre lands in video coordinates (pixel x covers [x, x + 1)), give or
    take the rounding of the click's screen position to whole screen pixels."""
    return pytest.approx([point[0] + 0.5, point[1] + 0.5], abs=0.5)


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def wait_objects(page, count: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#objects li').length === {count}", timeout=60000)


def acknowledged(page) -> int:
    return page.evaluate("window.studio.annotation.prompts.acknowledged")


def click_at(page, x: float, y: float, shift: bool = False) -> None:
    cx, cy = canvas_point(page, x, y)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(cx, cy)
    if shift:
        page.keyboard.up("Shift")


def click_and_wait(page, x: float, y: float, shift: bool = False) -> None:
    """A click on the canvas at video pixel (x, y); returns once the server stored the prompt."""
    before = acknowledged(page)
    click_at(page, x, y, shift)
    page.wait_for_function("n => window.studio.annotation.prompts.acknowledged > n", arg=before, timeout=60000)


def show(page, frame: int, obj_id: int | None = None) -> None:
    if obj_id is not None:
        page.evaluate("id => window.studio.annotation.select(id)", obj_id)
    page.evaluate("f => window.studio.annotation.show(f)", frame)
    page.wait_for_function("f => window.studio.annotation.frame === f && window.studio.annotation.canvas.image", arg=frame)


def propagate(page, client, video_id: int, button: str = "#prop-forward") -> dict:
    """Press a propagate button; returns the finished run's row once the page shows it done."""
    before = client.get(f"/api/videos/{video_id}/propagation").json()["propagation"]
    page.click(button)
    deadline = time.monotonic() + 120
    while True:
        prop = client.get(f"/api/videos/{video_id}/propagation").json()["propagation"]
        if prop is not None and (before is None or prop["id"] != before["id"]) and prop["status"] != "running":
            break
        assert time.monotonic() < deadline, "the propagation did not finish"
        time.sleep(0.05)
    page.wait_for_function("document.getElementById('prop-status').textContent.startsWith('done')", timeout=60000)
    return prop


def shows_what_is_stored(page, client, video_id: int) -> bool:
    """Every mask the server stores is the one the page holds (read from the page in one call)."""
    stored = stored_masks(client, video_id)
    shown = page.evaluate("keys => keys.map(([o, f]) => { const e = window.studio.annotation.state.mask(f, o); "
                          "return e ? e.mask.join('') : null; })", [list(k) for k in stored])
    return all(s is not None and np.array_equal(np.frombuffer(s.encode(), np.uint8).reshape(m.shape) == ord("1"), m)
               for s, m in zip(shown, stored.values()))


def prompt_points(client, video_id: int, frame: int, obj_id: int) -> list[list[float]]:
    steps = client.get(f"/api/videos/{video_id}/masks/{frame}").json()["prompts"].get(str(obj_id), [])
    return [p for s in steps for p in (s["points"] or [])]


# ---------------------------------------------------------------------------------------------- tests
def test_upload_open_and_click(setup):
    page, server, c, root = setup["page"], setup["server"], setup["clip"], setup["root"]
    page.goto(url(setup))
    page.set_input_files("#file-input", str(root / "walk.mp4"))
    page.wait_for_selector("#video-rows tr[data-video-id='1']", timeout=60000)
    # a data dir without people: one person, every control as before, nothing of a team's
    assert page.is_visible("#drop-zone") and page.is_visible("#dashboard-link") and page.is_visible("#export-all")
    assert not any(page.is_visible(s) for s in ("#who", "#next", "#people", "#video-rows select"))
    assert "8" in page.inner_text("#video-rows tr[data-video-id='1']")  # the frame count
    page.click("#video-rows tr[data-video-id='1'] a.open-video")
    page.wait_for_function("window.studio.annotation.canvas.image !== null", timeout=60000)
    assert not page.is_visible("#workflow") and page.is_visible("#activity") and page.is_visible("#export-section")
    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")
    x, y = centre_click(c.masks[0, 0])
    click_and_wait(page, x, y)
    wait_objects(page, 1)
    stored = stored_masks(server.client, 1)[(1, 0)]
    with samstream.VideoPredictor(samstream.load_model("samstream-nano", device="cpu")).open(root / "walk.mp4") as s:
        library = s.add_points(0, 1, [[x, y]], [1]).masks[0].numpy()
    assert iou(stored, c.masks[0, 0]) >= iou(library, c.masks[0, 0]) - 0.02
    assert stored[int(y), int(x)]
    page.wait_for_timeout(200)
    colour = rgb(page.evaluate("window.studio.annotation.colour(1)"))
    ys, xs = np.nonzero(stored)
    far = int(np.argmax((xs - x) ** 2 + (ys - y) ** 2))  # a mask pixel away from the click's marker
    assert pixel(page, float(xs[far]), float(ys[far]))[:3] == colour  # the mask is drawn in the object's colour
    shot(page, "upload_open_click")
    assert marker(page, x, y) == [31, 191, 74]  # the click is drawn: a green disc
    assert not setup["errors"], setup["errors"]


def test_box_for_a_second_object_then_propagate_all_and_step(setup):
    page, server, c = setup["page"], setup["server"], setup["clip"]
    page.click("#add-object")
    wait_objects(page, 2)
    ys, xs = np.nonzero(c.masks[0, 1])
    x0, y0 = canvas_point(page, float(xs.min()), float(ys.min()))
    x1, y1 = canvas_point(page, float(xs.max()), float(ys.max()))
    before = acknowledged(page)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("n => window.studio.annotation.prompts.acknowledged > n", arg=before, timeout=60000)
    assert (2, 0) in stored_masks(server.client, 1)
    box = page.evaluate("window.studio.annotation.canvas.prompts.steps.map(s => s.box)")
    assert len(box) == 1 and box[0] == pytest.approx([xs.min(), ys.min(), xs.max(), ys.max()], abs=1)  # drawn
    shot(page, "box")
    page.select_option("#prop-scope", "all")
    prop = propagate(page, server.client, 1)
    assert prop["status"] == "done" and sorted(prop["plan"]["obj_ids"]) == [1, 2]
    masks = stored_masks(server.client, 1)
    assert all((1, f) in masks and (2, f) in masks for f in range(FRAMES))
    page.select_option("#prop-scope", "selected")
    page.click("#frame-canvas", position={"x": 5, "y": 5}, modifiers=["Alt"])  # focus without prompting
    focused = []
    page.on("request", lambda r: focused.append(json.loads(r.post_data)["frame"]) if r.url.endswith("/focus") else None)
    for f in range(1, 4):
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.getElementById('frame-label').textContent.startsWith('frame {f} ')")
    assert page.evaluate("window.studio.annotation.frame") == 3
    page.wait_for_timeout(600)
    assert focused[-1:] == [3]  # the server hears of the frame on screen (debounced: quick steps send less)
    # the timeline: a row per object, in its colour; prompted frame 0 carries a white tick on top
    assert page.evaluate("window.studio.annotation.timeline.rows.length") == 2
    for row, obj_id in ((0, 1), (1, 2)):
        colour = rgb(page.evaluate(f"window.studio.annotation.colour({obj_id})"))
        assert timeline_pixel(page, 5, row)[:3] == colour and timeline_pixel(page, 0, row)[:3] == colour
    shot(page, "propagated")
    page.mouse.click(*timeline_point(page, 5, 1))  # a press on a row: that frame, that row's object
    page.wait_for_function("window.studio.annotation.frame === 5 && window.studio.annotation.state.selected === 2")


def test_correction_then_propagate_to_the_next_prompt_undo_redo(setup):
    page, server, c = setup["page"], setup["server"], setup["clip"]
    client = server.client
    # a correction on frame 6: a prompted frame later than the one corrected next
    show(page, 6, 1)
    click_and_wait(page, *centre_click(c.masks[6, 0]))
    assert page.input_value("#prop-until") == "next_prompt"  # the default after a correction
    page.wait_for_selector("#notice:not([hidden])")
    assert "Correction kept on frame 6" in page.inner_text("#notice")
    propagate(page, client, 1)
    before = stored_masks(client, 1)

    # a correction on frame 3, propagated to the next prompt: frames 3-5 of object 1 only
    show(page, 3, 1)
    tracked = before[(1, 3)]
    ys, xs = np.nonzero(tracked)
    fix = (float(xs[len(xs) // 2]), float(ys[len(ys) // 2]))
    click_and_wait(page, *fix, shift=True)
    corrected = stored_masks(client, 1)
    assert not np.array_equal(corrected[(1, 3)], tracked)
    page.wait_for_timeout(200)
    assert marker(page, *fix) == [226, 60, 60]  # the background click is drawn: a red disc
    prop = propagate(page, client, 1)
    assert prop["plan"]["until"] == "next_prompt" and prop["plan"]["obj_ids"] == [1]
    assert [(leg["start"], leg["last"]) for leg in prop["plan"]["legs"]] == [(3, 5)]
    after = stored_masks(client, 1)
    outside = [(o, f) for (o, f) in before if o == 2 or f not in (3, 4, 5)]
    assert all(np.array_equal(after[k], before[k]) for k in outside)  # other frames, other object: bit-identical
    assert shows_what_is_stored(page, client, 1)
    shot(page, "correction_propagated")

    def press(keys: str, said: str) -> None:
        version = page.evaluate("window.studio.annotation.state.version")
        page.keyboard.press(keys)
        page.wait_for_function("v => window.studio.annotation.state.version > v", arg=version, timeout=60000)
        page.wait_for_function("s => document.getElementById('history-status').textContent.startsWith(s)", arg=said)

    page.click("#frame-canvas", position={"x": 5, "y": 5}, modifiers=["Alt"])  # focus without prompting
    press("Control+z", "undid propagation of object 1, ")
    assert re.fullmatch(r"undid propagation of object 1, \d+ frames", page.inner_text("#history-status"))
    assert all(np.array_equal(stored_masks(client, 1)[k], m) for k, m in corrected.items())
    press("Control+z", "undid prompt on frame 3 (object 1)")
    assert all(np.array_equal(stored_masks(client, 1)[k], m) for k, m in before.items())  # the tracked mask is back
    assert shows_what_is_stored(page, client, 1)
    press("Control+Shift+Z", "redid prompt on frame 3")
    assert all(np.array_equal(stored_masks(client, 1)[k], m) for k, m in corrected.items())
    press("Control+Shift+Z", "redid propagation of object 1")
    assert all(np.array_equal(stored_masks(client, 1)[k], m) for k, m in after.items())
    rows = client.get("/api/videos/1/masks?obj_id=1").json()["masks"]
    assert [r["source"] for r in rows if r["frame"] in (3, 6)] == ["prompt", "prompt"]  # both corrections kept
    page.wait_for_timeout(300)
    assert shows_what_is_stored(page, client, 1)
    shot(page, "undo_redo")

    # to frame N: one way only; backward from frame 6 to frame 4
    show(page, 6, 1)
    page.select_option("#prop-until", "frame")
    assert page.is_disabled("#prop-both")
    page.fill("#prop-until-frame", "4")
    before = stored_masks(client, 1)
    prop = propagate(page, client, 1, "#prop-backward")
    assert prop["plan"]["until"] == 4 and [(leg["start"], leg["last"]) for leg in prop["plan"]["legs"]] == [(6, 4)]
    after = stored_masks(client, 1)
    assert all(np.array_equal(after[k], m) for k, m in before.items() if k[0] == 2 or k[1] not in (4, 5))
    page.select_option("#prop-until", "next_prompt")


def _busy_worker(server) -> threading.Thread:
    """Keep the server's one worker busy for a few seconds: another client's "segment everything" on
    frame 0 with a dense grid (48 x 48 points: about 4 s on 2 busy cores, over 1 s on a fast machine)."""
    def run() -> None:
        httpx.post(f"http://127.0.0.1:{server.port}/api/videos/1/segment-everything",
                   json={"frame": 0, "points_per_side": 48}, timeout=300)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)  # it reached the worker
    return thread


def test_two_annotators_two_objects_at_once_then_a_conflict(setup):
    page, server, c, browser = setup["page"], setup["server"], setup["clip"], setup["browser"]
    client = server.client
    other_context = browser.new_context(viewport={"width": 1280, "height": 800})
    other = other_context.new_page()
    other_errors: list[str] = []
    other.on("pageerror", lambda exc: other_errors.append(str(exc)))
    other.goto(url(setup, "#/video/1"))
    other.wait_for_function("window.studio.annotation.state !== null && window.studio.annotation.canvas.image")
    show(page, 2, 1)
    show(other, 2, 2)
    one, two = centre_click(c.masks[2, 0]), centre_click(c.masks[2, 1])

    # both click at once (both wait behind another request): different objects never conflict
    blocker = _busy_worker(server)
    click_at(page, *one)
    page.wait_for_selector("#busy:not([hidden])", timeout=10000)  # a wait over 150 ms names what it waits for
    page.wait_for_function("document.querySelector('#busy .why').textContent.includes('waiting: segmenting everything')")
    assert re.search(r"\d+ jobs? ahead", page.inner_text("#busy .why")) and "click on frame 2" in page.inner_text("#busy")
    shot(page, "busy")
    before_other = acknowledged(other)
    click_at(other, *two)
    other.wait_for_function("n => window.studio.annotation.prompts.acknowledged > n", arg=before_other, timeout=60000)
    page.wait_for_function("document.getElementById('busy').hidden", timeout=60000)
    blocker.join(300)
    assert clicked(one) in prompt_points(client, 1, 2, 1) and clicked(two) in prompt_points(client, 1, 2, 2)  # both kept
    for p in (page, other):  # each page shows the other's result
        p.wait_for_function("window.studio.annotation.state.promptsOn(2, 1).length && "
                            "window.studio.annotation.state.promptsOn(2, 2).length", timeout=30000)
        assert shows_what_is_stored(p, client, 1)

    # both click object 2 on frame 4, against the same version: the second is refused (409), shown, re-offered
    show(page, 4, 2)
    show(other, 4, 2)
    first = centre_click(c.masks[4, 1])
    ys, xs = np.nonzero(stored_masks(client, 1)[(2, 4)])
    second = [float(xs[0]), float(ys[0])]
    blocker = _busy_worker(server)
    click_at(page, *first)
    page.wait_for_selector("#busy:not([hidden])", timeout=10000)  # queued at the server before the other click
    click_at(other, *second, shift=True)
    other.wait_for_selector("#offer:not([hidden])", timeout=60000)
    blocker.join(300)
    assert "Object 2 changed meanwhile" in other.inner_text("#offer")
    assert prompt_points(client, 1, 4, 2) == [clicked(first)]  # the refused click is not stored ...
    other.wait_for_function("window.studio.annotation.state.promptsOn(4, 2).length === 1")
    assert shows_what_is_stored(other, client, 1)  # ... and the page shows the newer state
    version = next(o["version"] for o in client.get("/api/videos/1/objects").json()["objects"] if o["obj_id"] == 2)
    assert other.evaluate("window.studio.annotation.state.objectVersion(2)") == version
    other.wait_for_timeout(200)
    shot(other, "conflict_offer")
    before_other = acknowledged(other)
    other.click("#offer button.reapply")
    other.wait_for_function("n => window.studio.annotation.prompts.acknowledged > n", arg=before_other, timeout=60000)
    assert prompt_points(client, 1, 4, 2) == [clicked(first), clicked(second)]  # on top of the other's click
    page.wait_for_function("window.studio.annotation.state.promptsOn(4, 2).length === 2", timeout=30000)
    assert shows_what_is_stored(page, client, 1) and shows_what_is_stored(other, client, 1)
    assert not other_errors and not setup["errors"], (other_errors, setup["errors"])
    other_context.close()


def test_export_sav_from_the_menu_and_score_it(setup):
    page, root, c = setup["page"], setup["root"], setup["clip"]
    page.select_option("#export-format", "sav")
    page.click("#export")
    page.wait_for_selector("#export-links a.export-link", timeout=60000)
    link = page.locator("#export-links a.export-link", has_text="manual.json").first
    with page.expect_download() as info:
        link.click()
    target = root / "downloaded" / "walk_manual.json"
    target.parent.mkdir(parents=True)
    info.value.save_as(target)
    doc = json.loads(target.read_text())
    assert doc["masklet_num"] == 2
    masks = stored_masks(setup["server"].client, 1)
    gt = sav_pngs(root / "gt", "walk", {f: c.masks[f, 0] for f in range(FRAMES)})
    export_pngs = setup["data"] / "exports" / "sav" / "Annotations_6fps"
    scored = cli("eval", "sav", str(gt), str(export_pngs), "--jsonl", "--keep-first-last")
    assert scored.returncode == 0, scored.stderr
    served = json.loads(scored.stdout.splitlines()[-1])["J&F"]
    ours = sav_pngs(root / "ours", "walk", {f: masks[(1, f)] for f in range(FRAMES)})
    assert served == pytest.approx(evaluate_sav(ours, gt, keep_first_last=True).jf, abs=1e-9)
    shot(page, "export")


def test_export_progress_zip_and_a_failure_leaves_no_link(setup):
    page, client = setup["page"], setup["server"].client
    page.evaluate("""() => { window.seen = []; new MutationObserver(() => window.seen.push(
        document.getElementById('export-status').textContent)).observe(document.getElementById('export-status'),
        {childList: true, characterData: true, subtree: true}); }""")  # the test's own record of the texts shown
    page.select_option("#export-format", "mp4")
    page.click("#export")
    page.wait_for_function("document.getElementById('export-status').textContent.startsWith('overlay MP4:')",
                           timeout=120000)
    assert f"writing overlay MP4: {FRAMES} / {FRAMES}" in page.evaluate("window.seen")  # progress was shown
    assert page.locator("#export-links a.export-link").count() == 1
    page.select_option("#export-format", "davis")
    page.click("#export")
    page.wait_for_function("document.getElementById('export-status').textContent.startsWith('DAVIS PNGs:')",
                           timeout=120000)
    assert page.locator("#export-links a.export-link").count() == 1  # the MP4's link went
    link = page.locator("#export-links a.export-link").first
    assert "one zip" in link.inner_text()
    with page.expect_download() as info:
        link.click()
    names = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())).namelist()
    assert len([n for n in names if n.endswith(".png")]) == FRAMES
    shot(page, "export_zip")
    # a refused export: its words are shown, and no link stays from the export before it
    page.route("**/api/videos/1/export", lambda route: route.fulfill(
        status=400, content_type="application/json", body=json.dumps({"error": "export: the disk is full"})))
    page.select_option("#export-format", "coco")
    page.click("#export")
    page.wait_for_function("document.getElementById('export-status').textContent.includes('failed')")
    assert "COCO RLE JSON export failed: export: the disk is full" == page.inner_text("#export-status")
    assert page.locator("#export-links a.export-link").count() == 0
    assert "the disk is full" in page.inner_text("#error")
    shot(page, "export_failed")
    page.unroute("**/api/videos/1/export")
    assert client.get("/api/health").status_code == 200


def boundary_inside(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    """A pixel (x, y) on ``a``'s outline that lies inside ``b`` away from ``b``'s outline, if any."""
    def inner(m: np.ndarray) -> np.ndarray:
        p = np.pad(m, 1)
        return m & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    ys, xs = np.nonzero(a & ~inner(a) & inner(b))
    return (int(xs[0]), int(ys[0])) if len(xs) else None


def test_banner_over_the_page_a_readable_category_and_both_outlines_where_masks_overlap(setup):
    page, client = setup["page"], setup["server"].client
    page.evaluate("window.studio.ui.showError('hidden')")
    page.click("#error")
    box = page.locator("#frame-canvas").bounding_box()
    page.evaluate("window.studio.ui.showError('Something went wrong: a long message that explains it in words')")
    assert page.is_visible("#error")
    assert page.locator("#frame-canvas").bounding_box() == box  # the banner moved nothing
    assert page.locator("#objects li input.category").first.bounding_box()["width"] >= 100  # wide enough to read
    shot(page, "error_banner")
    page.click("#error")
    # where two objects' masks overlap, each one's outline shows over the other's fill
    masks = stored_masks(client, 1)
    frame = next(f for f in range(FRAMES) if boundary_inside(masks[(1, f)], masks[(2, f)])
                 and boundary_inside(masks[(2, f)], masks[(1, f)]))  # the clip's two objects overlap while tracked
    show(page, frame, 2)
    page.fill("#opacity", "0.3")
    page.dispatch_event("#opacity", "input")
    page.wait_for_timeout(100)
    for outlined, filled in ((1, 2), (2, 1)):
        x, y = boundary_inside(masks[(outlined, frame)], masks[(filled, frame)])
        assert pixel(page, x, y)[:3] == rgb(page.evaluate(f"window.studio.annotation.colour({outlined})"))
    shot(page, "overlap_outlines")
    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")


def test_keyboard_shortcuts(setup):
    page = setup["page"]
    page.click("#frame-canvas", position={"x": 5, "y": 5}, modifiers=["Alt"])
    page.keyboard.press("?")
    assert page.is_visible("#help")
    shot(page, "help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    count = page.eval_on_selector_all("#objects li", "els => els.length")
    page.keyboard.press("n")
    wait_objects(page, count + 1)
    page.wait_for_function("(s => s.selected === Math.max(...s.objects.keys()))(window.studio.annotation.state)")
    page.keyboard.press("1")
    assert page.evaluate("window.studio.annotation.state.selected") == 1
    page.keyboard.press("h")
    assert page.evaluate("window.studio.annotation.state.hidden.has(1)")
    page.keyboard.press("h")
    frame = page.evaluate("window.studio.annotation.frame")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"window.studio.annotation.frame === {min(frame + 1, FRAMES - 1)}")


def test_invalid_upload_is_shown_in_words(setup):
    page = setup["page"]
    page.goto(url(setup))
    page.set_input_files("#file-input", str(setup["root"] / "notes.mp4"))
    page.wait_for_selector("#error:not([hidden])", timeout=60000)
    text = page.inner_text("#error")
    assert "notes.mp4" in text and "failed" in text
    shot(page, "invalid_upload")


def test_second_tab_sees_a_new_object(setup):
    page, browser = setup["page"], setup["browser"]
    page.goto(url(setup, "#/video/1"))
    page.wait_for_function("window.studio.annotation.state !== null")
    other = browser.new_page(viewport={"width": 1920, "height": 1080})
    other.goto(url(setup, "#/video/1"))
    other.wait_for_function("window.studio.annotation.state !== null")
    count = other.evaluate("window.studio.annotation.state.objects.size")  # the list may not be drawn yet
    page.click("#add-object")
    other.wait_for_function(f"window.studio.annotation.state.objects.size === {count + 1} && "
                            f"document.querySelectorAll('#objects li').length === {count + 1}", timeout=60000)
    other.wait_for_timeout(200)
    assert other.evaluate("window.studio.annotation.timeline.rows.length") == count + 1  # a row per object
    shot(other, "second_tab")
    # a `resync` (the server's backlog no longer covers what the page missed) reloads the whole video
    with other.expect_request(lambda r: r.url.endswith("/api/videos/1/masks")):
        other.evaluate("window.studio.annotation.onEvent('resync', {video_id: 1}, 1e9)")
    other.close()


def test_the_tracking_method_is_chosen_on_the_page_and_every_tab_follows(setup):
    page, browser = setup["page"], setup["browser"]
    api = f"http://127.0.0.1:{setup['server'].port}/api/videos/1"
    page.goto(url(setup, "#/video/1"))
    page.wait_for_function("window.studio.annotation.state !== null")
    other = browser.new_page(viewport={"width": 1280, "height": 800})
    other.goto(url(setup, "#/video/1"))
    other.wait_for_function("window.studio.annotation.state !== null")
    assert page.input_value("#prop-method") == other.input_value("#prop-method") == "sam2"
    page.select_option("#prop-method", "samurai")
    other.wait_for_function("document.getElementById('prop-method').value === 'samurai'", timeout=30000)
    assert httpx.get(api).json()["method"] == "samurai"
    shot(other, "tracking_method")
    other.close()
    page.reload()  # a page opened later shows the video's method
    page.wait_for_function("window.studio.annotation.state !== null")
    assert page.input_value("#prop-method") == "samurai"
    page.select_option("#prop-method", "sam2")  # the later tests compare with SAM 2's masks
    page.wait_for_function("window.studio.annotation.state.video.method === 'sam2'", timeout=30000)
    assert httpx.get(api).json()["method"] == "sam2"
    assert not setup["errors"]


def test_whole_video_masklets_run_preview_accept_and_dismiss(setup):
    page, server, browser = setup["page"], setup["server"], setup["browser"]
    page.goto(url(setup, "#/video/1"))
    page.wait_for_function("window.studio.annotation.state !== null")
    other = browser.new_page(viewport={"width": 1280, "height": 800})  # a second tab sees what the first does
    other.goto(url(setup, "#/video/1"))
    other.wait_for_function("window.studio.annotation.state !== null")
    objects = len(server.client.get("/api/videos/1/objects").json()["objects"])
    for field, value in (("#auto-points", "4"), ("#auto-iou", "0"), ("#auto-stability", "0")):
        page.fill(field, value)  # the small bundled model's scores are low: no thresholds
    page.click("#auto-run")
    page.wait_for_function("document.getElementById('auto-status').textContent.startsWith('done')", timeout=180000)
    listing = server.client.get("/api/videos/1/auto-masklets").json()
    assert listing["run"]["options"]["points_per_side"] == 4 and listing["proposals"]
    page.wait_for_function(f"document.querySelectorAll('#masklet-proposals li').length === {len(listing['proposals'])}")
    other.wait_for_function(f"document.querySelectorAll('#masklet-proposals li').length === {len(listing['proposals'])}",
                            timeout=60000)

    first = listing["proposals"][0]
    page.click(f"#masklet-proposals li[data-proposal-id='{first['id']}'] .masklet-label")
    page.wait_for_function(f"window.studio.annotation.masklets.preview?.id === {first['id']}")
    assert page.evaluate("window.studio.annotation.canvas.proposals.length") >= 1  # drawn on its frame
    page.click(f"#masklet-proposals li[data-proposal-id='{first['id']}'] .accept-masklet")
    wait_objects(page, objects + 1)
    other.wait_for_function(f"document.querySelectorAll('#objects li').length === {objects + 1} && "
                            f"!document.querySelector(\"#masklet-proposals li[data-proposal-id='{first['id']}']\")",
                            timeout=60000)
    proposal_masks = set(range(first["first_frame"], first["last_frame"] + 1))
    new_obj = max(o["obj_id"] for o in server.client.get("/api/videos/1/objects").json()["objects"])
    stored = {f for (o, f) in stored_masks(server.client, 1) if o == new_obj}
    assert stored and stored <= proposal_masks and len(stored) == first["num_frames"]

    if len(listing["proposals"]) > 1:
        second = listing["proposals"][1]
        page.click(f"#masklet-proposals li[data-proposal-id='{second['id']}'] .dismiss-masklet")
        page.wait_for_function(f"!document.querySelector(\"#masklet-proposals li[data-proposal-id='{second['id']}']\")")
        left = [p["id"] for p in server.client.get("/api/videos/1/auto-masklets").json()["proposals"]]
        assert second["id"] not in left
    assert not setup["errors"], setup["errors"]
    shot(page, "masklets")
    other.close()
    # a run that finds nothing says what to change
    for field, value in (("#auto-points", "2"), ("#auto-iou", "1"), ("#auto-stability", "1")):
        page.fill(field, value)
    page.click("#auto-run")
    page.wait_for_function("document.getElementById('auto-status').textContent.startsWith('done') && "
                           "!document.querySelector('#masklet-proposals li')", timeout=180000)
    assert "no masklet passed the thresholds (min IoU 1, min stability 1, 2 points): lower min IoU / min stability, " \
           "or raise points" in page.inner_text("#auto-status")
    shot(page, "masklets_none_found")


def test_reload_and_restart_show_the_same_state(setup):
    page, data = setup["page"], setup["data"]

    def seen():
        page.wait_for_function("window.studio.annotation.state !== null && window.studio.annotation.canvas.image")
        page.evaluate("window.studio.annotation.select(1)")  # its click on frame 0 is drawn
        page.wait_for_timeout(300)
        names = page.eval_on_selector_all("#objects li input.name", "els => els.map(e => e.value)")
        return names, pixel(page, *centre_click(setup["clip"].masks[0, 0]))

    page.evaluate("window.studio.annotation.show(0)")
    page.wait_for_timeout(300)
    before = seen()
    page.reload()
    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")
    assert seen() == before
    setup["server"].kill()
    page.wait_for_function("document.getElementById('connection').textContent.includes('lost')", timeout=30000)
    shot(page, "connection_lost")
    setup["server"] = Server(data, port=setup["server"].port)
    page.wait_for_function("document.getElementById('connection').textContent === 'connected'", timeout=60000)
    page.reload()
    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")
    assert seen() == before
    shot(page, "after_restart")


def test_kill_mid_propagation_then_resume_from_a_first_load_off_loopback(setup):
    page, data, long, browser = setup["page"], setup["data"], setup["long"], setup["browser"]
    client = setup["server"].client
    video = client.post("/api/videos?name=long.mp4", content=(setup["root"] / "long.mp4").read_bytes()).json()
    vid = video["id"]
    page.goto(url(setup, f"#/video/{vid}"))
    page.wait_for_function("window.studio.annotation.state !== null && window.studio.annotation.canvas.image")
    click_and_wait(page, *centre_click(long.masks[0, 0]))
    assert page.input_value("#prop-until") == "end"  # the default for an object's first prompt
    page.click("#prop-forward")
    deadline = time.monotonic() + 120
    while (client.get(f"/api/videos/{vid}/propagation").json()["propagation"] or {}).get("frames_done", 0) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    setup["server"].kill()
    # the page still shows the run's span (over object 1's row) as it was when the server died
    page.wait_for_function("window.studio.annotation.propagation.span !== null")
    assert page.evaluate("window.studio.annotation.propagation.span") == {"objIds": [1], "legs": [[0, LONG - 1]]}
    page.wait_for_function("document.getElementById('connection').textContent.includes('lost')", timeout=30000)
    shot(page, "propagating_when_killed")

    # restarted off loopback with a token; a new browser opens the address the server prints
    setup["server"] = server = Server(data, port=setup["server"].port, host="0.0.0.0", token=TOKEN)
    assert httpx.get(url(setup, "static/css/studio.css")).status_code == 401  # no token, no file
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    fresh = context.new_page()
    errors: list[str] = []
    fresh.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[str] = []
    fresh.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    fresh.goto(url(setup, f"?token={TOKEN}"))
    fresh.wait_for_selector(f"#video-rows tr[data-video-id='{vid}']", timeout=60000)  # the JS ran
    assert fresh.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(27, 27, 29)"  # the CSS came
    cookie = next(c for c in context.cookies() if c["name"] == "samstream_token")
    assert cookie["httpOnly"] and cookie["value"] == TOKEN
    fresh.click(f"#video-rows tr[data-video-id='{vid}'] a.open-video")
    fresh.wait_for_function("window.studio.annotation.state !== null && window.studio.annotation.canvas.image")
    prop = server.client.get(f"/api/videos/{vid}/propagation").json()["propagation"]
    assert prop["status"] == "interrupted" and 3 <= prop["frames_done"] < LONG
    fresh.wait_for_selector("#prop-resume:not([hidden])")
    assert "interrupted" in fresh.inner_text("#prop-status")
    shot(fresh, "resume_offered")
    fresh.click("#prop-resume")
    fresh.wait_for_function("document.getElementById('prop-status').textContent.startsWith('done')", timeout=60000)
    done = wait_propagation(server.client, vid)
    assert done["status"] == "done" and done["id"] == prop["id"] and done["frames_done"] == LONG
    assert fresh.is_hidden("#prop-resume")
    assert sorted(stored_masks(server.client, vid)) == [(1, f) for f in range(LONG)]
    fresh.wait_for_timeout(300)
    assert shows_what_is_stored(fresh, server.client, vid)
    assert not failed and not errors, (failed, errors)
    shot(fresh, "resumed_off_loopback")
    context.close()

