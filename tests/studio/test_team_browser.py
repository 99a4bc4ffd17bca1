"""The studio page for a team, in a real Chromium against a real server: issue 32's flow, person by person.

One server process over a data dir whose only person at first is an admin; each person works in their own
browser context with their own token (the admin makes the others through the page and reads their tokens
from it). The tests run in order: the admin adds people, uploads and assigns; the annotator annotates
(clicks, propagates) and submits; the reviewer opens the masklet with Next and sends the video back with a
note; the annotator sees the note and fixes; the reviewer accepts; the admin's done-only export holds it.
Each step checks what the person's page shows and hides; the server's API checks what was stored.
Screenshots go to ``test-artifacts/studio/team_*.png``.
"""

from __future__ import annotations

import time

import pytest

from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.studio.auth import add_person
from samstream.studio.store import Store
from samstream.video.frames.decode import write_video
from tests.studio.conftest import centre_click, clip
from tests.studio.helpers import stored_masks
from tests.studio.test_browser import CHROMIUM_FLAGS, chromium_path, click_and_wait, propagate, shot, show
from tests.studio.test_server import FRAMES, Server

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is part of the studio test extra")

EDITING = ("#prop-forward", "#prop-both", "#add-object", "#undo", "#segment-everything", "#auto-run")
ADMIN_ONLY = ("#drop-zone", "#people", "#export-all", "#model")


class Team:
    """The server, one browser, and a page per person (their own context: their own cookie and token)."""

    def __init__(self, root) -> None:
        self.root = root
        data = root / "data"
        data.mkdir()
        store = Store(data / "studio.sqlite3")
        self.tokens = {"adm": add_person(store, "adm", "admin")[1]}
        store.close()
        self.server = Server(data, headers={"Authorization": f"Bearer {self.tokens['adm']}"})
        self.pw = playwright.sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        self.pages: dict[str, object] = {}
        self.errors: list[str] = []

    @property
    def client(self):
        return self.server.client

    def page(self, who: str):
        """``who``'s page, opened on the library with their token the first time."""
        if who not in self.pages:
            context = self.browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.on("pageerror", lambda exc: self.errors.append(f"{who}: {exc}"))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"http://127.0.0.1:{self.server.port}/?token={self.tokens[who]}")
            page.wait_for_selector("#who:not([hidden])")
            self.pages[who] = page
        return self.pages[who]

    def close(self) -> None:
        self.browser.close()
        self.pw.stop()
        self.server.stop()


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("team_browser")
    c = clip(frames=FRAMES)
    write_video(root / "walk.mp4", c.frames, 12)
    other = generate_clip(5, SyntheticConfig(size=128, num_frames=FRAMES, max_objects=1, exit_prob=0.0))
    write_video(root / "dogs.mp4", other.frames, 12)
    t = Team(root)
    t.clip, t.other = c, other
    yield t
    t.close()


def visible(page, selectors) -> list[str]:
    return [s for s in selectors if page.is_visible(s)]


def status_is(page, status: str) -> None:
    page.wait_for_function("s => document.getElementById('wf-status').textContent === s", arg=status, timeout=60000)


def history(page) -> list[str]:
    """The history panel's rows, newest first, as "who what" (the time left out)."""
    return page.eval_on_selector_all("#activity-rows li",
                                     "rows => rows.map(li => li.innerText.split(' ').slice(1).join(' '))")


def wait_history(page, text: str) -> None:
    page.wait_for_function("t => [...document.querySelectorAll('#activity-rows li')]"
                           ".some(li => li.innerText.includes(t))", arg=text, timeout=60000)


def video(team, vid: int = 1) -> dict:
    return team.client.get(f"/api/videos/{vid}").json()


