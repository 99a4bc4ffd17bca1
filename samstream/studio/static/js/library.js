// The library view: the data dir's videos with thumbnails, frame counts, objects and review
// progress; upload by drag and drop or a file chooser, with a progress bar. With people: each
// video's status, annotator and reviewer (an annotator's list holds their own videos only), and for
// admins the assignment of each video, people, the export of every video and the model.
import { api, upload, withToken } from "./api.js";
import { assignSelect } from "./assign.js";
import { ExportAll } from "./exports.js";
import { ModelPanel } from "./model.js";
import { PeoplePanel } from "./people.js";
import { statusWords } from "./workflow.js";

const $ = (id) => document.getElementById(id);

export class LibraryView {
  constructor(ui, me) {
    this.ui = ui;
    this.me = me;
    const zone = $("drop-zone");
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      for (const f of e.dataTransfer.files) this.send(f);
    });
    $("file-input").addEventListener("change", (e) => { for (const f of e.target.files) this.send(f); e.target.value = ""; });
    this.people = new PeoplePanel(ui, me, () => this.show());
    this.model = new ModelPanel(ui);
    this.exports = new ExportAll(ui);
  }

  async show() {
    const team = !this.me.solo && this.me.may.assign;
    try {
      const [{ videos }, people] = await Promise.all([api("/api/videos"), team ? api("/api/people") : null]);
      if (people) this.people.render(people);
      const rows = $("video-rows");
      rows.replaceChildren(...videos.map((v) => this.row(v, people)));
      $("library-totals").textContent = videos.length ? `${videos.length} videos`
        : this.me.may.upload ? "No videos yet: upload one." : "No videos for you yet: an admin assigns them.";
    } catch (e) { this.ui.showError(`Could not list the videos: ${e.message}`); }
    if (this.me.may.model) this.model.show();
  }

  row(v, people) {
    const tr = document.createElement("tr");
    tr.dataset.videoId = v.id;
    const thumb = document.createElement("img");
    thumb.src = withToken(`/api/videos/${v.id}/frames/0?size=128`); thumb.alt = `first frame of ${v.name}`;
    const cells = [thumb, v.name, v.num_frames, `${v.width}×${v.height}`, v.num_objects,
      v.num_objects ? `${v.num_reviewed} / ${v.num_objects} (${v.num_accepted} accepted)` : "—"];
    if (!this.me.solo) {
      const status = document.createElement("span");
      status.className = "pill status"; status.dataset.status = v.status; status.textContent = statusWords(v.status);
      const pick = (key) => (name, select) => this.assign(v, key, name, select);
      cells.push(status, ...["annotator", "reviewer"].map((key) => (people ? assignSelect(v, key, people, pick(key))
        : v[key] || (key === "annotator" ? "nobody yet" : "any reviewer"))));
    }
    for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }
    const td = document.createElement("td"), a = document.createElement("a");
    a.href = `#/video/${v.id}${location.search}`; a.textContent = "Open"; a.className = "open-video";
    td.appendChild(a); tr.appendChild(td);
    return tr;
  }

  // An admin's choice of who annotates (or verifies) a video; a refusal is shown and the choice undone.
  async assign(video, key, name, select) {
    try {
      await api(`/api/videos/${video.id}/assign`, { method: "POST", body: { [key]: name } });
      await this.show();
    } catch (e) {
      select.value = video[key] || "";
      this.ui.showError(`Could not assign ${video.name}: ${e.message}`);
    }
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
