"""Finding, downloading and loading checkpoints.

``load_model`` accepts a registry name (downloaded once into the cache directory) or a path to a
``.pt`` file in the official format (``{"model": state_dict}``). Files are read with
``torch.load(weights_only=True)`` and loaded strictly; the variant is inferred from the keys and
shapes. Downloading is the only network access samstream makes.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from samstream.config import ModelConfig, config_from_dict, config_to_dict
from samstream.errors import CheckpointError, InvalidInputError
from samstream.files import atomic_write, write_text
from samstream.model.runtime import RuntimeOptions
from samstream.model.sam2 import SAM2Model
from samstream.registry import VARIANTS, Variant, cache_dir, cached_path, get_variant  # noqa: F401 (re-exported)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device: {device!r} is not a device (expected auto, cpu, cuda or mps)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device: 'cuda' was requested but no CUDA device is available")
    return dev


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pin_path(variant: Variant) -> Path:
    """Where the SHA-256 of a downloaded file is pinned when the registry has none (beside the file)."""
    return cached_path(variant).with_name(cached_path(variant).name + ".sha256")


def expected_sha256(variant: Variant) -> str | None:
    """The registry's digest, else the one pinned at the first download, else None."""
    if variant.sha256 is not None:
        return variant.sha256
    pin = pin_path(variant)
    return pin.read_text(encoding="utf-8").strip() if pin.is_file() else None


def _check_file(path: Path, variant: Variant) -> None:
    """Refuse a truncated file, or one whose SHA-256 differs from the expected one."""
    size = path.stat().st_size
    if size < variant.min_bytes:
        raise CheckpointError(
            f"checkpoint {path} is {size} bytes, smaller than the {variant.min_bytes} bytes a complete "
            f"{variant.name} file has: it is truncated; delete it and download again"
        )
    expected = expected_sha256(variant)
    if expected is not None and (digest := _sha256(path)) != expected:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, expected {expected}; the file is damaged or not the official "
            f"{variant.name} file: delete it and download again"
        )


def download(name: str, force: bool = False, progress: bool = True) -> Path:
    """Download a registered checkpoint into the cache (no-op when already there) and return its path.

    The file is checked before it gets its name: its size, its SHA-256 (the registry's where the
    official one is known; otherwise the digest pinned at the first download, written beside the
    file as ``<file>.sha256``, trust on first use), and that it loads strictly into the variant's
    model. A file failing any check raises :class:`CheckpointError` and nothing is kept.
    """
    variant = get_variant(name)
    target = cached_path(variant)
    if variant.bundled:  # nothing to download
        if not target.exists():
            raise CheckpointError(f"{variant.name} ships with samstream but {target} is missing; reinstall samstream")
        return target
    if target.exists() and not force:
        _check_file(target, variant)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(variant.url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=variant.filename, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        raise CheckpointError(
            f"cannot download {variant.name} from {variant.url} ({exc}); download it by hand and put it at {target}"
        ) from exc
    try:
        _check_file(partial, variant)
        load_state_dict_strict(SAM2Model(variant.config), state_dict_of(read_checkpoint(partial), partial), partial)
        digest = _sha256(partial)
        if variant.sha256 is None:  # pin it: later loads must see the same bytes
            write_text(pin_path(variant), digest + "\n")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def find_checkpoint(name: str, allow_download: bool = True) -> Path:
    """Path of a registered checkpoint, downloading it if allowed and missing."""
    variant = get_variant(name)
    target = cached_path(variant)
    if target.exists():
        _check_file(target, variant)
        return target
    if variant.bundled:  # never downloaded: say that the installation is incomplete
        return download(name)
    if not allow_download:
        raise CheckpointError(f"{variant.name} is not downloaded: get {variant.url} and put it at {target}")
    return download(name)


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dictionary, read safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no such file {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a PyTorch file): {first}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return data


def state_dict_of(data: dict, path: str | Path = "checkpoint") -> dict[str, Tensor]:
    sd = data.get("model", data)
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, Tensor) for v in sd.values()):
        raise CheckpointError(f"{path} has no state dict of tensors under 'model'")
    return sd


