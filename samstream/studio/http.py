"""Shared pieces of the studio's HTTP handlers: error replies, request parsing, the token gate."""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request  # studio extra: pip install 'samstream[studio]'
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from samstream.errors import InvalidInputError, SamstreamError, UnknownObjectError, VideoReadError
from samstream.studio.media import TooLargeError
from samstream.studio.store import ConflictError, NotFoundError

__all__ = ["TokenGate", "api", "body", "error_reply", "integer", "path_id", "text"]

log = logging.getLogger("samstream.studio")
Handler = Callable[[Any, Request], Awaitable[Response]]


def error_reply(exc: BaseException) -> JSONResponse:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ConflictError):
        return JSONResponse({"error": text, "version": exc.current, "obj_id": exc.obj_id}, status_code=409)
    status = 400
    if isinstance(exc, (NotFoundError, UnknownObjectError)):
        status = 404
    elif isinstance(exc, TooLargeError):
        status = 413
    elif isinstance(exc, VideoReadError):
        status = 415
    return JSONResponse({"error": text}, status_code=status)


def api(fn: Handler) -> Handler:
    """Turn samstream errors into 4xx JSON and anything else into a 500 JSON reply (logged, not sent)."""

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
    if value is None and optional:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name}: expected an integer, got {value!r}")
    return value


def text(value: Any, name: str, default: str = "", limit: int = 2000) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(f"{name}: expected a string of at most {limit} characters, got {value!r:.80}")
    return value


def path_id(request: Request, name: str) -> int:
    return int(integer(request.path_params[name], name))  # type: ignore[arg-type]


class TokenGate:
    """Refuses every request without the token (ASGI middleware; lifespan messages pass).

    The token comes as ``Authorization: Bearer``, ``?token=`` or the page's ``samstream_token`` cookie.
    The page's address carries it once (``/?token=...``): that reply sets the cookie (``SameSite=Strict``,
    HttpOnly), so the stylesheet, scripts and images the page then loads carry it too.
    """

    COOKIE = "samstream_token"

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        from_query = request.query_params.get("token")
        given = from_query or request.cookies.get(self.COOKIE, "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            reply = JSONResponse({"error": "token: missing or wrong; pass Authorization: Bearer TOKEN, ?token= "
                                           "or open the address the server printed"}, status_code=401)
            return await reply(scope, receive, send)
        if from_query and scope["type"] == "http":
            send = _with_cookie(send, f"{self.COOKIE}={from_query}; Path=/; SameSite=Strict; HttpOnly")
        return await self.app(scope, receive, send)


def _with_cookie(send: Send, cookie: str) -> Send:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode("latin-1"))]}
        await send(message)

    return sending
