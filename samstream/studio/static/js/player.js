// Which frame is on screen: frame images (a small cache, the next frame read ahead), stepping,
// playing, and telling the server the frame on screen (POST focus, debounced) so that it encodes
// the frames around it while idle and the next click there does not wait for an encoding.
import { api, withToken } from "./api.js";

const $ = (id) => document.getElementById(id);
const IMAGE_CACHE = 48;  // frames kept decoded in the page
const FOCUS_DELAY = 300; // ms the shown frame must stay before the server hears of it

export class Player {
  constructor(view) {
    this.view = view;
    this.images = new Map();
    this.playing = null;
    this.focusTimer = null;
    $("prev-frame").addEventListener("click", () => this.step(-1));
    $("next-frame").addEventListener("click", () => this.step(1));
    $("play").addEventListener("click", () => this.play());
    $("scrubber").addEventListener("input", (e) => this.show(Number(e.target.value)));
  }

  reset() { this.images.clear(); this.pause(); clearTimeout(this.focusTimer); }

  image(frame) {
    let img = this.images.get(frame);
    if (img) { this.images.delete(frame); this.images.set(frame, img); return img; }
    img = new Image();
    img.decoding = "async";
    img.src = withToken(`/api/videos/${this.view.state.video.id}/frames/${frame}?format=png`);
    img.ready = img.decode().catch(() => { throw new Error(`frame ${frame} could not be loaded`); });
    this.images.set(frame, img);
    while (this.images.size > IMAGE_CACHE) this.images.delete(this.images.keys().next().value);
    return img;
  }

  async show(frame) {
    const view = this.view, state = view.state;
    if (!state) return;
    const changed = frame !== view.frame;
    view.frame = frame;
    $("scrubber").value = String(frame);
    $("frame-label").textContent = `frame ${frame} of 0–${state.video.num_frames - 1}`;
    if (changed || !view.canvas.image) this.focus(frame);
    const img = this.image(frame);
    try { await img.ready; } catch (e) { view.ui.showError(e.message); return; }
    if (view.frame !== frame || view.state !== state) return; // a later frame (or video) was asked for meanwhile
    view.canvas.image = img;
    if (frame + 1 < state.video.num_frames) this.image(frame + 1); // read ahead
    view.renderFrame();
  }

  focus(frame) {
    clearTimeout(this.focusTimer);
    const id = this.view.state.video.id;
    this.focusTimer = setTimeout(() => {
      // Only a hint to the server: a failure costs a slower next click, not worth a banner.
      api(`/api/videos/${id}/focus`, { method: "POST", body: { frame } }).catch(() => {});
    }, FOCUS_DELAY);
  }

  play() {
    if (this.playing) return this.pause();
    const state = this.view.state, fps = state.video.fps || 10;
    $("play").textContent = "❚❚";
    this.playing = setInterval(() => {
      if (this.view.frame + 1 >= state.video.num_frames) return this.pause();
      this.show(this.view.frame + 1);
    }, 1000 / fps);
  }

  pause() { if (this.playing) clearInterval(this.playing); this.playing = null; $("play").textContent = "▶"; }

  step(delta) {
    const state = this.view.state;
    if (state) this.show(Math.min(Math.max(this.view.frame + delta, 0), state.video.num_frames - 1));
  }
}
