"""Typed model configuration.

Each released SAM 2 / SAM 2.1 variant is a :class:`ModelConfig` built from a few small frozen
dataclasses. Presets live in :mod:`samstream.registry`; nothing here names a class in a string.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class HieraConfig:
    """Hierarchical ViT trunk (Hiera) of the image encoder."""

    embed_dim: int = 96  # channels of the first stage; doubled at each stage change
    num_heads: int = 1  # heads of the first stage; doubled at each stage change
    stages: tuple[int, ...] = (1, 2, 7, 2)  # blocks per stage
    global_att_blocks: tuple[int, ...] = (5, 7, 9)  # blocks with global (not windowed) attention
    window_spec: tuple[int, ...] = (8, 4, 14, 7)  # attention window size per stage
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7)  # background pos-embed grid
    q_pool: int = 3  # number of stage changes that pool the queries
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.0

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Output channels per stage, deepest first (the order the neck expects)."""
        dims = [int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages))]
        return tuple(reversed(dims))


@dataclass(frozen=True)
class NeckConfig:
    """FPN neck turning the trunk's stages into ``d_model``-channel feature maps."""

    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)  # levels that receive top-down features
    fpn_interp_mode: str = "nearest"
    scalp: int = 1  # number of lowest-resolution levels dropped from the output


@dataclass(frozen=True)
class MemoryConfig:
    """Memory encoder, memory bank layout and memory attention: what a checkpoint fixes.

    Which memories tracking attends to is a policy a session may change: :class:`TrackingConfig`.
    """

    mem_dim: int = 64  # channels of a stored memory
    num_maskmem: int = 7  # memory slots: 1 for conditioning frames + 6 recent frames (learned encodings)
    attention_layers: int = 4  # memory-attention layers
    attention_heads: int = 1  # heads of each memory-attention layer
    attention_ff_dim: int = 2048  # feed-forward width of a memory-attention layer
    attention_dropout: float = 0.1  # dropout in memory attention (training only)
    rope_theta: float = 10000.0  # base frequency of the rotary encodings in memory attention
    fuser_layers: int = 2  # ConvNeXt blocks fusing frame features and mask in the memory encoder
    fuser_kernel_size: int = 7  # their depthwise kernel size
    mask_downsampler_total_stride: int = 16  # the memory encoder brings masks to the feature grid
    max_obj_ptrs_in_encoder: int = 16  # object pointers attended to; also their distance normaliser
    sigmoid_scale_for_mem_enc: float = 20.0  # mask probabilities are scaled ...
    sigmoid_bias_for_mem_enc: float = -10.0  # ... and shifted before the memory encoder
    directly_add_no_mem_embed: bool = True  # a frame without memory gets the learned no-memory embedding
    no_obj_embed_spatial: bool = True  # SAM 2.1: learned embedding added to memories of occluded frames
    add_tpos_enc_to_obj_ptrs: bool = True  # object pointers carry a temporal encoding
    proj_tpos_enc_in_obj_ptrs: bool = True  # ... of hidden_dim channels projected to mem_dim
    use_signed_tpos_enc_to_obj_ptrs: bool = True  # ... of the signed distance (reverse tracking negative)
    use_mlp_for_obj_ptr_proj: bool = True  # object pointer projection: 3-layer MLP (else linear)
    fixed_no_obj_ptr: bool = True  # an absent object's pointer is the learned no-object pointer
    soft_no_obj_ptr: bool = False  # ... mixed by the presence probability (else by the hard decision)


@dataclass(frozen=True)
class DecoderConfig:
    """Prompt encoder and two-way transformer mask decoder."""

    transformer_depth: int = 2
    transformer_heads: int = 8
    transformer_mlp_dim: int = 2048
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16
    use_high_res_features: bool = True
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking policy: inference-time behaviour, not parameters (a session may change it)."""

    multimask_output_in_sam: bool = True  # the decoder may return several candidate masks ...
    multimask_output_for_tracking: bool = True  # ... also on tracked frames (else only on first clicks)
    multimask_min_pt_num: int = 0  # ... when a frame has at least this many clicks
    multimask_max_pt_num: int = 1  # ... and at most this many
    use_mask_input_as_output_without_sam: bool = True  # a mask prompt is taken as the output as it is
    max_cond_frames_in_attn: int = -1  # conditioning frames attended to, the closest first (-1: all)
    memory_temporal_stride_for_eval: int = 1  # tracked frames in memory are this many frames apart
    only_obj_ptrs_in_the_past_for_eval: bool = True  # no pointers of prompted frames ahead of the current one

    def multimask(self, is_init: bool, num_points: int) -> bool:
        """Whether the decoder returns candidate masks for a frame with ``num_points`` clicks."""
        return (self.multimask_output_in_sam and (is_init or self.multimask_output_for_tracking)
                and self.multimask_min_pt_num <= num_points <= self.multimask_max_pt_num)


# the tracking methods a session may run (samstream.video.methods); named here, torch-free, so that
# the command line lists them without importing the library
TRACKING_METHODS = ("sam2", "samurai", "dam4sam", "sam2long")


@dataclass(frozen=True)
class ModelConfig:
    """A complete SAM 2 model."""

    hiera: HieraConfig = field(default_factory=HieraConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    image_size: int = 1024
    backbone_stride: int = 16
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def hidden_dim(self) -> int:
        return self.neck.d_model

    @property
    def embedding_size(self) -> int:
        """Side of the lowest-resolution feature map the decoder sees (64 at 1024 input)."""
        return self.image_size // self.backbone_stride

    def with_image_size(self, image_size: int) -> "ModelConfig":
        return replace(self, image_size=image_size)


# fields that moved between sections: old config dicts (the bundled checkpoints') still load
_MOVED = {
    ("memory", "max_cond_frames_in_attn"): "tracking",
    ("memory", "memory_temporal_stride_for_eval"): "tracking",
    ("memory", "only_obj_ptrs_in_the_past_for_eval"): "tracking",
}

_SECTIONS = {
    "hiera": HieraConfig,
    "neck": NeckConfig,
    "decoder": DecoderConfig,
    "memory": MemoryConfig,
    "tracking": TrackingConfig,
}


def config_to_dict(cfg: ModelConfig) -> dict:
    """Plain-data form (dicts, lists, numbers, strings) that ``torch.load(weights_only=True)`` accepts."""

    def plain(value: object) -> object:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(asdict(cfg))  # type: ignore[return-value]


def config_from_dict(data: dict) -> ModelConfig:
    """Inverse of :func:`config_to_dict` (also of older layouts, see ``_MOVED``); unknown keys are an error."""

    def build(cls: type, values: dict) -> object:
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**kwargs)

    top = {k: dict(v) if k in _SECTIONS else v for k, v in data.items()}
    for (old, name), new in _MOVED.items():
        if name in top.get(old, {}):
            top.setdefault(new, {}).setdefault(name, top[old].pop(name))
    sections = {k: build(cls, top.pop(k, {})) for k, cls in _SECTIONS.items()}
    if "pixel_mean" in top:
        top["pixel_mean"] = tuple(top["pixel_mean"])
    if "pixel_std" in top:
        top["pixel_std"] = tuple(top["pixel_std"])
    return build(ModelConfig, {**top, **sections})  # type: ignore[return-value]
