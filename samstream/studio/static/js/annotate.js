// The annotation view of one video: frame, masks, objects, prompts, propagation, review, export.
// Every change goes to the server first; the page shows what the server replied and what the
// change stream reports, so two tabs on one video show the same state.
import { api, openEvents, withToken } from "./api.js";
import { FrameCanvas } from "./canvas.js";
import { objectColour } from "./colours.js";
import { decodeRle } from "./rle.js";
import { VideoState } from "./state.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const IMAGE_CACHE = 48; // frames kept decoded in the page

export class AnnotationView {
  constructor(ui) {
    this.ui = ui;                // {showError, setConnection}
    this.state = null;
    this.frame = 0;
    this.images = new Map();
    this.events = null;
    this.playing = null;
    this.proposals = [];
    this.masklets = [];          // whole-video proposals of the latest automatic run
    this.preview = null;         // {id, masks: Map(frame -> mask)} of the masklet shown on the canvas
    this.propagating = false;
    this.prompts = 0;            // prompts the server acknowledged from this page
    this.canvas = new FrameCanvas($("frame-canvas"), {
      onClick: (p, negative) => this.click(p, negative),
      onBox: (box) => this.box(box),
    });
    this.timeline = new Timeline($("timeline"), { onSeek: (f) => this.show(f) });
    this.bind();
  }

  // ------------------------------------------------------------------ loading
  async open(videoId) {
    this.close();
    const video = await api(`/api/videos/${videoId}`);
    const { masks } = await api(`/api/videos/${videoId}/masks`);
    this.state = new VideoState(video);
    this.state.setMasks(masks);
    this.canvas.setSize(video.width, video.height);
    this.canvas.resetView();
    $("video-title").textContent = `${video.name} · ${video.num_frames} frames · ${video.width}×${video.height}`;
    $("scrubber").max = String(video.num_frames - 1);
    this.images.clear();
    this.proposals = [];
    this.renderProposals();
    this.loadMasklets();
    $("export-links").replaceChildren();
    this.setPropagation(video.propagation);
    this.events = openEvents(videoId, this.state.lastEvent, {
      onEvent: (kind, data, id) => this.onEvent(kind, data, id),
      onLost: () => this.ui.setConnection(false),
      onReconnect: () => { this.ui.setConnection(true); this.reload(); },
    });
    this.ui.setConnection(true);
    await this.show(Math.min(this.frame, video.num_frames - 1));
    this.renderObjects();
    this.refreshEffort();
  }

  // After a lost connection the server's backlog may not cover the gap: read everything again.
  async reload() {
    if (!this.state) return;
    const id = this.state.video.id;
    try {
      const video = await api(`/api/videos/${id}`);
      const { masks } = await api(`/api/videos/${id}/masks`);
      const selected = this.state.selected, hidden = this.state.hidden;
      this.state = new VideoState(video);
      this.state.setMasks(masks);
      this.state.hidden = hidden;
      if (this.state.objects.has(selected)) this.state.selected = selected;
      this.setPropagation(video.propagation);
      this.renderAll();
    } catch (e) { this.ui.showError(`Could not reload the video: ${e.message}`); }
  }

  close() {
    this.events?.close();
    this.events = null;
    this.pause();
    this.state = null;
  }

  frameImage(frame) {
    let img = this.images.get(frame);
    if (img) { this.images.delete(frame); this.images.set(frame, img); return img; }
    img = new Image();
    img.decoding = "async";
    img.src = withToken(`/api/videos/${this.state.video.id}/frames/${frame}?format=png`);
    img.ready = img.decode().catch(() => { throw new Error(`frame ${frame} could not be loaded`); });
    this.images.set(frame, img);
    while (this.images.size > IMAGE_CACHE) this.images.delete(this.images.keys().next().value);
    return img;
  }

  async show(frame) {
    if (!this.state) return;
    this.frame = frame;
    $("scrubber").value = String(frame);
    $("frame-label").textContent = `${frame + 1} / ${this.state.video.num_frames}`;
    const img = this.frameImage(frame);
    try { await img.ready; } catch (e) { this.ui.showError(e.message); return; }
    if (this.frame !== frame) return; // a later frame was asked for meanwhile
    this.canvas.image = img;
    if (frame + 1 < this.state.video.num_frames) this.frameImage(frame + 1); // read ahead
    this.renderFrame();
  }

