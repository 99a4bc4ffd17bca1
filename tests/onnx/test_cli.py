"""``samstream export onnx``: the command's checks (the export itself is covered by the other tests)."""

from __future__ import annotations

import json
import warnings

from samstream.cli import main


def test_export_onnx_refuses_to_overwrite(tmp_path, capsys) -> None:
    (tmp_path / "decoder.onnx").write_bytes(b"mine")
    code = main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "decoder.onnx' already exists" in err and "samstream export" in err
    assert (tmp_path / "decoder.onnx").read_bytes() == b"mine"


def test_export_onnx_usage_errors(tmp_path, capsys) -> None:
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--parts", "decoder"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--opset", "12"]) == 2
    assert "opset" in capsys.readouterr().err
    assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path), "--fp16", "--int8", "-q"]) == 2
    err = capsys.readouterr().err
    assert "int8" in err and "fp16" in err and not any(tmp_path.iterdir())


def test_export_onnx_int8_image_parts_end_to_end(tmp_path, capsys) -> None:
    """The command writes an int8 image export that the ONNX image predictor runs, and says so."""
    from samstream.onnx import OnnxImagePredictor
    from samstream.onnx.manifest import read_manifest
    from tests.onnx.conftest import moving_discs

    out = tmp_path / "nano-int8"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", "onnx", "samstream-nano", "--out", str(out), "--parts", "image", "--int8",
                     "--jsonl"]) == 0
    # exported quietly: in eval mode (torch warned of "training mode" once per graph) and without
    # torch's notes on axis names shared by several inputs
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = read_manifest(out)
    assert summary["int8"] is True and manifest.int8 and manifest.opset == summary["opset"] == 20
    assert sorted(summary["files"]) == ["decoder.onnx", "image_encoder.onnx"]
    pred = OnnxImagePredictor(out, threads=2)
    pred.set_image(moving_discs(1)[0])
    result = pred.predict(points=[[20, 30]], labels=[1])
    assert result.masks.shape == (3, 96, 120) and result.masks[:, 30, 20].any()
