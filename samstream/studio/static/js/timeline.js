// The strip under the frame: one row per object, one column per frame, in the object's colour:
// a full-height bar where the object was prompted (with a white tick), a half-height bar where it
// was propagated, a thin line where it was judged absent (occluded or gone). The current frame is a
// white line across the rows; a running propagation's span is a band over its objects' rows.
// A press seeks to its frame (and selects the row's object); dragging scrubs. Rows get thinner when
// there are many objects, so the strip never takes more than MAX_HEIGHT pixels from the frame.
const ROW = 12, MIN_ROW = 3, GAP = 2, PAD = 3, MAX_HEIGHT = 160;

export class Timeline {
  constructor(canvas, { onSeek }) {
    this.canvas = canvas;
    this.onSeek = onSeek;   // (frame, objId or null)
    this.count = 1;
    this.rows = [];         // [{objId, colour, selected}] as last drawn
    this.row = ROW;         // their height
    let dragging = false;
    const seek = (e, pick) => {
      const r = canvas.getBoundingClientRect();
      const f = Math.min(Math.max(Math.floor(((e.clientX - r.left) / r.width) * this.count), 0), this.count - 1);
      const row = pick ? this.rows[Math.floor((e.clientY - r.top - PAD) / (this.row + GAP))] : null;
      this.onSeek(f, row ? row.objId : null);
    };
    canvas.addEventListener("mousedown", (e) => { dragging = true; seek(e, true); });
    window.addEventListener("mousemove", (e) => { if (dragging) seek(e, false); });
    window.addEventListener("mouseup", () => { dragging = false; });
  }

  // Where frame f's column starts and row i's top are, in CSS pixels of the canvas.
  frameX(f) { return (f * this.canvas.getBoundingClientRect().width) / this.count; }
  rowY(i) { return PAD + i * (this.row + GAP); }

  // rows: [{objId, colour, selected, mark(frame) -> "prompt"|"propagated"|"absent"|null}];
  // span: null or {objIds, legs: [[first, last], ...]} of the propagation running now.
  draw({ count, current, rows, span }) {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const n = Math.max(rows.length, 1);
    this.row = Math.max(MIN_ROW, Math.min(ROW, Math.floor((MAX_HEIGHT - 2 * PAD) / n) - GAP));
    c.style.height = `${2 * PAD + n * (this.row + GAP) - GAP}px`;
    const r = c.getBoundingClientRect();
    c.width = Math.round(r.width * dpr); c.height = Math.round(r.height * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.count = count;
    this.rows = rows;
    const w = r.width / count, bar = Math.max(w - (w > 3 ? 1 : 0), 1);
    ctx.fillStyle = "#1e1e22"; ctx.fillRect(0, 0, r.width, r.height);
    const h = this.row;
    rows.forEach((row, i) => {
      const y = this.rowY(i);
      ctx.fillStyle = row.selected ? "#3a4150" : "#2a2a2e"; ctx.fillRect(0, y, r.width, h);
      for (let f = 0; f < count; f++) {
        const mark = row.mark(f);
        if (!mark) continue;
        ctx.fillStyle = row.colour;
        if (mark === "prompt") {
          ctx.fillRect(f * w, y, bar, h);
          ctx.fillStyle = "#fff"; ctx.fillRect(f * w, y, bar, Math.ceil(h / 4));
        } else if (mark === "propagated") ctx.fillRect(f * w, y + h / 4, bar, h / 2);
        else { ctx.globalAlpha = 0.7; ctx.fillRect(f * w, y + h / 2 - 1, bar, 2); ctx.globalAlpha = 1; }
      }
    });
    if (span) this._drawSpan(ctx, span, rows, w);
    ctx.fillStyle = "#fff";
    ctx.fillRect(current * w + w / 2 - 1, 0, 2, r.height);
  }

  _drawSpan(ctx, span, rows, w) {
    rows.forEach((row, i) => {
      if (!span.objIds.includes(row.objId)) return;
      const y = this.rowY(i);
      for (const [a, b] of span.legs) {
        const lo = Math.min(a, b), hi = Math.max(a, b);
        ctx.fillStyle = "rgba(74, 163, 255, 0.25)"; ctx.fillRect(lo * w, y - 1, (hi - lo + 1) * w, this.row + 2);
        ctx.strokeStyle = "#4aa3ff"; ctx.lineWidth = 1; ctx.strokeRect(lo * w + 0.5, y - 0.5, (hi - lo + 1) * w - 1, this.row + 1);
      }
    });
  }
}