# ---------------------------------------------------------------------------------------------- tests
def test_the_admin_adds_people_uploads_and_assigns_through_the_page(team):
    page = team.page("adm")
    assert page.inner_text("#who") == "adm · admin"
    assert visible(page, ADMIN_ONLY) == list(ADMIN_ONLY) and page.is_visible("#dashboard-link")
    assert not page.is_visible("#next")  # admins have no queue
    page.wait_for_function("document.getElementById('model-current').textContent === 'samstream-nano'")
    for name, role in (("ann", "annotator"), ("rev", "reviewer")):
        page.fill("#person-name", name)
        page.select_option("#person-role", role)
        page.click("#person-add-button")
        page.wait_for_selector(f"#people-token[data-person='{name}']")
        team.tokens[name] = page.inner_text("#people-token code")  # shown once, here
        page.wait_for_selector(f"#people-rows tr[data-person='{name}']")
    assert [p["name"] for p in team.client.get("/api/people").json()["people"]] == ["adm", "ann", "rev"]
    for vid, name in ((1, "walk.mp4"), (2, "dogs.mp4")):
        page.set_input_files("#file-input", str(team.root / name))
        page.wait_for_selector(f"#video-rows tr[data-video-id='{vid}']", timeout=60000)
    row = "#video-rows tr[data-video-id='1']"
    options = page.eval_on_selector_all(f"{row} select.assign-reviewer option", "os => os.map(o => o.textContent)")
    assert options == ["any reviewer", "adm (admin)", "rev"]  # who the server says may verify
    page.select_option(f"{row} select.assign-annotator", "ann")
    page.wait_for_function("document.querySelector(\"#video-rows tr[data-video-id='1'] select.assign-annotator\")"
                           ".value === 'ann'")
    page.select_option(f"{row} select.assign-reviewer", "rev")
    deadline = time.monotonic() + 30
    while (video(team)["annotator"], video(team)["reviewer"]) != ("ann", "rev"):
        assert time.monotonic() < deadline, video(team)
        time.sleep(0.05)
    page.wait_for_function("document.querySelector(\"#video-rows tr[data-video-id='1'] select.assign-reviewer\")"
                           ".value === 'rev'")
    assert page.inner_text(f"{row} .pill.status") == "to annotate"
    assert not team.errors, team.errors
    shot(page, "team_admin_library")


def test_the_annotator_sees_their_video_annotates_and_submits(team):
    page, c = team.page("ann"), team.clip
    assert page.inner_text("#who") == "ann · annotator"
    assert page.eval_on_selector_all("#video-rows tr", "rs => rs.map(r => r.dataset.videoId)") == ["1"]  # theirs only
    assert visible(page, ADMIN_ONLY) == [] and not page.is_visible("#dashboard-link")
    assert page.inner_text("#next") == "Next video ▶"
    page.click("#next")
    page.wait_for_function("window.studio.annotation.canvas.image !== null", timeout=60000)
    status_is(page, "to annotate")
    assert page.inner_text("#wf-people") == "annotated by ann · verified by rev"
    assert visible(page, EDITING) == list(EDITING)
    assert visible(page, ("#export-section", "#export", "#submit-video", "#accept-video", "#send-back")) == []
    click_and_wait(page, *centre_click(c.masks[0, 0]))
    status_is(page, "in annotation")  # the first edit starts the annotation
    page.wait_for_selector("#submit-video:not([hidden])")
    propagate(page, team.client, 1)
    assert len(stored_masks(team.client, 1)) == FRAMES
    wait_history(page, "propagated object 1 forward from frame 0")
    assert history(page)[:4] == ["ann propagated object 1 forward from frame 0",
                                 "ann clicked (1 click) on frame 0, object 1", "ann started annotating",
                                 "ann created object 1"]
    assert history(page)[-2:] == ["adm assigned annotator ann, reviewer rev",
                                  "adm assigned annotator ann, reviewer any"]
    shot(page, "team_annotator_annotated")
    page.click("#submit-video")
    status_is(page, "to review")
    page.wait_for_selector("#prop-forward", state="hidden")
    assert visible(page, EDITING) == [] and not page.is_visible("#submit-video")
    assert page.evaluate("document.getElementById('frame-canvas').classList.contains('readonly')")
    assert page.is_visible("#review-said") and page.inner_text("#review-said") == "not reviewed yet"
    assert not team.errors, team.errors


