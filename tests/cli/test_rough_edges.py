"""Issue 33's rough edges of the command line, as a new user met them: a missing extra, options a
command does not take, a run that finds nothing, Ctrl-C, several images, counts that must agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from samstream.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _cli(argv: list[str], tmp_path: Path, shims: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m samstream.cli ARGV`` in a fresh interpreter; ``shims``: module name -> source of a
    stand-in module put first on the path (a package that fails to import, say)."""
    path = [str(ROOT)]
    if shims:
        folder = tmp_path / "shims"
        folder.mkdir(exist_ok=True)
        for name, source in shims.items():
            (folder / f"{name}.py").write_text(source)
        path.insert(0, str(folder))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    return subprocess.run([sys.executable, "-m", "samstream.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tmp_path)


def test_export_onnx_without_the_onnx_extra_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nano-onnx"
    missing = 'raise ModuleNotFoundError("No module named \'onnxscript\'", name="onnxscript")\n'
    run = _cli(["export", "onnx", "samstream-nano", "--out", str(out)], tmp_path, {"onnxscript": missing})
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        "samstream export: error: writing ONNX graphs needs onnx and onnxscript: pip install 'samstream[onnx]' "
        "(No module named 'onnxscript')"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["shims"]


def test_export_onnx_takes_no_model_or_device_option(tmp_path: Path, capsys) -> None:
    # MODEL is positional and the export runs on the CPU: the options are refused, not replaced
    for extra in (["--model", "sam2.1-tiny"], ["--device", "cuda"]):
        assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path / "x"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"unrecognized arguments: {' '.join(extra)}" in err
    assert not (tmp_path / "x").exists()
