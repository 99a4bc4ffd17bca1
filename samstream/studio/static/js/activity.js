// The history panel: who did what and when on the video (edits and propagations, objects made,
// renamed or deleted, reviews, assignments and work-flow steps), newest first, from GET
// /api/videos/ID/history. The view reads it again whenever the change stream reports a change.

const $ = (id) => document.getElementById(id);
const SHOWN = 200; // rows drawn; older ones are counted

const STEPS = {
  start: "started annotating", submit: "submitted the video for review",
  accept: "accepted the video: done", send_back: "sent the video back",
};
const VERDICTS = { accepted: (o) => `accepted ${o}`, needs_fix: (o) => `marked ${o} as needing a fix`,
  rejected: (o) => `rejected ${o}`, unreviewed: (o) => `reopened the review of ${o}` };

const quoted = (note) => (note ? `: “${note}”` : "");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// One history row in words, without who and when ("clicked on frame 3 (object 1), 2 clicks").
export function describe(h, label) {
  const d = h.detail || {}, objects = h.obj_ids.map(label).join(", ") || "no object";
  switch (h.kind) {
    case "status": return `${STEPS[d.step] || d.step}${quoted(d.note)}`;
    case "assigned": return `assigned annotator ${d.annotator || "nobody"}, reviewer ${d.reviewer || "any"}`;
    case "review": return `${(VERDICTS[d.status] || ((o) => `${d.status} ${o}`))(objects)}${quoted(d.note)}`;
    case "object_created": return `created ${objects}`;
    case "object_updated": return `changed ${objects}: ${Object.entries(d).filter(([k]) => k !== "version")
      .map(([k, v]) => `${k} “${v}”`).join(", ")}`;
    case "object_deleted": return `deleted ${objects}${d.name && d.name !== objects ? ` (“${d.name}”)` : ""}`;
    case "prompt": {
      const what = d.kind === "box" ? "drew a box" : d.kind === "mask" ? "gave a mask" : `clicked (${plural(d.clicks, "click")})`;
      return `${what} on frame ${d.frame}, ${objects}`;
    }
    case "clear": return `cleared frame ${d.frame}, ${objects}`;
    case "propagate": return `propagated ${objects} ${d.direction || ""} from frame ${d.start}${
      d.until === "next_prompt" ? " to the next prompt" : typeof d.until === "number" ? ` to frame ${d.until}` : ""}`;
    case "import": return `imported ${objects}`;
    case "accept": return `accepted an automatic masklet as ${objects}`;
    default: return `${h.kind.replace("_", " ")} ${objects}`;
  }
}

function when(seconds) {
  const t = new Date(seconds * 1000), time = t.toLocaleTimeString([], { hour12: false });
  const today = new Date().toDateString() === t.toDateString();
  return today ? time : `${t.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export class ActivityPanel {
  constructor(view) {
    this.view = view;
    this.rows = []; // in time order, as the server lists them
  }

  set(rows) { this.rows = rows; }

  // The newest work-flow step of a kind ("submit", "send_back"), with its place in the list; null if none.
  lastStep(step) {
    for (let i = this.rows.length - 1; i >= 0; i -= 1) {
      const h = this.rows[i];
      if (h.kind === "status" && h.detail.step === step) return { ...h, index: i };
    }
    return null;
  }

  render() {
    const list = $("activity-rows"), state = this.view.state;
    if (!state) return;
    const label = (id) => state.label(id);
    list.replaceChildren();
    for (const h of this.rows.slice(-SHOWN).reverse()) {
      const li = document.createElement("li");
      li.dataset.kind = h.kind;
      if (h.detail?.state === "undone" || h.detail?.state === "dropped") { li.className = "undone"; li.title = "undone"; }
      const time = document.createElement("time"), who = document.createElement("b");
      time.textContent = when(h.created);
      time.dateTime = new Date(h.created * 1000).toISOString();
      who.textContent = h.person || "you";
      li.append(time, " ", who, " ", describe(h, label));
      list.appendChild(li);
    }
    const older = this.rows.length - SHOWN;
    $("activity-count").textContent = this.rows.length
      ? `${plural(this.rows.length, "change")}${older > 0 ? `, the latest ${SHOWN} shown` : ""}` : "nothing yet";
  }
}
