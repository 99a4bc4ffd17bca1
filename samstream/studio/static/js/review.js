// The review panel of the selected object: accept / needs fix / reject with a reviewer and a note,
// and the effort it took (clicks, prompted and edited frames, active time). Review events change the
// object's row: the object list redraws this panel.
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
    if (document.activeElement !== $("review-note")) $("review-note").value = obj.note || "";
    if (document.activeElement !== $("reviewer") && obj.reviewer) $("reviewer").value = obj.reviewer;
    const e = this.effort.get(obj.obj_id);
    $("effort").textContent = e
      ? `effort: ${e.clicks} clicks · ${e.prompted_frames} prompted frames · ${e.edited_frames} edited frames · ${e.active_seconds.toFixed(1)} s active`
      : "";
  }

  async review(status) {
    const view = this.view, objId = view.state.selected;
    if (objId === null) return;
    const body = { status, reviewer: $("reviewer").value, note: $("review-note").value };
    const reply = await view.send(`/objects/${objId}/review`, body, { objId, label: "saving the review" });
    if (reply) { view.state.putObject(reply.object); view.objects.render(); }
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
