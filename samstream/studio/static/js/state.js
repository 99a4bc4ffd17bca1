// What the page knows of one video: its objects and stored masks (with the prompts in force on each
// prompted frame), kept in step with the server's replies and change events. Rendering code reads
// it; only the methods here change it.
import { decodeRle, rleCounts } from "./rle.js";

export class VideoState {
  constructor(video) {
    this.video = video;
    this.version = video.version;
    this.lastEvent = video.last_event_id || 0;
    this.objects = new Map();   // obj_id -> object row (name, category, version, review, counters)
    this.masks = new Map();     // frame -> Map(obj_id -> {rle, source, empty, prompts, mask?})
    this.hidden = new Set();
    this.selected = null;
    for (const o of video.objects || []) this.objects.set(o.obj_id, o);
    if (this.objects.size) this.selected = [...this.objects.keys()][0];
  }

  // The video's version counts every change to it; each object has its own version, sent with its edits.
  bump(version) { if (typeof version === "number" && version > this.version) this.version = version; }

  objectVersion(objId) { return this.objects.get(objId)?.version ?? null; }

  bumpObject(objId, version) {
    const obj = this.objects.get(objId);
    if (obj && typeof version === "number" && version > (obj.version ?? -1)) obj.version = version;
  }

  // Replace one object's stored masks with the server's rows (after undo, redo, a conflict).
  setObjectMasks(objId, rows) {
    for (const m of this.masks.values()) m.delete(objId);
    for (const r of rows) this.putMask(r.frame, r.obj_id, r.rle, r.source, r.prompts);
  }

  setMasks(rows) {
    this.masks.clear();
    for (const r of rows) this.putMask(r.frame, r.obj_id, r.rle, r.source, r.prompts);
  }

  putMask(frame, objId, rle, source, prompts = null) {
    if (!this.masks.has(frame)) this.masks.set(frame, new Map());
    const counts = typeof rle.counts === "string" ? rleCounts(rle.counts) : rle.counts;
    const empty = counts.length <= 1;  // one run: the whole frame is background (object absent)
    this.masks.get(frame).set(objId, { rle, source, empty, prompts: prompts || null, mask: null });
  }

  // Replace one frame's stored masks with the server's reply to GET masks/{frame}.
  setFrame(frame, { masks, sources, prompts }) {
    this.masks.delete(frame);
    for (const [id, rle] of Object.entries(masks)) this.putMask(frame, Number(id), rle, sources[id], prompts?.[id]);
  }

  mask(frame, objId) {
    const entry = this.masks.get(frame)?.get(objId);
    if (!entry) return null;
    if (!entry.mask) entry.mask = decodeRle(entry.rle);
    return entry;
  }

  // The prompt steps ({points, labels, box, mask}) in force for an object on a frame (none: []).
  promptsOn(frame, objId) {
    const entry = this.masks.get(frame)?.get(objId);
    return entry?.source === "prompt" && entry.prompts ? entry.prompts : [];
  }

  // Whether a prompt on this frame would be a correction: the object has a mask there it was not prompted for.
  isTracked(frame, objId) {
    const entry = this.masks.get(frame)?.get(objId);
    return !!entry && entry.source !== "prompt";
  }

  hasMasks(objId) {
    for (const m of this.masks.values()) if (m.has(objId)) return true;
    return false;
  }

  putObject(obj) { this.objects.set(obj.obj_id, obj); if (this.selected === null) this.selected = obj.obj_id; }

  dropObject(objId) {
    this.objects.delete(objId);
    for (const m of this.masks.values()) m.delete(objId);
    if (this.selected === objId) this.selected = this.objects.size ? [...this.objects.keys()][0] : null;
  }

  // Per frame and object, for the timeline: "prompt", "propagated", "absent" or null (no mask).
  frameMark(frame, objId) {
    const entry = this.masks.get(frame)?.get(objId);
    if (!entry) return null;
    if (entry.source === "prompt") return "prompt";
    return entry.empty ? "absent" : "propagated";
  }

  // How the page names an object in messages: "object 2", or "“person” (object 2)" once renamed.
  label(objId) {
    const name = this.objects.get(objId)?.name;
    return !name || name === `object ${objId}` ? `object ${objId}` : `“${name}” (object ${objId})`;
  }
}
