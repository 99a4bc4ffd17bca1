// Proposals: "segment everything" on the frame on screen (accept one to make it an object), and
// automatic masklets over the whole video (run, cancel, preview on the frames, accept, dismiss).
// A run that finds nothing says which setting to change.
import { api } from "./api.js";
import { button } from "./dom.js";
import { decodeRle } from "./rle.js";

const $ = (id) => document.getElementById(id);

// What to change when a run's masklets all fell under its thresholds.
function nothingFound(options = {}) {
  const used = [options.pred_iou_thresh !== undefined && `min IoU ${options.pred_iou_thresh}`,
    options.stability_score_thresh !== undefined && `min stability ${options.stability_score_thresh}`,
    options.points_per_side !== undefined && `${options.points_per_side} points`].filter(Boolean).join(", ");
  return `no masklet passed the thresholds${used ? ` (${used})` : ""}: lower min IoU / min stability, or raise points`;
}

export class Masklets {
  constructor(view) {
    this.view = view;
    this.proposals = [];  // segment-everything proposals of one frame
    this.masklets = [];   // whole-video proposals of the latest automatic run
    this.preview = null;  // {id, masks: Map(frame -> mask)} of the masklet shown on the frames
    this.run_ = null;     // the latest automatic run
    $("segment-everything").addEventListener("click", () => this.segmentEverything());
    $("auto-run").addEventListener("click", () => this.run());
    $("auto-cancel").addEventListener("click", () => this.view.send("/auto-masklets/cancel", {}, { label: "cancelling the masklets" }));
  }

  handlers() {
    const gone = (d) => {
      this.drop(d.proposal_id);
      if (this.view.state) this.view.renderFrame();
    };
    return {
      auto_started: (d) => {
        this.masklets = []; this.preview = null;
        this.renderMasklets(); this.view.renderFrame();
        this.setRun({ status: "running", frames_done: 0, total: d.total, options: d.options });
      },
      auto_frame: (d) => {
        this.setRun({ ...this.run_, status: "running", frames_done: d.done, total: d.total });
        $("auto-status").textContent = `${d.done} / ${d.total} frames · ${d.proposals} masklets · ${d.fps.toFixed(1)} frames/s`;
      },
      auto_done: () => this.load(), auto_cancelled: () => this.load(),
      auto_failed: (d) => { if (d.error) this.view.ui.showError(`Automatic masklets failed: ${d.error}`); this.load(); },
      masklet_accepted: (d) => { gone(d); this.view.reload(); },
      masklet_dismissed: gone,
    };
  }

  reset() { this.proposals = []; this.renderProposals(); this.load(); }

  // The outlines drawn over a frame: its segment-everything proposals and the previewed masklet.
  overlays(frame) {
    const out = this.proposals.filter((p) => p.frame === frame).map((p) => ({ mask: p.mask, colour: "#00e5ff" }));
    const previewed = this.preview?.masks.get(frame);
    if (previewed) out.push({ mask: previewed, colour: "#ffd400" });
    return out;
  }

  // ------------------------------------------------------------------ segment everything
  async segmentEverything() {
    const view = this.view, frame = view.frame;
    $("segment-everything").disabled = true;
    try {
      const reply = await view.send("/segment-everything", { frame }, { label: `segmenting everything on frame ${frame}` });
      if (!reply) return;
      this.proposals = reply.proposals.map((p) => ({ ...p, mask: decodeRle(p.rle) }));
      if (!this.proposals.length) view.ui.notify(`Segment everything found no object on frame ${frame}.`);
      this.renderProposals();
      view.renderFrame();
    } finally { $("segment-everything").disabled = false; }
  }

  renderProposals() {
    const list = $("proposals");
    list.replaceChildren();
    for (const p of this.proposals) {
      const li = document.createElement("li");
      li.textContent = `frame ${p.frame}: score ${p.score.toFixed(2)}, ${p.bbox[2]}×${p.bbox[3]} px`;
      li.appendChild(button("Accept", "accept-proposal", "make it an object", () => this.acceptProposal(p)));
      list.appendChild(li);
    }
  }

