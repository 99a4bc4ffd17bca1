"""``samstream studio``: serve a data dir for annotation, or add, import and export its videos.

    samstream studio [serve] DATA_DIR [--model NAME] [--host 127.0.0.1] [--port 8000] [--image-size N]
    samstream studio add DATA_DIR clip.mp4 frames/ ... [--force]
    samstream studio import DATA_DIR VIDEO_ID annotation.json|davis_pngs/
    samstream studio export DATA_DIR [VIDEO_ID ...] --format sav|davis|coco|mp4 [--stride 4]
    samstream studio user add|list|disable|token DATA_DIR [NAME] ...   (see samstream.cli.studio_team)
    samstream studio assign DATA_DIR VIDEO_ID NAME [--reviewer NAME]

``serve`` is the default: ``samstream studio DATA_DIR`` serves it. Each action has its own ``--help``.
"""

from __future__ import annotations

import argparse
import copy
import json
import socket
import sys
from pathlib import Path
from typing import Any

from samstream.cli import studio_team
from samstream.cli.common import Reporter, basic, positive_int
from samstream.errors import InvalidInputError

__all__ = ["ACTIONS", "register"]

ACTIONS = ("serve", "add", "import", "export", "user", "assign")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction, common: Any) -> None:
    studio = sub.add_parser("studio", help="annotation server over a data dir (and add, import, export, people)",
                            description="Serve a data dir for annotation (the default action), or add videos to it, "
                                        "import masklets into it, export its masklets. "
                                        "`samstream studio ACTION --help` for each.")
    actions = studio.add_subparsers(dest="studio_action", metavar="ACTION")
    actions.required = True

    serve = common(actions.add_parser("serve", help="serve DATA_DIR on the web (the default action)"), "samstream-nano")
    serve.add_argument("data_dir", nargs="?", default="studio-data", metavar="DATA_DIR",
                       help="the data dir (created when it does not exist; default: ./studio-data)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--token", default=None, help="access token (required off loopback; generated when not given)")
    serve.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                       help="the model's input size (a multiple of 32; default: the model's own). Smaller is "
                            "faster and coarser: see the README's studio section for measured figures")
    serve.add_argument("--max-upload-mb", type=positive_int, default=2048, help="largest upload (default: 2048 MB)")
    serve.add_argument("--session-memory-mb", type=positive_int, default=2048,
                       help="memory all warm video sessions may hold together (default: 2048 MB); the least "
                            "recently used is closed first and rebuilt from the data dir when needed, at no "
                            "re-tracking cost")
    serve.add_argument("--feature-cache-mb", type=positive_int, default=256,
                       help="image features each session keeps, frames around the one on screen encoded "
                            "while idle (default: 256 MB)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every request on stderr (tokens never appear in it: the server takes them out "
                            "of addresses before anything sees them)")
    serve.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="inference workers (default: one per GPU, or 1 on a CPU); with more than one, each is a "
                            "process holding the model and the sessions of the videos pinned to it, so a click on "
                            "one video never waits behind another video's propagation; a worker that dies is "
                            "started again and its runs resumed")
    serve.add_argument("--engine", default="local", choices=("local", "ray"),
                       help="local: workers on this machine; ray: Ray actors (pip install 'samstream[ray]')")
    serve.add_argument("--address", default=None, metavar="ADDR",
                       help="--engine ray: the cluster (e.g. auto or HEAD:6379; default: a local cluster)")
    serve.set_defaults(func=_serve)

    add = basic(actions.add_parser("add", help="copy videos, images or frame folders into a data dir"))
    add.add_argument("data_dir", metavar="DATA_DIR",
                     help="the data dir (a new or empty folder becomes one; any other folder is refused)")
    add.add_argument("items", nargs="+", metavar="VIDEO", help="video files, images or frame folders")
    add.add_argument("--force", action="store_true", help="add a file that was added before once more")
    add.set_defaults(func=_add)

    imp = basic(actions.add_parser("import", help="import masklets (SA-V JSON or DAVIS PNGs) as objects of a video"))
    imp.add_argument("data_dir", metavar="DATA_DIR", help="an existing data dir")
    imp.add_argument("video_id", type=positive_int, metavar="VIDEO_ID", help="the video they belong to")
    imp.add_argument("source", metavar="SOURCE", help="an SA-V masklet JSON file or a folder of DAVIS label PNGs")
    imp.add_argument("--stride", type=positive_int, default=4, help="SA-V: video frames per annotated frame (default: 4)")
    imp.set_defaults(func=_import)

    exp = basic(actions.add_parser("export", help="export masklets (SA-V, DAVIS, COCO, overlay MP4)"))
    exp.add_argument("data_dir", metavar="DATA_DIR", help="an existing data dir")
    exp.add_argument("video_ids", nargs="*", type=positive_int, metavar="VIDEO_ID", help="videos (default: all)")
    exp.add_argument("--format", default="sav", choices=("sav", "davis", "coco", "mp4"), help="export format (default: sav)")
    exp.add_argument("--stride", type=positive_int, default=4, help="SA-V: every N-th frame (default: 4)")
    exp.add_argument("--accepted-only", action="store_true", help="only masklets a review accepted")
    exp.add_argument("--done-only", action="store_true",
                     help="only videos whose work flow is done (with --accepted-only: a training set)")
    exp.add_argument("--with-media", action="store_true", help="SA-V: the video beside its masklet file (a training set)")
    exp.set_defaults(func=_export)
    studio_team.register(actions)


def default_action(argv: list[str]) -> list[str]:
    """``samstream studio DATA_DIR ...`` means ``samstream studio serve DATA_DIR ...``."""
    if argv and argv[0] == "studio":
        rest = argv[1:]
        if not rest or (rest[0] not in ACTIONS and rest[0] not in ("-h", "--help")):
            return ["studio", "serve", *rest]
    return argv