def infer_config(sd: dict[str, Tensor], path: str | Path = "checkpoint") -> ModelConfig:
    """The released variant's configuration matching a state dict's keys and shapes."""
    key = "image_encoder.trunk.patch_embed.proj.weight"
    if key not in sd:
        raise CheckpointError(f"{path} is not a SAM 2 checkpoint: key {key!r} is missing")
    embed_dim = sd[key].shape[0]
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))}
    depth = max(blocks) + 1 if blocks else 0
    is_2_1 = "no_obj_embed_spatial" in sd
    for v in VARIANTS.values():
        h = v.config.hiera
        if h.embed_dim == embed_dim and sum(h.stages) == depth and v.config.memory.no_obj_embed_spatial == is_2_1:
            return v.config
    raise CheckpointError(
        f"{path} matches no known variant (trunk width {embed_dim}, {depth} blocks, "
        f"{'SAM 2.1' if is_2_1 else 'SAM 2'} layout)"
    )


def load_state_dict_strict(model: torch.nn.Module, sd: dict[str, Tensor], path: str | Path = "checkpoint") -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (e.g. {wrong[0]})")
    if problems:
        raise CheckpointError(f"{path} does not fit the model: " + "; ".join(problems))
    model.load_state_dict(sd, strict=True)


def save_checkpoint(model: torch.nn.Module, path: str | Path, with_config: bool = True) -> None:
    """Write ``{"model": state_dict}`` (the official layout), plus samstream's config if asked."""
    data: dict = {"model": model.state_dict()}
    cfg = getattr(model, "cfg", None)
    if with_config and isinstance(cfg, ModelConfig):
        data["samstream_config"] = config_to_dict(cfg)
    with atomic_write(path) as tmp:  # a stopped run never leaves a half-written checkpoint
        torch.save(data, tmp)


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "auto",
    image_size: int | None = None,
    allow_download: bool = True,
    *,
    dtype: str | torch.dtype = "float32",
    compile: bool = False,
    runtime: RuntimeOptions | None = None,
) -> SAM2Model:
    """Build a model and load its weights, placed on ``device`` in eval mode.

    ``name_or_path``: a registry name such as ``"sam2.1-tiny"`` (see ``samstream models``) or a path to
    a checkpoint file. ``image_size`` overrides the input resolution (a positive multiple of 32, the
    trunk's total stride; the weights are resolution independent apart from windowed position
    embeddings, which are interpolated). ``dtype`` ("float32" or "bfloat16" compute) and ``compile``
    are shortcuts for ``runtime=RuntimeOptions(dtype=..., compile=...)``, the full setting (see
    ``samstream.model.runtime``).
    """
    options = runtime if runtime is not None else RuntimeOptions(dtype=dtype, compile=compile)

    dev = resolve_device(device)
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix == ".pt" or path.exists() or os.sep in text:
        data = read_checkpoint(path)
        sd = state_dict_of(data, path)
        if "samstream_config" in data:
            try:
                cfg = config_from_dict(data["samstream_config"])
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"{path} has an invalid samstream_config: {exc}") from exc
        else:
            cfg = infer_config(sd, path)
    else:
        variant = get_variant(text)
        path = find_checkpoint(text, allow_download=allow_download)
        sd = state_dict_of(read_checkpoint(path), path)
        cfg = variant.config
    if image_size is not None:
        if image_size <= 0 or image_size % 32:
            raise InvalidInputError(f"image_size: {image_size} must be a positive multiple of 32")
        cfg = cfg.with_image_size(image_size)
    model = SAM2Model(cfg)
    load_state_dict_strict(model, sd, path)
    return model.eval().place(dev, options)


def build_model(name_or_config: str | ModelConfig, device: str | torch.device = "cpu", seed: int | None = None) -> SAM2Model:
    """A model with random weights (for tests and training from scratch)."""
    cfg = name_or_config if isinstance(name_or_config, ModelConfig) else get_variant(name_or_config).config
    if seed is not None:
        torch.manual_seed(seed)
    return SAM2Model(cfg).place(resolve_device(device)).eval()
