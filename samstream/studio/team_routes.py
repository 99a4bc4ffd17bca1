"""The studio's routes for a team: who am I and what may I do, people, assignments, the work flow, "next", history,
the dashboard.

Who may call each is decided before the handler runs, by the role table
(:data:`samstream.studio.auth.ACCESS`); the handlers parse, call the store and format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request  # studio extra: pip install 'samstream[studio]'
from starlette.responses import FileResponse, JSONResponse, Response

from samstream.errors import InvalidInputError
from samstream.studio.auth import add_person, page_permissions, replace_token, video_permissions
from samstream.studio.effort import effort_rows
from samstream.studio.http import api, body, caller, path_id, text
from samstream.studio.rows import VideoRow
from samstream.studio.service import Studio
from samstream.studio.store import ASSIGNABLE

__all__ = ["TeamRoutes"]

STATIC = Path(__file__).parent / "static"


class TeamRoutes:
    """Handlers of people and the work flow; each parses, calls one thing, and formats."""

    def __init__(self, studio: Studio) -> None:
        self.s = studio

    async def dashboard(self, request: Request) -> Response:
        """``GET /dashboard``: the team's dashboard page (``static/dashboard.html``)."""
        return FileResponse(STATIC / "dashboard.html")

    @api
    async def me(self, request: Request) -> Response:
        """``GET /api/me``: who asks, and which of the page's controls outside a video they may use:
        ``{"name", "role", "solo", "may": {control: bool}}`` (``solo``: a studio without people)."""
        who = caller(request)
        return JSONResponse({"name": who.name, "role": who.role, "solo": who.solo,
                             "may": page_permissions(who, self.s.store)})

    @api
    async def permissions(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/permissions``: what the caller may do on the video now (the page shows only
        that), read from the role table: see :func:`~samstream.studio.auth.video_permissions`."""
        return JSONResponse(video_permissions(caller(request), self.s.store, path_id(request, "video_id")))

    # ------------------------------------------------------------------ people (admins)
    @api
    async def people(self, request: Request) -> Response:
        """``GET /api/people``: ``{"people": [...], "assignable": {"annotator": roles, "reviewer": roles}}``,
        everyone (disabled people too), and which roles may be assigned to annotate and to verify a video."""
        return JSONResponse({"people": [p.json() for p in self.s.store.people.all()],
                             "assignable": {k: list(v) for k, v in ASSIGNABLE.items()}})

    @api
    async def add_person(self, request: Request) -> Response:
        """``POST /api/people`` ``{"name", "role"}``: a new person. Reply 201: ``{"person", "token"}``; the token is
        never shown again. 400: a bad or taken name, or an unknown role."""
        data = await body(request)
        person, token = add_person(self.s.store, data.get("name"), data.get("role"))
        return JSONResponse({"person": person.json(), "token": token}, status_code=201)

    @api
    async def disable_person(self, request: Request) -> Response:
        """``POST /api/people/{name}/disable``: a disabled person's token is refused from now on; their work and
        history stay. Reply: ``{"person"}``. 400: disabling oneself; 404: no such person."""
        name = request.path_params["name"]
        if name == caller(request).name:
            raise InvalidInputError(f"name: {name} is you; another admin disables you, or the command line")
        return JSONResponse({"person": self.s.store.people.disable(name).json()})

    @api
    async def new_token(self, request: Request) -> Response:
        """``POST /api/people/{name}/token``: a new token for the person; the old one stops working at once. Reply:
        ``{"person", "token"}`` (never shown again). 404: no such person."""
        person, token = replace_token(self.s.store, request.path_params["name"])
        return JSONResponse({"person": person.json(), "token": token})

    # ------------------------------------------------------------------ the work flow
    def _changed(self, video: VideoRow) -> JSONResponse:
        """A video whose assignment or state changed: told to its event stream, and the reply."""
        reply = {"video": video.json()}
        self.s.hub.publish(video.id, "workflow", reply)
        return JSONResponse(reply)

    @api
    async def assign(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/assign`` ``{"annotator", "reviewer"}`` (either or both; a person's name, or
        null for nobody): who annotates and who verifies the video.

        Reply (and a ``workflow`` event): ``{"video"}``. 400: no field, a person of the wrong role or disabled, or
        the same person for both; 404: no such person.
        """
        vid, data = path_id(request, "video_id"), await body(request)
        fields = {k: data[k] for k in ("annotator", "reviewer") if k in data}
        if not fields:
            raise InvalidInputError("body: give annotator and/or reviewer (a person's name, or null for nobody)")
        for key, name in fields.items():
            if name is not None and not isinstance(name, str):
                raise InvalidInputError(f"{key}: expected a person's name or null, got {name!r:.40}")
        return self._changed(self.s.store.workflow.assign(vid, fields, caller(request).name))

    async def _step(self, request: Request, step: str) -> Response:
        vid, data = path_id(request, "video_id"), await body(request)
        note = text(data.get("note"), "note")
        return self._changed(self.s.store.workflow.step(vid, step, caller(request).name, note))

    @api
    async def submit(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/submit`` ``{"note"}`` (optional): the video goes from in_annotation to
        to_review. Reply (and a ``workflow`` event): ``{"video"}``. 409: another state, or a propagation running."""
        return await self._step(request, "submit")

    @api
    async def accept(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/accept`` ``{"note"}`` (optional): the video goes from to_review to done.
        Reply (and a ``workflow`` event): ``{"video"}``. 409: another state, or masklets neither accepted nor
        rejected."""
        return await self._step(request, "accept")

    @api
    async def send_back(self, request: Request) -> Response:
        """``POST /api/videos/{video_id}/send-back`` ``{"note"}``: the video goes back to in_annotation (from
        to_review, or from done to reopen it); the note tells the annotator why. Reply (and a ``workflow`` event):
        ``{"video"}``. 409: another state."""
        return await self._step(request, "send_back")

    @api
    async def history(self, request: Request) -> Response:
        """``GET /api/videos/{video_id}/history``: ``{"history": [...]}``, every change of the video with who and
        when, in time order (see :meth:`~samstream.studio.store.workflow.WorkflowStore.history`). 404: no such
        video."""
        vid = path_id(request, "video_id")
        return JSONResponse({"history": [h.json() for h in self.s.store.workflow.history(vid)]})

    @api
    async def next(self, request: Request) -> Response:
        """``GET /api/next``: an annotator's next video ``{"video", "note", "needs_fix"}`` (with the note of its
        last sending back and its masklets marked needs_fix), or a reviewer's next masklet to verify
        ``{"masklet": {"video", "object", "frames", "prompted_frames", "effort", "editors"}}``; ``video`` or
        ``masklet`` is null when there is none. 400: a studio without people (no queues)."""
        who = caller(request)
        if who.role == "reviewer":
            return JSONResponse({"masklet": self._next_masklet(who.name)})  # type: ignore[arg-type]
        if who.role != "annotator":  # the role table lets only annotators and reviewers here
            raise InvalidInputError("next: a studio without people has no queues")
        video = self.s.store.workflow.next_video(who.name)  # type: ignore[arg-type]
        if video is None:
            return JSONResponse({"video": None})
        back = self.s.store.workflow.last_step(video.id, "send_back")
        fixes = [{"obj_id": o.obj_id, "name": o.name, "note": o.note, "reviewer": o.reviewer}
                 for o in self.s.store.videos.objects(video.id, "needs_fix")]
        return JSONResponse({"video": video.json(), "note": None if back is None else back.detail.get("note"),
                             "needs_fix": fixes})

    def _next_masklet(self, reviewer: str) -> dict[str, Any] | None:
        obj = self.s.store.workflow.next_masklet(reviewer)
        if obj is None:
            return None
        masks = self.s.store.tracks.masks(obj.video_id, obj.obj_id)
        effort = {e["obj_id"]: e for e in effort_rows(self.s.store, obj.video_id)}[obj.obj_id]
        return {"video": self.s.store.videos.get(obj.video_id).json(), "object": obj.json(),
                "frames": [m.frame for m in masks], "prompted_frames": [m.frame for m in masks if m.prompts],
                "effort": effort, "editors": self.s.store.workflow.editors(obj.video_id).get(obj.obj_id, [])}
