// Undo and redo: the server steps back (or forward) through this person's actions, propagation runs
// included, restoring exactly the masks each action replaced. The page then reads again the masks of
// the objects the action touched, and says what was undone ("undid propagation of object 2, 14 frames").

const $ = (id) => document.getElementById(id);

// "propagation of object 2, 14 frames", "click on frame 5 (object 1)", from an undo/redo reply.
export function describe(reply, state) {
  const ids = Object.keys(reply.frames || {}).map(Number);
  const frames = Object.values(reply.frames || {}).reduce((n, f) => n + f.length, 0);
  const who = ids.length === 1 ? state.label(ids[0]) : `objects ${ids.join(", ")}`;
  const count = `${frames} frame${frames === 1 ? "" : "s"}`;
  switch (reply.kind) {
    case "propagate": return `propagation of ${who}, ${count}`;
    case "prompt": return `prompt on frame ${reply.frame} (${who})`;
    case "clear": return `clearing of frame ${reply.frame} (${who})`;
    case "import": return `import of ${who}, ${count}`;
    case "accept": return `accepted masklet ${who}, ${count}`;
    default: return `${reply.kind} of ${who}, ${count}`;
  }
}

export class History {
  constructor(view) {
    this.view = view;
    // The server announces an undo to every page, sometimes before its reply reaches the page that
    // asked: events that may be this page's own wait until its reply, then only others' are applied.
    this.inflight = 0;
    this.held = [];
    this.mine = new Set(); // video versions of own replies whose event has not come yet
    $("undo").addEventListener("click", () => this.step(true));
    $("redo").addEventListener("click", () => this.step(false));
  }

  handlers() {
    return { undo: (d) => this.elsewhere(d, "undid"), redo: (d) => this.elsewhere(d, "redid") };
  }

  // An undo or redo event: another page's (or this page's own, when its reply came first).
  elsewhere(d, verb) {
    if (this.mine.delete(d.video_version)) return;
    if (this.inflight) { this.held.push([d, verb]); return; }
    this.view.refreshObjects(Object.keys(d.frames || {}).map(Number));
    $("history-status").textContent = `another page ${verb} ${describe(d, this.view.state)}`;
  }

  async step(undo) {
    const view = this.view, verb = undo ? "undo" : "redo";
    this.inflight += 1;
    let reply;
    try { reply = await view.send(`/${verb}`, {}, { label: verb }); }
    finally { this.inflight -= 1; }
    if (reply?.changed) {
      const before = this.held.length;
      this.held = this.held.filter(([d]) => d.video_version !== reply.video_version);
      if (this.held.length === before) this.mine.add(reply.video_version);
    }
    if (!this.inflight) for (const [d, v] of this.held.splice(0)) this.elsewhere(d, v);
    if (!reply) return;
    if (!reply.changed) { $("history-status").textContent = `nothing to ${verb}`; return; }
    const said = `${undo ? "undid" : "redid"} ${describe(reply, view.state)}`;
    $("history-status").textContent = said;
    view.ui.notify(`${said[0].toUpperCase()}${said.slice(1)}.`); // also where the annotator looks, replacing older news
    await view.refreshObjects(Object.keys(reply.frames).map(Number));
    if (reply.frame !== undefined && reply.frame !== null && reply.frame !== view.frame) view.show(reply.frame);
  }
}
