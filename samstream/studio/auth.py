"""Who is asking, and whether their role lets them: tokens, people and the role table.

A person's token is ``<key>.<secret>``: the key (public, random) finds the person's row, the secret is
kept only as a per-person salted scrypt hash and compared in constant time. A verified token is
remembered in memory (as a SHA-256 of its secret, beside the stored hash it matched), so that scrypt
runs once per token and process, not once per request; a new token or a disabled person is seen at
the next request, since the row is read every time.

A data dir without people keeps the studio of one person: no token on loopback, the server's shared
token off loopback, and every route allowed (:data:`SOLO`). With people, every request carries a
person's token and :data:`ACCESS` decides, route by route and role by role.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from samstream.errors import SamstreamError
from samstream.studio.rows import PersonRow, VideoRow
from samstream.studio.store import ROLES, STEPS, ConflictError, Credential, Store, check_name, check_role

__all__ = ["ACCESS", "PAGE_CONTROLS", "SOLO", "VIDEO_CONTROLS", "Authenticator", "Caller", "ForbiddenError", "Rule",
           "UnauthorizedError", "add_person", "check_access", "hash_secret", "page_permissions", "refusal",
           "replace_token", "video_permissions"]

# scrypt's cost: about 16 MiB and tens of milliseconds per hash, paid once per token and process
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class UnauthorizedError(SamstreamError):
    """No token, an unknown or replaced one, or a disabled person's (401)."""


class ForbiddenError(SamstreamError):
    """The person's role does not allow this (403); ``needs`` names the roles that would."""

    def __init__(self, message: str, needs: tuple[str, ...]) -> None:
        super().__init__(message)
        self.needs = needs


@dataclass(frozen=True)
class Caller:
    """Who made a request: a person and their role, or (both None) the one person of a studio without people."""

    name: str | None
    role: str | None

    @property
    def solo(self) -> bool:
        """Whether this is the one person of a studio without people (every route allowed)."""
        return self.role is None


SOLO = Caller(None, None)


# ---------------------------------------------------------------------- tokens
def hash_secret(secret: str, salt: bytes) -> bytes:
    """The scrypt hash (32 bytes) of a token's ``secret`` part with the person's ``salt``."""
    return hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)


def _new_token() -> tuple[str, str, bytes, bytes]:
    """A fresh token and what the store keeps of it: (token, key, salt, hash of the secret)."""
    key, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
    return f"{key}.{secret}", key, salt, hash_secret(secret, salt)


def add_person(store: Store, name: str, role: str) -> tuple[PersonRow, str]:
    """A new person called ``name`` with ``role`` (both checked, :class:`InvalidInputError`) and a new token;
    returns them and the token, which is never stored or shown again."""
    check_name(name)
    check_role(role)
    token, key, salt, digest = _new_token()
    return store.people.add(name, role, key, salt, digest), token


def replace_token(store: Store, name: str) -> tuple[PersonRow, str]:
    """A new token for ``name`` in ``store``; the old one stops working at once. Returns the person and the new
    token; :class:`NotFoundError` when there is no such person."""
    store.people.get(name)  # NotFoundError names it
    token, key, salt, digest = _new_token()
    return store.people.set_token(name, key, salt, digest), token


