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
from samstream.video.methods.base import MethodSettings, Sam2Config, TrackingMethod
from samstream.video.methods.dam4sam import Dam4samConfig, Dam4samMethod
from samstream.video.methods.sam2long import Sam2LongConfig, Sam2LongMethod
from samstream.video.methods.samurai import SamuraiConfig, SamuraiMethod

__all__ = ["METHOD_NAMES", "Dam4samConfig", "MethodSettings", "Sam2Config", "Sam2LongConfig", "SamuraiConfig",
           "TrackingMethod", "method_settings", "resolve_method"]

METHOD_NAMES = ("sam2", "samurai", "dam4sam", "sam2long")
MethodSpec = str | MethodSettings


def method_settings(method: MethodSpec, cfg: ModelConfig) -> MethodSettings:
    """The settings a name stands for on a model (the authors' defaults for its size), or ``method``
    itself when it is a settings object."""
    if isinstance(method, MethodSettings):
        return method
    if not isinstance(method, str) or method not in METHOD_NAMES:
        raise InvalidInputError(f"method: expected one of {', '.join(METHOD_NAMES)} or a settings object "
                                f"(SamuraiConfig, Dam4samConfig, Sam2LongConfig), got {method!r}")
    if method == "samurai":
        return SamuraiConfig.for_model(cfg)
    return {"sam2": Sam2Config, "dam4sam": Dam4samConfig, "sam2long": Sam2LongConfig}[method]()


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
