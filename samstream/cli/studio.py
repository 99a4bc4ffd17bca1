"""``samstream studio``: serve a data dir for annotation, or add videos to it.

    samstream studio [DATA_DIR] [--model NAME] [--host 127.0.0.1] [--port 8000] [--token TOKEN]
    samstream studio add DATA_DIR clip.mp4 frames/ ...
    samstream studio import DATA_DIR VIDEO_ID annotation.json|davis_pngs/
    samstream studio export DATA_DIR --format sav|davis|coco|mp4 [--stride 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from samstream.cli.common import Reporter, positive_int
from samstream.errors import InvalidInputError

__all__ = ["register"]

ACTIONS = ("add", "import", "export")


def register(sub: argparse._SubParsersAction, common: Any) -> None:
    p = common(sub.add_parser("studio", help="annotation server over a data dir (add, import, export too)"),
               "samstream-nano")
    p.add_argument("data_dir", nargs="?", default="studio-data",
                   help="data dir, or one of add/import/export followed by its arguments (default: ./studio-data)")
    p.add_argument("items", nargs="*", help="for add: video files, images or frame folders; "
                                            "for import: VIDEO_ID and an SA-V JSON or a DAVIS PNG folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--token", default=None, help="access token (required off loopback; generated when not given)")
    p.add_argument("--max-upload-mb", type=positive_int, default=2048, help="largest upload (default: 2048 MB)")
    p.add_argument("--warm-sessions", type=positive_int, default=2,
                   help="videos whose model state stays in memory (default: 2)")
    p.add_argument("--format", default="sav", choices=("sav", "davis", "coco", "mp4"), help="export format")
    p.add_argument("--stride", type=positive_int, default=4, help="SA-V export: every N-th frame (default: 4)")
    p.set_defaults(func=_cmd_studio)


def _cmd_studio(args: argparse.Namespace) -> int:
    if args.data_dir in ACTIONS:
        if not args.items:
            raise InvalidInputError(f"studio {args.data_dir}: give DATA_DIR first")
        action, data_dir, items = args.data_dir, Path(args.items[0]), args.items[1:]
        return {"add": _add, "import": _import, "export": _export}[action](args, data_dir, items)
    if args.items:
        raise InvalidInputError(f"studio: unexpected arguments {args.items}; to add videos use "
                                "`samstream studio add DATA_DIR clip.mp4`")
    return _serve(args, Path(args.data_dir))


def _add(args: argparse.Namespace, data_dir: Path, items: list[str]) -> int:
    from samstream.studio.service import add_video, open_store

    if not items:
        raise InvalidInputError("studio add: give at least one video file, image or frame folder")
    for item in items:
        if not Path(item).exists():
            raise InvalidInputError(f"studio add: no such file or folder {item!r}")
    report = Reporter(args)
    store = open_store(data_dir)
    try:
        for item in items:
            video = add_video(store, data_dir, Path(item))
            report.event({"event": "added", **video})
            report.note(f"added {video['name']} as video {video['id']} ({video['num_frames']} frames)")
    finally:
        store.close()
    report.summary(f"{len(items)} video(s) added to {data_dir}", {"added": len(items)})
    return 0


def _import(args: argparse.Namespace, data_dir: Path, items: list[str]) -> int:
    from samstream.studio import export
    from samstream.studio.service import open_store

    if len(items) != 2 or not items[0].isdigit():
        raise InvalidInputError("studio import: give DATA_DIR VIDEO_ID and an SA-V JSON file or a DAVIS PNG folder")
    source = Path(items[1])
    store = open_store(data_dir)
    try:
        if source.is_dir():
            reply = export.import_davis_folder(store, int(items[0]), source)
        else:
            try:
                doc = json.loads(source.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise InvalidInputError(f"studio import: cannot read {str(source)!r} as JSON ({exc})") from exc
            reply = export.import_sav_doc(store, int(items[0]), doc)
    finally:
        store.close()
    Reporter(args).summary(f"imported {len(reply['objects'])} masklet(s), {reply['masks']} masks", reply)
    return 0


def _export(args: argparse.Namespace, data_dir: Path, items: list[str]) -> int:
    from samstream.studio import export
    from samstream.studio.service import open_store

    store = open_store(data_dir)
    try:
        ids = [int(i) for i in items] if items else [v["id"] for v in store.videos()]
        reply = export.export_videos(store, data_dir, ids, args.format, args.stride)
    finally:
        store.close()
    Reporter(args).summary(f"wrote {len(reply['files'])} export(s) under {data_dir / 'exports'}", reply)
    return 0


def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    try:
        import uvicorn  # studio extra: pip install 'samstream[studio]'
    except ImportError as exc:
        raise InvalidInputError("studio: the server needs its extra: pip install 'samstream[studio]'") from exc
    from samstream.studio.app import create_app
    from samstream.studio.service import Settings

    # the studio defaults to the bundled model: it runs anywhere, with no download
    settings = Settings(data_dir=data_dir, model=args.model or "samstream-nano", device=args.device,
                        host=args.host, port=args.port, token=args.token,
                        max_upload_bytes=args.max_upload_mb << 20, warm_sessions=args.warm_sessions)
    app = create_app(settings)
    url = f"http://{args.host}:{args.port}/"
    if settings.token:
        url += f"?token={settings.token}"
    print(f"samstream studio: serving {data_dir} with {settings.model} at {url}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if not args.quiet else "error")
    return 0

