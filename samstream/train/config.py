"""Training configuration: typed dataclasses, written to and read from YAML, with dotted overrides.

A YAML file holds the sections of :class:`TrainConfig` (``model``, ``data``, ``prompts``,
``loss``, ``augment``, ``optim``, ``run``); missing keys keep their defaults, unknown keys are
errors. Overrides such as ``optim.lr=1e-4`` or ``run.steps=200`` are parsed as YAML scalars and
converted to the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from samstream.errors import InvalidInputError
from samstream.train.augment import AugmentConfig
from samstream.train.losses import LossConfig
from samstream.train.optim import OptimConfig
from samstream.train.prompts import PromptConfig

FORMATS = ("synthetic", "davis", "ytvos", "sav", "sa1b", "coco")


@dataclass(frozen=True)
class ModelSection:
    name: str = "sam2.1-tiny"  # registry name, "nano" (samstream-nano's layout) or "micro" (tests)
    weights: str | None = None  # checkpoint path or registry name to start from; None: random init
    image_size: int = 1024


@dataclass(frozen=True)
class DataSection:
    format: str = "synthetic"  # one of FORMATS
    root: str | None = None  # dataset folder (not used by "synthetic")
    subset: str | None = None  # DAVIS ImageSets list / YouTube-VOS split folder; None: "train"
    num_frames: int = 8  # frames per clip (images are one-frame clips)
    max_objects: int = 3  # objects per clip
    synthetic_clips: int = 1000  # number of distinct synthetic clips
    synthetic_length: int = 0  # frames per synthetic video (clips are windows of it); <= num_frames: num_frames
    num_workers: int = 0


@dataclass(frozen=True)
class RunSection:
    steps: int = 1000
    batch_size: int = 1  # clips per rank and step
    seed: int = 123
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast on CUDA (ignored elsewhere)
    freeze_encoder: bool = False
    activation_checkpointing: bool = False
    log_every: int = 10
    ckpt_every: int = 0  # 0: only at the end
    out_dir: str = "runs/train"
    resume: str | None = None  # a train_state.pt path, or "auto" (the run folder's latest)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunSection = field(default_factory=RunSection)

    def validate(self) -> "TrainConfig":
        if self.data.format not in FORMATS:
            raise InvalidInputError(f"data.format: expected one of {', '.join(FORMATS)}, got {self.data.format!r}")
        if self.run.steps < 1 or self.run.batch_size < 1:
            raise InvalidInputError(
                f"run.steps and run.batch_size must be >= 1, got {self.run.steps}, {self.run.batch_size}")
        if self.model.image_size <= 0 or self.model.image_size % 32:
            raise InvalidInputError(f"model.image_size: {self.model.image_size} must be a positive multiple of 32")
        return self


# ------------------------------------------------------------------ conversion
def to_dict(cfg: Any) -> dict:
    """Plain data (dicts, lists, scalars) for YAML."""

    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(asdict(cfg))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the annotated type ``hint`` (scalars, optionals, tuples, nested dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except InvalidInputError:
                continue
        raise InvalidInputError(f"{where}: {value!r} does not fit {hint}")
    if is_dataclass(hint):
        if not isinstance(value, dict):
            raise InvalidInputError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InvalidInputError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise InvalidInputError(f"{where}: expected {len(items)} values, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, items))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise InvalidInputError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidInputError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise InvalidInputError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise InvalidInputError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type, data: dict, where: str = "config") -> Any:
    """Build dataclass ``cls`` from plain data; unknown keys are errors, missing ones default."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidInputError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set ``section.key=value`` entries (values parsed as YAML scalars) in plain config data."""
    import yaml  # optional dependency (samstream[train]), needed only for YAML configs

    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"override: expected KEY=VALUE (e.g. optim.lr=1e-4), got {item!r}")
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InvalidInputError(f"override: {key!r} does not name a config field")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML file (or the defaults) and dotted overrides."""
    import yaml  # optional dependency (samstream[train]), needed only for YAML configs

    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"config: no such file {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"config: {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInputError(f"config: {path} must hold a mapping of sections")
    data = apply_overrides(data, overrides or [])
    return from_dict(TrainConfig, data).validate()


def dump_config(cfg: TrainConfig) -> str:
    import yaml  # optional dependency (samstream[train]), needed only for YAML configs

    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def replace_section(cfg: TrainConfig, section: str, **changes: Any) -> TrainConfig:
    """A copy of ``cfg`` with fields of one section changed."""
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **changes)})