  async acceptProposal(p) {
    const view = this.view;
    const reply = await view.send(`/proposals/${p.proposal_id}/accept`, {}, { label: "making the proposal an object" });
    if (!reply) return;
    this.proposals = this.proposals.filter((q) => q.proposal_id !== p.proposal_id);
    view.state.putObject(reply.object);
    view.state.putMask(reply.frame, reply.obj_id, reply.masks[String(reply.obj_id)], "prompt", reply.prompts);
    view.state.selected = reply.obj_id;
    this.renderProposals();
    view.renderAll();
  }

  // ------------------------------------------------------------------ automatic masklets
  async load() {
    const state = this.view.state;
    if (!state) return;
    try {
      const { proposals, run } = await api(`/api/videos/${state.video.id}/auto-masklets`);
      if (state !== this.view.state) return;
      this.masklets = proposals;
      if (this.preview && !proposals.some((p) => p.id === this.preview.id)) this.preview = null;
      this.renderMasklets();
      this.setRun(run);
      this.view.renderFrame();
    } catch (e) { this.view.ui.showError(`Could not read the masklet proposals: ${e.message}`); }
  }

  async run() {
    const options = {
      points_per_side: Number($("auto-points").value),
      pred_iou_thresh: Number($("auto-iou").value),
      stability_score_thresh: Number($("auto-stability").value),
    };
    const reply = await this.view.send("/auto-masklets", options, { label: "starting automatic masklets" });
    if (reply) this.setRun({ status: "running", frames_done: 0, total: reply.total, options });
  }

  setRun(run) {
    this.run_ = run;
    const running = run?.status === "running";
    $("auto-run").disabled = running;
    $("auto-cancel").disabled = !running;
    if (!run) { $("auto-progress").value = 0; $("auto-status").textContent = ""; return; }
    const done = run.frames_done ?? 0, total = run.total || 1;
    $("auto-progress").value = Math.min(done / total, 1);
    const found = run.status === "done" && !this.masklets.length ? nothingFound(run.options) : `${this.masklets.length} masklets`;
    $("auto-status").textContent = `${running ? "" : `${run.status}: `}${done} / ${total} frames · ${found}`;
  }

  renderMasklets() {
    const list = $("masklet-proposals");
    list.replaceChildren();
    for (const p of this.masklets) {
      const li = document.createElement("li");
      li.dataset.proposalId = p.id;
      li.className = this.preview?.id === p.id ? "selected" : "";
      const label = document.createElement("span"); label.className = "masklet-label";
      label.textContent = `masklet ${p.masklet}: frames ${p.first_frame}–${p.last_frame} (${p.num_frames}), score ${p.score.toFixed(2)}`;
      label.title = "show on the frames"; label.addEventListener("click", () => this.showMasklet(p));
      li.append(label, button("Accept", "accept-masklet", "make it an object", () => this.accept(p)),
        button("✕", "dismiss-masklet", "dismiss", () => this.dismiss(p)));
      list.appendChild(li);
    }
    if (this.run_ && this.run_.status !== "running") this.setRun(this.run_);
  }

  async showMasklet(p) {
    const view = this.view;
    if (this.preview?.id === p.id) { this.preview = null; this.renderMasklets(); view.renderFrame(); return; }
    try {
      const full = await api(`/api/videos/${view.state.video.id}/masklet-proposals/${p.id}`);
      this.preview = { id: p.id, masks: new Map(Object.entries(full.masks).map(([f, rle]) => [Number(f), decodeRle(rle)])) };
      this.renderMasklets();
      if (!this.preview.masks.has(view.frame)) await view.show(p.first_frame); else view.renderFrame();
    } catch (e) { view.ui.showError(`Could not read masklet ${p.masklet}: ${e.message}`); }
  }

  async accept(p) {
    const view = this.view;
    const reply = await view.send(`/masklet-proposals/${p.id}/accept`, {}, { label: `accepting masklet ${p.masklet}` });
    if (!reply) return;
    this.drop(p.id);
    await view.reload();
    view.select(reply.object.obj_id);
  }

  async dismiss(p) {
    const reply = await this.view.send(`/masklet-proposals/${p.id}`, undefined, { method: "DELETE", label: `dismissing masklet ${p.masklet}` });
    if (!reply) return;
    this.drop(p.id);
    this.view.renderFrame();
  }

  drop(id) {
    this.masklets = this.masklets.filter((q) => q.id !== id);
    if (this.preview?.id === id) this.preview = null;
    this.renderMasklets();
  }
}
