"""Checkpoint files: loading, inference of the variant, clear errors, download and cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import samstream
from samstream import checkpoints, registry
from samstream.checkpoints import CheckpointError, build_model, load_model, save_checkpoint
from samstream.errors import InvalidInputError

SMALL = registry.get_variant("sam2.1-tiny").config.with_image_size(256)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = build_model(SMALL, seed=0)
    path = tmp_path_factory.mktemp("ck") / "official_layout.pt"
    torch.save({"model": model.state_dict()}, path)  # the official layout: no samstream extras
    return model, path


def test_official_layout_loads_and_infers_variant(saved) -> None:
    model, path = saved
    loaded = load_model(path, device="cpu", image_size=256)
    assert loaded.cfg == SMALL
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_samstream_config_round_trip(tmp_path) -> None:
    cfg = dataclasses.replace(SMALL, hiera=dataclasses.replace(SMALL.hiera, stages=(1, 1, 2, 1),
                                                               global_att_blocks=(2, 4)))
    model = build_model(cfg, seed=0)
    save_checkpoint(model, tmp_path / "custom.pt")
    assert load_model(tmp_path / "custom.pt", device="cpu").cfg == cfg


def test_sam2_0_layout_inferred(tmp_path) -> None:
    cfg = registry.get_variant("sam2-small").config.with_image_size(256)
    with torch.device("meta"):
        sd = build_model(cfg, device="meta").state_dict()
    assert checkpoints.infer_config(sd) == registry.get_variant("sam2-small").config


def test_truncated_file(saved, tmp_path) -> None:
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_model(bad, device="cpu")


def test_wrong_content(tmp_path) -> None:
    torch.save({"model": {"foo": torch.zeros(2)}}, tmp_path / "foo.pt")
    with pytest.raises(CheckpointError, match="not a SAM 2 checkpoint"):
        load_model(tmp_path / "foo.pt", device="cpu")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_model(tmp_path / "list.pt", device="cpu")
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "missing.pt", device="cpu")


def test_missing_and_extra_keys(saved, tmp_path) -> None:
    model, _ = saved
    sd = dict(model.state_dict())
    sd.pop("no_mem_embed")
    sd["extra.weight"] = torch.zeros(1)
    torch.save({"model": sd}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"1 missing keys \(e.g. no_mem_embed\); 1 unexpected keys"):
        load_model(tmp_path / "m.pt", device="cpu")


class Arbitrary:
    """Any class: a pickled instance must not be loaded (weights_only)."""


def test_refuses_pickled_objects(tmp_path) -> None:
    torch.save({"model": Arbitrary()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_model(tmp_path / "evil.pt", device="cpu")


def test_unknown_name_and_bad_device() -> None:
    with pytest.raises(InvalidInputError, match="unknown model name 'sam3-huge'"):
        load_model("sam3-huge")
    with pytest.raises(InvalidInputError, match="device"):
        checkpoints.resolve_device("gpu0")


def test_offline_missing_checkpoint_names_url_and_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SAMSTREAM_HOME", str(tmp_path))
    with pytest.raises(CheckpointError) as err:
        load_model("sam2.1-tiny", allow_download=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert registry.get_variant("sam2.1-tiny").url in msg and str(tmp_path / "sam2.1_hiera_tiny.pt") in msg


def _small_variant(monkeypatch, url: str) -> registry.Variant:
    v = dataclasses.replace(registry.get_variant("sam2.1-tiny"), url=url, num_params=1000)
    monkeypatch.setattr(checkpoints, "get_variant", lambda name: v)
    return v


def test_download_into_cache_then_reuse(saved, tmp_path, monkeypatch) -> None:
    _, path = saved
    home = tmp_path / "home"
    monkeypatch.setenv("SAMSTREAM_HOME", str(home))
    _small_variant(monkeypatch, path.as_uri())
    got = checkpoints.download("sam2.1-tiny", progress=False)
    assert got == home / "sam2.1_hiera_tiny.pt" and got.read_bytes() == path.read_bytes()
    assert not list(home.glob("*.part"))
    assert checkpoints.find_checkpoint("sam2.1-tiny", allow_download=False) == got


def test_failed_download_leaves_nothing(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SAMSTREAM_HOME", str(home))
    _small_variant(monkeypatch, (tmp_path / "nope.pt").as_uri())
    with pytest.raises(CheckpointError, match="cannot download"):
        checkpoints.download("sam2.1-tiny", progress=False)
    assert not any(home.glob("*"))


def test_truncated_cached_file_detected(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SAMSTREAM_HOME", str(tmp_path))
    (tmp_path / "sam2.1_hiera_tiny.pt").write_bytes(b"x" * 100)
    with pytest.raises(CheckpointError, match="truncated"):
        samstream.load_model("sam2.1-tiny", allow_download=False)


def test_first_download_pins_sha256_and_a_changed_file_is_refused(saved, tmp_path, monkeypatch) -> None:
    import hashlib

    _, path = saved
    home = tmp_path / "home"
    monkeypatch.setenv("SAMSTREAM_HOME", str(home))
    v = _small_variant(monkeypatch, path.as_uri())
    got = checkpoints.download("sam2.1-tiny", progress=False)
    pin = checkpoints.pin_path(v)
    assert pin.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
    data = bytearray(got.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes
    got.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        checkpoints.find_checkpoint("sam2.1-tiny", allow_download=False)


def test_download_with_wrong_registry_sha256_keeps_nothing(saved, tmp_path, monkeypatch) -> None:
    _, path = saved
    home = tmp_path / "home"
    monkeypatch.setenv("SAMSTREAM_HOME", str(home))
    v = dataclasses.replace(registry.get_variant("sam2.1-tiny"), url=path.as_uri(), num_params=1000, sha256="0" * 64)
    monkeypatch.setattr(checkpoints, "get_variant", lambda name: v)
    with pytest.raises(CheckpointError, match="expected 0000"):
        checkpoints.download("sam2.1-tiny", progress=False)
    assert not [p for p in home.rglob("*") if p.is_file()]


def test_image_size_message_and_check_agree(saved) -> None:
    _, path = saved
    with pytest.raises(InvalidInputError, match="multiple of 32"):
        load_model(path, device="cpu", image_size=272)  # a multiple of 16, not of 32
    assert "multiple of 32" in load_model.__doc__ and "multiple of 16" not in load_model.__doc__
    assert load_model.__annotations__["return"] in ("SAM2Model", checkpoints.SAM2Model)
