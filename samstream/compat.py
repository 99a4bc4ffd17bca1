"""Drop-in names and signatures of the official ``sam2`` package.

Scripts written for the official package run after changing only their imports::

    from samstream.compat import build_sam2, SAM2ImagePredictor

Everything here is a thin adapter over samstream's native API.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samstream.checkpoints import load_state_dict_strict, read_checkpoint, resolve_device, state_dict_of
from samstream.config import ModelConfig
from samstream.errors import InvalidInputError
from samstream.image.predictor import ImagePredictor
from samstream.image.prompts import prepare_prompts
from samstream.model.sam2 import SAM2Model
from samstream.registry import get_variant

# model settings an override of the form ``++model.<field>=<value>`` may change (besides image_size)
_MEMORY_FIELDS = {
    "num_maskmem", "max_obj_ptrs_in_encoder", "max_cond_frames_in_attn", "memory_temporal_stride_for_eval",
    "sigmoid_scale_for_mem_enc", "sigmoid_bias_for_mem_enc",
}
_TRACKING_FIELDS = {
    "multimask_output_in_sam", "multimask_output_for_tracking", "multimask_min_pt_num", "multimask_max_pt_num",
    "use_mask_input_as_output_without_sam",
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
    """Apply ``++model.<field>=<value>`` entries for the settings samstream has; reject anything else."""
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
    model = model.to(resolve_device(device))
    return model.eval() if mode == "eval" else model.train()


def build_sam2(
    config_file: str,
    ckpt_path: str | None = None,
    device: str = "cuda",
    mode: str = "eval",
    hydra_overrides_extra: list[str] = [],  # noqa: B006 - the official signature
    apply_postprocessing: bool = True,
    **kwargs: Any,
) -> SAM2Model:
    """Build a model from an official config name (``configs/sam2.1/sam2.1_hiera_t.yaml``, ``sam2.1_hiera_t``, ...)."""
    return _build(config_file, ckpt_path, device, mode, hydra_overrides_extra, apply_postprocessing)


_HF_IDS = {
    "facebook/sam2-hiera-tiny": "sam2-tiny", "facebook/sam2-hiera-small": "sam2-small",
    "facebook/sam2-hiera-base-plus": "sam2-base-plus", "facebook/sam2-hiera-large": "sam2-large",
    "facebook/sam2.1-hiera-tiny": "sam2.1-tiny", "facebook/sam2.1-hiera-small": "sam2.1-small",
    "facebook/sam2.1-hiera-base-plus": "sam2.1-base-plus", "facebook/sam2.1-hiera-large": "sam2.1-large",
}


def build_sam2_hf(model_id: str, **kwargs: Any) -> SAM2Model:
    """The official model ids map to samstream's registry; weights come from the official URLs."""
    from samstream.checkpoints import find_checkpoint

    if model_id not in _HF_IDS:
        raise InvalidInputError(f"model_id: unknown {model_id!r}; known: {', '.join(_HF_IDS)}")
    name = _HF_IDS[model_id]
    return build_sam2(get_variant(name).official_config, str(find_checkpoint(name)), **kwargs)


class SAM2ImagePredictor:
    """The official image predictor's interface over :class:`samstream.ImagePredictor`."""

    def __init__(
        self, sam_model: SAM2Model, mask_threshold: float = 0.0, max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0, **kwargs: Any,
    ) -> None:
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self._predictor = ImagePredictor(sam_model, mask_threshold, max_hole_area, max_sprinkle_area)
        self._is_batch = False

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs: Any) -> "SAM2ImagePredictor":
        return cls(build_sam2_hf(model_id, **kwargs), **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def _is_image_set(self) -> bool:
        return self._predictor.is_image_set

    @property
    def _orig_hw(self) -> list[tuple[int, int]]:
        return [self._predictor.original_size(i) for i in range(self._predictor.num_images)]

    def reset_predictor(self) -> None:
        self._predictor.reset()
        self._is_batch = False

    def set_image(self, image: Any) -> None:
        self._predictor.set_image(image)
        self._is_batch = False

    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        if not isinstance(image_list, list):
            raise InvalidInputError("image_list: expected a list of (H, W, 3) uint8 arrays")
        self._predictor.set_images(image_list)
        self._is_batch = True

    def get_image_embedding(self) -> torch.Tensor:
        if not self._predictor.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
        embeds = [self._predictor.image_embedding(i) for i in range(self._predictor.num_images)]
        return torch.cat(embeds, dim=0)

    def _one(self, image_index: int, point_coords: Any, point_labels: Any, box: Any, mask_input: Any,
             multimask_output: bool, return_logits: bool, normalize_coords: bool) -> tuple[np.ndarray, ...]:
        if point_coords is not None and point_labels is None:
            raise InvalidInputError("point_labels must be supplied if point_coords is supplied.")
        hw = self._predictor.original_size(image_index)
        prompts = prepare_prompts(point_coords, point_labels, box, mask_input, hw, self.model.image_size,
                                  self.device, normalize_coords, strict=False)
        masks, ious, low = self._predictor.predict_tensors(prompts, multimask_output, image_index, return_logits)
        squeeze = (lambda a: a[0]) if masks.shape[0] == 1 else (lambda a: a)
        return (squeeze(masks.float().cpu().numpy()), squeeze(ious.float().cpu().numpy()),
                squeeze(low.float().cpu().numpy()))

    def predict(self, point_coords: Any = None, point_labels: Any = None, box: Any = None, mask_input: Any = None,
                multimask_output: bool = True, return_logits: bool = False,
                normalize_coords: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._predictor.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        return self._one(0, point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                         normalize_coords)

    def predict_batch(self, point_coords_batch: Any = None, point_labels_batch: Any = None, box_batch: Any = None,
                      mask_input_batch: Any = None, multimask_output: bool = True, return_logits: bool = False,
                      normalize_coords: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        if not self._is_batch:
            raise InvalidInputError("predict_batch: call set_image_batch(...) first")
        outs: tuple[list, list, list] = ([], [], [])
        for i in range(self._predictor.num_images):
            def pick(batch: Any) -> Any:
                return batch[i] if batch is not None else None
            res = self._one(i, pick(point_coords_batch), pick(point_labels_batch), pick(box_batch),
                            pick(mask_input_batch), multimask_output, return_logits, normalize_coords)
            for acc, r in zip(outs, res):
                acc.append(r)
        return outs


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
):
    """The official video builder: with post-processing, dynamic multi-mask, binarised click masks for
    memory and hole filling of 8 pixels. ``memory_dtype`` (samstream only) sets the storage type of
    memory features (default bfloat16, as the official predictor stores them)."""
    from samstream.compat_video import SAM2VideoPredictor

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


def __getattr__(name: str) -> Any:
    """The video and mask-generator adapters, imported on first use (they pull in more modules)."""
    if name in ("SAM2VideoPredictor", "InferenceState"):
        from samstream import compat_video

        return getattr(compat_video, name)
    if name == "SAM2AutomaticMaskGenerator":
        from samstream.compat_amg import SAM2AutomaticMaskGenerator

        return SAM2AutomaticMaskGenerator
    raise AttributeError(f"module 'samstream.compat' has no attribute {name!r}")
