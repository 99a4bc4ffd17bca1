// The page's messages, all drawn over the page (never in its flow, so nothing moves): the error
// banner, short notices over the frame, an offer with buttons that waits for an answer, and the
// connection indicator.
const $ = (id) => document.getElementById(id);
const ERROR_MS = 10000, NOTICE_MS = 7000;

export function createUi() {
  const timers = {};
  const flash = (id, message, ms) => {
    const el = $(id);
    el.querySelector(".text").textContent = message;
    el.hidden = false;
    clearTimeout(timers[id]);
    timers[id] = setTimeout(() => { el.hidden = true; }, ms);
  };
  for (const id of ["error", "notice"]) $(id).addEventListener("click", () => { $(id).hidden = true; });
  return {
    showError(message) { flash("error", message, ERROR_MS); },
    notify(message) { flash("notice", message, NOTICE_MS); },
    // A question with buttons ([{label, run}]); it stays until one is pressed or another offer replaces it.
    offer(message, choices) {
      const el = $("offer"), buttons = el.querySelector(".choices");
      el.querySelector(".text").textContent = message;
      buttons.replaceChildren();
      for (const { label, run, className } of choices) {
        const b = document.createElement("button");
        b.textContent = label;
        if (className) b.className = className;
        b.addEventListener("click", () => { el.hidden = true; run(); });
        buttons.appendChild(b);
      }
      el.hidden = false;
    },
    withdrawOffer() { $("offer").hidden = true; },
    setConnection(ok) {
      const el = $("connection");
      el.textContent = ok ? "connected" : "connection lost — reconnecting…";
      el.className = `pill ${ok ? "ok" : "lost"}`;
    },
  };
}
