"""``samstream export onnx``: the command's checks (the export itself is covered by the other tests)."""

from __future__ import annotations

from samstream.cli import main


def test_export_onnx_refuses_to_overwrite(tmp_path, capsys) -> None:
    (tmp_path / "decoder.onnx").write_bytes(b"mine")
    code = main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "decoder.onnx exists" in err and "samstream export" in err
    assert (tmp_path / "decoder.onnx").read_bytes() == b"mine"


def test_export_onnx_usage_errors(tmp_path, capsys) -> None:
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--parts", "decoder"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--opset", "12"]) == 2
    assert "opset" in capsys.readouterr().err
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--fp16", "--int8", "-q"]) == 2
    err = capsys.readouterr().err
    assert "int8" in err and "fp16" in err and not any(tmp_path.iterdir())