  // ------------------------------------------------------------------ rendering
  colour(objId) { const o = this.state.objects.get(objId); return o ? objectColour(o) : "#888"; }

  renderFrame() {
    if (!this.state) return;
    const layers = [];
    for (const objId of this.state.objects.keys()) {
      if (this.state.hidden.has(objId)) continue;
      const entry = this.state.mask(this.frame, objId);
      if (entry && !entry.empty) layers.push({ mask: entry.mask, colour: this.colour(objId) });
    }
    this.canvas.layers = layers;
    this.canvas.proposals = this.proposals.filter((p) => p.frame === this.frame).map((p) => ({ mask: p.mask, colour: "#00e5ff" }));
    const previewed = this.preview?.masks.get(this.frame);
    if (previewed) this.canvas.proposals.push({ mask: previewed, colour: "#ffd400" });
    this.canvas.draw();
    const colour = this.state.selected ? this.colour(this.state.selected) : "#4aa3ff";
    this.timeline.draw(this.state, this.frame, colour);
    document.querySelector(".swatch.propagated").style.background = colour; // the legend matches the timeline
  }

  renderAll() { this.renderObjects(); this.renderFrame(); }

  renderObjects() {
    const list = $("objects");
    list.replaceChildren();
    let n = 0;
    for (const obj of this.state.objects.values()) {
      n += 1;
      const li = document.createElement("li");
      li.dataset.objId = obj.obj_id;
      li.className = (obj.obj_id === this.state.selected ? "selected " : "") + (this.state.hidden.has(obj.obj_id) ? "hidden-obj" : "");
      const dot = document.createElement("span"); dot.className = "dot"; dot.style.background = objectColour(obj);
      const name = document.createElement("input"); name.className = "name"; name.value = obj.name; name.title = `object ${obj.obj_id} (${n})`;
      name.addEventListener("change", () => this.updateObject(obj.obj_id, { name: name.value }));
      const cat = document.createElement("input"); cat.className = "category"; cat.value = obj.category || ""; cat.placeholder = "category";
      cat.setAttribute("list", "categories");
      cat.addEventListener("change", () => this.updateObject(obj.obj_id, { category: cat.value }));
      const hide = document.createElement("button"); hide.className = "hide"; hide.textContent = this.state.hidden.has(obj.obj_id) ? "show" : "hide";
      hide.addEventListener("click", (e) => { e.stopPropagation(); this.toggleHidden(obj.obj_id); });
      const del = document.createElement("button"); del.className = "delete"; del.textContent = "✕"; del.title = "delete object";
      del.addEventListener("click", (e) => { e.stopPropagation(); this.deleteObject(obj.obj_id); });
      li.append(dot, name, cat, hide, del);
      li.addEventListener("click", () => this.select(obj.obj_id));
      list.appendChild(li);
    }
    this.renderReview();
  }

  renderReview() {
    const obj = this.state?.objects.get(this.state.selected);
    $("review").hidden = !obj;
    if (!obj) return;
    $("review-status").textContent = obj.review_status.replace("_", " ");
    if (document.activeElement !== $("review-note")) $("review-note").value = obj.note || "";
    if (document.activeElement !== $("reviewer") && obj.reviewer) $("reviewer").value = obj.reviewer;
    const e = this.effort?.get(obj.obj_id);
    $("effort").textContent = e
      ? `effort: ${e.clicks} clicks · ${e.prompted_frames} prompted frames · ${e.edited_frames} edited frames · ${e.active_seconds.toFixed(1)} s active`
      : "";
  }

