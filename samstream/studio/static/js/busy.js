// The busy indicator: a request that waits more than DELAY ms shows what it waits for. The page
// names the request ("click on frame 5"); the server's `busy` events for its X-Request-Id say what
// the wait is for ("encoding frame 5", "waiting: propagating video 2 (…)", jobs ahead). The
// indicator goes when the reply arrives.
import { requestId } from "./api.js";

const DELAY = 150;

export class BusyIndicator {
  constructor(el) {
    this.el = el;
    this.waits = new Map(); // request id -> {label, doing, position, shown}
  }

  // Await fn(id) with `id` sent as X-Request-Id; shown as busy if it takes longer than DELAY.
  async around(label, fn) {
    const id = requestId();
    const wait = { label, doing: null, position: null, shown: false };
    this.waits.set(id, wait);
    const timer = setTimeout(() => { wait.shown = true; this.render(); }, DELAY);
    try { return await fn(id); }
    finally { clearTimeout(timer); this.waits.delete(id); this.render(); }
  }

  // A `busy` event; the ones for other pages' requests are not ours to show.
  onBusy(d) {
    const wait = this.waits.get(d.request);
    if (!wait) return;
    wait.doing = d.doing;
    wait.position = d.position ?? null;
    this.render();
  }

  render() {
    const wait = [...this.waits.values()].find((w) => w.shown);
    this.el.hidden = !wait;
    if (!wait) return;
    const ahead = wait.position ? ` — ${wait.position} job${wait.position > 1 ? "s" : ""} ahead` : "";
    const what = this.el.querySelector(".what"), why = this.el.querySelector(".why");
    what.textContent = wait.label;
    why.textContent = wait.doing ? `${wait.doing}${ahead}` : "waiting for the server…";
  }
}
