// HTTP and event-stream access to the studio server; every failure becomes an Error with the
// server's own words (its JSON {"error": ...}) so the page can show it.
const token = new URLSearchParams(location.search).get("token");

export function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

// The reply's JSON rides along: a 409 names the object (obj_id) and its current version.
export class ApiError extends Error {
  constructor(message, status, data = {}) { super(message); this.status = status; this.data = data; }
}

// An id for X-Request-Id: the server's `busy` events for this request carry it. (crypto.randomUUID
// exists only in secure contexts, which a page served off loopback over http is not.)
let requests = 0;
export function requestId() {
  requests += 1;
  return `${Date.now().toString(36)}-${requests}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function api(path, { method = "GET", body, raw, request } = {}) {
  const init = { method, headers: {} };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (request) init.headers["X-Request-Id"] = request;
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  let reply;
  try { reply = await fetch(path, init); }
  catch (e) { throw new ApiError(`the server cannot be reached (${e.message})`, 0); }
  const text = await reply.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text.slice(0, 200) }; }
  if (!reply.ok) throw new ApiError(data.error || `${method} ${path} failed with HTTP ${reply.status}`, reply.status, data);
  return data;
}

// Upload a file as the request body, reporting progress (fetch cannot report upload progress).
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", withToken(`/api/videos?name=${encodeURIComponent(file.name)}`));
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { data = { error: xhr.responseText.slice(0, 200) }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(data.error || `upload failed with HTTP ${xhr.status}`, xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError("the upload was interrupted (connection lost)", 0));
    xhr.send(file);
  });
}

// Every kind of event a video's stream sends: an EventSource hears only the kinds it listens for.
// The same list as the server's samstream/studio/events.py EVENT_KINDS (a test compares them).
export const EVENT_KINDS = ["prompt", "clear", "undo", "redo", "frame", "propagation_started", "propagation_done",
  "propagation_cancelled", "propagation_failed", "object_created", "object_updated", "object_deleted",
  "review", "imported", "auto_started", "auto_frame", "auto_done", "auto_cancelled", "auto_failed",
  "masklet_accepted", "masklet_dismissed", "busy", "export_progress", "workflow", "resync", "video_updated"];

// A video's change stream. The browser's EventSource reconnects by itself and sends Last-Event-ID;
// `onReconnect` lets the page reload its state in case the server's backlog no longer covers the gap.
export function openEvents(videoId, since, handlers) {
  const source = new EventSource(withToken(`/api/videos/${videoId}/events?since=${since}`));
  let lost = false;
  source.onerror = () => { if (!lost) { lost = true; handlers.onLost?.(); } };
  source.onopen = () => { if (lost) { lost = false; handlers.onReconnect?.(); } };
  for (const kind of EVENT_KINDS) {
    source.addEventListener(kind, (e) => handlers.onEvent(kind, JSON.parse(e.data), Number(e.lastEventId)));
  }
  return source;
}
