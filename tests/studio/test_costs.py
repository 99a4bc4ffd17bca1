"""What undo, redo, a restart's first click and an eviction's first click cost, counted (not timed):
the same model work on a short and on a long video, and no re-tracking at all."""

from __future__ import annotations

import warnings

from samstream.data.synthetic import SyntheticConfig, generate_clip
from tests.studio.conftest import centre_click, write_frames
from tests.studio.helpers import wait_propagation


def _client(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app)


def _work(client) -> tuple[int, int]:
    stats = client.get("/api/stats").json()
    return stats["frames_tracked"], stats["images_encoded"]


def costs(tmp_path, nano, frames: int) -> dict[str, tuple[int, int]]:
    """(object-frames tracked, images encoded) by each step, on a clip of ``frames`` frames."""
    from samstream.studio.app import create_app
    from samstream.studio.service import Settings, add_video

    clip = generate_clip(0, SyntheticConfig(size=64, num_frames=frames, max_objects=2, exit_prob=0.0))
    write_frames(tmp_path / "clip", clip.frames)
    fix = {"obj_id": 1, "frame": frames // 2, "points": [centre_click(clip.masks[frames // 2, 0])], "labels": [0]}
    out: dict[str, tuple[int, int]] = {}

    def step(client, name, fn) -> None:
        before = _work(client)
        fn()
        after = _work(client)
        out[name] = (after[0] - before[0], after[1] - before[1])

    app = create_app(Settings(data_dir=tmp_path / "data", session_memory=1), model=nano)
    with _client(app) as c:
        studio = app.app.state.studio
        for _ in range(2):
            add_video(studio.store, studio.data_dir, tmp_path / "clip", "clip.png", force=True)
        for vid in (1, 2):
            c.post(f"/api/videos/{vid}/objects", json={})
            c.post(f"/api/videos/{vid}/prompts", json={"obj_id": 1, "frame": 0, "labels": [1],
                                                       "points": [centre_click(clip.masks[0, 0])]})
        c.post("/api/videos/1/propagate", json={})
        wait_propagation(c, 1)
        c.post("/api/videos/1/prompts", json=fix)  # a correction in the middle of the video
        step(c, "undo", lambda: c.post("/api/videos/1/undo", json={}))
        step(c, "redo", lambda: c.post("/api/videos/1/redo", json={}))
        c.post("/api/videos/1/undo", json={})
        step(c, "undo of the run", lambda: c.post("/api/videos/1/undo", json={}))
        step(c, "redo of the run", lambda: c.post("/api/videos/1/redo", json={}))
        c.post("/api/videos/2/prompts", json={**fix, "labels": [1], "frame": 1})  # video 1 is evicted
        step(c, "first click after an eviction", lambda: c.post("/api/videos/1/prompts", json={**fix, "frame": 3}))
    app = create_app(Settings(data_dir=tmp_path / "data"), model=nano)  # a restart
    with _client(app) as c:
        step(c, "first click after a restart", lambda: c.post("/api/videos/1/prompts", json={**fix, "frame": 5}))
    return out


def test_undo_redo_restart_and_eviction_cost_the_same_on_any_video_length(tmp_path, nano):
    short, long = costs(tmp_path / "short", nano, 12), costs(tmp_path / "long", nano, 60)
    assert short == long  # independent of the video's length ...
    assert short == {"undo": (0, 0), "redo": (0, 0), "undo of the run": (0, 0), "redo of the run": (0, 0),
                     "first click after an eviction": (0, 1), "first click after a restart": (0, 1)}
    # ... and of the model's work nothing but the clicked frame's encoding (no re-tracking)
