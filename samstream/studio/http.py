"""Shared pieces of the studio's HTTP handlers: error replies, request parsing, the gate that tells who asks."""

from __future__ import annotations

import functools
import json
import logging
import re
from urllib.parse import parse_qsl, urlencode
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request  # studio extra: pip install 'samstream[studio]'
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from samstream.errors import InvalidInputError, SamstreamError, UnknownObjectError, VideoReadError
from samstream.studio.auth import ACCESS, Authenticator, Caller, ForbiddenError, UnauthorizedError, check_access
from samstream.studio.media import TooLargeError
from samstream.studio.store import ConflictError, NotFoundError, Store

__all__ = ["Gate", "api", "body", "caller", "error_reply", "guarded", "integer", "path_id", "text"]

log = logging.getLogger("samstream.studio")
Handler = Callable[[Any, Request], Awaitable[Response]]


def error_reply(exc: BaseException) -> JSONResponse:
    """The JSON reply of a refused request: ``{"error": the exception's words}`` with its status.

    ``exc``: :class:`ConflictError` 409 (the reply also holds ``version``, the object's current one, and
    ``obj_id``), :class:`ForbiddenError` 403 (also ``needs``, the roles that may), :class:`UnauthorizedError` 401,
    :class:`NotFoundError` or :class:`UnknownObjectError` 404, :class:`TooLargeError` 413, :class:`VideoReadError`
    415; any other 400.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ConflictError):
        return JSONResponse({"error": text, "version": exc.current, "obj_id": exc.obj_id}, status_code=409)
    if isinstance(exc, ForbiddenError):
        return JSONResponse({"error": text, "needs": list(exc.needs)}, status_code=403)
    status = 400
    if isinstance(exc, UnauthorizedError):
        status = 401
    elif isinstance(exc, (NotFoundError, UnknownObjectError)):
        status = 404
    elif isinstance(exc, TooLargeError):
        status = 413
    elif isinstance(exc, VideoReadError):
        status = 415
    return JSONResponse({"error": text}, status_code=status)


def api(fn: Handler) -> Handler:
    """Wrap the handler ``fn``: samstream errors become 4xx JSON replies (:func:`error_reply`), anything else a 500
    JSON reply (logged, not sent)."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Request) -> Response:
        try:
            return await fn(self, request)
        except SamstreamError as exc:
            return error_reply(exc)
        except Exception:
            log.exception("studio: %s %s failed", request.method, request.url.path)
            return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    return wrapper


async def body(request: Request) -> dict[str, Any]:
    """The JSON object of a request's body (an empty body: ``{}``); :class:`InvalidInputError` when it is not JSON
    or not an object."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"body: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"body: expected a JSON object, got {type(data).__name__}")
    return data


def integer(value: Any, name: str, optional: bool = False) -> int | None:
    """``value`` (from JSON, a query or a path) as an integer; a string of digits is read as one.
    :class:`InvalidInputError` naming ``name`` otherwise; ``optional``: None passes as None."""
    if value is None and optional:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):  # str.isdigit also takes "²" and "--5"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name}: expected an integer, got {value!r}")
    return value


def text(value: Any, name: str, default: str = "", limit: int = 2000) -> str:
    """``value`` as a string of at most ``limit`` characters (None: ``default``); :class:`InvalidInputError` naming
    ``name`` otherwise."""
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(f"{name}: expected a string of at most {limit} characters, got {value!r:.80}")
    return value


def path_id(request: Request, name: str) -> int:
    """The integer path parameter ``name`` of the request (e.g. ``video_id``); :class:`InvalidInputError` otherwise."""
    return int(integer(request.path_params[name], name))  # type: ignore[arg-type]


CALLER = "samstream.caller"  # the scope key under which the gate leaves who asked


def caller(request: Request) -> Caller:
    """Who made the request (the gate put it there)."""
    return request.scope[CALLER]


def guarded(method: str, path: str, handler: Callable[[Request], Awaitable[Response]], store: Store) -> Route:
    """A route of ``handler`` for ``method`` at ``path``, behind the role table's rule for ``"METHOD path"``
    (KeyError: a route with no rule, found when the app is made). The rule is checked against ``store`` (the video's
    assignment and state, the masklet's editors) before the handler runs; a refusal is its :func:`error_reply`."""
    rule = ACCESS[f"{method} {path}"]

    async def endpoint(request: Request) -> Response:
        try:
            vid = path_id(request, "video_id") if "video_id" in request.path_params else None
            obj = path_id(request, "obj_id") if "obj_id" in request.path_params else None
            check_access(rule, caller(request), store, f"{method} {request.url.path}", vid, obj)
        except SamstreamError as exc:
            return error_reply(exc)
        return await handler(request)

    return Route(path, endpoint, methods=[method])


class Gate:
    """Tells who makes each request, and refuses one without a valid token (ASGI middleware; lifespan
    messages pass). See :class:`~samstream.studio.auth.Authenticator` for what is valid.

    The token comes as ``Authorization: Bearer``, ``?token=`` or the page's ``samstream_token`` cookie.
    The page's address carries it once (``/?token=...``): that reply sets the cookie (``SameSite=Strict``,
    HttpOnly), so the stylesheet, scripts and images the page then loads carry it too. A token in the
    address is taken out of the request's query before anything else sees it, so that no access log
    and no handler ever holds it.
    """

    COOKIE = "samstream_token"

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        from_query = request.query_params.get("token")
        if "token" in request.query_params:  # in place: the server's own scope, which its access log reads
            kept = [(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
                    if k != "token"]
            scope["query_string"] = urlencode(kept).encode("latin-1")
        given = from_query or request.cookies.get(self.COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        try:
            scope[CALLER] = self.auth.caller(given)
        except UnauthorizedError as exc:
            return await error_reply(exc)(scope, receive, send)
        if from_query and from_query == given and scope["type"] == "http":  # only the token just checked
            send = _with_cookie(send, f"{self.COOKIE}={from_query}; Path=/; SameSite=Strict; HttpOnly")
        return await self.app(scope, receive, send)


def _with_cookie(send: Send, cookie: str) -> Send:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode("latin-1"))]}
        await send(message)

    return sending
