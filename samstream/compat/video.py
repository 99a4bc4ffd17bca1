"""The official video predictor's interface over :class:`samstream.video.predictor.VideoSession`.

Settings the official predictor reads from itself at call time work the same here: assigning
``predictor.fill_hole_area = 0`` (or ``non_overlap_masks``, ``clear_non_cond_mem_around_input``,
``add_all_frames_to_correct_as_cond``, ``binarize_mask_from_pts_for_mem_enc``, or a tracking policy
such as ``max_cond_frames_in_attn``) applies to the next call, also on states opened before.
Assigning an official setting that the checkpoint fixes (``num_maskmem``, ``mem_dim``, ...) raises.
"""

from __future__ import annotations

import weakref
from dataclasses import fields, replace
from typing import Any, Iterator

import torch
from torch import Tensor

from samstream.config import TrackingConfig
from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.video.options import VideoOptions
from samstream.video.predictor import VideoPredictor, VideoSession

# official attribute -> VideoOptions field (the settings of the official predictor itself)
_OPTION_ATTRS = {
    "fill_hole_area": "fill_hole_area",
    "non_overlap_masks": "non_overlap_masks",
    "clear_non_cond_mem_around_input": "clear_non_cond_mem_around_input",
    "add_all_frames_to_correct_as_cond": "add_all_frames_to_correct_as_cond",
    "binarize_mask_from_pts_for_mem_enc": "binarize_mask_from_pts",
}
# official attributes that are samstream's tracking policy (TrackingConfig fields)
_POLICY_ATTRS = {f.name for f in fields(TrackingConfig)}
# official attributes the checkpoint fixes: assigning them would change nothing here, so it raises
_FIXED_ATTRS = {
    "image_size", "num_maskmem", "mem_dim", "hidden_dim", "max_obj_ptrs_in_encoder", "backbone_stride",
    "sigmoid_scale_for_mem_enc", "sigmoid_bias_for_mem_enc", "directly_add_no_mem_embed", "add_tpos_enc_to_obj_ptrs",
    "proj_tpos_enc_in_obj_ptrs", "use_signed_tpos_enc_to_obj_ptrs", "use_mlp_for_obj_ptr_proj", "fixed_no_obj_ptr",
    "soft_no_obj_ptr", "pred_obj_scores", "pred_obj_scores_mlp", "use_obj_ptrs_in_encoder", "use_high_res_features_in_sam",
    "use_multimask_token_for_obj_ptr", "iou_prediction_use_sigmoid", "non_overlap_masks_for_mem_enc",
    "num_feature_levels", "sam_mask_decoder_extra_args",
}


class InferenceState:
    """What ``init_state`` returns: a session, readable with a few of the official keys."""

    _KEYS = ("num_frames", "video_height", "video_width", "obj_ids", "device")

    def __init__(self, session: VideoSession) -> None:
        self.session = session

    def __getitem__(self, key: str) -> Any:
        s = self.session
        values = {"num_frames": s.num_frames, "video_height": s.video_size[0], "video_width": s.video_size[1],
                  "obj_ids": s.obj_ids, "device": s.model.device}
        if key not in values:
            raise KeyError(f"{key!r} (readable keys: {', '.join(self._KEYS)})")
        return values[key]


def _output(frame_idx: int, obj_ids: list[int], logits: Tensor) -> tuple[int, list[int], Tensor]:
    return frame_idx, list(obj_ids), logits[:, None]


def _setting_value(name: str, value: Any, like: Any) -> Any:
    """``value`` checked against the type of the current setting ``like``."""
    if isinstance(like, bool):
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
    elif isinstance(like, int) and not isinstance(value, bool) and isinstance(value, int):
        return int(value)
    raise InvalidInputError(f"{name}: expected {type(like).__name__}, got {value!r}")