class Authenticator:
    """Tells who a request's token belongs to (thread-safe)."""

    def __init__(self, store: Store, shared_token: str | None) -> None:
        self.store = store
        self.shared_token = shared_token  # a studio without people, off loopback
        self._verified: dict[tuple[str, bytes], bytes] = {}  # (key, stored hash) -> SHA-256 of the secret
        self._lock = threading.Lock()

    def caller(self, given: str | None) -> Caller:
        """The caller of a request that carried ``given`` (None: no token); :class:`UnauthorizedError` if none."""
        if not self.store.people.any():
            if self.shared_token is None:
                return SOLO
            if given is not None and hmac.compare_digest(given.encode(), self.shared_token.encode()):
                return SOLO
            raise UnauthorizedError("token: missing or wrong; pass Authorization: Bearer TOKEN, ?token= or open "
                                    "the address the server printed")
        if not given:
            raise UnauthorizedError("token: missing; this studio has people: pass your own token as Authorization: "
                                    "Bearer TOKEN, or open the studio once as /?token=TOKEN")
        key, _, secret = given.partition(".")
        credential = self.store.people.credential(key) if secret else None
        if credential is None or not self._matches(key, secret, credential):
            raise UnauthorizedError("token: unknown, or replaced by a newer one; ask an admin for yours "
                                    "(samstream studio user token DATA_DIR NAME)")
        person = credential.person
        if person.disabled:
            raise UnauthorizedError(f"token: {person.name} is disabled; ask an admin")
        return Caller(person.name, person.role)

    def _matches(self, key: str, secret: str, credential: Credential) -> bool:
        quick = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            known = self._verified.get((key, credential.token_hash))
        if known is not None:
            return hmac.compare_digest(quick, known)
        if not hmac.compare_digest(hash_secret(secret, credential.salt), credential.token_hash):
            return False
        with self._lock:
            self._verified[(key, credential.token_hash)] = quick
        return True


# ---------------------------------------------------------------------- the role table
NO, ANY, OWN, UNEDITED = "no", "any", "own", "unedited"
EDITING, REVIEWING = ("to_annotate", "in_annotation"), ("to_review",)


@dataclass(frozen=True)
class Rule:
    """Who may use one route: a condition per role, and the video states it is open in.

    Conditions: ``no``; ``any``; ``own`` (the video is theirs: an annotator's when assigned to them, a
    reviewer's when they are its reviewer or it has none, an admin's always); ``unedited`` (``own``,
    and the masklet in the address was never edited by them). ``states``: the video's states in which
    the route is open (empty: all); another state is a 409.
    """

    annotator: str
    reviewer: str
    admin: str
    states: tuple[str, ...] = ()


VIEW, EDIT, ADMIN = Rule(OWN, ANY, ANY), Rule(OWN, NO, ANY, EDITING), Rule(NO, NO, ANY)
TEAM = Rule(NO, ANY, ANY)  # what the whole team did: reviewers and admins
V = "/api/videos/{video_id}"

# route ("METHOD path", as the app declares it) -> rule; every route of the app has exactly one
ACCESS: dict[str, Rule] = {
    "GET /": Rule(ANY, ANY, ANY), "GET /dashboard": TEAM,
    "GET /api/health": Rule(ANY, ANY, ANY), "GET /api/stats": Rule(ANY, ANY, ANY), "GET /api/me": Rule(ANY, ANY, ANY),
    "GET /api/next": Rule(ANY, ANY, NO), "POST /api/model": ADMIN,
    "GET /api/videos": Rule(ANY, ANY, ANY),  # an annotator's list holds their own videos only
    "POST /api/videos": ADMIN, "GET /api/objects": TEAM, "GET /api/effort": TEAM,
    "POST /api/export": ADMIN, "GET /api/exports/{path:path}": ADMIN,
    "GET /api/people": ADMIN, "POST /api/people": ADMIN, "POST /api/people/{name}/disable": ADMIN,
    "POST /api/people/{name}/token": ADMIN,
    f"GET {V}": VIEW, f"PATCH {V}": EDIT, f"GET {V}/frames/{{frame}}": VIEW, f"POST {V}/focus": VIEW,
    f"GET {V}/objects": VIEW, f"POST {V}/objects": EDIT, f"PATCH {V}/objects/{{obj_id}}": EDIT,
    f"DELETE {V}/objects/{{obj_id}}": EDIT,
    f"POST {V}/objects/{{obj_id}}/review": Rule(NO, UNEDITED, UNEDITED, REVIEWING),
    f"GET {V}/objects/{{obj_id}}/reviews": VIEW,
    f"POST {V}/prompts": EDIT, f"POST {V}/clear": EDIT, f"POST {V}/undo": EDIT, f"POST {V}/redo": EDIT,
    f"GET {V}/actions": VIEW, f"GET {V}/history": VIEW, f"GET {V}/masks": VIEW, f"GET {V}/masks/{{frame}}": VIEW,
    f"POST {V}/propagate": EDIT, f"POST {V}/propagate/cancel": Rule(OWN, NO, ANY),  # stopping is always safe
    f"POST {V}/propagate/resume": EDIT, f"GET {V}/propagation": VIEW, f"GET {V}/events": VIEW,
    f"GET {V}/effort": VIEW, f"POST {V}/segment-everything": EDIT,
    f"POST {V}/proposals/{{proposal_id}}/accept": EDIT,
    f"GET {V}/auto-masklets": VIEW, f"POST {V}/auto-masklets": EDIT, f"POST {V}/auto-masklets/cancel": Rule(OWN, NO, ANY),
    f"GET {V}/masklet-proposals/{{proposal_id}}": VIEW, f"DELETE {V}/masklet-proposals/{{proposal_id}}": EDIT,
    f"POST {V}/masklet-proposals/{{proposal_id}}/accept": EDIT,
    f"POST {V}/export": ADMIN, f"POST {V}/import": EDIT,
    f"POST {V}/assign": ADMIN, f"POST {V}/submit": Rule(OWN, NO, ANY), f"POST {V}/accept": Rule(NO, OWN, ANY),
    f"POST {V}/send-back": Rule(NO, OWN, ANY), f"GET {V}/permissions": VIEW,
}

