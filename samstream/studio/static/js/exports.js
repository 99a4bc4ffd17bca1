// Export of the video's masklets (SA-V JSON, DAVIS PNGs, COCO RLE JSON, overlay MP4): progress
// while the server writes (its export_progress events), then download links — a folder of PNGs
// comes as one zip. Links of an earlier export go when a new one starts, so a failed export never
// leaves a stale link; its message says what went wrong.
import { withToken } from "./api.js";

const $ = (id) => document.getElementById(id);
const NAMES = { sav: "SA-V JSON", davis: "DAVIS PNGs", coco: "COCO RLE JSON", mp4: "overlay MP4" };

export class Exports {
  constructor(view) {
    this.view = view;
    this.running = null; // the format being exported
    $("export").addEventListener("click", () => this.run());
  }

  handlers() {
    return {
      export_progress: (d) => {
        if (d.format !== this.running) return; // another page's export
        $("export-progress").hidden = false;
        $("export-progress").value = d.total ? d.done / d.total : 0;
        $("export-status").textContent = `writing ${NAMES[d.format] || d.format}: ${d.done} / ${d.total}`;
      },
    };
  }

  reset() { $("export-links").replaceChildren(); $("export-status").textContent = ""; $("export-progress").hidden = true; }

  async run() {
    const format = $("export-format").value, name = NAMES[format] || format;
    this.reset();
    this.running = format;
    $("export").disabled = true;
    $("export-status").textContent = `exporting ${name}…`;
    try {
      const failed = (e) => {
        $("export-status").textContent = `${name} export failed: ${e.message}`;
        this.view.ui.showError(`Export failed: ${e.message}`);
      };
      const reply = await this.view.send("/export", { format },
        { label: `exporting ${name} (progress in the Export panel)`, onError: failed });
      if (reply) {
        $("export-status").textContent = `${name}: ${reply.files.length} files written`;
        this.links(reply);
      }
    } finally {
      this.running = null;
      $("export").disabled = false;
      $("export-progress").hidden = true;
    }
  }

  links(reply) {
    const list = $("export-links");
    reply.urls.forEach((url, i) => {
      const path = reply.downloads[i], file = path.split("/").pop();
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = withToken(url); a.download = file; a.className = "export-link";
      a.textContent = path.endsWith(".zip") ? `${path} (the PNG folder as one zip)` : path;
      li.appendChild(a);
      list.appendChild(li);
    });
  }
}
