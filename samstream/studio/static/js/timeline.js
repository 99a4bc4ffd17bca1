// The strip under the frame: one column per frame, marked prompted (white), propagated (object
// colour) or absent (red, the object judged occluded or gone), with the current frame's cursor.
const COLOURS = { prompt: "#ffffff", absent: "#d33" };

export class Timeline {
  constructor(canvas, { onSeek }) {
    this.canvas = canvas;
    this.onSeek = onSeek;
    let dragging = false;
    const seek = (e) => {
      const r = canvas.getBoundingClientRect();
      const f = Math.floor(((e.clientX - r.left) / r.width) * this.count);
      this.onSeek(Math.min(Math.max(f, 0), this.count - 1));
    };
    canvas.addEventListener("mousedown", (e) => { dragging = true; seek(e); });
    window.addEventListener("mousemove", (e) => { if (dragging) seek(e); });
    window.addEventListener("mouseup", () => { dragging = false; });
    this.count = 1;
  }

  draw(state, current, colour) {
    const c = this.canvas, dpr = window.devicePixelRatio || 1, r = c.getBoundingClientRect();
    c.width = Math.round(r.width * dpr); c.height = Math.round(r.height * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.count = state.video.num_frames;
    const w = r.width / this.count, h = r.height;
    ctx.fillStyle = "#2a2a2a"; ctx.fillRect(0, 0, r.width, h);
    for (let f = 0; f < this.count; f++) {
      const mark = state.frameMark(f, state.selected);
      if (!mark) continue;
      ctx.fillStyle = mark === "propagated" ? colour : COLOURS[mark];
      const top = mark === "prompt" ? 0 : h * 0.25;
      ctx.fillRect(f * w, top, Math.max(w - (w > 3 ? 1 : 0), 1), mark === "prompt" ? h : h * 0.5);
    }
    ctx.fillStyle = "#4af"; ctx.fillRect(current * w, 0, Math.max(w, 2), 3);
    ctx.fillRect(current * w, h - 3, Math.max(w, 2), 3);
    ctx.strokeStyle = "#4af"; ctx.lineWidth = 1.5; ctx.strokeRect(current * w, 0.75, Math.max(w, 2), h - 1.5);
  }
}
