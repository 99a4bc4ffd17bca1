// The review panel of the selected object: accept / needs fix / reject with a note, and the effort it
// took (clicks, prompted and edited frames, active time). Without people the panel edits the one
// review (the reviewer's name, the note, Save note). With people the reviewer is who asks: the
// latest verdict is shown with its note, and the note field is for the verdict being given now;
// someone who may not review the masklet sees the verdict only, and a reviewer of the video is told
// why a masklet is not theirs to verify (one they edited). Review events change the object's row:
// the object list redraws this panel.
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

export class ReviewPanel {
  constructor(view) {
    this.view = view;
    this.effort = new Map(); // obj_id -> effort figures
    for (const b of document.querySelectorAll(".review-buttons button")) b.addEventListener("click", () => this.review(b.dataset.status));
    $("save-note").addEventListener("click", () => this.saveNote());
  }

  render() {
    const state = this.view.state, obj = state?.objects.get(state.selected);
    $("review").hidden = !obj;
    if (!obj) return;
    $("review-status").textContent = obj.review_status.replace("_", " ");
    const access = this.view.access, refused = access.masklet(obj.obj_id), may = refused === null;
    $("review-controls").hidden = !may;
    const solo = this.view.me.solo;
    for (const id of ["reviewer", "save-note"]) $(id).hidden = !solo;
    $("review-said").hidden = solo && may;
    $("review-said").textContent = obj.review_status === "unreviewed" ? "not reviewed yet"
      : `${obj.review_status.replace("_", " ")}${obj.reviewer ? ` by ${obj.reviewer}` : ""}${obj.note ? `: “${obj.note}”` : ""}`;
    $("review-refused").hidden = may || !refused || !access.may("review"); // a reviewer of the video, not of this masklet
    $("review-refused").textContent = refused?.error || "";
    $("review-note").placeholder = solo ? "note" : "note with your verdict (the annotator sees it)";
    if (solo && document.activeElement !== $("review-note")) $("review-note").value = obj.note || "";
    if (solo && document.activeElement !== $("reviewer") && obj.reviewer) $("reviewer").value = obj.reviewer;
    const e = this.effort.get(obj.obj_id);
    $("effort").textContent = e
      ? `effort: ${e.clicks} click${e.clicks === 1 ? "" : "s"} · ${e.prompted_frames} prompted frames · ${e.edited_frames} edited frames · ${e.active_seconds.toFixed(1)} s active`
      : "";
  }

  async review(status) {
    const view = this.view, objId = view.state.selected;
    if (objId === null) return;
    const body = { status, reviewer: $("reviewer").value, note: $("review-note").value };
    const reply = await view.send(`/objects/${objId}/review`, body, { objId, label: "saving the review" });
    if (!reply) return;
    if (!view.me.solo) $("review-note").value = ""; // given with this verdict; the next one has its own
    view.state.putObject(reply.object);
    view.objects.render();
  }

  saveNote() {
    const obj = this.view.state.objects.get(this.view.state.selected);
    if (obj) this.review(obj.review_status);
  }

  async refreshEffort() {
    const state = this.view.state;
    if (!state) return;
    try {
      const data = await api(`/api/videos/${state.video.id}/effort`);
      this.effort = new Map((data.videos[0]?.objects || []).map((o) => [o.obj_id, o]));
      this.render();
    } catch { /* the counters are informative; a failure here is not worth a banner */ }
  }
}
