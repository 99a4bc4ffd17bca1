"""Session files: save mid-propagation, restore in a new process, continue as if never stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from samstream import VideoPredictor
from samstream.checkpoints import build_model
from samstream.errors import InvalidInputError
from samstream.presets import micro_config

FRAMES, STOP = 10, 4  # save after frame STOP has been tracked


def _video(seed: int = 2, frames: int = FRAMES) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((frames, 40, 56, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    return build_model(micro_config(64), device="cpu", seed=0)


def _prompted(model, video, **options):
    session = VideoPredictor(model, **options).open(video)
    session.add_points(0, 1, [[20, 20]], [1])
    session.add_box(0, 2, [30, 10, 50, 30])
    return session


RESTORE = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from samstream import VideoPredictor
    from samstream.checkpoints import build_model
    from samstream.presets import micro_config

    state, video, out = sys.argv[1:4]
    model = build_model(micro_config(64), device="cpu", seed=0)
    with VideoPredictor(model).restore(state, np.load(video)) as session:
        before = session.result_on(2).logits
        after = [r.logits for r in session.propagate(start={start})]
    torch.save({{"before": before, "after": after}}, out)
""")


@pytest.mark.parametrize("options", [{}, {"max_outputs_in_memory": 3}])  # bfloat16 memories, spilled outputs
def test_restored_in_a_new_process_continues_exactly(model, tmp_path, options) -> None:
    video = _video()
    with torch.inference_mode(), _prompted(model, video, **options) as whole:
        expected = [r.logits for r in whole.propagate()]
    with torch.inference_mode(), _prompted(model, video, **options) as session:
        for r in session.propagate():
            if r.frame_idx == STOP:
                session.save(tmp_path / "session.pt")  # mid-propagation
                break
    np.save(tmp_path / "video.npy", video)
    script = tmp_path / "restore.py"
    script.write_text(RESTORE.format(start=STOP + 1))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(script), str(tmp_path / "session.pt"), str(tmp_path / "video.npy"),
                    str(tmp_path / "out.pt")], check=True, env=env, timeout=600)
    got = torch.load(tmp_path / "out.pt", weights_only=True)
    assert torch.equal(got["before"], expected[2])
    assert len(got["after"]) == FRAMES - STOP - 1
    for a, b in zip(expected[STOP + 1 :], got["after"], strict=True):
        assert torch.equal(a, b)


def test_file_holds_memories_as_stored_and_loads_weights_only(model, tmp_path) -> None:
    with torch.inference_mode(), _prompted(model, _video()) as session:
        list(session.propagate(max_frames=3))
        path = session.save(tmp_path / "s.pt")
        with pytest.raises(InvalidInputError, match="exists"):
            session.save(path)  # nothing is overwritten silently
        session.save(path, overwrite=True)
    data = torch.load(path, weights_only=True)
    memories = [o["output"]["memory"] for obj in data["objects"] for o in obj["tracked"]]
    assert memories and all(m.dtype == torch.bfloat16 for m in memories)
    assert [obj["obj_id"] for obj in data["objects"]] == [1, 2]


def test_mismatched_and_damaged_files_are_refused(model, tmp_path) -> None:
    video = _video()
    with torch.inference_mode(), _prompted(model, video) as session:
        list(session.propagate(max_frames=2))
        path = session.save(tmp_path / "s.pt")
    predictor = VideoPredictor(model)
    with pytest.raises(InvalidInputError, match="another video .*first frame"):
        predictor.restore(path, _video(seed=3))
    with pytest.raises(InvalidInputError, match="another video .*num_frames"):
        predictor.restore(path, video[:-1])
    other_weights = build_model(micro_config(64), device="cpu", seed=1)
    with pytest.raises(InvalidInputError, match="other model weights"):
        VideoPredictor(other_weights).restore(path, video)
    other_variant = build_model(micro_config(32), device="cpu", seed=0)
    with pytest.raises(InvalidInputError, match="another model configuration"):
        VideoPredictor(other_variant).restore(path, video)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InvalidInputError, match="not a readable samstream session file"):
        predictor.restore(damaged, video)
    (tmp_path / "other.pt").write_bytes(b"not a session")
    with pytest.raises(InvalidInputError, match="session file"):
        predictor.restore(tmp_path / "other.pt", video)
    torch.save({"format": "samstream-session", "version": 1}, tmp_path / "empty.pt")
    with pytest.raises(InvalidInputError, match="damaged session file"):
        predictor.restore(tmp_path / "empty.pt", video)
