// The annotation view of one video: it loads the video, owns what the page knows of it (VideoState),
// draws the frame and the timeline, sends edits, and hands each change event to the part that owns
// it. The parts, one concern each: player (frames on screen), objects, prompts (clicks, boxes,
// corrections, conflicts), propagation, history (undo/redo), review, masklets, exports, keys.
// Every change goes to the server first; the page shows what the server replied and what the change
// stream reports, so two tabs (or two annotators) on one video show the same state.
import { ApiError, api, openEvents } from "./api.js";
import { BusyIndicator } from "./busy.js";
import { FrameCanvas } from "./canvas.js";
import { objectColour } from "./colours.js";
import { Exports } from "./exports.js";
import { History } from "./history.js";
import { shortcut } from "./keys.js";
import { Masklets } from "./masklets.js";
import { ObjectList } from "./objects.js";
import { Player } from "./player.js";
import { Prompting } from "./prompts.js";
import { PropagationPanel } from "./propagation.js";
import { ReviewPanel } from "./review.js";
import { VideoState } from "./state.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);

export class AnnotationView {
  constructor(ui) {
    this.ui = ui;           // {showError, notify, offer, withdrawOffer, setConnection}
    this.state = null;
    this.frame = 0;
    this.events = null;
    this.busy = new BusyIndicator($("busy"));
    this.canvas = new FrameCanvas($("frame-canvas"), {
      onClick: (p, negative) => this.prompts.click(p, negative),
      onBox: (box) => this.prompts.box(box),
    });
    this.timeline = new Timeline($("timeline"), {
      onSeek: (f, objId) => { if (objId !== null && objId !== this.state.selected) this.select(objId); this.show(f); },
    });
    this.player = new Player(this);
    this.objects = new ObjectList(this);
    this.prompts = new Prompting(this);
    this.propagation = new PropagationPanel(this);
    this.history = new History(this);
    this.review = new ReviewPanel(this);
    this.masklets = new Masklets(this);
    this.exports = new Exports(this);
    this.handlers = {
      imported: () => this.reload(), resync: () => this.reload(), busy: (d) => this.busy.onBusy(d),
      ...this.objects.handlers(), ...this.prompts.handlers(), ...this.propagation.handlers(),
      ...this.history.handlers(), ...this.masklets.handlers(), ...this.exports.handlers(),
    };
    $("reset-view").addEventListener("click", () => this.canvas.resetView());
    $("opacity").addEventListener("input", (e) => { this.canvas.opacity = Number(e.target.value); this.canvas.draw(); });
    $("outlines").addEventListener("change", (e) => { this.canvas.outlines = e.target.checked; this.canvas.draw(); });
  }

  // ------------------------------------------------------------------ loading
  async open(videoId) {
    this.close();
    const state = await this.load(videoId);
    const video = state.video;
    this.state = state;
    this.canvas.image = null;
    this.canvas.setSize(video.width, video.height);
    this.canvas.resetView();
    $("video-title").textContent = `${video.name} · ${video.num_frames} frames · ${video.width}×${video.height}`;
    $("scrubber").max = String(video.num_frames - 1);
    this.masklets.reset();
    this.exports.reset();
    this.propagation.reset();
    this.propagation.set(video.propagation);
    this.events = openEvents(videoId, state.lastEvent, {
      onEvent: (kind, data, id) => this.onEvent(kind, data, id),
      onLost: () => this.ui.setConnection(false),
      onReconnect: () => { this.ui.setConnection(true); this.reload(); },
    });
    this.ui.setConnection(true);
    await this.show(Math.min(this.frame, video.num_frames - 1));
    this.objects.render();
    this.review.refreshEffort();
  }

  async load(videoId) {
    const video = await api(`/api/videos/${videoId}`);
    const { masks } = await api(`/api/videos/${videoId}/masks`);
    const state = new VideoState(video);
    state.setMasks(masks);
    return state;
  }

  // After a lost connection (or a `resync`) the server's backlog may not cover the gap: read everything again.
  async reload() {
    if (!this.state) return;
    const old = this.state;
    try {
      const state = await this.load(old.video.id);
      if (this.state !== old) return; // another video was opened meanwhile
      state.hidden = old.hidden;
      if (state.objects.has(old.selected)) state.selected = old.selected;
      this.state = state;
      this.propagation.set(state.video.propagation);
      this.masklets.load();
      this.renderAll();
    } catch (e) { this.ui.showError(`Could not reload the video: ${e.message}`); }
  }

  close() {
    this.events?.close();
    this.events = null;
    this.player.reset();
    this.ui.withdrawOffer();
    this.state = null;
  }

  show(frame) { return this.player.show(frame); }

  select(objId) { this.state.selected = objId; this.renderAll(); }

