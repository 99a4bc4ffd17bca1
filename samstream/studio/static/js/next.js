// The header's Next button (GET /api/next): an annotator's next video (one sent back first), or a
// reviewer's next masklet to verify, opened on its frames with its effort. When there is none the
// button says so beside itself.
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const SAID_MS = 8000;

export class NextButton {
  // open(videoId, objId|null, masklet|null) opens what comes next.
  constructor(ui, me, open) {
    this.ui = ui;
    this.open = open;
    this.timer = null;
    $("next").textContent = me.role === "reviewer" ? "Next masklet ▶" : "Next video ▶";
    $("next").addEventListener("click", () => this.go());
  }

  async go() {
    let reply;
    try { reply = await api("/api/next"); }
    catch (e) { this.ui.showError(`Next: ${e.message}`); return; }
    if ("masklet" in reply) {
      const m = reply.masklet;
      if (!m) { this.say("Nothing left to verify: every masklet waiting for review is decided."); return; }
      this.say("");
      this.open(m.video.id, m.object.obj_id, m);
    } else {
      if (!reply.video) { this.say("No video left to annotate: none is assigned to you."); return; }
      this.say("");
      this.open(reply.video.id, null, null);
    }
  }

  say(text) {
    $("next-said").textContent = text;
    clearTimeout(this.timer);
    if (text) this.timer = setTimeout(() => { $("next-said").textContent = ""; }, SAID_MS);
  }
}
