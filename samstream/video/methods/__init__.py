"""Tracking methods: policies the tracker core consults (which candidate mask, which memories,
which hypotheses to keep), each with its per-object state typed and kept per frame.

- ``"sam2"``: SAM 2 as released (:class:`Sam2Config`), the default;
- ``"samurai"``: SAMURAI's motion-aware choice and memory (:class:`SamuraiConfig`);
- ``"dam4sam"``: DAM4SAM's distractor-aware memory (:class:`Dam4samConfig`);
- ``"sam2long"``: SAM2Long's tree of memory pathways (:class:`Sam2LongConfig`).

:func:`resolve_method` turns a name (the authors' defaults for the model's size) or a settings
object into the :class:`TrackingMethod` a session runs.
"""

from __future__ import annotations

from samstream.config import ModelConfig
from samstream.errors import InvalidInputError
from samstream.video.methods.base import METHOD_NAMES, MethodSettings, Sam2Config, TrackingMethod, check_method
from samstream.video.methods.dam4sam import Dam4samConfig, Dam4samMethod
from samstream.video.methods.sam2long import Sam2LongConfig, Sam2LongMethod
from samstream.video.methods.samurai import SamuraiConfig, SamuraiMethod

__all__ = ["METHOD_NAMES", "check_method", "Dam4samConfig", "MethodSettings", "Sam2Config", "Sam2LongConfig", "SamuraiConfig",
           "TrackingMethod", "method_from_data", "method_name", "method_settings", "method_to_data", "resolve_method"]

MethodSpec = str | MethodSettings


def method_settings(method: MethodSpec, cfg: ModelConfig) -> MethodSettings:
    """The settings a name stands for on a model (the authors' defaults for its size), or ``method``
    itself when it is a settings object."""
    check_method(method)
    if isinstance(method, MethodSettings):
        return method
    if method == "samurai":
        return SamuraiConfig.for_model(cfg)
    return _SETTINGS[method]()


_SETTINGS: dict[str, type[MethodSettings]] = {"sam2": Sam2Config, "samurai": SamuraiConfig, "dam4sam": Dam4samConfig,
                                              "sam2long": Sam2LongConfig}


def method_to_data(method: MethodSpec) -> str | dict:
    """A session's method as plain data: its name, or a settings object's name and fields."""
    if isinstance(method, MethodSettings):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in method.describe().items()}
    return method


def method_from_data(data: str | dict) -> MethodSpec:
    """The method :func:`method_to_data` wrote."""
    if isinstance(data, str):
        return data
    fields = dict(data)
    name = fields.pop("name", None)
    if name not in _SETTINGS:
        raise InvalidInputError(f"method: unknown tracking method {name!r}")
    kind = _SETTINGS[name]
    return kind(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in fields.items()})


def method_name(method: MethodSpec) -> str:
    """The name of a method given by name or by settings object."""
    return method.name if isinstance(method, MethodSettings) else str(method)


def resolve_method(method: MethodSpec, cfg: ModelConfig) -> TrackingMethod:
    """The policy a session runs for ``method`` on a model of configuration ``cfg``."""
    settings = method_settings(method, cfg)
    if isinstance(settings, SamuraiConfig):
        return SamuraiMethod(settings)
    if isinstance(settings, Dam4samConfig):
        return Dam4samMethod(settings)
    if isinstance(settings, Sam2LongConfig):
        return Sam2LongMethod(settings)
    if isinstance(settings, Sam2Config):
        return TrackingMethod(settings)
    raise InvalidInputError(f"method: unknown settings object {settings!r}")
