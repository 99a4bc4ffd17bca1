// Small SVG plots for the dashboard, drawn by hand (no library): lines over days, horizontal bars
// with optional reference lines, stacked horizontal bars. Each replaces the children of `box`.
const NS = "http://www.w3.org/2000/svg";
const FONT = { "font-size": 11, fill: "#9a9aa0", "font-family": "system-ui, sans-serif" };

export const PALETTE = ["#4aa3ff", "#f3c300", "#e25822", "#8db600", "#be0032", "#a1caf1", "#f99379", "#875692",
  "#008856", "#c2b280"];

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The smallest "round" number (1, 2, 2.5 or 5 times a power of ten) at or above v: the axis's top.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function frame(box, width, height, title) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title });
  svg.appendChild(el("title", {}, title));
  box.replaceChildren(svg);
  return svg;
}

function yAxis(svg, top, x0, x1, y0, y1, unit) {
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4, y = y0 - ((y0 - y1) * i) / 4;
    svg.appendChild(el("line", { x1: x0, x2: x1, y1: y, y2: y, stroke: "#333" }));
    svg.appendChild(el("text", { ...FONT, x: x0 - 6, y: y + 4, "text-anchor": "end" }, fmt(v)));
  }
  svg.appendChild(el("text", { ...FONT, x: x0, y: y1 - 8 }, unit));
}

// series: [{name, values (one per label, null where none)}], labels: the x axis (e.g. days)
export function lineChart(box, { title, labels, series, unit, width = 560, height = 260 }) {
  const svg = frame(box, width, height, title);
  const left = 48, right = width - 110, top = 24, bottom = height - 30;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...all));
  yAxis(svg, max, left, right, bottom, top, unit);
  const n = labels.length;
  const x = (i) => (n === 1 ? (left + right) / 2 : left + ((right - left) * i) / (n - 1));
  const y = (v) => bottom - ((bottom - top) * v) / max;
  const step = Math.max(1, Math.ceil(n / 6));
  labels.forEach((label, i) => {
    if (i % step === 0 || i === n - 1) svg.appendChild(el("text", { ...FONT, x: x(i), y: bottom + 16, "text-anchor": "middle" }, label));
  });
  series.forEach((s, k) => {
    const colour = PALETTE[k % PALETTE.length];
    const points = s.values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter((p) => p);
    if (points.length > 1) {
      svg.appendChild(el("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: colour,
        "stroke-width": 2, class: "series" }));
    }
    for (const [px, py] of points) svg.appendChild(el("circle", { cx: px, cy: py, r: 3.5, fill: colour, class: "point" }));
    svg.appendChild(el("rect", { x: right + 14, y: top + k * 18, width: 10, height: 10, fill: colour }));
    svg.appendChild(el("text", { ...FONT, fill: "#e8e8e8", x: right + 30, y: top + 9 + k * 18 }, s.name));
  });
  return svg;
}

// rows: [{label, value}]; references: [{value, label}] drawn as dashed lines when within the axis
export function barChart(box, { title, rows, unit, references = [], colour = PALETTE[0], width = 560 }) {
  const rowHeight = 22, left = 130, right = width - 60, top = 26;
  const height = top + rows.length * rowHeight + 42;
  const svg = frame(box, width, height, title);
  if (!rows.length) svg.appendChild(el("text", { ...FONT, x: left, y: top + 14 }, "nothing annotated yet"));
  const values = rows.map((r) => r.value).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...values));
  const x = (v) => left + ((right - left) * v) / max;
  svg.appendChild(el("text", { ...FONT, x: left, y: 14 }, unit));
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    svg.appendChild(el("text", { ...FONT, fill: "#e8e8e8", x: left - 8, y: y + 14, "text-anchor": "end" }, r.label));
    if (r.value === null) {
      svg.appendChild(el("text", { ...FONT, x: left + 4, y: y + 14 }, "no frames yet"));
      return;
    }
    svg.appendChild(el("rect", { x: left, y: y + 3, width: Math.max(1, x(r.value) - left), height: rowHeight - 8,
      fill: colour, class: "bar" }));
    svg.appendChild(el("text", { ...FONT, x: x(r.value) + 4, y: y + 14 }, fmt(r.value)));
  });
  const baseline = top + rows.length * rowHeight;
  svg.appendChild(el("line", { x1: left, x2: left, y1: top, y2: baseline, stroke: "#555" }));
  references.filter((ref) => ref.value <= max).forEach((ref, k) => {
    const below = baseline + 14 + 12 * (k % 2); // neighbouring labels on two lines, so that they never overlap
    svg.appendChild(el("line", { x1: x(ref.value), x2: x(ref.value), y1: top - 4, y2: below - 10, stroke: "#ffd400",
      "stroke-dasharray": "4 3" }));
    svg.appendChild(el("text", { ...FONT, fill: "#ffd400", x: x(ref.value), y: below, "text-anchor": "middle" },
      ref.label));
  });
  return svg;
}

// rows: [{label, parts: [numbers]}], parts: [{name, colour}]
export function stackedBars(box, { title, rows, parts, width = 560 }) {
  const rowHeight = 22, left = 130, right = width - 60, top = 26;
  const height = top + rows.length * rowHeight + 12;
  const svg = frame(box, width, height, title);
  const max = niceMax(Math.max(1, ...rows.map((r) => r.parts.reduce((a, b) => a + b, 0))));
  const scale = (v) => ((right - left) * v) / max;
  parts.forEach((p, k) => {
    svg.appendChild(el("rect", { x: left + k * 110, y: 4, width: 10, height: 10, fill: p.colour }));
    svg.appendChild(el("text", { ...FONT, x: left + 14 + k * 110, y: 13 }, p.name));
  });
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    svg.appendChild(el("text", { ...FONT, fill: "#e8e8e8", x: left - 8, y: y + 14, "text-anchor": "end" }, r.label));
    let at = left;
    r.parts.forEach((v, k) => {
      if (!v) return;
      svg.appendChild(el("rect", { x: at, y: y + 3, width: scale(v), height: rowHeight - 8, fill: parts[k].colour, class: "bar" }));
      at += scale(v);
    });
    svg.appendChild(el("text", { ...FONT, x: at + 4, y: y + 14 }, r.parts.join(" / ")));
  });
  return svg;
}