_WHO = {"annotator": "an annotator", "reviewer": "a reviewer", "admin": "an admin"}
_HOW = {OWN: {"annotator": " assigned to the video", "reviewer": " of the video (or any, if it has none)"},
        UNEDITED: {"reviewer": " of the video who did not edit the masklet", "admin": " who did not edit the masklet"}}


def _needs(rule: Rule) -> tuple[tuple[str, ...], str]:
    """The roles a rule lets in, and the same in words ("an annotator assigned to the video or an admin")."""
    roles = tuple(r for r in ROLES if getattr(rule, r) != NO)
    words = [_WHO[r] + _HOW.get(getattr(rule, r), {}).get(r, "") for r in roles]
    return roles, " or ".join(words)


def _owns(caller: Caller, video: VideoRow) -> bool:
    if caller.role == "annotator":
        return video.annotator == caller.name
    if caller.role == "reviewer":
        return video.reviewer in (None, caller.name)
    return True


def check_access(rule: Rule, caller: Caller, store: Store, what: str, video_id: int | None = None,
                 obj_id: int | None = None) -> None:
    """Refuse ``what`` (e.g. "POST /api/videos/3/prompts") when ``rule`` does not let ``caller`` do it:
    :class:`ForbiddenError` (403) naming the roles that may, or :class:`ConflictError` (409) when the video's state
    closes the route. ``video_id`` and ``obj_id``: the video and masklet in the address (None: none), read from
    ``store`` (:class:`NotFoundError` 404 first when unknown). A studio without people allows everything."""
    if caller.solo:
        return
    cell = getattr(rule, caller.role)  # type: ignore[arg-type]
    needs, words = _needs(rule)
    if cell == NO:
        raise ForbiddenError(f"role: {what} needs {words}; {caller.name} is {_WHO[caller.role]}", needs)  # type: ignore[index]
    video = store.videos.get(video_id) if video_id is not None else None  # NotFoundError (404) first
    if video is not None and cell in (OWN, UNEDITED) and not _owns(caller, video):
        whose = video.annotator if caller.role == "annotator" else video.reviewer
        raise ForbiddenError(f"role: {what} needs {words}; video {video.id} is {whose or 'nobody'}'s, "
                             f"not {caller.name}'s", needs)
    if video is not None and obj_id is not None and cell == UNEDITED:
        store.videos.object(video.id, obj_id)  # UnknownObjectError (404) first
        if store.workflow.edited_by(video.id, obj_id, caller.name):  # type: ignore[arg-type]
            raise ForbiddenError(f"role: {what} needs {words}; {caller.name} edited masklet {obj_id} of video "
                                 f"{video.id}, and a masklet is verified by someone else", needs)
    if video is not None and rule.states and video.status not in rule.states:
        raise ConflictError(f"status: video {video.id} is {video.status}; {what} is open while it is "
                            f"{' or '.join(rule.states)}")


