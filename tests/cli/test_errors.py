"""Bad inputs: one line on stderr naming the problem, exit code 2, no traceback.

Run in-process through ``main(argv)``; ``test_commands`` checks the same in a real process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.cli import main

# (arguments, text the error line must contain); {ckpt}, {img}, {video}, {root} are filled in
CASES: list[tuple[str, list[str], str]] = [
    ("no command", [], "the following arguments are required: COMMAND"),
    ("unknown command", ["frob"], "invalid choice: 'frob'"),
    ("unknown option", ["models", "--frob"], "unrecognized arguments: --frob"),
    ("point not numbers", ["segment", "{img}", "--point", "a,b", "--out", "o"], "'a,b' is not X,Y"),
    ("bad label", ["segment", "{img}", "--point", "1,2:5", "--out", "o"], "must be 1 (object) or 0"),
    ("inverted box", ["segment", "{img}", "--box", "5,5,1,1", "--out", "o"], "needs X0 <= X1"),
    ("no prompt", ["segment", "{img}", "--out", "o"], "give at least one click or a box"),
    ("missing --out", ["segment", "{img}", "--point", "1,1"], "the following arguments are required: --out"),
    ("missing image", ["segment", "{root}/nope.png", "--point", "1,1", "--out", "o"], "IMAGE: no such file"),
    ("unreadable image", ["segment", "{root}/text.png", "--point", "1,1", "--out", "o"], "is not a readable image"),
    ("point outside image", ["segment", "{img}", "--point", "1000,5", "--model", "{ckpt}", "--out", "o"],
     "coordinate (1000, 5) lies outside the 128x96 image"),
    ("box outside image", ["segment", "{img}", "--box", "0,0,10,500", "--model", "{ckpt}", "--out", "o"],
     "lies outside the 128x96 image"),
    ("unknown model", ["segment", "{img}", "--point", "1,1", "--model", "sam9-huge", "--out", "o"],
     "unknown model name 'sam9-huge'"),
    ("model not downloaded", ["segment", "{img}", "--point", "1,1", "--model", "sam2.1-tiny", "--out", "o"],
     "sam2.1-tiny is not downloaded; run `samstream download sam2.1-tiny`"),
    ("missing checkpoint", ["segment", "{img}", "--point", "1,1", "--model", "{root}/none.pt", "--out", "o"],
     "no such file"),
    ("corrupt checkpoint", ["segment", "{img}", "--point", "1,1", "--model", "{root}/bad.pt", "--out", "o"],
     "cannot be read"),
    ("bad device", ["segment", "{img}", "--point", "1,1", "--device", "tpu", "--out", "o"], "invalid choice: 'tpu'"),
    ("existing outputs", ["segment", "{img}", "--point", "1,1", "--out", "{root}/taken"], "pass --force"),
    ("video prompt without frame", ["track", "{video}", "--point", "1,1", "--out", "o"],
     "must start with a frame index"),
    ("object id 0", ["track", "{video}", "--obj", "0", "--point", "0:1,1", "--out", "o"],
     "object id 0 is out of range (1..255)"),
    ("object id in prefix", ["track", "{video}", "--point", "300@0:1,1", "--out", "o"], "out of range (1..255)"),
    ("box with 3 numbers", ["track", "{video}", "--box", "0:1,2,3", "--out", "o"], "is not X0,Y0,X1,Y1"),
    ("no video prompt", ["track", "{video}", "--out", "o"], "give at least one prompt"),
    ("missing video", ["track", "{root}/none.mp4", "--point", "0:1,1", "--out", "o"], "VIDEO: no such file"),
    ("missing mask file", ["track", "{video}", "--mask", "0:{root}/none.png", "--out", "o"], "--mask: no such file"),
    ("bad prompts file", ["track", "{video}", "--prompts", "{root}/bad.json", "--out", "o"], "not valid JSON"),
    ("max-frames 0", ["track", "{video}", "--point", "0:1,1", "--max-frames", "0", "--out", "o"], "0 is not allowed"),
    ("negative start", ["track", "{video}", "--point", "0:1,1", "--start", "-2", "--out", "o"], "-2 is negative"),
    ("prompt past the end", ["track", "{video}", "--point", "9:10,10", "--model", "{ckpt}", "--out", "o"],
     "frame: 9 is outside the video (frames 0 to 2)"),
    ("start past the end", ["track", "{video}", "--point", "0:10,10", "--start", "7", "--model", "{ckpt}",
                            "--out", "o"], "--start: frame 7 is past the end of the video"),
    ("mask of wrong size", ["track", "{video}", "--mask", "0:{root}/small.png", "--model", "{ckpt}", "--out", "o"],
     "is 10x10, the video is 128x96"),
    ("not a video", ["track", "{root}/text.mp4", "--point", "0:1,1", "--model", "{ckpt}", "--out", "o"],
     "cannot open it as a video file"),
    ("stream source missing", ["stream", "{root}/none.mp4", "--point", "0:1,1", "--out", "o"], "SOURCE: no such file"),
    ("stream prompt never reached", ["stream", "{video}", "--point", "9:1,1", "--max-frames", "1", "-q",
                                     "--no-video", "--model", "{ckpt}", "--out", "o"], "frame 9 was never reached"),
    ("auto grid 0", ["auto", "{img}", "--points-per-side", "0", "--out", "o"], "0 is not allowed"),
    ("auto threshold", ["auto", "{img}", "--pred-iou-thresh", "2", "--out", "o"], "2 is outside [0, 1]"),
    ("auto same names", ["auto", "{img}", "{img}", "--out", "o"], "have the same name"),
    ("download unknown", ["download", "nope"], "unknown model name 'nope'"),
    ("demo frames 0", ["demo", "--frames", "0"], "0 is not allowed"),
]


@pytest.fixture(scope="module")
def bad_media(media) -> dict[str, str]:
    root = media["root"] / "bad"
    root.mkdir(exist_ok=True)
    (root / "text.png").write_text("not an image")
    (root / "text.mp4").write_text("not a video")
    (root / "bad.pt").write_bytes(b"\x00" * 64)
    (root / "bad.json").write_text("{")
    Image.fromarray(np.ones((10, 10), np.uint8)).save(root / "small.png")
    (root / "taken").mkdir(exist_ok=True)
    for name in ("img_mask.png", "img_overlay.png", "img.json"):
        (root / "taken" / name).write_text("earlier output")
    return {"root": str(root), "ckpt": str(media["ckpt"]), "img": str(media["image"]), "video": str(media["video"])}


@pytest.fixture(scope="module")
def cached_loading():
    """Load each checkpoint once for the whole table (loading itself is covered end to end elsewhere)."""
    import functools

    import samstream

    original = samstream.load_model
    samstream.load_model = functools.lru_cache(maxsize=4)(original)
    yield
    samstream.load_model = original


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name,argv,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name: str, argv: list[str], expected: str, bad_media, media, cached_loading, tmp_path: Path,
                   monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAMSTREAM_HOME", str(media["home"]))
    code = main([a.format(**bad_media) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("samstream") and ": error: " in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in err
