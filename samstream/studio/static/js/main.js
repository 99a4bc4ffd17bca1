// The studio page: two views (library, annotation) chosen by the address's hash, the page's
// messages (ui.js), the help overlay and the keyboard shortcuts.
import { AnnotationView } from "./annotate.js";
import { LibraryView } from "./library.js";
import { createUi } from "./ui.js";

const $ = (id) => document.getElementById(id);

const ui = createUi();
const library = new LibraryView(ui);
const annotation = new AnnotationView(ui);

async function route() {
  const m = location.hash.match(/^#\/video\/(\d+)/);
  $("library").hidden = !!m;
  $("annotate").hidden = !m;
  if (m) {
    try { await annotation.open(Number(m[1])); }
    catch (e) { ui.showError(`Could not open the video: ${e.message}`); }
  } else {
    annotation.close();
    $("video-title").textContent = "";
    library.show();
  }
}
window.addEventListener("hashchange", route);

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

route();
window.studio = { annotation, library, ui }; // for the browser tests and the console
