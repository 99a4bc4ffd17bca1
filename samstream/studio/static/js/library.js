// The library view: the data dir's videos with thumbnails, frame counts, objects and review
// progress; upload by drag and drop or a file chooser, with a progress bar.
import { api, upload, withToken } from "./api.js";

const $ = (id) => document.getElementById(id);

export class LibraryView {
  constructor(ui) {
    this.ui = ui;
    const zone = $("drop-zone");
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      for (const f of e.dataTransfer.files) this.send(f);
    });
    $("file-input").addEventListener("change", (e) => { for (const f of e.target.files) this.send(f); e.target.value = ""; });
  }

  async show() {
    try {
      const { videos } = await api("/api/videos");
      const rows = $("video-rows");
      rows.replaceChildren();
      for (const v of videos) {
        const tr = document.createElement("tr");
        tr.dataset.videoId = v.id;
        const thumb = document.createElement("img");
        thumb.src = withToken(`/api/videos/${v.id}/frames/0?size=128`); thumb.alt = `first frame of ${v.name}`;
        const cells = [thumb, v.name, v.num_frames, `${v.width}×${v.height}`, v.num_objects,
          v.num_objects ? `${v.num_reviewed} / ${v.num_objects} (${v.num_accepted} accepted)` : "—"];
        for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }
        const td = document.createElement("td"), a = document.createElement("a");
        a.href = `#/video/${v.id}${location.search}`; a.textContent = "Open"; a.className = "open-video";
        td.appendChild(a); tr.appendChild(td);
        rows.appendChild(tr);
      }
      $("library-totals").textContent = videos.length ? `${videos.length} videos` : "No videos yet: upload one.";
    } catch (e) { this.ui.showError(`Could not list the videos: ${e.message}`); }
  }

  async send(file) {
    const bar = $("upload-progress"), status = $("upload-status");
    bar.hidden = false; bar.value = 0; status.textContent = `uploading ${file.name}…`;
    try {
      const video = await upload(file, (f) => { bar.value = f; });
      status.textContent = `added ${video.name} (${video.num_frames} frames)`;
      await this.show();
    } catch (e) {
      status.textContent = "";
      this.ui.showError(`Upload of ${file.name} failed: ${e.message}`);
    } finally { bar.hidden = true; }
  }
}
