// The studio page: two views (library, annotation) chosen by the address's hash, the page's
// messages (ui.js), the help overlay and the keyboard shortcuts. Who uses the page (GET /api/me)
// decides what it shows: the controls the server's role table lets them use (access.js).
import { applyMay, whoLabel } from "./access.js";
import { api } from "./api.js";
import { AnnotationView } from "./annotate.js";
import { LibraryView } from "./library.js";
import { NextButton } from "./next.js";
import { createUi } from "./ui.js";

const $ = (id) => document.getElementById(id);

const ui = createUi();
// Who uses the page: filled in by start() before the first view is shown (the views keep this object).
const me = { name: null, role: null, solo: true, may: {} };
const library = new LibraryView(ui, me);
const annotation = new AnnotationView(ui, me);

async function route() {
  const m = location.hash.match(/^#\/video\/(\d+)(?:\/object\/(\d+))?/);
  $("library").hidden = !!m;
  $("annotate").hidden = !m;
  if (m) {
    try { await annotation.open(Number(m[1]), m[2] ? Number(m[2]) : null); }
    catch (e) { ui.showError(`Could not open the video: ${e.message}`); }
  } else {
    annotation.close();
    $("video-title").textContent = "";
    library.show();
  }
}
window.addEventListener("hashchange", route);

// Next opens a video (or a masklet of one); the same address again opens it again.
function openNext(videoId, objId, masklet) {
  annotation.workflow.verifying = masklet;
  const hash = `#/video/${videoId}${objId === null ? "" : `/object/${objId}`}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

const help = $("help");
$("help-button").addEventListener("click", () => { help.hidden = false; });
$("help-close").addEventListener("click", () => { help.hidden = true; });
document.addEventListener("keydown", (e) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) && e.target.type !== "range";
  if (typing) return;
  if (e.key === "?") { help.hidden = !help.hidden; e.preventDefault(); return; }
  if (e.key === "Escape" && !help.hidden) { help.hidden = true; return; }
  if (!$("annotate").hidden && annotation.key(e)) e.preventDefault();
});

async function start() {
  try { Object.assign(me, await api("/api/me")); }
  catch (e) { ui.showError(`Could not tell who you are: ${e.message}`); }
  $("who").textContent = whoLabel(me);
  applyMay(document.querySelector("header"), me.may, me.solo);
  applyMay($("library"), me.may, me.solo);
  window.studio.next = new NextButton(ui, me, openNext);
  await route();
}

window.studio = { annotation, library, ui, me }; // for the browser tests and the console
start();
