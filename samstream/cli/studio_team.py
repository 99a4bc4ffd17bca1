"""``samstream studio user|assign``: the people of a data dir and who works on which video.

    samstream studio user add DATA_DIR NAME --role annotator|reviewer|admin   (prints the token once)
    samstream studio user list DATA_DIR
    samstream studio user disable DATA_DIR NAME
    samstream studio user token DATA_DIR NAME        (a new token; the old one stops working)
    samstream studio assign DATA_DIR VIDEO_ID NAME [--reviewer NAME]

A data dir's first person turns its studio into one where every request needs a person's token.
These commands work while the server runs (they write the same database).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from samstream.cli.common import Reporter, basic, positive_int

__all__ = ["register"]

ROLES_TEXT = "annotator, reviewer or admin"


def register(actions: argparse._SubParsersAction) -> None:
    user = actions.add_parser("user", help="the people of a data dir: add, list, disable, new token",
                              description="People, their roles and tokens. A data dir with people needs a "
                                          "person's token for every request.")
    users = user.add_subparsers(dest="user_action", metavar="ACTION")
    users.required = True
    add = _command(users, "add", "add a person and print their token (shown only this once)", _user_add)
    add.add_argument("--role", required=True, help=f"what they do: {ROLES_TEXT}")
    _command(users, "list", "list the people (names, roles, enabled or not; never tokens)", _user_list, person=False)
    _command(users, "disable", "refuse a person's token from now on (their work stays)", _user_disable)
    _command(users, "token", "a new token for a person (printed once); the old one stops working", _user_token)

    assign = basic(actions.add_parser("assign", help="assign a video to an annotator (and a reviewer)"))
    assign.add_argument("data_dir", metavar="DATA_DIR", help="an existing data dir")
    assign.add_argument("video_id", type=positive_int, metavar="VIDEO_ID", help="the video")
    assign.add_argument("name", metavar="NAME", help="the annotator (a person with the role annotator or admin)")
    assign.add_argument("--reviewer", default=None, metavar="NAME",
                        help="who verifies its masklets (a reviewer or admin; default: unchanged, any reviewer "
                             "if none was assigned)")
    assign.set_defaults(func=_assign)


def _command(parent: argparse._SubParsersAction, name: str, help_: str, func: Any,
             person: bool = True) -> argparse.ArgumentParser:
    """A ``user`` command over DATA_DIR (and a person's NAME)."""
    parser = basic(parent.add_parser(name, help=help_))
    parser.add_argument("data_dir", metavar="DATA_DIR", help="the data dir (`user add`: a new or empty folder "
                                                             "becomes one)")
    if person:
        parser.add_argument("name", metavar="NAME", help="the person: letters, digits, '.', '_' or '-' (at most 64)")
    parser.set_defaults(func=func)
    return parser


def _store(args: argparse.Namespace, create: bool = False) -> Any:
    from samstream.studio.service import open_store  # imported when a command runs: --help stays fast

    return open_store(Path(args.data_dir), create=create)


def _print_token(args: argparse.Namespace, text: str, record: dict[str, Any], token: str) -> None:
    """The token is printed even with -q: it is shown only this once."""
    report = Reporter(args)
    if report.quiet:
        print(token, flush=True)
    else:
        report.summary(f"{text}; token (shown only now): {token}", {**record, "token": token})


def _user_add(args: argparse.Namespace) -> int:
    from samstream.studio.auth import add_person
    from samstream.studio.store import check_name, check_role

    check_name(args.name)  # before a new data dir is made for nothing
    check_role(args.role)
    store = _store(args, create=True)  # a team may set up its people before its first video
    try:
        first = not store.people.any()
        person, token = add_person(store, args.name, args.role)
    finally:
        store.close()
    if first:
        Reporter(args).note("the data dir has people now: every request to its studio needs a person's token")
    _print_token(args, f"added {person.name} as {person.role}", {"person": person.json()}, token)
    return 0


def _user_list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        people = store.people.all()
    finally:
        store.close()
    report = Reporter(args)
    for p in people:
        report.event({"event": "person", **p.json()})
        if not report.quiet and not report.jsonl:
            since = time.strftime("%Y-%m-%d", time.localtime(p.created))
            print(f"{p.name:<24} {p.role:<10} {'disabled' if p.disabled else 'enabled':<9} since {since}")
    report.summary(f"{len(people)} person(s)" if people else "no people: the studio serves one person",
                   {"people": len(people)})
    return 0


def _user_disable(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        person = store.people.disable(args.name)
    finally:
        store.close()
    Reporter(args).summary(f"disabled {person.name}: their token is refused from now on", {"person": person.json()})
    return 0


def _user_token(args: argparse.Namespace) -> int:
    from samstream.studio.auth import replace_token

    store = _store(args)
    try:
        person, token = replace_token(store, args.name)
    finally:
        store.close()
    _print_token(args, f"new token for {person.name} (the old one no longer works)", {"person": person.json()}, token)
    return 0


def _assign(args: argparse.Namespace) -> int:
    store = _store(args)
    fields = {"annotator": args.name, **({} if args.reviewer is None else {"reviewer": args.reviewer})}
    try:
        video = store.workflow.assign(args.video_id, fields, None)
    finally:
        store.close()
    reviewer = f", reviewed by {video.reviewer}" if video.reviewer else ", reviewed by any reviewer"
    Reporter(args).summary(f"video {video.id} ({video.name}, {video.status}) assigned to {video.annotator}{reviewer}",
                           {"video": video.json()})
    return 0
