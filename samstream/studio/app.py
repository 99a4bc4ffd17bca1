"""The studio's HTTP routes (Starlette): parse and check the request, call the store or the worker, format JSON.

Every error a request can cause is a 4xx JSON reply ``{"error": "..."}`` naming what was wrong; an
unexpected failure is a 500 JSON reply without a traceback, and the server keeps serving. Edits are
parsed into typed values (:mod:`samstream.studio.edits`) here, before anything is queued. Edits of an
object carry the object's ``version`` (a stale one is a 409 with the current version); two clients
editing two objects of one video never conflict. Every request carries who makes it (see
:class:`~samstream.studio.http.Gate`), and every route sits behind its rule of the role table
(:data:`samstream.studio.auth.ACCESS`), checked before the handler runs. Routes over whole masklets
(exports, imports, proposals, effort) are in :mod:`samstream.studio.data_routes`, those of people and
the work flow in :mod:`samstream.studio.team_routes`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette  # studio extra: pip install 'samstream[studio]'
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from samstream.errors import InvalidInputError, VideoReadError
from samstream.files import temporary_name
from samstream.studio.auth import Authenticator
from samstream.studio.data_routes import DataRoutes
from samstream.studio.edits import ClearEdit, PromptEdit, PropagateRequest, expected_version
from samstream.studio.http import Gate, api, body, caller, guarded, integer, path_id, text
from samstream.studio.media import TooLargeError, check_kind, render_frame, safe_name
from samstream.studio.service import Settings, Studio, add_video
from samstream.studio.worker import BACKGROUND
from samstream.studio.team_routes import TeamRoutes

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
REQUEST_ID = object()  # stands for the request's id among the arguments of a worker call


def create_app(settings: Settings, model: Any | None = None) -> Starlette:
    """The studio app of ``settings.data_dir``; ``model`` (already loaded) skips loading ``settings.model``."""
    studio = Studio(settings, model)
    routes = Routes(studio)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(studio.close)

    app = Starlette(routes=routes.table(), lifespan=lifespan)
    app.state.studio = studio
    return Gate(app, Authenticator(studio.store, settings.token))  # type: ignore[return-value]


class Routes:
    """The handlers; each parses, calls one thing, and formats."""

    def __init__(self, studio: Studio) -> None:
        self.s = studio
        self.d = DataRoutes(studio)
        self.t = TeamRoutes(studio)

    def table(self) -> list[Any]:
        """Every route, each behind its rule of the role table (a route without one fails here, at start)."""
        v, d, t = "/api/videos/{video_id}", self.d, self.t
        get, post = "GET", "POST"
        routes = [
            (get, "/", self.index), (get, "/dashboard", t.dashboard), (get, "/api/health", self.health),
            (get, "/api/stats", self.stats), (get, "/api/me", t.me), (get, "/api/next", t.next),
            (post, "/api/model", self.switch_model), (get, "/api/videos", self.list_videos),
            (post, "/api/videos", self.upload), (get, "/api/objects", self.all_objects), (get, "/api/effort", d.all_effort),
            (post, "/api/export", d.export_all), (get, "/api/exports/{path:path}", d.download),
            (get, "/api/people", t.people), (post, "/api/people", t.add_person),
            (post, "/api/people/{name}/disable", t.disable_person), (post, "/api/people/{name}/token", t.new_token),
            (get, v, self.get_video), ("PATCH", v, self.update_video), (get, v + "/frames/{frame}", self.frame),
            (post, v + "/focus", self.focus),
            (get, v + "/objects", self.list_objects), (post, v + "/objects", self.create_object),
            ("PATCH", v + "/objects/{obj_id}", self.update_object), ("DELETE", v + "/objects/{obj_id}", self.delete_object),
            (post, v + "/objects/{obj_id}/review", self.review), (get, v + "/objects/{obj_id}/reviews", self.reviews),
            (post, v + "/prompts", self.prompt), (post, v + "/clear", self.clear),
            (post, v + "/undo", self.undo), (post, v + "/redo", self.redo),
            (get, v + "/actions", self.actions), (get, v + "/history", t.history),
            (get, v + "/masks", self.masks), (get, v + "/masks/{frame}", self.frame_masks),
            (post, v + "/propagate", self.propagate), (post, v + "/propagate/cancel", self.cancel),
            (post, v + "/propagate/resume", self.resume), (get, v + "/propagation", self.propagation),
            (get, v + "/events", self.events), (get, v + "/effort", d.video_effort),
            (post, v + "/segment-everything", d.segment_everything),
            (post, v + "/proposals/{proposal_id}/accept", d.accept_proposal),
            (get, v + "/auto-masklets", d.auto_masklets), (post, v + "/auto-masklets", d.start_auto),
            (post, v + "/auto-masklets/cancel", d.cancel_auto),
            (get, v + "/masklet-proposals/{proposal_id}", d.masklet_proposal),
            ("DELETE", v + "/masklet-proposals/{proposal_id}", d.dismiss_masklet),
            (post, v + "/masklet-proposals/{proposal_id}/accept", d.accept_masklet),
            (post, v + "/export", d.export_video), (post, v + "/import", d.import_sav),
            (post, v + "/assign", t.assign), (post, v + "/submit", t.submit), (post, v + "/accept", t.accept),
            (post, v + "/send-back", t.send_back), (get, v + "/permissions", t.permissions),
        ]
        return [guarded(method, path, handler, self.s.store) for method, path, handler in routes] + [
            Mount("/static", StaticFiles(directory=STATIC), name="static")]  # the page's files: any token

    def person(self, request: Request) -> str | None:
        """Who made the request (None: the one person of a studio without people)."""
        return caller(request).name

    async def _interactive(self, request: Request, video_id: int, method: str, *args: Any, label: str) -> Any:
        """Call ``method`` on the video's inference worker; while it waits, the video's event stream says
        what for (``busy`` events carrying the request's ``X-Request-Id``)."""
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:12]
        worker = self.s.pool.for_video(video_id)
        ahead = worker.ahead()
        if ahead:
            doing = worker.doing or "other work"
            self.s.hub.publish(video_id, "busy", {"request": rid, "doing": f"waiting: {doing}", "position": ahead})
        args = tuple(rid if a is REQUEST_ID else a for a in args)
        return await worker.call(method, *args, label=label)

    # ------------------------------------------------------------------ pages, health, model
    async def index(self, request: Request) -> Response:
        """``GET /``: the annotation page (``static/index.html``); it loads everything else through the API."""
        return FileResponse(STATIC / "index.html")

    @api
    async def health(self, request: Request) -> Response:
        """``GET /api/health``: ``{"ok": true, "model", "image_size", "schema", "workers"}``: the model's name, its
        input size in pixels, the store's schema version and the number of inference workers."""
        return JSONResponse({"ok": True, "model": self.s.model_name, "image_size": self.s.image_size,
                             "schema": self.s.store.schema_version, "workers": len(self.s.pool.workers)})

    @api
    async def stats(self, request: Request) -> Response:
        """``GET /api/stats``: model work done so far, counted (tests and benchmarks bound it).

        Reply: ``images_encoded``, ``frames_tracked`` (object-frames), ``prompts_decoded``, ``memories_encoded``,
        ``sessions_built``, ``warm_sessions`` (video ids), ``warm_bytes`` and ``session_budget``, added over the
        workers, and ``workers``: each worker's own figures with its ``index``, ``pid``, ``restarts`` and pinned
        ``videos``.
        """
        return JSONResponse(await self.s.pool.stats())

    @api
    async def switch_model(self, request: Request) -> Response:
        """``POST /api/model`` ``{"model": registry name or checkpoint path}``: every worker loads it and uses it
        from now on (their runs stop first, resumable).

        Reply: ``{"model": name}``. 400: no name, or a model that cannot be loaded (a registry name must be cached:
        nothing is downloaded).
        """
        data = await body(request)
        name = text(data.get("model"), "model")
        if not name:
            raise InvalidInputError("model: give a registry name or a checkpoint path")
        await self.s.pool.switch_model(name, self.s.model_name)  # an unreadable file: a 4xx, no change
        self.s.model_name = name
        return JSONResponse({"model": name})

    # ------------------------------------------------------------------ videos and frames
    @api
    async def list_videos(self, request: Request) -> Response:
        """``GET /api/videos``: ``{"videos": [...]}``, each video's fields with ``num_objects``, ``num_accepted``
        and ``num_reviewed``; an annotator gets only the videos assigned to them."""
        who = caller(request)  # an annotator sees the videos assigned to them
        videos = self.s.store.videos.all(who.name if who.role == "annotator" else None)
        return JSONResponse({"videos": [v.json() for v in videos]})

    @api
    async def upload(self, request: Request) -> Response:
        """``POST /api/videos?name=clip.mp4``: add a video; the request body is the file (streamed to disk).

        ``name`` names it (a video or an image suffix); ``&force=1`` adds a file added before again. Reply 201: the
        new video. Refusals: 400 a bad name or an empty body, 409 the same file was added before (without
        ``force``), 413 over the server's upload limit, 415 not a video or image samstream can read.
        """
        name = safe_name(request.query_params.get("name"))
        check_kind(name)
        limit = self.s.settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLargeError(f"upload: {declared} bytes is over the limit of {limit} bytes")
        uploads = self.s.data_dir / "media"
        uploads.mkdir(exist_ok=True)
        tmp = temporary_name(uploads / f"upload-{uuid.uuid4().hex[:8]}{Path(name).suffix}")
        try:
            size = 0
            with open(tmp, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise TooLargeError(f"upload: more than the limit of {limit} bytes")
                    fh.write(chunk)
            if size == 0:
                raise InvalidInputError("upload: the body is empty; send the file as the request body")
            try:
                force = request.query_params.get("force") in ("1", "true")
                video = await run_in_threadpool(add_video, self.s.store, self.s.data_dir, tmp, name, True, force)
            except VideoReadError as exc:  # its message may name the temporary file, not the user's
                raise VideoReadError(f"upload: {name!r} is not a video or image samstream can read") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse(video.json(), status_code=201)

    @api
    async def get_video(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}``: the video's fields, ``objects`` (each with its version and review),
        ``propagation`` (its latest run, or null) and ``last_event_id``: the events after it are newer than this
        reply (stream from there). 404: no such video."""
        vid = path_id(request, "video_id")
        last_event = self.s.hub.last_id(vid)  # read first: events after it are newer than this reply
        video = self.s.store.videos.get(vid)
        prop = self.s.store.tracks.latest_propagation(vid)
        return JSONResponse({**video.json(), "last_event_id": last_event,
                             "objects": [o.json() for o in self.s.store.videos.objects(vid)],
                             "propagation": None if prop is None else prop.json()})

    @api
    async def update_video(self, request: Request) -> Response:
        """``PATCH /api/videos/{video_id}`` ``{"method": "sam2"|"samurai"|"dam4sam"|"sam2long"}``: the video's
        tracking method from now on.

        A run of the video stops; its session is rebuilt with the method at the next request; the masks already made
        keep the method that made them (``GET masks`` names it per mask). Reply (and a ``video_updated`` event):
        ``{"video_version", "method"}``. 400: another field, or an unknown method.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        if set(data) != {"method"}:
            raise InvalidInputError("body: give {\"method\": ...}, the one setting of a video that changes")
        video = self.s.store.videos.set_method(vid, text(data["method"], "method", limit=40))
        await self.s.pool.call(vid, "video_changed", vid, "tracking method changed", label="a change of method")
        reply = {"video_version": video.version, "method": video.method}
        self.s.hub.publish(vid, "video_updated", reply)
        return JSONResponse(reply)

    @api
    async def frame(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/frames/{frame}``: a frame as JPEG (default) or PNG.

        ``?format=jpeg|png``; ``?size=`` its longer side at most, 16 to 8192 pixels (default: full size). Cached by
        ETag: a matching ``If-None-Match`` gets 304. 400: a bad frame, format or size.
        """
        vid, frame = path_id(request, "video_id"), path_id(request, "frame")
        video = self.s.store.videos.get(vid)
        self.s.store.videos.check_frame(vid, frame)
        fmt = request.query_params.get("format", "jpeg")
        if fmt not in ("jpeg", "png"):
            raise InvalidInputError(f"format: expected jpeg or png, got {fmt!r}")
        size = integer(request.query_params.get("size"), "size", optional=True)
        if size is not None and not 16 <= size <= 8192:
            raise InvalidInputError(f"size: expected 16 to 8192 pixels, got {size}")
        etag = f'"v{vid}-{uuid.uuid5(uuid.NAMESPACE_URL, video.path).hex[:12]}-f{frame}-s{size}-{fmt}"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        rgb = await run_in_threadpool(self.s.frames.raw, self.s.data_dir / video.path, frame)
        data = await run_in_threadpool(render_frame, rgb, size, fmt)
        return Response(data, media_type=f"image/{fmt}", headers=headers)

    @api
    async def focus(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/focus`` ``{"frame": N}``: the frame on the annotator's screen; frames
        around it are encoded while the worker is idle. Reply: ``{"video_id", "frame"}``; 400: a bad frame."""
        vid, data = path_id(request, "video_id"), await body(request)
        frame = self.s.store.videos.check_frame(vid, integer(data.get("frame"), "frame"))
        # behind runs' frames, never ahead of a click: it only matters once the worker is idle anyway
        await self.s.pool.call(vid, "set_focus", vid, frame, priority=BACKGROUND, label=f"focus on frame {frame}")
        return JSONResponse({"video_id": vid, "frame": frame})

    # ------------------------------------------------------------------ objects and reviews
    @api
    async def list_objects(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/objects``: ``{"objects": [...]}`` by id (``?status=``: only those with that
        review status; 400 for an unknown status)."""
        vid = path_id(request, "video_id")
        objects = self.s.store.videos.objects(vid, request.query_params.get("status"))
        return JSONResponse({"objects": [o.json() for o in objects]})

    @api
    async def all_objects(self, request: Request) -> Response:
        """``GET /api/objects``: ``{"objects": [...]}`` of every video, by video then id (``?status=``: only those
        with that review status; 400 for an unknown status)."""
        objects = self.s.store.videos.all_objects(request.query_params.get("status"))
        return JSONResponse({"objects": [o.json() for o in objects]})

    @api
    async def create_object(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/objects``: a new object.

        Body (every field optional): ``obj_id`` (1 to 2**31 - 1; default: the next free id), ``name`` (default:
        ``object <id>``), ``category``, ``colour``. Reply 201 (and an ``object_created`` event):
        ``{"version", "video_version", "object"}`` (``version``: the object's). 400: an id out of range or taken.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        obj_id = integer(data.get("obj_id"), "obj_id", optional=True)
        if obj_id is not None and not 1 <= obj_id <= 2**31 - 1:
            raise InvalidInputError(f"obj_id: expected an integer in [1, {2**31 - 1}], got {obj_id}")
        obj, version = self.s.store.videos.create_object(
            vid, obj_id, text(data.get("name"), "name", limit=200) or None, text(data.get("category"), "category", limit=200),
            text(data.get("colour"), "colour", limit=32), person=self.person(request))
        reply = {"version": obj.version, "video_version": version, "object": obj.json()}
        self.s.hub.publish(vid, "object_created", reply)
        return JSONResponse(reply, status_code=201)

    @api
    async def update_object(self, request: Request) -> Response:
        """``PATCH /api/videos/{video_id}/objects/{obj_id}``: rename or recolour an object.

        Body: at least one of ``name``, ``category``, ``colour``; ``version``: the object's version the client saw.
        Reply (and an ``object_updated`` event): ``{"version", "object"}``. 400: no field; 404: no such object; 409:
        a stale version (the reply holds the current one).
        """
        vid, obj_id, data = path_id(request, "video_id"), path_id(request, "obj_id"), await body(request)
        fields = {k: text(data[k], k, limit=200) for k in ("name", "category", "colour") if k in data}
        if not fields:
            raise InvalidInputError("body: give at least one of name, category, colour")
        obj = self.s.store.videos.update_object(vid, obj_id, fields, expected_version(data), self.person(request))
        reply = {"version": obj.version, "object": obj.json()}
        self.s.hub.publish(vid, "object_updated", reply)
        return JSONResponse(reply)

    @api
    async def delete_object(self, request: Request) -> Response:
        """``DELETE /api/videos/{video_id}/objects/{obj_id}?version=N``: delete an object and every mask it holds;
        actions on it alone can no longer be undone. Reply (and an ``object_deleted`` event):
        ``{"video_version", "obj_id"}``. 404: no such object; 409: a stale version."""
        vid, obj_id = path_id(request, "video_id"), path_id(request, "obj_id")
        expect = integer(request.query_params.get("version"), "version", optional=True)
        self.s.store.videos.check_object(vid, obj_id, expect)
        person = self.person(request)

        version = self.s.store.videos.delete_object(vid, obj_id, expect, person)
        await self.s.pool.call(vid, "forget_object", vid, obj_id, label=f"deleting object {obj_id}")
        self.s.hub.publish(vid, "object_deleted", {"video_version": version, "obj_id": obj_id})
        return JSONResponse({"video_version": version, "obj_id": obj_id})

    @api
    async def review(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/objects/{obj_id}/review``: a review decision on a masklet.

        Body: ``status`` (unreviewed, accepted, needs_fix or rejected), ``note``, ``version`` (optional), and in a
        studio without people ``reviewer`` (with people, the reviewer is who asks). Reply (and a ``review`` event):
        ``{"version", "object"}``. 400: an unknown status; 409: a stale version.
        """
        vid, obj_id, data = path_id(request, "video_id"), path_id(request, "obj_id"), await body(request)
        # with people, the reviewer is who asks; without, the page names one
        reviewer = self.person(request) or text(data.get("reviewer"), "reviewer", limit=200)
        obj = self.s.store.videos.set_review(vid, obj_id, data.get("status"), reviewer,
                                             text(data.get("note"), "note"), expected_version(data))
        reply = {"version": obj.version, "object": obj.json()}
        self.s.hub.publish(vid, "review", reply)
        return JSONResponse(reply)

    @api
    async def reviews(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/objects/{obj_id}/reviews``: ``{"reviews": [...]}``, the masklet's review
        decisions, oldest first. 404: no such object."""
        vid, obj_id = path_id(request, "video_id"), path_id(request, "obj_id")
        self.s.store.videos.object(vid, obj_id)
        return JSONResponse({"reviews": [r.json() for r in self.s.store.videos.reviews(vid, obj_id)]})

    # ------------------------------------------------------------------ prompts, undo, redo
    @api
    async def prompt(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/prompts``: clicks, a box or a mask on one object and frame (see
        :meth:`PromptEdit.parse` for the body), applied on the video's worker and saved as one action.

        ``X-Request-Id`` (optional) names the request in the ``busy`` events sent while it waits. Reply (and a
        ``prompt`` event): see :meth:`~samstream.studio.annotate.Annotator.prompt` (the object's ``version``, the
        ``masks`` and ``scores``, ``action_id``, ...). 400: a bad prompt; 404: no such object; 409: a stale version.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        video = self.s.store.videos.get(vid)
        edit = PromptEdit.parse(data, video.hw, video.num_frames)
        self.s.store.videos.check_object(vid, edit.obj_id, edit.expect)
        person = self.person(request)
        reply = await self._interactive(request, vid, "prompt", vid, edit, person, REQUEST_ID,
                                        label=f"a {edit.kind} on frame {edit.frame} of video {vid}")
        return JSONResponse(reply)

    @api
    async def clear(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/clear`` ``{"obj_id", "frame", "version"}``: remove an object's prompts on a
        frame, as one action. Reply (and a ``clear`` event):
        ``{"version", "frame", "obj_id", "action_id", "masks"}``. 400: no prompt there; 409: a stale version."""
        vid, data = path_id(request, "video_id"), await body(request)
        edit = ClearEdit.parse(data, self.s.store.videos.get(vid).num_frames)
        self.s.store.videos.check_object(vid, edit.obj_id, edit.expect)
        person = self.person(request)
        return JSONResponse(await self._interactive(request, vid, "clear", vid, edit, person,
                                                    label=f"clearing frame {edit.frame} of video {vid}"))

    async def _history(self, request: Request, undo: bool) -> Response:
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        person = self.person(request)
        verb = "undo" if undo else "redo"
        return JSONResponse(await self._interactive(request, vid, "history", vid, undo, person,
                                                    label=f"{verb} on video {vid}"))

    @api
    async def undo(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/undo``: take back the caller's latest action on the video (no body).

        Reply: ``{"changed": false, "video_version"}`` when there is nothing to undo; else the action's
        ``action_id`` and ``kind``, ``frames`` (obj_id -> frames changed), ``versions`` and ``video_version`` (see
        :meth:`~samstream.studio.annotate.Annotator.history`). 409: a frame it changed was changed again since.
        """
        return await self._history(request, True)

    @api
    async def redo(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/redo``: do again the caller's latest undone action (no body); the reply and
        refusals are those of :meth:`undo`."""
        return await self._history(request, False)

    @api
    async def actions(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/actions``: ``{"actions": [...]}``, every action on the video (undone and
        dropped ones too), oldest first."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        return JSONResponse({"actions": [a.json() for a in self.s.store.tracks.actions(vid)]})

    @api
    async def masks(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/masks``: ``{"masks": [...], "video_version"}``, every mask in force (COCO
        RLE, source, score, prompts, method) by frame then object; ``?obj_id=``: one object's only."""
        vid = path_id(request, "video_id")
        video = self.s.store.videos.get(vid)
        obj_id = integer(request.query_params.get("obj_id"), "obj_id", optional=True)
        return JSONResponse({"masks": [m.json() for m in self.s.store.tracks.masks(vid, obj_id)],
                             "video_version": video.version})

    @api
    async def frame_masks(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/masks/{frame}``: one frame's masks in force, keyed by object id:
        ``{"frame", "masks": {id: RLE}, "sources": {id: source}, "prompts": {id: prompt steps}}`` (prompts: only the
        prompted objects). 400: a bad frame."""
        vid, frame = path_id(request, "video_id"), path_id(request, "frame")
        self.s.store.videos.check_frame(vid, frame)
        rows = self.s.store.tracks.masks_on(vid, frame)
        return JSONResponse({"frame": frame, "masks": {str(m.obj_id): m.rle for m in rows},
                             "sources": {str(m.obj_id): m.source for m in rows},
                             "prompts": {str(m.obj_id): m.prompts for m in rows if m.prompts}})

    # ------------------------------------------------------------------ propagation and events
    @api
    async def propagate(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/propagate``: start a propagation run (see :meth:`PropagateRequest.parse`
        for the body: objects, start, direction, until, versions).

        Reply 202: the run as started (``propagation_id``, ``total``, ``legs``, ...; see
        :meth:`~samstream.studio.annotate.Annotator.propagate`); each tracked frame then comes as a ``frame`` event,
        the end as ``propagation_done``. 400: an object without prompts or a bad field; 409: a stale version, or
        another person's run goes on.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        req = PropagateRequest.parse(data, self.s.store.videos.get(vid).num_frames)
        person = self.person(request)
        reply = await self._interactive(request, vid, "propagate", vid, req, person,
                                        label=f"starting a propagation of video {vid}")
        return JSONResponse(reply, status_code=202)

    @api
    async def cancel(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/propagate/cancel``: stop the video's run (the frames it stored stay).
        Reply: ``{"cancelled": true}``, or false when none was running."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        return JSONResponse({"cancelled": await self.s.pool.call(vid, "cancel", vid)})

    @api
    async def resume(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/propagate/resume``: continue the video's interrupted run from the frame
        after the last one stored. Reply 202: see :meth:`~samstream.studio.annotate.Annotator.resume`. 400: no
        interrupted run; 409: a run goes on."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        person = self.person(request)
        return JSONResponse(await self.s.pool.call(vid, "resume", vid, person), status_code=202)

    @api
    async def propagation(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/propagation``: ``{"propagation": ...}``, the video's latest run (status,
        frames done of total, plan) or null."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        prop = self.s.store.tracks.latest_propagation(vid)
        return JSONResponse({"propagation": None if prop is None else prop.json()})

    @api
    async def events(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/events``: Server-Sent Events of one video (``text/event-stream``).

        ``Last-Event-ID`` (or ``?since=``) replays the events missed since that id (a ``resync`` event when they are
        no longer kept: reload); ``?limit=`` ends the stream after that many events. 404: no such video.
        """
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        last = integer(request.headers.get("last-event-id") or request.query_params.get("since") or 0, "since")
        limit = integer(request.query_params.get("limit"), "limit", optional=True)
        stream = self.s.hub.stream(vid, last or 0, limit)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
