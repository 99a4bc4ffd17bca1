// What the person using the page may do, as the server tells it (GET /api/me's `may` for the
// controls outside a video, GET /api/videos/ID/permissions for one video): the page hides the
// rest. The rules themselves live in one place, the server's role table; nothing here restates
// them. Elements carry data-may="control" (shown only when allowed) and data-team (shown only in a
// studio with people). A request the page still makes and the server refuses shows the server's words.
import { api } from "./api.js";

// Show or hide every [data-may] and [data-team] element under `root`.
export function applyMay(root, may, solo) {
  for (const el of root.querySelectorAll("[data-may], [data-team]")) {
    const control = el.dataset.may;
    el.hidden = (el.dataset.team !== undefined && solo) || (control !== undefined && !may[control]);
  }
}

// "ann · annotator" (or the one person of a studio without people).
export function whoLabel(me) { return me.solo ? "one-person studio" : `${me.name} · ${me.role}`; }

// One video's permissions, kept as the server last said them.
export class VideoAccess {
  constructor(me) {
    this.me = me;
    this.perms = null; // {status, annotator, reviewer, may, refused, masklets}
  }

  load(videoId) { return api(`/api/videos/${videoId}/permissions`); }

  set(perms) { this.perms = perms; }

  may(control) { return !!this.perms?.may[control]; }

  // Why a control is refused ({status, error}), or null.
  refused(control) { return this.perms?.refused[control] || null; }

  // null when the person may review the masklet now; else the server's refusal. A masklet made since
  // the server last said: as the video allows (the next reading, moments later, says for it).
  masklet(objId) {
    const masklets = this.perms?.masklets || {};
    if (Object.hasOwn(masklets, String(objId))) return masklets[String(objId)];
    return this.refused("review");
  }

  apply(root) { if (this.perms) applyMay(root, this.perms.may, this.me.solo); }
}