# ---------------------------------------------------------------------- what the page may offer
# The page's controls, each named by the route it calls: what a person may do is read from ACCESS (and,
# for the work-flow steps, from the states a step starts from), never restated for the page.
PAGE_CONTROLS = {"upload": "POST /api/videos", "export": "POST /api/export", "model": "POST /api/model",
                 "people": "POST /api/people", "dashboard": "GET /dashboard", "next": "GET /api/next",
                 "assign": f"POST {V}/assign"}
VIDEO_CONTROLS = {"edit": f"POST {V}/prompts", "method": f"PATCH {V}", "cancel": f"POST {V}/propagate/cancel",
                  "review": f"POST {V}/objects/{{obj_id}}/review", "submit": f"POST {V}/submit",
                  "accept": f"POST {V}/accept", "send_back": f"POST {V}/send-back", "assign": f"POST {V}/assign",
                  "export": f"POST {V}/export"}


def refusal(route: str, caller: Caller, store: Store, video_id: int | None = None,
            obj_id: int | None = None) -> dict[str, object] | None:
    """What a request of ``route`` (a key of :data:`ACCESS`) by ``caller`` would be refused with now:
    ``{"status": 403 or 409, "error": the reply's words}``; None when it would pass the role check. Without
    ``video_id``, only the role is checked (would any video let them?); ``obj_id``: the masklet in the address.
    ``store`` tells the video's assignment and state."""
    method, path = route.split(" ", 1)
    what = f"{method} {path.replace('{video_id}', str(video_id)).replace('{obj_id}', str(obj_id))}"
    try:
        check_access(ACCESS[route], caller, store, what, video_id, obj_id)
    except ForbiddenError as exc:
        return {"status": 403, "error": str(exc)}
    except ConflictError as exc:
        return {"status": 409, "error": str(exc)}
    return None


def page_permissions(caller: Caller, store: Store) -> dict[str, bool]:
    """Which of the page's controls outside a video (:data:`PAGE_CONTROLS`) ``caller`` may use (control name ->
    bool), read from the role table."""
    return {name: refusal(route, caller, store) is None for name, route in PAGE_CONTROLS.items()}


def video_permissions(caller: Caller, store: Store, video_id: int) -> dict[str, object]:
    """What ``caller`` may do on video ``video_id`` now, for the page to show only that: ``may`` (control -> bool,
    :data:`VIDEO_CONTROLS`), ``refused`` (control -> ``{status, error}``, the words the server would answer), and
    ``masklets`` (obj_id -> None when the caller may review that masklet, else the refusal: a masklet they edited, a
    video not waiting for review), beside the video's ``status``, ``annotator`` and ``reviewer``. A work-flow step
    is refused, as the server would (409), from a state it does not start from."""
    video = store.videos.get(video_id)
    refused: dict[str, object] = {}
    for name, route in VIDEO_CONTROLS.items():
        why = refusal(route, caller, store, video_id)
        if why is None and name in STEPS:  # submit, accept, send_back: also the states the step starts from
            words = STEPS[name].refusal(video_id, video.status)
            why = None if words is None else {"status": 409, "error": words}
        if why is not None:
            refused[name] = why
    review = VIDEO_CONTROLS["review"]
    masklets = {str(o.obj_id): refusal(review, caller, store, video_id, o.obj_id)
                for o in store.videos.objects(video_id)}
    return {"video_id": video_id, "status": video.status, "annotator": video.annotator, "reviewer": video.reviewer,
            "may": {name: name not in refused for name in VIDEO_CONTROLS}, "refused": refused, "masklets": masklets}
