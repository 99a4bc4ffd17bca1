"""The studio page in a real Chromium (Debian's package, driven by Playwright) against a real server.

One server process and one browser for the module; the tests run in order on one synthetic clip
(known masks) uploaded through the page. Each test saves a screenshot of its final page under
``test-artifacts/studio/`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import samstream
from samstream.eval.sav import evaluate_sav
from samstream.video.frames.decode import write_video
from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import stored_masks, wait_propagation
from tests.studio.test_server import FRAMES, Server, cli, sav_pngs

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is part of the studio test extra")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


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
    (root / "notes.mp4").write_text("this is not a video\n")
    data = root / "data"
    data.mkdir()
    server = Server(data)
    pw = playwright.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    state = {"root": root, "clip": c, "data": data, "server": server, "browser": browser, "page": page,
             "errors": errors}
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


def wait_objects(page, count: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#objects li').length === {count}", timeout=60000)


def click_and_wait(page, server, x: float, y: float, shift: bool = False) -> None:
    """A click on the canvas at video pixel (x, y); returns once the server stored the prompt."""
    before = page.evaluate("window.studio.annotation.prompts")
    cx, cy = canvas_point(page, x, y)
    page.keyboard.down("Shift") if shift else None
    page.mouse.click(cx, cy)
    page.keyboard.up("Shift") if shift else None
    page.wait_for_function(
        "n => window.studio.annotation.prompts > n", arg=before, timeout=60000)


def test_upload_open_and_click(setup):
    page, server, c, root = setup["page"], setup["server"], setup["clip"], setup["root"]
    page.goto(url(setup))
    page.set_input_files("#file-input", str(root / "walk.mp4"))
    page.wait_for_selector("#video-rows tr[data-video-id='1']", timeout=60000)
    assert "8" in page.inner_text("#video-rows tr[data-video-id='1']")  # the frame count
    page.click("#video-rows tr[data-video-id='1'] a.open-video")
    page.wait_for_function("window.studio.annotation.canvas.image !== null", timeout=60000)
    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")
    x, y = centre_click(c.masks[0, 0])
    click_and_wait(page, server, x, y)
    wait_objects(page, 1)
    stored = stored_masks(server.client, 1)[(1, 0)]
    with samstream.VideoPredictor(samstream.load_model("samstream-nano", device="cpu")).open(root / "walk.mp4") as s:
        library = s.add_points(0, 1, [[x, y]], [1]).masks[0].numpy()
    assert iou(stored, c.masks[0, 0]) >= iou(library, c.masks[0, 0]) - 0.02
    assert stored[int(y), int(x)]
    colour = page.evaluate("window.studio.annotation.colour(1)")
    want = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    page.wait_for_timeout(200)
    assert pixel(page, x, y)[:3] == want  # the mask is drawn in the object's colour at the object
    assert not setup["errors"], setup["errors"]
    shot(page, "upload_open_click")


def test_box_for_a_second_object_then_propagate_and_step(setup):
    page, server, c = setup["page"], setup["server"], setup["clip"]
    page.click("#add-object")
    wait_objects(page, 2)
    ys, xs = np.nonzero(c.masks[0, 1]) if c.masks[0, 1].any() else np.nonzero(c.masks[0, 0])
    x0, y0 = canvas_point(page, float(xs.min()), float(ys.min()))
    x1, y1 = canvas_point(page, float(xs.max()), float(ys.max()))
    before = page.evaluate("window.studio.annotation.prompts")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("n => window.studio.annotation.prompts > n", arg=before, timeout=60000)
    assert (2, 0) in stored_masks(server.client, 1)
    page.click("#prop-forward")
    page.wait_for_function("document.getElementById('prop-progress').value === 1", timeout=120000)
    page.wait_for_function("document.getElementById('prop-status').textContent.startsWith('done')", timeout=60000)
    assert wait_propagation(server.client, 1)["status"] == "done"
    masks = stored_masks(server.client, 1)
    assert all((1, f) in masks and (2, f) in masks for f in range(FRAMES))
    page.click("#frame-canvas", position={"x": 5, "y": 5}, modifiers=["Alt"])  # focus without prompting
    for f in range(1, 4):
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.getElementById('frame-label').textContent.startsWith('{f + 1} /')")
    assert page.evaluate("window.studio.annotation.frame") == 3
    shot(page, "propagated")


def test_correction_repropagate_undo_redo(setup):
    page, server, c = setup["page"], setup["server"], setup["clip"]
    page.evaluate("window.studio.annotation.select(1)")
    page.evaluate("window.studio.annotation.show(5)")
    page.wait_for_function("window.studio.annotation.frame === 5")
    before = stored_masks(server.client, 1)[(1, 5)]
    ys, xs = np.nonzero(before) if before.any() else np.nonzero(c.masks[5, 0])
    click_and_wait(page, server, float(xs[0]), float(ys[0]), shift=True)  # a negative click
    corrected = stored_masks(server.client, 1)[(1, 5)]
    page.click("#prop-forward")
    page.wait_for_function("document.getElementById('prop-status').textContent.startsWith('done')", timeout=120000)
    propagated = stored_masks(server.client, 1)

    def press(keys: str) -> None:
        version = page.evaluate("window.studio.annotation.state.version")
        page.keyboard.press(keys)
        page.wait_for_function("v => window.studio.annotation.state.version > v", arg=version, timeout=60000)

    press("Control+z")  # the propagation run
    press("Control+z")  # the correction: the tracked mask is back, exactly
    assert np.array_equal(stored_masks(server.client, 1)[(1, 5)], before)
    press("Control+Shift+Z")
    assert np.array_equal(stored_masks(server.client, 1)[(1, 5)], corrected)
    press("Control+Shift+Z")
    assert all(np.array_equal(stored_masks(server.client, 1)[k], m) for k, m in propagated.items())
    redone = stored_masks(server.client, 1)[(1, 5)]
    rows = server.client.get("/api/videos/1/masks?obj_id=1").json()["masks"]
    assert [r["source"] for r in rows if r["frame"] == 5] == ["prompt"]  # the correction is back
    page.wait_for_timeout(300)
    shown = np.array(page.evaluate("Array.from(window.studio.annotation.state.mask(5, 1).mask)"), bool)
    assert np.array_equal(shown.reshape(redone.shape), redone)  # the page shows what the server stored
    shot(page, "undo_redo")


def test_reload_and_restart_show_the_same_state(setup):
    page, data = setup["page"], setup["data"]

    def seen():
        page.wait_for_function("window.studio.annotation.state !== null && window.studio.annotation.canvas.image")
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
    gt = sav_pngs(root / "gt", "walk", {f: c.masks[f, 0] for f in range(FRAMES)})
    export_pngs = setup["data"] / "exports" / "sav" / "Annotations_6fps"
    scored = cli("eval", "sav", str(gt), str(export_pngs), "--jsonl", "--keep-first-last")
    assert scored.returncode == 0, scored.stderr
    served = json.loads(scored.stdout.splitlines()[-1])["J&F"]
    masks = stored_masks(setup["server"].client, 1)
    ours = sav_pngs(root / "ours", "walk", {f: masks[(1, f)] for f in range(FRAMES)})
    assert served == pytest.approx(evaluate_sav(ours, gt, keep_first_last=True).jf, abs=1e-9)
    shot(page, "export")


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
    shot(other, "second_tab")
    other.close()


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
    page.wait_for_function(f"window.studio.annotation.preview?.id === {first['id']}")
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
