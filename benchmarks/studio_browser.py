"""The studio page end to end in Chromium: click to mask drawn, frames drawn per second while propagating.

    python benchmarks/studio_browser.py [--model samstream-nano] [--size 256] [--frames 24] [--clicks 15]

A real server process and Debian's Chromium (headless, Playwright). Measured in the page:

* click to mask drawn: from the page's click handler to the mask painted on the canvas (request,
  the server's worker, RLE, SQLite commit, reply, RLE decode, drawing), median and p95;
* propagation: frames whose masks the page received and drew per second, from the button to the
  ``propagation_done`` event, beside the server's own frames/s in that event stream.

Run ``benchmarks/studio.py`` for the server-side figures against the library. Figures from a loaded
machine are noisy.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402
from studio import clicks_for, start_server  # noqa: E402

from samstream.data.synthetic import SyntheticConfig, generate_clip  # noqa: E402
from samstream.video.frames.decode import write_video  # noqa: E402

CLICK_JS = """async ([x, y]) => {
  const a = window.studio.annotation, t0 = performance.now();
  await a.click([x, y], false);
  return performance.now() - t0;
}"""

PROPAGATE_JS = """async () => {
  const a = window.studio.annotation, inner = a.onEvent.bind(a);
  let frames = 0, serverFps = 0;
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    a.onEvent = (kind, d, id) => {
      inner(kind, d, id);
      if (kind === "frame") { frames += 1; serverFps = d.fps; }
      if (kind.startsWith("propagation_") && kind !== "propagation_started") resolve();
    };
  });
  await a.propagate("forward");
  await done;
  a.onEvent = inner;
  return [frames, (performance.now() - t0) / 1000, serverFps];
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="samstream-nano")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--clicks", type=int, default=15)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright  # studio test extra

    clip = generate_clip(7, SyntheticConfig(size=args.size, num_frames=args.frames, max_objects=1, exit_prob=0.0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_video(root / "clip.mp4", clip.frames, 12)
        proc, client = start_server(root / "data", args.model)
        try:
            with open(root / "clip.mp4", "rb") as fh:
                client.post("/api/videos?name=clip.mp4", content=fh.read()).raise_for_status()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{client.base_url}/#/video/1")
                page.wait_for_function("window.studio.annotation.canvas.image !== null", timeout=120000)
                page.evaluate("window.studio.annotation.addObject()")
                page.wait_for_function("window.studio.annotation.state.selected !== null")
                times = [page.evaluate(CLICK_JS, p) for p in clicks_for(clip.masks[0, 0], args.clicks)]
                frames, seconds, server_fps = page.evaluate(PROPAGATE_JS)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    p95 = float(np.percentile(times, 95))
    print(f"# studio in Chromium, {machine()}, {args.model}, {args.size}x{args.size}, {args.frames} frames")
    print(table([
        ["click to mask drawn, median (ms)", f"{statistics.median(times):.1f}"],
        ["click to mask drawn, p95 (ms)", f"{p95:.1f}"],
        ["frames drawn during propagation", f"{frames}"],
        ["frames drawn per second", f"{frames / seconds:.2f}"],
        ["server frames per second (event stream)", f"{server_fps:.2f}"],
    ], ["measure", "value"]))


if __name__ == "__main__":
    main()