def _add(args: argparse.Namespace) -> int:
    from samstream.studio.service import add_video, is_data_dir, open_store

    data_dir = Path(args.data_dir)
    for item in args.items:
        if not Path(item).exists():
            raise InvalidInputError(f"studio add: no such file or folder {item!r}")
    report = Reporter(args)
    new = not is_data_dir(data_dir)
    store = open_store(data_dir, create=True)
    if new:
        report.note(f"created the data dir {data_dir}")
    added = 0
    try:
        for item in args.items:
            video = add_video(store, data_dir, Path(item), force=args.force)
            added += 1
            report.event({"event": "added", **video.json()})
            report.note(f"added {video.name} as video {video.id} ({video.num_frames} frames)")
    finally:
        store.close()
    report.summary(f"{added} video(s) added to {data_dir}", {"added": added, "created": new})
    return 0


def _import(args: argparse.Namespace) -> int:
    from samstream.studio.imports import import_davis_folder, import_sav_doc
    from samstream.studio.service import open_store

    source = Path(args.source)
    if not source.exists():
        raise InvalidInputError(f"studio import: no such file or folder {args.source!r}")
    store = open_store(Path(args.data_dir))
    try:
        if source.is_dir():
            reply = import_davis_folder(store, args.video_id, source)
        else:
            try:
                doc = json.loads(source.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInputError(f"studio import: cannot read {str(source)!r} as JSON ({exc})") from None
            reply = import_sav_doc(store, args.video_id, doc, args.stride)
    finally:
        store.close()
    Reporter(args).summary(f"imported {len(reply['objects'])} masklet(s), {reply['masks']} masks", reply)
    return 0


def _export(args: argparse.Namespace) -> int:
    from samstream.studio import export
    from samstream.studio.service import open_store

    data_dir = Path(args.data_dir)
    store = open_store(data_dir)
    report = Reporter(args)
    try:
        ids = args.video_ids or [v.id for v in store.videos.all()]
        if not ids:
            raise InvalidInputError(f"studio export: {data_dir} has no video yet")
        total = sum(store.videos.get(i).num_frames for i in ids)
        with _ProgressBar(report, total) as bar:
            reply = export.export_videos(store, data_dir, ids, args.format, args.stride, args.accepted_only,
                                         args.with_media, bar.update, args.done_only)
    finally:
        store.close()
    report.summary(f"wrote {len(reply['files'])} export(s) under {data_dir / 'exports'}", reply)
    return 0


class _ProgressBar:
    """Frames written by an export, as the reporter shows progress (a bar in text mode)."""

    def __init__(self, report: Reporter, total: int) -> None:
        self.report, self.total, self.bar = report, total, None

    def __enter__(self) -> "_ProgressBar":
        if not self.report.quiet and not self.report.jsonl:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, unit=" frames", desc=self.report.command, file=sys.stderr, leave=False)
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.n = done
            self.bar.refresh()

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def served_urls(host: str, port: int, token: str | None) -> list[str]:
    """Addresses a browser can open: the loopback one, and off loopback this machine's name and address."""
    query = f"?token={token}" if token else ""
    if host in LOOPBACK:
        return [f"http://{'[::1]' if host == '::1' else host}:{port}/{query}"]
    names = []
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        names.append(name)
        try:
            names += [a for a in {i[4][0] for i in socket.getaddrinfo(name, None, socket.AF_INET)}
                      if not a.startswith("127.")]
        except OSError:  # a name the resolver does not know: the name alone
            pass
        names.append("127.0.0.1")
    else:
        names.append(host)
    return [f"http://{'[' + n + ']' if ':' in n else n}:{port}/{query}" for n in dict.fromkeys(names)]


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # studio extra: pip install 'samstream[studio]'
    except ImportError as exc:
        raise InvalidInputError("studio: the server needs its extra: pip install 'samstream[studio]'") from exc
    from samstream.studio.app import create_app
    from samstream.studio.service import Settings, is_data_dir, open_store

    data_dir = Path(args.data_dir)
    people = False
    if is_data_dir(data_dir):
        store = open_store(data_dir)
        people = store.people.any()
        store.close()
    # the studio defaults to the bundled model: it runs anywhere, with no download
    settings = Settings(data_dir=data_dir, model=args.model or "samstream-nano", device=args.device,
                        image_size=args.image_size, host=args.host, port=args.port, token=args.token,
                        max_upload_bytes=args.max_upload_mb << 20, session_memory=args.session_memory_mb << 20,
                        feature_cache=args.feature_cache_mb << 20, workers=args.workers or 0, engine=args.engine,
                        ray_address=args.address)
    if args.engine == "ray":
        try:
            import ray  # noqa: F401  (the ray extra)
        except ImportError as exc:
            raise InvalidInputError("studio: --engine ray needs its extra: pip install 'samstream[ray]'") from exc
    app = create_app(settings)
    urls = served_urls(args.host, args.port, None if people else settings.token)
    print(f"samstream studio: serving {data_dir} with {settings.model} at {urls[0]}", file=sys.stderr, flush=True)
    for url in urls[1:]:
        print(f"samstream studio: also at {url}", file=sys.stderr, flush=True)
    if people:  # each person opens the address with their own token; the server's shared one is not used
        print("samstream studio: this data dir has people: each opens the address with ?token=THEIR_TOKEN "
              "(`samstream studio user token DATA_DIR NAME` makes a new one)", file=sys.stderr, flush=True)
    level = "error" if args.quiet else "info" if args.access_log else "warning"
    logging = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout stays for output, as in every command
    uvicorn.run(app, host=args.host, port=args.port, log_level=level, access_log=args.access_log, log_config=logging)
    return 0
