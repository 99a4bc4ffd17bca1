"""The studio's data routes: effort figures, "segment everything" proposals, automatic masklets, exports,
imports and downloads."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool  # studio extra: pip install 'samstream[studio]'
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from samstream.errors import InvalidInputError
from samstream.studio import export as exports
from samstream.studio.auto import check_auto_options
from samstream.studio.edits import PromptEdit
from samstream.studio.effort import effort_summary, effort_table
from samstream.studio.http import api, body, caller, integer, path_id, text
from samstream.studio.imports import import_sav_doc
from samstream.studio.service import Studio
from samstream.studio.store import NotFoundError

__all__ = ["DataRoutes"]


class DataRoutes:
    """Handlers over a video's masklets as a whole; each parses, calls one thing, and formats."""

    def __init__(self, studio: Studio) -> None:
        self.s = studio

    def person(self, request: Request) -> str | None:
        """Who made the request (None: the one person of a studio without people)."""
        return caller(request).name

    @api
    async def video_effort(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/effort``: the video's effort per masklet and its totals (see
        :func:`~samstream.studio.effort.effort_summary`). 404: no such video."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        return JSONResponse(effort_summary(self.s.store, [vid]))

    @api
    async def all_effort(self, request: Request) -> Response:
        """``GET /api/effort``: without ``by``, effort per masklet and video over every video (see
        :func:`~samstream.studio.effort.effort_summary`); ``?by=person|video``: the team's table of the paper's
        measures with its total and per person and day (``&format=csv``: the rows and total as a CSV download). 400:
        an unknown ``by`` or ``format``, or CSV without ``by``."""
        by, fmt = request.query_params.get("by"), request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            raise InvalidInputError(f"format: expected json or csv, got {fmt!r:.40}")
        if by is None:
            if fmt == "csv":
                raise InvalidInputError("format: csv needs by=person or by=video")
            return JSONResponse(effort_summary(self.s.store, [v.id for v in self.s.store.videos.all()]))
        table = await run_in_threadpool(effort_table, self.s.store, by)
        if fmt == "csv":
            return PlainTextResponse(table.csv(), media_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="effort_by_{by}.csv"'})
        return JSONResponse(table.json())

    @api
    async def segment_everything(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/segment-everything``: "segment everything" proposals on one frame.

        Body: ``frame``, ``points_per_side`` (1 to 64, default 16), ``pred_iou_thresh`` and
        ``stability_score_thresh`` (optional, in [0, 1]). They replace the video's earlier proposals. Reply:
        ``{"frame", "proposals": [{"proposal_id", "frame", "rle", "score", "bbox"}]}``, best predicted IoU first
        (``bbox``: XYWH pixels). 400: a bad field.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        video = self.s.store.videos.get(vid)
        frame = self.s.store.videos.check_frame(vid, integer(data.get("frame"), "frame"))
        per_side = integer(data.get("points_per_side", 16), "points_per_side")
        if not 1 <= per_side <= 64:  # type: ignore[operator]
            raise InvalidInputError(f"points_per_side: expected 1 to 64, got {per_side}")
        options: dict[str, Any] = {"points_per_side": per_side}
        for key in ("pred_iou_thresh", "stability_score_thresh"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise InvalidInputError(f"{key}: expected a number in [0, 1], got {value!r}")
                options[key] = float(value)
        rgb = await run_in_threadpool(self.s.frames.raw, self.s.data_dir / video.path, frame)
        items = await self.s.pool.call(vid, "propose", rgb, options,
                                       label=f"segmenting everything on frame {frame} of video {vid}")
        ids = self.s.store.proposals.add(vid, frame, items)
        proposals = [{"proposal_id": i, "frame": frame, "rle": rle, "score": score, "bbox": bbox}
                     for i, (rle, score, bbox) in zip(ids, items)]
        return JSONResponse({"frame": frame, "proposals": proposals})

    @api
    async def accept_proposal(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/proposals/{proposal_id}/accept`` ``{"name", "category"}`` (both optional):
        make a "segment everything" proposal an object, a new object whose mask prompt is the proposal's mask.

        Reply 201: the reply of a prompt (see :meth:`~samstream.studio.annotate.Annotator.prompt`) with ``object``;
        the proposal is deleted. 404: no such proposal.
        """
        vid, pid, data = path_id(request, "video_id"), path_id(request, "proposal_id"), await body(request)
        proposal = self.s.store.proposals.get(vid, pid)
        name = text(data.get("name"), "name", limit=200) or None
        person = self.person(request)
        obj, version = self.s.store.videos.create_object(vid, None, name, text(data.get("category"), "category",
                                                                                limit=200), "", person=person)
        self.s.hub.publish(vid, "object_created", {"version": obj.version, "video_version": version,
                                                   "object": obj.json()})
        edit = PromptEdit(obj.obj_id, proposal["frame"], "mask", mask=proposal["rle"])
        try:
            reply = await self.s.pool.call(vid, "prompt", vid, edit, person, None, label="accepting a proposal")
        except Exception:  # the object was made for this mask: without it, it goes (the proposal stays)
            version = self.s.store.videos.delete_object(vid, obj.obj_id, None, person)
            self.s.hub.publish(vid, "object_deleted", {"video_version": version, "obj_id": obj.obj_id})
            raise
        self.s.store.proposals.drop(pid)
        return JSONResponse({**reply, "object": self.s.store.videos.object(vid, obj.obj_id).json()}, status_code=201)

    # ------------------------------------------------------------------ whole-video proposals (automatic masklets)
    @api
    async def start_auto(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/auto-masklets``: run automatic masklets over the video in the background;
        its masklet proposals are replaced by the run's.

        Body: options of :data:`~samstream.studio.auto.AUTO_OPTIONS` (any left out: the studio's defaults). Reply
        202: ``{"run_id", "total", "options"}``; progress comes as ``auto_*`` events. 400: an unknown option or a
        bad value.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        self.s.store.videos.get(vid)
        options = check_auto_options(data)
        return JSONResponse(await self.s.pool.call(vid, "auto_start", vid, options), status_code=202)

    @api
    async def cancel_auto(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/auto-masklets/cancel``: stop the video's automatic-masklet run (the
        proposals it stored stay). Reply: ``{"cancelled": true}``, or false when none was running."""
        vid = path_id(request, "video_id")
        self.s.store.videos.get(vid)
        return JSONResponse({"cancelled": await self.s.pool.call(vid, "auto_cancel", vid)})

    @api
    async def auto_masklets(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/auto-masklets``: ``{"proposals": [...], "run": ...}``, the video's masklet
        proposals without their masks (see :meth:`masklet_proposal` for those) and its latest run (null: never).
        404: no such video."""
        vid = path_id(request, "video_id")
        return JSONResponse({"proposals": self.s.store.proposals.masklet_proposals(vid),
                             "run": self.s.store.proposals.latest_auto_run(vid)})

    @api
    async def masklet_proposal(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/masklet-proposals/{proposal_id}``: one masklet proposal with its masks
        (``masks``: frame -> COCO RLE). 404: no such proposal."""
        vid, pid = path_id(request, "video_id"), path_id(request, "proposal_id")
        proposal = self.s.store.proposals.masklet_proposal(vid, pid)
        return JSONResponse({**proposal, "masks": {str(f): r for f, r in proposal["masks"].items()}})

    @api
    async def accept_masklet(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/masklet-proposals/{proposal_id}/accept`` ``{"name", "category"}`` (both
        optional): make a masklet proposal an object with exactly its masks.

        Reply 201 (and a ``masklet_accepted`` event):
        ``{"video_version", "version", "object", "proposal_id", "masks"}`` (``masks``: how many). 404: no such
        proposal.
        """
        vid, pid, data = path_id(request, "video_id"), path_id(request, "proposal_id"), await body(request)
        name = text(data.get("name"), "name", limit=200) or None
        category = text(data.get("category"), "category", limit=200)
        person = self.person(request)
        reply = await self.s.pool.call(vid, "auto_accept", vid, pid, name, category, person)
        self.s.hub.publish(vid, "masklet_accepted", reply)
        return JSONResponse(reply, status_code=201)

    @api
    async def dismiss_masklet(self, request: Request) -> Response:
        """``DELETE /api/videos/{video_id}/masklet-proposals/{proposal_id}``: delete a masklet proposal. Reply (and
        a ``masklet_dismissed`` event): ``{"proposal_id", "dismissed": true}``. 404: no such proposal."""
        vid, pid = path_id(request, "video_id"), path_id(request, "proposal_id")
        self.s.store.proposals.drop_masklet_proposal(vid, pid)
        self.s.hub.publish(vid, "masklet_dismissed", {"proposal_id": pid})
        return JSONResponse({"proposal_id": pid, "dismissed": True})

    # ------------------------------------------------------------------ export, import, downloads
    @api
    async def export_video(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/export``: export one video's masklets under ``DATA_DIR/exports/``.

        Body (every field optional): ``format`` (sav, davis, coco or mp4; default sav), ``stride`` (SA-V: video
        frames per annotated frame, default 4), ``accepted_only``, ``with_media``, ``done_only`` (see
        :func:`~samstream.studio.export.export_videos`). Progress comes as ``export_progress`` events. Reply 201:
        ``{"format", "files", "urls", "downloads"}``. 400: a bad field.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        self.s.store.videos.get(vid)
        return await self._export(data, [vid], vid)

    @api
    async def export_all(self, request: Request) -> Response:
        """``POST /api/export``: export every video; the body and reply are those of :meth:`export_video` (no
        progress events)."""
        return await self._export(await body(request), [v.id for v in self.s.store.videos.all()], None)

    async def _export(self, data: dict[str, Any], vids: list[int], channel: int | None) -> Response:
        fmt, stride = data.get("format", "sav"), integer(data.get("stride", 4), "stride")
        if fmt not in exports.FORMATS:
            raise InvalidInputError(f"format: expected one of {', '.join(exports.FORMATS)}, got {fmt!r}")
        flags = {}
        for key in ("accepted_only", "with_media", "done_only"):
            flags[key] = data.get(key, False)
            if not isinstance(flags[key], bool):
                raise InvalidInputError(f"{key}: expected true or false, got {flags[key]!r}")
        last = [-1.0]

        def progress(done: int, total: int) -> None:  # at most ~50 events per export
            if channel is not None and (done == total or done - last[0] >= max(1, total / 50)):
                last[0] = done
                self.s.hub.publish(channel, "export_progress", {"format": fmt, "done": done, "total": total})

        written = await run_in_threadpool(exports.export_videos, self.s.store, self.s.data_dir, vids, fmt, stride,
                                          flags["accepted_only"], flags["with_media"], progress, flags["done_only"])
        return JSONResponse(written, status_code=201)

    @api
    async def import_sav(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/import``: the body is an SA-V masklet file (JSON); each masklet becomes a
        new object holding its masks, as one action.

        ``?stride=``: video frames per annotated frame (default 4). Reply 201 (and an ``imported`` event):
        ``{"objects": [new ids], "masks", "video_version"}``. 400: a bad file, a size other than the video's, or a
        stride below 1.
        """
        vid = path_id(request, "video_id")
        data = await body(request)
        stride = integer(request.query_params.get("stride", 4), "stride")
        if stride < 1:  # type: ignore[operator]
            raise InvalidInputError(f"stride: expected an integer >= 1, got {stride}")
        person = self.person(request)

        reply = await run_in_threadpool(import_sav_doc, self.s.store, vid, data, stride, person)
        await self.s.pool.call(vid, "drop", vid)  # its new mask prompts are applied when the session is next built
        self.s.hub.publish(vid, "imported", reply)
        return JSONResponse(reply, status_code=201)

    @api
    async def download(self, request: Request) -> Response:
        """``GET /api/exports/{path}``: a file an export wrote (the ``urls`` of its reply), as a download. 404: no
        such file, or a path outside ``exports/``."""
        root = (self.s.data_dir / "exports").resolve()
        target = (root / request.path_params["path"]).resolve()
        if root not in target.parents or not target.is_file():
            raise NotFoundError(f"path: no export {request.path_params['path']!r}")
        return FileResponse(target, filename=target.name)