  renderProposals() {
    const list = $("proposals");
    list.replaceChildren();
    for (const p of this.proposals) {
      const li = document.createElement("li");
      li.textContent = `frame ${p.frame + 1}: score ${p.score.toFixed(2)}, ${p.bbox[2]}×${p.bbox[3]} px`;
      const b = document.createElement("button"); b.textContent = "Accept"; b.className = "accept-proposal";
      b.addEventListener("click", () => this.acceptProposal(p));
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  renderMasklets() {
    const list = $("masklet-proposals");
    list.replaceChildren();
    for (const p of this.masklets) {
      const li = document.createElement("li");
      li.dataset.proposalId = p.id;
      li.className = this.preview?.id === p.id ? "selected" : "";
      const label = document.createElement("span"); label.className = "masklet-label";
      label.textContent = `masklet ${p.masklet}: frames ${p.first_frame + 1}-${p.last_frame + 1} (${p.num_frames}), score ${p.score.toFixed(2)}`;
      label.title = "show on the frames"; label.addEventListener("click", () => this.previewMasklet(p));
      const ok = document.createElement("button"); ok.textContent = "Accept"; ok.className = "accept-masklet";
      ok.addEventListener("click", () => this.acceptMasklet(p));
      const no = document.createElement("button"); no.textContent = "✕"; no.className = "dismiss-masklet"; no.title = "dismiss";
      no.addEventListener("click", () => this.dismissMasklet(p));
      li.append(label, ok, no);
      list.appendChild(li);
    }
    if (this.autoRun && this.autoRun.status !== "running") this.setAutoRun(this.autoRun);
  }

  setAutoRun(run) {
    this.autoRun = run;          // kept so the masklet count follows accepts and dismissals
    const running = !!run && run.status === "running";
    $("auto-run").disabled = running;
    $("auto-cancel").disabled = !running;
    if (!run) { $("auto-progress").value = 0; $("auto-status").textContent = ""; return; }
    const done = run.frames_done ?? run.done ?? 0, total = run.total || 1;
    $("auto-progress").value = Math.min(done / total, 1);
    $("auto-status").textContent = `${running ? "" : run.status + ": "}${done} / ${total} frames · ${this.masklets.length} masklets`;
  }

  setPropagation(prop) {
    const running = !!prop && prop.status === "running";
    this.propagating = running;
    $("prop-cancel").disabled = !running;
    for (const id of ["prop-forward", "prop-backward", "prop-both"]) $(id).disabled = running;
    if (!prop) { $("prop-progress").value = 0; $("prop-status").textContent = ""; return; }
    const done = prop.frames_done ?? prop.done ?? 0, total = prop.total || 1;
    $("prop-progress").value = Math.min(done / total, 1);
    $("prop-status").textContent = running ? `${done} / ${total} frames` : `${prop.status}: ${done} / ${total} frames`;
  }

  // ------------------------------------------------------------------ events from the server
  onEvent(kind, d, id) {
    if (!this.state) return;
    if (id <= this.state.lastEvent) return;
    this.state.lastEvent = id;
    this.state.bump(d.video_version);
    if (d.obj_id !== undefined && typeof d.version === "number") this.state.bumpObject(d.obj_id, d.version);
    for (const [objId, v] of Object.entries(d.versions || {})) this.state.bumpObject(Number(objId), v);
    if (kind === "prompt") {
      const rle = d.masks[String(d.obj_id)];
      if (rle) this.state.putMask(d.frame, d.obj_id, rle, "prompt");
      this.renderFrame();
    } else if (kind === "clear") {
      this.refreshFrame(d.frame);
    } else if (kind === "undo" || kind === "redo") {
      this.refreshObjects(Object.keys(d.frames || {}).map(Number));
    } else if (kind === "frame") {
      for (const [objId, rle] of Object.entries(d.masks)) {
        const old = this.state.masks.get(d.frame)?.get(Number(objId));
        this.state.putMask(d.frame, Number(objId), rle, old?.source === "prompt" ? "prompt" : "propagated");
      }
      this.setPropagation({ status: "running", done: d.done, total: d.total });
      $("prop-status").textContent = `${d.done} / ${d.total} frames · ${d.fps.toFixed(1)} frames/s`;
      if (d.frame === this.frame) this.renderFrame();
      else this.timeline.draw(this.state, this.frame, this.colour(this.state.selected));
    } else if (kind === "propagation_started") {
      this.setPropagation({ status: "running", done: 0, total: d.total });
    } else if (kind.startsWith("propagation_")) {
      this.setPropagation({ status: kind.slice("propagation_".length), done: d.done, total: d.total ?? d.done });
      if (kind === "propagation_failed" && d.error) this.ui.showError(`Propagation failed: ${d.error}`);
      this.refreshEffort();
    } else if (kind === "object_created" || kind === "object_updated" || kind === "review") {
      this.state.putObject(d.object);
      this.renderObjects();
      this.renderFrame();
    } else if (kind === "object_deleted") {
      this.state.dropObject(d.obj_id);
      this.renderAll();
    } else if (kind === "imported") {
      this.reload();
    } else if (kind === "auto_started") {
      this.masklets = []; this.preview = null;
      this.renderMasklets(); this.renderFrame();
      this.setAutoRun({ status: "running", done: 0, total: d.total });
    } else if (kind === "auto_frame") {
      this.setAutoRun({ status: "running", done: d.done, total: d.total });
      $("auto-status").textContent = `${d.done} / ${d.total} frames · ${d.proposals} masklets · ${d.fps.toFixed(1)} frames/s`;
    } else if (kind.startsWith("auto_")) {
      if (kind === "auto_failed" && d.error) this.ui.showError(`Automatic masklets failed: ${d.error}`);
      this.loadMasklets();
    } else if (kind === "masklet_accepted" || kind === "masklet_dismissed") {
      this.masklets = this.masklets.filter((p) => p.id !== d.proposal_id);
      if (this.preview?.id === d.proposal_id) this.preview = null;
      this.renderMasklets();
      if (kind === "masklet_accepted") this.reload(); else this.renderFrame();
    }
  }

  async refreshFrame(frame) {
    try {
      const { masks } = await api(`/api/videos/${this.state.video.id}/masks/${frame}`);
      const m = this.state.masks.get(frame);
      const sources = {};
      for (const id of Object.keys(masks)) sources[id] = m?.get(Number(id))?.source || "prompt";
      this.state.setFrame(frame, masks, sources);
      this.renderFrame();
    } catch (e) { this.ui.showError(e.message); }
  }

  async refreshObjects(objIds) {
    try {
      for (const objId of objIds) {
        const { masks } = await api(`/api/videos/${this.state.video.id}/masks?obj_id=${objId}`);
        this.state.setObjectMasks(objId, masks);
      }
      this.renderFrame();
    } catch (e) { this.ui.showError(e.message); }
  }

  async refreshEffort() {
    if (!this.state) return;
    try {
      const data = await api(`/api/videos/${this.state.video.id}/effort`);
      this.effort = new Map((data.videos[0]?.objects || []).map((o) => [o.obj_id, o]));
      this.renderReview();
    } catch { /* the counters are informative; a failure here is not worth a banner */ }
  }

  // ------------------------------------------------------------------ actions
  // An edit of one object carries that object's version (objId); others carry none.
  async send(path, body, method = "POST", objId = null) {
    try {
      const version = objId === null ? undefined : this.state.objectVersion(objId);
      const reply = await api(`/api/videos/${this.state.video.id}${path}`, { method, body: { ...body, version } });
      this.state.bump(reply.video_version);
      if (objId !== null) this.state.bumpObject(objId, reply.version);
      for (const [id, v] of Object.entries(reply.versions || {})) this.state.bumpObject(Number(id), v);
      return reply;
    } catch (e) {
      this.ui.showError(e.status === 409 ? `${e.message} — the page was refreshed with the latest state` : e.message);
      if (e.status === 409) this.reload();
      return null;
    }
  }

  async ensureObject() {
    if (this.state.selected !== null) return this.state.selected;
    const obj = await this.addObject();
    return obj ? obj.obj_id : null;
  }

  async click([x, y], negative) {
    const objId = await this.ensureObject();
    if (objId === null) return;
    const frame = this.frame;
    const reply = await this.send("/prompts", { obj_id: objId, frame, points: [[x, y]], labels: [negative ? 0 : 1], clear_old: false }, "POST", objId);
    if (reply) this.acknowledged(frame, objId, reply);
  }

  async box(box) {
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return;
    const objId = await this.ensureObject();
    if (objId === null) return;
    const frame = this.frame;
    const reply = await this.send("/prompts", { obj_id: objId, frame, box }, "POST", objId);
    if (reply) this.acknowledged(frame, objId, reply);
  }

  acknowledged(frame, objId, reply) {
    this.state.putMask(frame, objId, reply.masks[String(objId)], "prompt");
    this.prompts += 1;
    this.renderFrame();
    this.refreshEffort();
  }

  async addObject() {
    const reply = await this.send("/objects", {});
    if (!reply) return null;
    this.state.putObject(reply.object);
    this.state.selected = reply.object.obj_id;
    this.renderAll();
    return reply.object;
  }

  async updateObject(objId, fields) {
    const reply = await this.send(`/objects/${objId}`, fields, "PATCH", objId);
    if (reply) { this.state.putObject(reply.object); this.renderObjects(); this.renderFrame(); }
  }

  async deleteObject(objId) {
    try {
      const reply = await api(`/api/videos/${this.state.video.id}/objects/${objId}?version=${this.state.objectVersion(objId)}`, { method: "DELETE" });
      this.state.bump(reply.video_version);
      this.state.dropObject(objId);
      this.renderAll();
    } catch (e) { this.ui.showError(e.message); }
  }

  select(objId) { this.state.selected = objId; this.renderAll(); }

  toggleHidden(objId) {
    if (this.state.hidden.has(objId)) this.state.hidden.delete(objId); else this.state.hidden.add(objId);
    this.renderAll();
  }

  async propagate(direction) {
    if (this.propagating) return;
    const reply = await this.send("/propagate", { direction, start: this.frame });
    if (reply) this.setPropagation({ status: "running", done: 0, total: reply.total });
  }

  async cancel() { await this.send("/propagate/cancel", {}); }

  async history(undo) {
    const reply = await this.send(undo ? "/undo" : "/redo", {});
    if (reply && reply.changed) {
      await this.refreshObjects(Object.keys(reply.frames).map(Number));
      if (reply.frame !== undefined && reply.frame !== this.frame) this.show(reply.frame);
    } else if (reply) this.ui.showError(undo ? "Nothing to undo." : "Nothing to redo.");
  }

  async clearFrame() {
    if (this.state.selected === null) return;
    const reply = await this.send("/clear", { obj_id: this.state.selected, frame: this.frame }, "POST", this.state.selected);
    if (reply) this.refreshFrame(this.frame);
  }

  async review(status) {
    if (this.state.selected === null) return;
    const body = { status, reviewer: $("reviewer").value, note: $("review-note").value };
    const reply = await this.send(`/objects/${this.state.selected}/review`, body, "POST", this.state.selected);
    if (reply) { this.state.putObject(reply.object); this.renderObjects(); }
  }

  async saveNote() { const obj = this.state.objects.get(this.state.selected); if (obj) this.review(obj.review_status); }

  async segmentEverything() {
    $("segment-everything").disabled = true;
    try {
      const reply = await this.send("/segment-everything", { frame: this.frame });
      if (!reply) return;
      this.proposals = reply.proposals.map((p) => ({ ...p, mask: decodeRle(p.rle) }));
      if (!this.proposals.length) this.ui.showError("Segment everything found no object on this frame.");
      this.renderProposals();
      this.renderFrame();
    } finally { $("segment-everything").disabled = false; }
  }

  async acceptProposal(p) {
    const reply = await this.send(`/proposals/${p.proposal_id}/accept`, {});
    if (!reply) return;
    this.proposals = this.proposals.filter((q) => q.proposal_id !== p.proposal_id);
    this.state.putObject(reply.object);
    this.state.putMask(reply.frame, reply.obj_id, reply.masks[String(reply.obj_id)], "prompt");
    this.state.selected = reply.obj_id;
    this.renderProposals();
    this.renderAll();
  }

  async loadMasklets() {
    if (!this.state) return;
    try {
      const { proposals, run } = await api(`/api/videos/${this.state.video.id}/auto-masklets`);
      this.masklets = proposals;
      if (this.preview && !proposals.some((p) => p.id === this.preview.id)) this.preview = null;
      this.renderMasklets();
      this.setAutoRun(run);
      this.renderFrame();
    } catch (e) { this.ui.showError(e.message); }
  }

  async runMasklets() {
    const options = {
      points_per_side: Number($("auto-points").value),
      pred_iou_thresh: Number($("auto-iou").value),
      stability_score_thresh: Number($("auto-stability").value),
    };
    const reply = await this.send("/auto-masklets", options);
    if (reply) this.setAutoRun({ status: "running", done: 0, total: reply.total });
  }

  async cancelMasklets() { await this.send("/auto-masklets/cancel", {}); }

  async previewMasklet(p) {
    if (this.preview?.id === p.id) { this.preview = null; this.renderMasklets(); this.renderFrame(); return; }
    try {
      const full = await api(`/api/videos/${this.state.video.id}/masklet-proposals/${p.id}`);
      this.preview = { id: p.id, masks: new Map(Object.entries(full.masks).map(([f, rle]) => [Number(f), decodeRle(rle)])) };
      this.renderMasklets();
      if (!this.preview.masks.has(this.frame)) await this.show(p.first_frame); else this.renderFrame();
    } catch (e) { this.ui.showError(e.message); }
  }

  async acceptMasklet(p) {
    const reply = await this.send(`/masklet-proposals/${p.id}/accept`, {});
    if (!reply) return;
    this.masklets = this.masklets.filter((q) => q.id !== p.id);
    if (this.preview?.id === p.id) this.preview = null;
    this.renderMasklets();
    await this.reload();
    this.state.selected = reply.object.obj_id;
    this.renderAll();
  }

  async dismissMasklet(p) {
    const reply = await this.send(`/masklet-proposals/${p.id}`, {}, "DELETE");
    if (!reply) return;
    this.masklets = this.masklets.filter((q) => q.id !== p.id);
    if (this.preview?.id === p.id) this.preview = null;
    this.renderMasklets();
    this.renderFrame();
  }

  async export() {
    const format = $("export-format").value;
    $("export").disabled = true;
    try {
      const reply = await this.send("/export", { format });
      if (!reply) return;
      const list = $("export-links");
      list.replaceChildren();
      reply.urls.forEach((url, i) => {
        const li = document.createElement("li"), a = document.createElement("a");
        a.href = withToken(url); a.textContent = reply.downloads[i]; a.download = reply.downloads[i].split("/").pop();
        a.className = "export-link";
        li.appendChild(a); list.appendChild(li);
      });
    } finally { $("export").disabled = false; }
  }

  play() {
    if (this.playing) return this.pause();
    const fps = this.state.video.fps || 10;
    $("play").textContent = "❚❚";
    this.playing = setInterval(() => {
      if (this.frame + 1 >= this.state.video.num_frames) return this.pause();
      this.show(this.frame + 1);
    }, 1000 / fps);
  }

  pause() { if (this.playing) clearInterval(this.playing); this.playing = null; $("play").textContent = "▶"; }

  step(delta) { if (this.state) this.show(Math.min(Math.max(this.frame + delta, 0), this.state.video.num_frames - 1)); }

  // ------------------------------------------------------------------ controls and shortcuts
  bind() {
    const on = (id, fn) => $(id).addEventListener("click", fn);
    on("prev-frame", () => this.step(-1)); on("next-frame", () => this.step(1)); on("play", () => this.play());
    $("scrubber").addEventListener("input", (e) => this.show(Number(e.target.value)));
    on("prop-forward", () => this.propagate("forward")); on("prop-backward", () => this.propagate("backward"));
    on("prop-both", () => this.propagate("both")); on("prop-cancel", () => this.cancel());
    on("undo", () => this.history(true)); on("redo", () => this.history(false));
    on("clear-frame", () => this.clearFrame()); on("reset-view", () => this.canvas.resetView());
    on("add-object", () => this.addObject()); on("segment-everything", () => this.segmentEverything());
    on("auto-run", () => this.runMasklets()); on("auto-cancel", () => this.cancelMasklets());
    on("export", () => this.export()); on("save-note", () => this.saveNote());
    for (const b of document.querySelectorAll(".review-buttons button")) b.addEventListener("click", () => this.review(b.dataset.status));
    $("opacity").addEventListener("input", (e) => { this.canvas.opacity = Number(e.target.value); this.canvas.draw(); });
    $("outlines").addEventListener("change", (e) => { this.canvas.outlines = e.target.checked; this.canvas.draw(); });
  }

  // Returns true when the key was one of the view's shortcuts.
  key(e) {
    if (!this.state) return false;
    const k = e.key, ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && (k === "z" || k === "Z")) { this.history(!e.shiftKey); return true; }
    if (ctrl && k === "y") { this.history(false); return true; }
    if (ctrl) return false;
    if (k === "ArrowLeft") this.step(e.shiftKey ? -10 : -1);
    else if (k === "ArrowRight") this.step(e.shiftKey ? 10 : 1);
    else if (k === " ") this.play();
    else if (k === "n") this.addObject();
    else if (k === "h" && this.state.selected !== null) this.toggleHidden(this.state.selected);
    else if (k === "f") this.propagate("forward");
    else if (k === "b") this.propagate("backward");
    else if (k === "a") this.propagate("both");
    else if (k === "Escape" && this.propagating) this.cancel();
    else if (k === "Delete" || k === "Backspace") this.clearFrame();
    else if (k === "e") this.segmentEverything();
    else if (k === "m") this.runMasklets();
    else if (k === "0") this.canvas.resetView();
    else if (k === "A") this.review("accepted");
    else if (k === "F") this.review("needs_fix");
    else if (k === "R") this.review("rejected");
    else if (/^[1-9]$/.test(k)) { const ids = [...this.state.objects.keys()]; if (ids[Number(k) - 1] !== undefined) this.select(ids[Number(k) - 1]); }
    else return false;
    return true;
  }
}