def test_the_reviewer_opens_the_masklet_with_next_and_sends_the_video_back(team):
    page = team.page("rev")
    assert page.inner_text("#who") == "rev · reviewer"
    assert page.eval_on_selector_all("#video-rows tr", "rs => rs.map(r => r.dataset.videoId)") == ["1", "2"]
    assert page.locator("#video-rows select").count() == 0  # no assignment for reviewers
    assert page.inner_text("#video-rows tr[data-video-id='1'] .pill.status") == "to review"
    assert visible(page, ADMIN_ONLY) == [] and page.is_visible("#dashboard-link")
    page.click("#next")
    page.wait_for_selector("#wf-verify:not([hidden])", timeout=60000)
    assert page.evaluate("location.hash") == "#/video/1/object/1"
    verify = page.inner_text("#wf-verify")
    assert verify.startswith(f"Verifying object 1: frames 0–{FRAMES - 1} ({FRAMES} frames, prompted on 0) · "
                             "1 click · ")
    assert verify.endswith("edited by ann")
    assert page.evaluate("[window.studio.annotation.state.selected, window.studio.annotation.frame]") == [1, 0]
    assert visible(page, EDITING) == [] and not page.is_visible("#export-section")
    assert visible(page, (".review-buttons", "#review-note", "#accept-video", "#send-back")) == [
        ".review-buttons", "#review-note", "#accept-video", "#send-back"]
    assert not page.is_visible("#reviewer")  # the reviewer is who asks
    # what the page hides is refused by the server, in its words: a click on the frame is a prompt
    page.mouse.click(*page.evaluate("window.studio.annotation.canvas.toClient(20, 20)"))
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == ("role: POST /api/videos/1/prompts needs an annotator assigned to the video "
                                         "or an admin; rev is a reviewer")
    page.click("#error")
    page.fill("#review-note", "the edge is off")
    page.click(".review-buttons button[data-status='needs_fix']")
    page.wait_for_function("document.getElementById('review-status').textContent === 'needs fix'")
    page.fill("#send-back-note", "fix object 1")
    page.click("#send-back")
    status_is(page, "in annotation")
    page.wait_for_selector("#review-controls", state="hidden")  # closed until it is submitted again
    assert not page.is_visible("#wf-verify")
    assert page.inner_text("#review-said") == "needs fix by rev: “the edge is off”"
    wait_history(page, "rev sent the video back")
    assert history(page)[:2] == ["rev sent the video back: “fix object 1”",
                                 "rev marked object 1 as needing a fix: “the edge is off”"]
    shot(page, "team_reviewer_sent_back")
    assert not team.errors, team.errors


def test_the_annotator_sees_the_note_and_fixes(team):
    page, c = team.page("ann"), team.clip
    status_is(page, "in annotation")  # live: the reviewer's step came on the change stream
    page.wait_for_selector("#wf-sent-back:not([hidden])")
    assert page.inner_text("#wf-sent-back .said") == "Sent back by rev: “fix object 1”"
    assert page.eval_on_selector_all("#wf-fixes li", "ls => ls.map(l => l.innerText)") == [
        "object 1 needs a fix: “the edge is off” — rev"]
    page.wait_for_selector("#prop-forward:not([hidden])")
    assert visible(page, EDITING) == list(EDITING) and page.is_visible("#submit-video")
    wait_history(page, "rev sent the video back")
    show(page, 5)
    page.click("#wf-fixes li")  # the masklet to fix, on its first frame
    page.wait_for_function("window.studio.annotation.frame === 0 && window.studio.annotation.state.selected === 1")
    show(page, 3, 1)
    click_and_wait(page, *centre_click(c.masks[3, 0]))  # a correction of a tracked frame
    assert page.input_value("#prop-until") == "next_prompt"
    propagate(page, team.client, 1)
    shot(page, "team_annotator_fixing")
    page.click("#submit-video")
    status_is(page, "to review")
    page.wait_for_selector("#wf-sent-back", state="hidden")
    assert not team.errors, team.errors