class SAM2VideoPredictor:
    """Drop-in for the official ``SAM2VideoPredictor``: same methods, arguments and return values.

    Args:
        model: what :func:`samstream.compat.build_sam2` returns (usually built by
            :func:`samstream.compat.build_sam2_video_predictor`).
        fill_hole_area, non_overlap_masks, clear_non_cond_mem_around_input,
            add_all_frames_to_correct_as_cond, binarize_mask_from_pts_for_mem_enc: the official settings
            (see the module docstring: they can also be assigned later).
        memory_dtype: storage type of memory features (samstream only; bfloat16 as the official).
        **kwargs: accepted and ignored, as by the official class.

    Every method returning masks gives ``(frame_idx, obj_ids, video_res_masks)``: the frame, the object
    ids and (N, 1, H, W) float32 logits at the video's resolution.
    """

    def __init__(self, model: SAM2Model, fill_hole_area: int = 0, non_overlap_masks: bool = False,
                 clear_non_cond_mem_around_input: bool = False, add_all_frames_to_correct_as_cond: bool = False,
                 binarize_mask_from_pts_for_mem_enc: bool = False, memory_dtype: torch.dtype = torch.bfloat16,
                 **kwargs: Any) -> None:
        self.model = model
        self.options = VideoOptions(
            fill_hole_area=fill_hole_area, non_overlap_masks=non_overlap_masks,
            clear_non_cond_mem_around_input=clear_non_cond_mem_around_input,
            add_all_frames_to_correct_as_cond=add_all_frames_to_correct_as_cond,
            binarize_mask_from_pts=binarize_mask_from_pts_for_mem_enc, memory_dtype=memory_dtype,
            tracking=model.cfg.tracking, strict_prompts=False, max_cond_frames_in_attn=None,
        )
        self._states: weakref.WeakSet[InferenceState] = weakref.WeakSet()  # open states follow the settings

    # ---------------------------------------------------------- settings
    def __getattr__(self, name: str) -> Any:  # called only for names not found the ordinary way
        if name in _OPTION_ATTRS:
            return getattr(self.options, _OPTION_ATTRS[name])
        if name in _POLICY_ATTRS:
            return getattr(self.options.tracking, name)
        if name in _FIXED_ATTRS:
            cfg = self.model.cfg
            for section in (cfg, cfg.memory, cfg.decoder):
                if hasattr(section, name):
                    return getattr(section, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OPTION_ATTRS:
            field = _OPTION_ATTRS[name]
            self._apply(**{field: _setting_value(name, value, getattr(self.options, field))})
        elif name in _POLICY_ATTRS:
            tracking = self.options.tracking
            assert tracking is not None
            self._apply(tracking=replace(tracking, **{name: _setting_value(name, value, getattr(tracking, name))}))
        elif name in _FIXED_ATTRS:
            raise InvalidInputError(
                f"{name}: fixed by the model's checkpoint and configuration; build the predictor with "
                f"hydra_overrides_extra=['++model.{name}=...'] where samstream supports it"
            )
        else:
            object.__setattr__(self, name, value)

    def _apply(self, **changes: Any) -> None:
        object.__setattr__(self, "options", replace(self.options, **changes))
        for state in list(self._states):
            state.session.update_options(**changes)

    @property
    def device(self) -> torch.device:
        """The model's device."""
        return self.model.device

    @property
    def image_size(self) -> int:
        """The model's square input size."""
        return self.model.image_size

    # ---------------------------------------------------------- the official methods
    @torch.inference_mode()
    def init_state(self, video_path: Any, offload_video_to_cpu: bool = False, offload_state_to_cpu: bool = False,
                   async_loading_frames: bool = False) -> InferenceState:
        """Open a video for prompting and tracking.

        Args:
            video_path: a frame folder, a video file, an array or a list of images (what
                :meth:`samstream.VideoPredictor.open` takes).
            offload_video_to_cpu: keep decoded frames on the CPU.
            offload_state_to_cpu: keep tracking state on the CPU.
            async_loading_frames: accepted; frames are always decoded lazily.

        Returns:
            The state every other method takes; ``state["num_frames"]`` and a few official keys read.
        """
        opts = replace(self.options, offload_video_to_cpu=offload_video_to_cpu,
                       offload_state_to_cpu=offload_state_to_cpu)
        state = InferenceState(VideoPredictor(self.model).open(video_path, **opts.as_kwargs()))
        self._states.add(state)
        return state

    @staticmethod
    def _session(state: Any) -> VideoSession:
        if not isinstance(state, InferenceState):
            raise InvalidInputError("inference_state: expected the object returned by init_state(...)")
        return state.session

    def add_new_points_or_box(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                              points: Any = None, labels: Any = None, clear_old_points: bool = True,
                              normalize_coords: bool = True, box: Any = None) -> tuple[int, list[int], Tensor]:
        """Clicks and/or a box for one object on one frame.

        Args:
            inference_state: what :meth:`init_state` returned.
            frame_idx: the frame.
            obj_id: the object (new or known).
            points: (N, 2) clicks (x, y) in pixels (fractions if not ``normalize_coords``).
            labels: (N,) 1 foreground, 0 background.
            clear_old_points: replace the object's earlier clicks on this frame (else add to them).
            normalize_coords: coordinates are pixels of the video.
            box: (4,) XYXY.

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` of that frame.
        """
        s = self._session(inference_state)
        if (points is None) != (labels is None):
            raise InvalidInputError("points and labels must be provided together")
        r = s.tracker.add_clicks(frame_idx, obj_id, points, labels, box, clear_old_points, normalize_coords)
        return _output(r.frame_idx, r.obj_ids, r.logits)

    def add_new_points(self, *args: Any, **kwargs: Any) -> tuple[int, list[int], Tensor]:
        """The official older name of :meth:`add_new_points_or_box` (same arguments and result)."""
        return self.add_new_points_or_box(*args, **kwargs)

    def add_new_mask(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                     mask: Any) -> tuple[int, list[int], Tensor]:
        """A binary mask of one object on one frame.

        Args:
            inference_state: what :meth:`init_state` returned.
            frame_idx: the frame.
            obj_id: the object (new or known).
            mask: (H, W) bool or 0 / 1 values, any size (resized to the model's input).

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` of that frame.
        """
        r = self._session(inference_state).add_mask(frame_idx, obj_id, mask)
        return _output(r.frame_idx, r.obj_ids, r.logits)

    def propagate_in_video(self, inference_state: InferenceState, start_frame_idx: int | None = None,
                           max_frame_num_to_track: int | None = None,
                           reverse: bool = False) -> Iterator[tuple[int, list[int], Tensor]]:
        """Track every object through the video.

        Args:
            inference_state: what :meth:`init_state` returned.
            start_frame_idx: the first frame (default: the earliest prompted frame).
            max_frame_num_to_track: frames to track after the first (default: to the end).
            reverse: track towards frame 0.

        Yields:
            ``(frame_idx, obj_ids, video_res_masks)`` of each frame in turn.
        """
        s = self._session(inference_state)
        # the official count leaves out the start frame: N more frames, N + 1 in all
        count = None if max_frame_num_to_track is None else max_frame_num_to_track + 1
        for r in s.propagate(start_frame_idx, count, reverse):
            yield _output(r.frame_idx, r.obj_ids, r.logits)

    def clear_all_prompts_in_frame(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                                   need_output: bool = True) -> tuple[int, list[int], Tensor] | None:
        """Forget one object's prompts and output on one frame.

        Args:
            inference_state: what :meth:`init_state` returned.
            frame_idx: the frame.
            obj_id: the object (an unknown id is registered, as officially).
            need_output: return the frame's result.

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` of that frame, or None.
        """
        s = self._session(inference_state)
        s.tracker.add_object(obj_id)  # the official predictor registers unknown ids here
        r = s.clear_frame(frame_idx, obj_id)
        return _output(r.frame_idx, r.obj_ids, r.logits) if need_output else None

    def remove_object(self, inference_state: InferenceState, obj_id: int, strict: bool = False,
                      need_output: bool = True) -> tuple[list[int], list[tuple[int, Tensor]]]:
        """Stop tracking an object and forget it.

        Args:
            inference_state: what :meth:`init_state` returned.
            obj_id: the object.
            strict: an unknown id is an error (else nothing happens).
            need_output: return the updated results of the frames the object had prompts on.

        Returns:
            The remaining object ids and ``[(frame_idx, video_res_masks), ...]`` of those frames.
        """
        s = self._session(inference_state)
        if obj_id not in s.obj_ids:
            if strict:
                raise InvalidInputError(f"Cannot remove object id {obj_id} as it doesn't exist. "
                                        f"All existing object ids: {s.obj_ids}.")
            return s.obj_ids, []
        results = s.remove_object(obj_id)
        updated = [(r.frame_idx, r.logits[:, None]) for r in results] if need_output else []
        return s.obj_ids, updated

    def reset_state(self, inference_state: InferenceState) -> None:
        """Forget every object, prompt and result of the state (the video stays open)."""
        self._session(inference_state).reset()
