"""Fixtures of the studio tests: the bundled model, synthetic clips with known masks, an in-process client."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import samstream
from samstream.data.synthetic import SyntheticClip, SyntheticConfig, generate_clip
from samstream.video.frames.decode import write_video

CLIP_FRAMES = 8


def pytest_collection_modifyitems(items: list) -> None:
    for item in items:  # pycocotools trips numpy 2's __array__(copy=...) deprecation; harmless
        if "tests/studio" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))


def clip(seed: int = 3, frames: int = CLIP_FRAMES) -> SyntheticClip:
    """A 128x128 synthetic clip with at least one large object (seed 3: object 1 is visible on frame 0)."""
    return generate_clip(seed, SyntheticConfig(size=128, num_frames=frames, max_objects=2, exit_prob=0.0))


def write_frames(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    return folder


def centre_click(mask: np.ndarray) -> list[float]:
    """A pixel inside ``mask`` nearest its centroid."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return [float(xs[k]), float(ys[k])]


@pytest.fixture(scope="session")
def nano():
    return samstream.load_model("samstream-nano", device="cpu")


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("studio_media")
    c = clip()
    write_frames(root / "clip_frames", c.frames)
    write_video(root / "clip.mp4", c.frames, 12)
    (root / "notes.mp4").write_text("this is not a video\n")
    return {"root": root, "frames": root / "clip_frames", "video": root / "clip.mp4", "fake": root / "notes.mp4"}


@pytest.fixture()
def studio(tmp_path, nano, media):
    """An in-process studio over a fresh data dir holding the clip's frame folder as video 1."""
    with warnings.catch_warnings():  # starlette asks for httpx2, which is not installed here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from samstream.studio.app import create_app
    from samstream.studio.service import Settings

    app = create_app(Settings(data_dir=tmp_path / "data", max_upload_bytes=1 << 20), model=nano)
    with TestClient(app) as client:
        client.app_state = app.app.state  # type: ignore[attr-defined]
        store = app.app.state.studio.store
        from samstream.studio.service import add_video

        add_video(store, tmp_path / "data", media["frames"], "clip.png")
        yield client



# the people of the `team` fixture: (name, role); "off" is disabled
PEOPLE = (("ann", "annotator"), ("other", "annotator"), ("rev", "reviewer"), ("rev2", "reviewer"), ("adm", "admin"),
          ("off", "annotator"))


class Team:
    """The in-process client of a studio with people: requests as one of them (None: without a token)."""

    def __init__(self, client, tokens: dict[str, str]) -> None:
        self.client, self.tokens = client, tokens
        self.store = client.app_state.studio.store

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def request(self, who: str | None, method: str, path: str, **kw):
        return self.client.request(method, path, headers=self.headers(who), **kw)

    def get(self, who, path, **kw):
        return self.request(who, "GET", path, **kw)

    def post(self, who, path, **kw):
        return self.request(who, "POST", path, **kw)

    def acting(self, who: str) -> "Acting":
        """A client whose requests carry ``who``'s token (for the helpers that take a client)."""
        return Acting(self, who)


class Acting:
    def __init__(self, team: Team, who: str) -> None:
        self.team, self.who = team, who

    def get(self, path, **kw):
        return self.team.get(self.who, path, **kw)


@pytest.fixture()
def team(studio, media):
    """The studio with a second video (the same frames) and the people of :data:`PEOPLE`; both videos are
    assigned to ann, reviewed by rev."""
    from samstream.studio.auth import add_person
    from samstream.studio.service import add_video

    store = studio.app_state.studio.store
    add_video(store, studio.app_state.studio.data_dir, media["frames"], "second.png", force=True)
    tokens = {name: add_person(store, name, role)[1] for name, role in PEOPLE}
    store.people.disable("off")
    for vid in (1, 2):
        store.workflow.assign(vid, {"annotator": "ann", "reviewer": "rev"}, "adm")
    return Team(studio, tokens)