  // ------------------------------------------------------------------ events from the server
  onEvent(kind, d, id) {
    const state = this.state;
    if (!state || id <= state.lastEvent) return;
    state.lastEvent = id;
    state.bump(d.video_version);
    if (d.obj_id !== undefined && typeof d.version === "number") state.bumpObject(d.obj_id, d.version);
    for (const [objId, v] of Object.entries(d.versions || {})) state.bumpObject(Number(objId), v);
    this.handlers[kind]?.(d);
  }

  // ------------------------------------------------------------------ refetching what changed
  async refreshObject(objId) {
    const state = this.state, base = `/api/videos/${state.video.id}`;
    const [{ objects }, { masks }] = await Promise.all([api(`${base}/objects`), api(`${base}/masks?obj_id=${objId}`)]);
    if (state !== this.state) return;
    const row = objects.find((o) => o.obj_id === objId);
    if (row) { state.putObject(row); state.setObjectMasks(objId, masks); } else state.dropObject(objId);
    this.renderAll();
  }

  async refreshObjects(objIds) {
    const state = this.state;
    try {
      for (const objId of objIds) {
        const { masks } = await api(`/api/videos/${state.video.id}/masks?obj_id=${objId}`);
        if (state !== this.state) return;
        state.setObjectMasks(objId, masks);
      }
      this.renderFrame();
    } catch (e) { this.ui.showError(`Could not read the masks: ${e.message}`); }
  }

  async refreshFrame(frame) {
    const state = this.state;
    try {
      const reply = await api(`/api/videos/${state.video.id}/masks/${frame}`);
      if (state !== this.state) return;
      state.setFrame(frame, reply);
      this.renderFrame();
    } catch (e) { this.ui.showError(`Could not read frame ${frame}'s masks: ${e.message}`); }
  }

  // ------------------------------------------------------------------ sending edits
  // POST (or PATCH, DELETE) under the video; an edit of one object (objId) carries that object's
  // version. `label` names the wait for the busy indicator. A 409 goes to `onConflict(error)` when
  // given; otherwise the page shows the object's newer state and says so. Other refusals go to
  // `onError(error)` when given, else to the error banner. Returns the reply, or null.
  async send(path, body, { method = "POST", objId = null, label = null, onConflict = null, onError = null } = {}) {
    const state = this.state;
    const version = objId === null ? undefined : state.objectVersion(objId) ?? undefined;
    const payload = body === undefined ? undefined : { ...body, version };
    try {
      const reply = await this.busy.around(label || `${method} ${path}`, (request) =>
        api(`/api/videos/${state.video.id}${path}`, { method, body: payload, request }));
      if (state !== this.state) return null;
      state.bump(reply.video_version);
      if (objId !== null) state.bumpObject(objId, reply.version);
      for (const [id, v] of Object.entries(reply.versions || {})) state.bumpObject(Number(id), v);
      return reply;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (state !== this.state) return null; // the video was closed meanwhile: nothing to show
      const other = e.data.obj_id;
      if (e.status === 409 && onConflict) await onConflict(e);
      else if (e.status === 409 && typeof other === "number") {
        this.ui.showError(`${state.label(other)} changed meanwhile (${e.message}); the page now shows its newer state.`);
        await this.refreshObject(other);
      } else if (onError) onError(e);
      else this.ui.showError(e.message);
      return null;
    }
  }

  // ------------------------------------------------------------------ drawing
  colour(objId) { const o = this.state?.objects.get(objId); return o ? objectColour(o) : "#888"; }

  renderFrame() {
    const s = this.state;
    if (!s) return;
    const layers = [];
    const order = [...s.objects.keys()].filter((id) => id !== s.selected);
    if (s.objects.has(s.selected)) order.push(s.selected); // the selected object's fill on top
    for (const objId of order) {
      if (s.hidden.has(objId)) continue;
      const entry = s.mask(this.frame, objId);
      if (entry && !entry.empty) layers.push({ mask: entry.mask, colour: this.colour(objId) });
    }
    this.canvas.layers = layers;
    this.canvas.proposals = this.masklets.overlays(this.frame);
    const shown = s.selected !== null && !s.hidden.has(s.selected);
    this.canvas.prompts = { steps: shown ? s.promptsOn(this.frame, s.selected) : [], colour: this.colour(s.selected) };
    this.canvas.draw();
    this.drawTimeline();
  }

  drawTimeline() {
    const s = this.state;
    if (!s) return;
    const rows = [...s.objects.values()].map((o) => ({
      objId: o.obj_id, colour: objectColour(o), selected: o.obj_id === s.selected,
      mark: (f) => s.frameMark(f, o.obj_id),
    }));
    this.timeline.draw({ count: s.video.num_frames, current: this.frame, rows, span: this.propagation.span });
  }

  renderAll() { this.objects.render(); this.renderFrame(); }

  // Returns true when the key was one of the view's shortcuts.
  key(e) { return this.state ? shortcut(this, e) : false; }
}
