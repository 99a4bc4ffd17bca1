// The frame on a canvas with the masks drawn over it (fills, then every outline on top, so two
// overlapping objects both stay visible), the selected object's prompts on this frame, zoom (wheel)
// and pan (middle button or Alt-drag), and the user's clicks and box drags reported in video pixels.
import { rgbOf } from "./colours.js";

const DRAG_PIXELS = 6; // a press that moves less than this (screen pixels) is a click, not a box

export class FrameCanvas {
  constructor(canvas, { onClick, onBox }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onClick = onClick;
    this.onBox = onBox;
    this.image = null;          // the current frame (HTMLImageElement)
    this.layers = [];           // [{mask: Uint8Array, colour: "#rrggbb"}]
    this.proposals = [];        // [{mask, colour}] drawn as outlines only
    this.prompts = { steps: [], colour: "#ffffff" }; // the selected object's prompt steps on this frame
    this.opacity = 0.5;
    this.outlines = true;
    this.zoom = 1; this.panX = 0; this.panY = 0;
    this.width = 1; this.height = 1;
    this.overlay = document.createElement("canvas");
    this._press = null;
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("mousedown", (e) => this._down(e));
    window.addEventListener("mousemove", (e) => this._move(e));
    window.addEventListener("mouseup", (e) => this._up(e));
    canvas.addEventListener("wheel", (e) => this._wheel(e), { passive: false });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setSize(width, height) {
    this.width = width; this.height = height;
    this.overlay.width = width; this.overlay.height = height;
  }

  resetView() { this.zoom = 1; this.panX = 0; this.panY = 0; this.draw(); }

  // Scale that fits the video in the canvas at zoom 1.
  _fit() {
    const r = this.canvas.getBoundingClientRect();
    return Math.min(r.width / this.width, r.height / this.height);
  }

  _transform() {
    const r = this.canvas.getBoundingClientRect();
    const s = this._fit() * this.zoom;
    const ox = (r.width - this.width * s) / 2 + this.panX;
    const oy = (r.height - this.height * s) / 2 + this.panY;
    return { s, ox, oy, r };
  }

  // Client (screen) coordinates -> video pixel coordinates.
  toVideo(clientX, clientY) {
    const { s, ox, oy, r } = this._transform();
    return [(clientX - r.left - ox) / s, (clientY - r.top - oy) / s];
  }

  // Video pixel (x, y) -> client coordinates of its centre (for tools and tests).
  toClient(x, y) {
    const { s, ox, oy, r } = this._transform();
    return [r.left + ox + (x + 0.5) * s, r.top + oy + (y + 0.5) * s];
  }

  // The RGBA value the canvas shows at video pixel (x, y).
  pixelAt(x, y) {
    const [cx, cy] = this.toClient(x, y);
    const r = this.canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    return [...this.ctx.getImageData(Math.floor((cx - r.left) * dpr), Math.floor((cy - r.top) * dpr), 1, 1).data];
  }

  _paintMasks() {
    const octx = this.overlay.getContext("2d");
    const img = octx.createImageData(this.width, this.height);
    const alpha = Math.round(255 * this.opacity);
    for (const layer of this.layers) this._fill(img.data, layer.mask, rgbOf(layer.colour), alpha);
    const outlined = this.outlines ? this.layers : [];
    for (const layer of [...outlined, ...this.proposals]) this._outline(img.data, layer.mask, rgbOf(layer.colour));
    octx.putImageData(img, 0, 0);
  }

  _fill(data, m, [r, g, b], alpha) {
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      const o = 4 * i;
      data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = alpha;
    }
  }

