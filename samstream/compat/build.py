"""The official builders: ``build_sam2``, ``build_sam2_video_predictor`` and ``build_sam2_hf``.

Official config names (``configs/sam2.1/sam2.1_hiera_t.yaml``, ``sam2.1_hiera_t.yaml``, ``sam2.1_hiera_t``)
map to samstream's registry; ``hydra_overrides_extra`` entries ``++model.<field>=<value>`` change
the settings samstream has and are refused otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import fields, replace
from typing import Any

from samstream.checkpoints import (find_checkpoint, load_state_dict_strict, read_checkpoint, resolve_device,
                                   state_dict_of)
from samstream.compat.video import SAM2VideoPredictor
from samstream.config import ModelConfig
from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.registry import get_variant

# model settings an override of the form ``++model.<field>=<value>`` may change (besides image_size)
_MEMORY_FIELDS = {
    "num_maskmem", "max_obj_ptrs_in_encoder", "sigmoid_scale_for_mem_enc", "sigmoid_bias_for_mem_enc",
}
_TRACKING_FIELDS = {
    "multimask_output_in_sam", "multimask_output_for_tracking", "multimask_min_pt_num", "multimask_max_pt_num",
    "use_mask_input_as_output_without_sam", "max_cond_frames_in_attn", "memory_temporal_stride_for_eval",
    "only_obj_ptrs_in_the_past_for_eval",
}


def _parse_value(text: str, like: Any) -> Any:
    if isinstance(like, bool):
        if text.strip().lower() in ("true", "1"):
            return True
        if text.strip().lower() in ("false", "0"):
            return False
        raise ValueError(text)
    return type(like)(float(text)) if isinstance(like, int) else type(like)(text)


def apply_overrides(cfg: ModelConfig, overrides: list[str]) -> ModelConfig:
    """Apply ``++model.<field>=<value>`` entries for the settings samstream has; reject anything else.

    Args:
        cfg: the configuration to change.
        overrides: official Hydra override strings (``++model.num_maskmem=9``, ...).

    Returns:
        The changed configuration. An entry of another form, for a setting samstream does not have, or
        with an invalid value raises :class:`~samstream.errors.InvalidInputError`.
    """
    for entry in overrides:
        head, sep, value = entry.partition("=")
        name = head.lstrip("+")
        if not sep or not name.startswith("model."):
            raise InvalidInputError(f"hydra_overrides_extra: {entry!r} is not of the form ++model.<field>=<value>")
        key = name[len("model."):]
        try:
            if key == "image_size":
                size = int(value)
                if size <= 0 or size % 32:
                    raise ValueError(value)
                cfg = replace(cfg, image_size=size)
            elif key in _MEMORY_FIELDS:
                cfg = replace(cfg, memory=replace(cfg.memory, **{key: _parse_value(value, getattr(cfg.memory, key))}))
            elif key in _TRACKING_FIELDS:
                cfg = replace(cfg, tracking=replace(cfg.tracking, **{key: _parse_value(value, getattr(cfg.tracking, key))}))
            elif key.startswith("sam_mask_decoder_extra_args.") and key.split(".", 1)[1] in {
                f.name for f in fields(cfg.decoder) if f.name.startswith("dynamic_multimask")
            }:
                field_name = key.split(".", 1)[1]
                new = _parse_value(value, getattr(cfg.decoder, field_name))
                cfg = replace(cfg, decoder=replace(cfg.decoder, **{field_name: new}))
            else:
                raise InvalidInputError(
                    f"hydra_overrides_extra: {entry!r} sets a model setting samstream does not have ({key})"
                )
        except ValueError as exc:
            raise InvalidInputError(f"hydra_overrides_extra: {entry!r} has an invalid value {value!r}") from exc
    return cfg


def _build(
    config_file: str,
    ckpt_path: str | None,
    device: str,
    mode: str,
    overrides: list[str],
    apply_postprocessing: bool,
) -> SAM2Model:
    cfg = get_variant(config_file).config
    cfg = replace(cfg, decoder=replace(cfg.decoder, dynamic_multimask_via_stability=apply_postprocessing))
    cfg = apply_overrides(cfg, list(overrides))
    model = SAM2Model(cfg)
    if ckpt_path is not None:
        sd = state_dict_of(read_checkpoint(ckpt_path), ckpt_path)
        load_state_dict_strict(model, sd, ckpt_path)
    model = model.place(resolve_device(device))
    return model.eval() if mode == "eval" else model.train()


def build_sam2(
    config_file: str,
    ckpt_path: str | None = None,
    device: str = "cuda",
    mode: str = "eval",
    hydra_overrides_extra: list[str] = [],  # noqa: B006 - the official signature
    apply_postprocessing: bool = True,
    vos_optimized: bool = False,
    **kwargs: Any,
) -> SAM2Model:
    """Build a model from an official config name (``configs/sam2.1/sam2.1_hiera_t.yaml``, ``sam2.1_hiera_t``, ...).

    Args:
        config_file: the official config name of the architecture.
        ckpt_path: an official (or samstream) checkpoint; None leaves random weights.
        device: where the model runs ("cuda", "cpu", "mps", "auto").
        mode: "eval" or "train".
        hydra_overrides_extra: ``++model.<field>=<value>`` entries (:func:`apply_overrides`).
        apply_postprocessing: dynamic multi-mask selection by stability, as officially.
        vos_optimized: see :func:`build_sam2_video_predictor`.
        **kwargs: accepted and ignored, as by the official builder.

    Returns:
        The model, placed on ``device``.
    """
    _check_vos_optimized(vos_optimized)
    return _build(config_file, ckpt_path, device, mode, hydra_overrides_extra, apply_postprocessing)


_HF_IDS = {
    "facebook/sam2-hiera-tiny": "sam2-tiny", "facebook/sam2-hiera-small": "sam2-small",
    "facebook/sam2-hiera-base-plus": "sam2-base-plus", "facebook/sam2-hiera-large": "sam2-large",
    "facebook/sam2.1-hiera-tiny": "sam2.1-tiny", "facebook/sam2.1-hiera-small": "sam2.1-small",
    "facebook/sam2.1-hiera-base-plus": "sam2.1-base-plus", "facebook/sam2.1-hiera-large": "sam2.1-large",
}


def _check_vos_optimized(vos_optimized: bool) -> None:
    """The official flag compiles the same modules with ``torch.compile``: the numbers do not change.

    samstream has no compiled variant, so ``True`` maps to the ordinary model, with a warning.
    """
    if not isinstance(vos_optimized, bool):
        raise InvalidInputError(f"vos_optimized: expected True or False, got {vos_optimized!r}")
    if vos_optimized:
        warnings.warn("vos_optimized=True: samstream has no torch.compile'd VOS predictor; the ordinary "
                      "predictor is used (it computes the same masks)", stacklevel=3)


def build_sam2_hf(model_id: str, **kwargs: Any) -> SAM2Model:
    """A model from an official Hugging Face id: the ids map to samstream's registry; weights come from
    the official URLs through samstream's cache.

    Args:
        model_id: ``facebook/sam2-hiera-tiny`` ... ``facebook/sam2.1-hiera-large``.
        **kwargs: given to :func:`build_sam2` (``device``, ``mode``, ...).

    Returns:
        The model.
    """
    if model_id not in _HF_IDS:
        raise InvalidInputError(f"model_id: unknown {model_id!r}; known: {', '.join(_HF_IDS)}")
    name = _HF_IDS[model_id]
    return build_sam2(get_variant(name).official_config, str(find_checkpoint(name)), **kwargs)


_VIDEO_KEYS = {
    "fill_hole_area": int,
    "non_overlap_masks": bool,
    "clear_non_cond_mem_around_input": bool,
    "add_all_frames_to_correct_as_cond": bool,
    "binarize_mask_from_pts_for_mem_enc": bool,
}


def build_sam2_video_predictor(
    config_file: str,
    ckpt_path: str | None = None,
    device: str = "cuda",
    mode: str = "eval",
    hydra_overrides_extra: list[str] = [],  # noqa: B006 - the official signature
    apply_postprocessing: bool = True,
    vos_optimized: bool = False,
    **kwargs: Any,
) -> SAM2VideoPredictor:
    """The official video builder: with post-processing, dynamic multi-mask, binarised click masks for
    memory and hole filling of 8 pixels. ``memory_dtype`` (samstream only) sets the storage type of
    memory features (default bfloat16, as the official predictor stores them).

    ``vos_optimized=True`` is accepted and maps to the ordinary predictor (with a warning): the
    official flag only compiles the memory encoder, memory attention and SAM heads with
    ``torch.compile``, which computes the same masks.

    Args:
        config_file, ckpt_path, device, mode, vos_optimized: as for :func:`build_sam2`.
        hydra_overrides_extra: ``++model.<field>=<value>`` entries; the video predictor's own settings
            (``fill_hole_area``, ``non_overlap_masks``, ...) go to it, the others to the model.
        apply_postprocessing: the official post-processing settings listed above.
        **kwargs: ``memory_dtype``; others are accepted and ignored.

    Returns:
        The video predictor on the model.
    """
    _check_vos_optimized(vos_optimized)
    overrides = list(hydra_overrides_extra)
    if apply_postprocessing:
        overrides += [
            "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
            "++model.binarize_mask_from_pts_for_mem_enc=true",
            "++model.fill_hole_area=8",
        ]
    video_kwargs: dict[str, Any] = {}
    model_overrides = []
    for entry in overrides:
        head, _, value = entry.partition("=")
        key = head.lstrip("+").removeprefix("model.")
        if key in _VIDEO_KEYS:
            try:
                video_kwargs[key] = _parse_value(value, _VIDEO_KEYS[key]())
            except ValueError as exc:
                raise InvalidInputError(f"hydra_overrides_extra: {entry!r} has an invalid value") from exc
        else:
            model_overrides.append(entry)
    model = _build(config_file, ckpt_path, device, mode, model_overrides, apply_postprocessing=False)
    if "memory_dtype" in kwargs:
        video_kwargs["memory_dtype"] = kwargs["memory_dtype"]
    return SAM2VideoPredictor(model, **video_kwargs)
