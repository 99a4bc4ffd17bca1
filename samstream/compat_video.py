"""The official video predictor's interface over :class:`samstream.video.predictor.VideoSession`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

import torch
from torch import Tensor

from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.video.options import VideoOptions
from samstream.video.predictor import VideoPredictor, VideoSession


class InferenceState:
    """What ``init_state`` returns: a session, readable with a few of the official keys."""

    _KEYS = ("num_frames", "video_height", "video_width", "obj_ids", "device")

    def __init__(self, session: VideoSession) -> None:
        self.session = session

    def __getitem__(self, key: str) -> Any:
        s = self.session
        values = {"num_frames": s.num_frames, "video_height": s.video_size[0], "video_width": s.video_size[1],
                  "obj_ids": s.obj_ids, "device": s.engine.device}
        if key not in values:
            raise KeyError(f"{key!r} (readable keys: {', '.join(self._KEYS)})")
        return values[key]


def _output(frame_idx: int, obj_ids: list[int], logits: Tensor) -> tuple[int, list[int], Tensor]:
    return frame_idx, list(obj_ids), logits[:, None]


class SAM2VideoPredictor:
    """Drop-in for the official ``SAM2VideoPredictor``: same methods, arguments and return values."""

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
        )

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @torch.inference_mode()
    def init_state(self, video_path: Any, offload_video_to_cpu: bool = False, offload_state_to_cpu: bool = False,
                   async_loading_frames: bool = False) -> InferenceState:
        opts = replace(self.options, offload_video_to_cpu=offload_video_to_cpu,
                       offload_state_to_cpu=offload_state_to_cpu)
        return InferenceState(VideoPredictor(self.model).open(video_path, **vars_of(opts)))

    @staticmethod
    def _session(state: Any) -> VideoSession:
        if not isinstance(state, InferenceState):
            raise InvalidInputError("inference_state: expected the object returned by init_state(...)")
        return state.session

    def add_new_points_or_box(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                              points: Any = None, labels: Any = None, clear_old_points: bool = True,
                              normalize_coords: bool = True, box: Any = None) -> tuple[int, list[int], Tensor]:
        s = self._session(inference_state)
        if (points is None) != (labels is None):
            raise InvalidInputError("points and labels must be provided together")
        r = s._add_clicks(frame_idx, obj_id, points, labels, box, clear_old_points, normalize_coords, strict=False)
        return _output(r.frame_idx, r.obj_ids, r.logits)

    def add_new_points(self, *args: Any, **kwargs: Any) -> tuple[int, list[int], Tensor]:
        return self.add_new_points_or_box(*args, **kwargs)

    def add_new_mask(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                     mask: Any) -> tuple[int, list[int], Tensor]:
        r = self._session(inference_state).add_mask(frame_idx, obj_id, mask)
        return _output(r.frame_idx, r.obj_ids, r.logits)

    def propagate_in_video(self, inference_state: InferenceState, start_frame_idx: int | None = None,
                           max_frame_num_to_track: int | None = None,
                           reverse: bool = False) -> Iterator[tuple[int, list[int], Tensor]]:
        s = self._session(inference_state)
        for r in s.propagate(start_frame_idx, max_frame_num_to_track, reverse):
            yield _output(r.frame_idx, r.obj_ids, r.logits)

    def clear_all_prompts_in_frame(self, inference_state: InferenceState, frame_idx: int, obj_id: int,
                                   need_output: bool = True) -> tuple[int, list[int], Tensor] | None:
        s = self._session(inference_state)
        s.state.track(int(obj_id), create=True)  # the official predictor registers unknown ids here
        r = s.clear_frame(frame_idx, obj_id)
        return _output(r.frame_idx, r.obj_ids, r.logits) if need_output else None

    def remove_object(self, inference_state: InferenceState, obj_id: int, strict: bool = False,
                      need_output: bool = True) -> tuple[list[int], list[tuple[int, Tensor]]]:
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
        self._session(inference_state).reset()


def vars_of(options: VideoOptions) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(options, f.name) for f in fields(options)}
