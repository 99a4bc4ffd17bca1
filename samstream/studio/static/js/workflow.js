// The work flow of the open video: its status and who annotates and verifies it; "Submit for
// review" (its annotator), "Accept video" and "Send back" with a note (its reviewer); the notes of
// the last sending back with the masklets marked "needs fix" (a click opens one); and, for a
// reviewer who pressed Next, the masklet being verified with its frames and its effort. Which
// buttons show is the server's say (data-may, see access.js).
import { objectColour } from "./colours.js";

const $ = (id) => document.getElementById(id);

export const statusWords = (status) => status.replaceAll("_", " ");

// "frames 0–7 (8 frames, prompted on 0, 3)" from the frames a masklet has a mask on.
function frameSpan(frames, prompted) {
  if (!frames.length) return "no frames yet";
  const where = prompted.length ? `, prompted on ${prompted.slice(0, 6).join(", ")}${prompted.length > 6 ? "…" : ""}` : "";
  return `frames ${frames[0]}–${frames[frames.length - 1]} (${frames.length} frames${where})`;
}

export class WorkflowPanel {
  constructor(view) {
    this.view = view;
    this.verifying = null; // the reply of a reviewer's Next: {video, object, frames, prompted_frames, effort, editors}
    $("submit-video").addEventListener("click", () => this.step("/submit", {}, "submitting for review"));
    $("accept-video").addEventListener("click", () => this.step("/accept", {}, "accepting the video"));
    $("send-back").addEventListener("click", () => this.sendBack());
  }

  handlers() {
    return { workflow: (d) => { Object.assign(this.view.state.video, d.video); this.render(); } };
  }

  async step(path, body, label) {
    const reply = await this.view.send(path, body, { label });
    if (!reply) return false;
    Object.assign(this.view.state.video, reply.video);
    this.view.teamChanged();
    return true;
  }

  async sendBack() {
    const note = $("send-back-note").value.trim();
    if (await this.step("/send-back", { note }, "sending the video back")) $("send-back-note").value = "";
  }

  render() {
    const state = this.view.state;
    if (!state) return;
    const v = state.video;
    $("wf-status").textContent = statusWords(v.status);
    $("wf-status").dataset.status = v.status;
    $("wf-people").textContent = `annotated by ${v.annotator || "nobody yet"} · verified by ${v.reviewer || "any reviewer"}`;
    this.renderSentBack();
    this.renderVerifying();
  }

  // In annotation after a sending back: the reviewer's note and the masklets that need fixing.
  renderSentBack() {
    const state = this.view.state, activity = this.view.activity;
    const back = activity.lastStep("send_back"), submit = activity.lastStep("submit");
    const open = state.video.status === "in_annotation" && back && (!submit || submit.index < back.index);
    $("wf-sent-back").hidden = !open;
    if (!open) return;
    $("wf-sent-back").querySelector(".said").textContent =
      `Sent back by ${back.person || "you"}${back.detail.note ? `: “${back.detail.note}”` : " (no note)"}`;
    const list = $("wf-fixes");
    list.replaceChildren();
    for (const obj of state.objects.values()) {
      if (obj.review_status !== "needs_fix") continue;
      const li = document.createElement("li"), dot = document.createElement("span");
      li.dataset.objId = obj.obj_id;
      dot.className = "dot"; dot.style.background = objectColour(obj);
      li.append(dot, `${state.label(obj.obj_id)} needs a fix${obj.note ? `: “${obj.note}”` : ""}${obj.reviewer ? ` — ${obj.reviewer}` : ""}`);
      li.title = "show this masklet";
      li.addEventListener("click", () => this.view.focusObject(obj.obj_id));
      list.appendChild(li);
    }
  }

  // The masklet a reviewer's Next opened: its frames, its effort, who edited it.
  renderVerifying() {
    const m = this.verifying, state = this.view.state, card = $("wf-verify");
    const shown = !!m && m.video.id === state.video.id && state.video.status === "to_review"
      && state.objects.has(m.object.obj_id);
    card.hidden = !shown;
    if (!shown) return;
    const e = m.effort || {};
    const clicks = e.clicks ?? 0;
    card.textContent = `Verifying ${state.label(m.object.obj_id)}: ${frameSpan(m.frames, m.prompted_frames)} · `
      + `${clicks} click${clicks === 1 ? "" : "s"} · ${(e.active_seconds ?? 0).toFixed(1)} s active · `
      + `edited by ${m.editors.join(", ") || "nobody"}`;
  }
}
