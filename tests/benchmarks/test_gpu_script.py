"""`benchmarks/gpu.py --smoke` runs end to end on a CPU, so the GPU script does not rot between lent cards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # about a minute on 2 cores: the reference is built and run too
def test_gpu_benchmark_smoke_run_prints_every_row(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    sides = {(r[1], r[2]) for r in doc["rows"]}
    for objects in (1, 3):  # SMOKE's object counts
        for side in ("samstream f32", "samstream bf16", "samstream bf16+compile", "reference bf16"):
            assert (objects, side) in sides, (objects, side)
    assert ("AMG", "samstream bf16") in sides and ("AMG", "reference bf16") in sides
    parity = [r for r in doc["rows"] if r[2] == "parity"]
    assert parity and "IoU" in parity[0][5]
    assert all(float(r[3]) > 0 for r in doc["rows"] if r[2].startswith(("samstream", "reference")) and r[1] != "AMG"
               and r[3] not in ("-", "skipped"))
