// The effort dashboard: the team's table per person and per video (GET /api/effort?by=...), drawn as
// plots (per person over time, per video) and as tables. Standalone: the annotation page's modules
// are not loaded here.
import { barChart, lineChart, stackedBars } from "./plots.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");

async function get(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const reply = await fetch(path, { headers });
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(data.error || `GET ${path} failed with HTTP ${reply.status}`);
  return data;
}

const COLUMNS = [
  ["masklets", "masklets"], ["clicks", "clicks"], ["clicked_frames", "clicked frames"],
  ["prompted_frames", "prompted frames"], ["edited_frames", "edited frames"], ["annotated_frames", "annotated frames"],
  ["active_seconds", "active s"], ["seconds_per_frame", "s / frame"], ["clicks_per_clicked_frame", "clicks / clicked frame"],
  ["edited_share", "edited share"], ["accepted", "accepted"], ["sent_back", "sent back"], ["rejected", "rejected"],
  ["reviews", "reviews made"],
];

const RATIOS = new Set(["active_seconds", "seconds_per_frame", "clicks_per_clicked_frame"]);

function cell(value, key) {
  if (value === null || value === undefined) return "—";
  if (key === "edited_share") return `${(100 * value).toFixed(1)} %`;
  return RATIOS.has(key) ? value.toFixed(2) : String(value);
}

function fillTable(table, first, rows, total, label) {
  const head = document.createElement("tr");
  for (const name of [first, ...COLUMNS.map((c) => c[1])]) {
    const th = document.createElement("th"); th.textContent = name; head.appendChild(th);
  }
  const body = [head];
  for (const row of [...rows, { ...total, total: true }]) {
    const tr = document.createElement("tr");
    if (row.total) tr.className = "total";
    for (const text of [row.total ? "all" : label(row), ...COLUMNS.map(([k]) => cell(row[k], k))]) {
      const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
    }
    body.push(tr);
  }
  table.replaceChildren(...body);
}

const personName = (r) => r.person ?? "(studio without people)";
const videoName = (r) => `${r.video_id} · ${r.video}`;

function plotDays(days) {
  const labels = [...new Set(days.map((d) => d.day))].sort();
  const people = [...new Set(days.map((d) => d.person ?? "(studio without people)"))].sort();
  const series = people.map((name) => ({
    name,
    values: labels.map((day) => {
      const d = days.find((x) => x.day === day && (x.person ?? "(studio without people)") === name);
      return d ? d.active_seconds / 60 : null;
    }),
  }));
  lineChart($("plot-days"), { title: "active minutes per day, per person", labels, series, unit: "minutes" });
}

const PAPER = [{ value: 4.5, label: "SAM 2: 4.5" }, { value: 7.4, label: "SAM 2 Mask: 7.4" },
  { value: 37.8, label: "SAM: 37.8" }];

async function show() {
  const [me, byPerson, byVideo] = await Promise.all([get("/api/me"), get("/api/effort?by=person"),
    get("/api/effort?by=video")]);
  $("who").textContent = me.solo ? "one-person studio" : `${me.name} · ${me.role}`;
  plotDays(byPerson.days);
  const annotators = byPerson.rows.filter((r) => r.seconds_per_frame !== null); // reviewers annotate no frames
  barChart($("plot-person-spf"), { title: "seconds per annotated frame, per person", unit: "seconds per frame",
    rows: annotators.map((r) => ({ label: personName(r), value: r.seconds_per_frame })), references: PAPER });
  barChart($("plot-video-spf"), { title: "seconds per annotated frame, per video", unit: "seconds per frame",
    rows: byVideo.rows.map((r) => ({ label: videoName(r), value: r.seconds_per_frame })), references: PAPER });
  stackedBars($("plot-video-review"), { title: "masklets per video: accepted, sent back, rejected",
    rows: byVideo.rows.map((r) => ({ label: videoName(r), parts: [r.accepted, r.sent_back, r.rejected] })),
    parts: [{ name: "accepted", colour: "#3fa34d" }, { name: "sent back", colour: "#f3c300" },
      { name: "rejected", colour: "#be0032" }] });
  fillTable($("table-person"), "person", byPerson.rows, byPerson.total, personName);
  fillTable($("table-video"), "video", byVideo.rows, byVideo.total, videoName);
  document.body.dataset.ready = "true"; // for the browser tests
}

show().catch((e) => {
  $("error").textContent = `Could not load the effort figures: ${e.message}`;
  $("error").hidden = false;
});