  // The mask's boundary pixels (a mask pixel with a background 4-neighbour, or on the frame's edge).
  _outline(data, m, [r, g, b]) {
    const w = this.width, h = this.height;
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      const x = i % w, y = (i - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !m[i - 1] || !m[i + 1] || !m[i - w] || !m[i + w]) {
        const o = 4 * i;
        data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = 255;
      }
    }
  }

  // Boxes in the object's colour (white halo), clicks as discs: green "+" (object), red "−" (background).
  _drawPrompts(s, ox, oy) {
    const ctx = this.ctx;
    for (const step of this.prompts.steps) {
      if (step.box) {
        const [x0, y0, x1, y1] = step.box;
        ctx.lineWidth = 4; ctx.strokeStyle = "#fff"; // a white halo keeps a dark colour visible on any frame
        ctx.strokeRect(ox + x0 * s, oy + y0 * s, (x1 - x0) * s, (y1 - y0) * s);
        ctx.lineWidth = 2; ctx.strokeStyle = this.prompts.colour;
        ctx.strokeRect(ox + x0 * s, oy + y0 * s, (x1 - x0) * s, (y1 - y0) * s);
      }
      (step.points || []).forEach(([x, y], i) => {
        const positive = step.labels?.[i] !== 0;
        const cx = ox + x * s, cy = oy + y * s;
        ctx.beginPath(); ctx.arc(cx, cy, 7, 0, 2 * Math.PI);
        ctx.fillStyle = positive ? "#1fbf4a" : "#e23c3c"; ctx.fill();
        ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff"; ctx.stroke();
        ctx.beginPath();
        ctx.moveTo(cx - 3.5, cy); ctx.lineTo(cx + 3.5, cy);
        if (positive) { ctx.moveTo(cx, cy - 3.5); ctx.lineTo(cx, cy + 3.5); }
        ctx.stroke();
      });
    }
  }

  draw(repaintMasks = true) {
    const dpr = window.devicePixelRatio || 1;
    const rect = this.canvas.getBoundingClientRect();
    if (this.canvas.width !== Math.round(rect.width * dpr) || this.canvas.height !== Math.round(rect.height * dpr)) {
      this.canvas.width = Math.round(rect.width * dpr); this.canvas.height = Math.round(rect.height * dpr);
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#111"; ctx.fillRect(0, 0, rect.width, rect.height);
    if (!this.image) return;
    if (repaintMasks) this._paintMasks();
    const { s, ox, oy } = this._transform();
    ctx.imageSmoothingEnabled = this.zoom < 2;
    ctx.drawImage(this.image, ox, oy, this.width * s, this.height * s);
    ctx.imageSmoothingEnabled = false; // mask pixels stay crisp
    ctx.drawImage(this.overlay, ox, oy, this.width * s, this.height * s);
    this._drawPrompts(s, ox, oy);
    if (this._press && this._press.box) {
      const [x0, y0] = this._press.start, [x1, y1] = this._press.now;
      ctx.strokeStyle = "#fff"; ctx.setLineDash([5, 4]); ctx.lineWidth = 1.5;
      ctx.strokeRect(ox + Math.min(x0, x1) * s, oy + Math.min(y0, y1) * s, Math.abs(x1 - x0) * s, Math.abs(y1 - y0) * s);
      ctx.setLineDash([]);
    }
  }

  _down(e) {
    if (e.button === 1 || (e.button === 0 && e.altKey)) {
      this._press = { pan: true, x: e.clientX, y: e.clientY, panX: this.panX, panY: this.panY };
      e.preventDefault();
      return;
    }
    this._press = { button: e.button, shift: e.shiftKey, x: e.clientX, y: e.clientY,
      start: this.toVideo(e.clientX, e.clientY), now: this.toVideo(e.clientX, e.clientY), box: false };
  }

  _move(e) {
    const p = this._press;
    if (!p) return;
    if (p.pan) {
      this.panX = p.panX + e.clientX - p.x; this.panY = p.panY + e.clientY - p.y;
      this.draw(false);
      return;
    }
    p.now = this.toVideo(e.clientX, e.clientY);
    if (p.button === 0 && Math.hypot(e.clientX - p.x, e.clientY - p.y) >= DRAG_PIXELS) p.box = true;
    if (p.box) this.draw(false);
  }

  _up(e) {
    const p = this._press;
    this._press = null;
    if (!p || p.pan) return;
    const clamp = ([x, y]) => [Math.min(Math.max(x, 0), this.width - 1), Math.min(Math.max(y, 0), this.height - 1)];
    if (p.box) {
      const [x0, y0] = clamp(p.start), [x1, y1] = clamp(p.now);
      this.draw(false);
      this.onBox([Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]);
      return;
    }
    const [x, y] = p.start;
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return; // outside the frame
    this.onClick([x, y], p.button === 2 || p.shift);
  }

  _wheel(e) {
    e.preventDefault();
    const [vx, vy] = this.toVideo(e.clientX, e.clientY);
    const factor = e.deltaY < 0 ? 1.2 : 1 / 1.2;
    this.zoom = Math.min(Math.max(this.zoom * factor, 0.5), 16);
    // keep the video pixel under the pointer where it was
    const { s, ox, oy, r } = this._transform();
    this.panX += e.clientX - r.left - (ox + vx * s);
    this.panY += e.clientY - r.top - (oy + vy * s);
    this.draw(false);
  }
}
