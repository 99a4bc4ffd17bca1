"""Two gloo processes under torchrun compute the same gradients as one process on the whole batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from samstream.train.distributed import DistContext
from tests.train.helpers import grads_of_first_step

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_gradients_match_single_process(tmp_path):
    out = tmp_path / "grads.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), str(ROOT / "tests" / "train" / "ddp_worker.py"), str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    single, _ = grads_of_first_step(batch_size=2, ctx=DistContext())
    assert set(ddp) == set(single)
    for name, g in single.items():
        scale = max(1e-3, g.abs().max().item())
        assert (ddp[name] - g).abs().max().item() <= 1e-4 * scale, name
    # the short run: one metrics line per step, a training state with each rank's random state
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    state = torch.load(tmp_path / "run" / "checkpoints" / "train_state.pt", weights_only=True)
    assert state["step"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["clicks"], state["rng"][1]["clicks"])
