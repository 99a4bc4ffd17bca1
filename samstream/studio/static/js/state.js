// What the page knows of one video: its objects and stored masks, kept in step with the server's
// replies and change events. Rendering code reads it; only the methods here change it.
import { decodeRle, rleCounts } from "./rle.js";

export class VideoState {
  constructor(video) {
    this.video = video;
    this.version = video.version;
    this.lastEvent = video.last_event_id || 0;
    this.objects = new Map();   // obj_id -> object row (name, category, review, counters)
    this.masks = new Map();     // frame -> Map(obj_id -> {rle, source, empty, mask?})
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

  // Replace one object's stored masks with the server's (after undo and redo of a run).
  setObjectMasks(objId, rows) {
    for (const m of this.masks.values()) m.delete(objId);
    for (const r of rows) this.putMask(r.frame, r.obj_id, r.rle, r.source);
  }

  setMasks(rows) {
    this.masks.clear();
    for (const r of rows) this.putMask(r.frame, r.obj_id, r.rle, r.source);
  }

  putMask(frame, objId, rle, source) {
    if (!this.masks.has(frame)) this.masks.set(frame, new Map());
    const counts = typeof rle.counts === "string" ? rleCounts(rle.counts) : rle.counts;
    const empty = counts.length <= 1;  // one run: the whole frame is background (object absent)
    this.masks.get(frame).set(objId, { rle, source, empty, mask: null });
  }

  dropMask(frame, objId) { this.masks.get(frame)?.delete(objId); }

  // Replace one frame's stored masks with the server's (after clear, undo and redo).
  setFrame(frame, masks, sources) {
    this.masks.delete(frame);
    for (const [id, rle] of Object.entries(masks)) this.putMask(frame, Number(id), rle, sources?.[id] || "prompt");
  }

  mask(frame, objId) {
    const entry = this.masks.get(frame)?.get(objId);
    if (!entry) return null;
    if (!entry.mask) entry.mask = decodeRle(entry.rle);
    return entry;
  }

  putObject(obj) { this.objects.set(obj.obj_id, obj); if (this.selected === null) this.selected = obj.obj_id; }

  dropObject(objId) {
    this.objects.delete(objId);
    for (const m of this.masks.values()) m.delete(objId);
    if (this.selected === objId) this.selected = this.objects.size ? [...this.objects.keys()][0] : null;
  }

  // Per frame, for the timeline: "prompt", "propagated", "absent" or null, for one object (or any).
  frameMark(frame, objId) {
    const m = this.masks.get(frame);
    if (!m) return null;
    const entries = objId === null ? [...m.values()] : [m.get(objId)].filter(Boolean);
    if (!entries.length) return null;
    if (entries.some((e) => e.source === "prompt")) return "prompt";
    if (entries.every((e) => e.empty)) return "absent";
    return "propagated";
  }
}