def test_the_reviewer_accepts_and_the_video_is_done(team):
    page = team.page("rev")
    status_is(page, "to review")
    page.click("#next")
    page.wait_for_function("document.getElementById('wf-verify').innerText.includes('prompted on 0, 3')", timeout=60000)
    page.wait_for_selector("#review-controls:not([hidden])")
    page.click(".review-buttons button[data-status='accepted']")
    page.wait_for_function("document.getElementById('review-status').textContent === 'accepted'")
    page.click("#next")
    page.wait_for_function("document.getElementById('next-said').textContent.startsWith('Nothing left to verify')")
    page.click("#accept-video")
    status_is(page, "done")
    assert video(team)["status"] == "done"
    wait_history(page, "accepted the video")
    rows = history(page)
    assert rows[:3] == ["rev accepted the video: done", "rev accepted object 1", "ann submitted the video for review"]
    steps = [r for r in rows if any(w in r for w in ("submitted", "sent the video back", "accepted the video",
                                                     "started", "assigned"))]
    assert steps == ["rev accepted the video: done", "ann submitted the video for review",
                     "rev sent the video back: “fix object 1”", "ann submitted the video for review",
                     "ann started annotating", "adm assigned annotator ann, reviewer rev",
                     "adm assigned annotator ann, reviewer any"]
    assert visible(page, ("#accept-video", "#send-back")) == ["#send-back"]  # a done video may be reopened
    shot(page, "team_reviewer_done")
    assert not team.errors, team.errors


def test_the_admin_exports_the_done_videos_as_a_training_set(team):
    page = team.page("adm")
    page.reload()
    page.wait_for_function("document.querySelector(\"#video-rows tr[data-video-id='1'] .pill.status\")"
                           "?.textContent === 'done'", timeout=60000)
    page.check("#export-done-only")
    page.check("#export-accepted-only")
    page.click("#export-all-run")
    page.wait_for_selector("#export-all-links li", timeout=60000)
    links = page.eval_on_selector_all("#export-all-links a", "as => as.map(a => [a.textContent, a.href])")
    texts = [text for text, _ in links]
    assert texts[:2] == ["sav/walk_manual.json", "sav/walk_studio.json"] and not any("dogs" in t for t in texts)
    assert "files written" in page.inner_text("#export-all-status")  # dogs.mp4 is not done: not in the set
    sidecar = page.request.get(links[1][1]).json()
    assert [(m["obj_id"], m["annotated_by"], m["verified_by"]) for m in sidecar["masklets"]] == [(1, ["ann"], "rev")]
    page.click("#video-rows tr[data-video-id='1'] a.open-video")
    page.wait_for_function("window.studio.annotation.canvas.image !== null", timeout=60000)
    status_is(page, "done")
    assert page.is_visible("#export-section") and visible(page, EDITING) == []  # done: nothing to edit
    wait_history(page, "accepted the video")
    shot(page, "team_admin_done_video")
    assert not team.errors, team.errors


def test_an_admin_may_annotate_but_never_verifies_a_masklet_they_edited(team):
    page = team.page("adm")
    page.evaluate("location.hash = '#/video/2'")
    page.wait_for_function("window.studio.annotation.state?.video.id === 2 && window.studio.annotation.canvas.image",
                           timeout=60000)
    status_is(page, "to annotate")
    assert page.inner_text("#wf-people") == "annotated by nobody yet · verified by any reviewer"
    assert visible(page, EDITING) == list(EDITING) and page.is_visible("#export-section")
    click_and_wait(page, *centre_click(team.other.masks[0, 0]))
    status_is(page, "in annotation")
    page.click("#submit-video")
    status_is(page, "to review")
    page.wait_for_selector("#review-refused:not([hidden])")
    assert not page.is_visible("#review-controls") and page.is_visible("#accept-video")
    assert page.inner_text("#review-refused").endswith("adm edited masklet 1 of video 2, and a masklet is verified by "
                                                       "someone else")
    shot(page, "team_admin_own_masklet")
    assert not team.errors, team.errors
