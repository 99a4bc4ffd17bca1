// Propagation: of the selected object (default) or all objects, from the frame on screen, forward,
// backward or both, to the next prompt (the default after a correction: exactly the frames it can
// change), to the end, or to frame N. While it runs: progress, Cancel, and its span on the
// timeline; an interrupted run (a server restart) offers Resume, which continues where it stopped.
// The video's tracking method (SAM 2, SAMURAI, DAM4SAM, SAM2Long) is a setting of the video, chosen
// here and told to every page of it; the masks already made keep the method that made them.
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

// The frames a run covers, for the timeline: {objIds, legs: [[first, last], ...]} (empty legs left out).
function spanOf(prop) {
  const objIds = prop.obj_ids || prop.plan?.obj_ids || [];
  const legs = prop.legs
    ? prop.legs.map(([start, last], i) => ({ start, last, reverse: prop.direction === "backward" || i === 1 }))
    : prop.plan?.legs || [];
  const spans = legs.filter((l) => (l.reverse ? l.last <= l.start : l.last >= l.start)).map((l) => [l.start, l.last]);
  return spans.length ? { objIds, legs: spans } : null;
}

export class PropagationPanel {
  constructor(view) {
    this.view = view;
    this.current = null;  // the latest run as the page knows it (a row, a reply or an event)
    this.span = null;     // its frames while it runs
    for (const [id, direction] of [["prop-forward", "forward"], ["prop-backward", "backward"], ["prop-both", "both"]]) {
      $(id).addEventListener("click", () => this.request(direction));
    }
    $("prop-cancel").addEventListener("click", () => this.cancel());
    $("prop-resume").addEventListener("click", () => this.resume());
    $("prop-until").addEventListener("change", () => this.untilChanged());
    $("prop-method").addEventListener("change", () => this.changeMethod());
  }

  get running() { return this.current?.status === "running"; }

  handlers() {
    const ended = (status) => (d) => {
      this.set({ ...this.current, status: d.status || status, frames_done: d.done, total: d.total ?? d.done });
      if (status === "failed" && d.error) this.view.ui.showError(`Propagation failed: ${d.error}`);
      this.view.review.refreshEffort();
    };
    return {
      frame: (d) => this.onFrame(d),
      propagation_started: (d) => (d.legs ? this.set({ ...d, status: "running", frames_done: d.frames_done_before || 0 })
        : this.refresh()),
      propagation_done: ended("done"), propagation_cancelled: ended("cancelled"), propagation_failed: ended("failed"),
      video_updated: (d) => { this.view.state.video.method = d.method; $("prop-method").value = d.method; },
    };
  }

  // The options chosen in the panel (null, with the reason shown, when they do not make a request).
  options(direction) {
    const state = this.view.state, body = { direction, start: this.view.frame };
    if ($("prop-scope").value === "selected") {
      if (state.selected === null) { this.view.ui.showError("Select an object to propagate (or choose all objects)."); return null; }
      body.obj_ids = [state.selected];
    }
    const ids = body.obj_ids || [...state.objects.keys()];
    body.versions = Object.fromEntries(ids.map((id) => [id, state.objectVersion(id)]).filter(([, v]) => v !== null));
    const until = $("prop-until").value;
    if (until !== "frame") { body.until = until; return body; }
    const n = Number($("prop-until-frame").value);
    if ($("prop-until-frame").value === "" || !Number.isInteger(n)) { this.view.ui.showError("Give the frame to propagate to."); return null; }
    if (direction === "both") { this.view.ui.showError("“To frame N” goes one way: propagate forward or backward."); return null; }
    body.until = n;
    return body;
  }

  async request(direction) {
    if (this.running) return;
    const body = this.options(direction);
    if (!body) return;
    const reply = await this.view.send("/propagate", body, { label: "starting the propagation" });
    // Its events may have come first (a short run can end before its reply arrives): they are newer.
    const known = this.current && (this.current.propagation_id ?? this.current.id) === reply?.propagation_id;
    if (reply && !known) this.set({ ...reply, status: "running", frames_done: 0 });
  }

  async changeMethod() {
    const state = this.view.state, method = $("prop-method").value;
    const reply = await this.view.send("", { method }, { method: "PATCH", label: "changing the tracking method" });
    if (state !== this.view.state) return;
    if (reply) state.video.method = reply.method;
    $("prop-method").value = state.video.method; // refused: the method in force stays shown
  }

  async cancel() { await this.view.send("/propagate/cancel", {}, { label: "cancelling the propagation" }); }

  async resume() {
    const reply = await this.view.send("/propagate/resume", {}, { label: "resuming the propagation" });
    if (reply) await this.refresh();
  }

  async refreshOnce() {
    if (this.refreshing) return;
    this.refreshing = true;
    try { await this.refresh(); } finally { this.refreshing = false; }
  }

  async refresh() {
    const state = this.view.state;
    try {
      const { propagation } = await api(`/api/videos/${state.video.id}/propagation`);
      if (state === this.view.state) this.set(propagation);
    } catch (e) { this.view.ui.showError(`Could not read the propagation: ${e.message}`); }
  }

  // A newly opened video starts from the defaults: the selected object, to the end.
  reset() {
    $("prop-scope").value = "selected";
    $("prop-until").value = "end";
    $("prop-until-frame").value = "";
    $("prop-method").value = this.view.state.video.method || "sam2";
    this.untilChanged();
  }

  // "next_prompt" after a correction, "end" after an object's first prompt; a frame typed in stays.
  suggest(until) { if ($("prop-until").value !== "frame") { $("prop-until").value = until; this.untilChanged(); } }

  untilChanged() {
    const toFrame = $("prop-until").value === "frame";
    $("prop-until-frame").hidden = !toFrame;
    if (toFrame && $("prop-until-frame").value === "") $("prop-until-frame").value = String(this.view.state?.video.num_frames - 1 || 0);
    $("prop-both").disabled = toFrame || this.running;
  }

  onFrame(d) {
    const state = this.view.state;
    for (const [id, rle] of Object.entries(d.masks)) {
      const old = state.masks.get(d.frame)?.get(Number(id));
      const kept = old?.source === "prompt";
      state.putMask(d.frame, Number(id), rle, kept ? "prompt" : "propagated", kept ? old.prompts : null);
    }
    if (!this.running) this.refreshOnce(); // a run this page has not heard start (a reconnect)
    else this.show({ ...this.current, frames_done: d.done, total: d.total }, `${d.done} / ${d.total} frames · ${d.fps.toFixed(1)} frames/s`);
    if (d.frame === this.view.frame) this.view.renderFrame(); else this.view.drawTimeline();
  }

  set(prop) {
    this.current = prop;
    this.span = this.running ? spanOf(prop) : null;
    this.show(prop);
    this.view.drawTimeline();
  }

  show(prop, text = null) {
    this.current = prop;
    const running = this.running;
    $("prop-cancel").disabled = !running;
    for (const id of ["prop-forward", "prop-backward", "prop-both"]) $(id).disabled = running;
    this.untilChanged();
    $("prop-resume").hidden = prop?.status !== "interrupted";
    if (!prop) { $("prop-progress").value = 0; $("prop-status").textContent = ""; return; }
    const done = prop.frames_done ?? 0, total = prop.total || 1;
    $("prop-progress").value = Math.min(done / total, 1);
    const what = prop.status === "interrupted" ? "interrupted (Resume continues it)" : prop.status;
    $("prop-status").textContent = text || (running ? `${done} / ${total} frames` : `${what}: ${done} / ${prop.total ?? done} frames`);
  }
}
