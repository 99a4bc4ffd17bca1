"""Small model architectures: the bundled demo model (samstream-nano) and a micro layout for tests."""

from __future__ import annotations

from samstream.config import DecoderConfig, HieraConfig, MemoryConfig, ModelConfig, NeckConfig


def micro_config(image_size: int = 128, dropout: float = 0.0) -> ModelConfig:
    """A ~0.5 M parameter SAM 2.1 layout: four one-block Hiera stages (16..128 channels), 64-wide
    neck and heads. Trains in seconds on a CPU at 128 x 128; ``image_size`` a multiple of 32."""
    hiera = HieraConfig(
        embed_dim=16, num_heads=1, stages=(1, 1, 1, 1), global_att_blocks=(2, 3), window_spec=(8, 4, 4, 2),
        window_pos_embed_bkg_spatial_size=(4, 4),
    )
    decoder = DecoderConfig(transformer_mlp_dim=128, iou_head_hidden_dim=64)
    memory = MemoryConfig(mem_dim=32, attention_layers=2, attention_ff_dim=128, attention_dropout=dropout,
                          max_obj_ptrs_in_encoder=8)
    return ModelConfig(hiera=hiera, neck=NeckConfig(d_model=64), decoder=decoder, memory=memory,
                       image_size=image_size)


def nano_config(image_size: int = 128) -> ModelConfig:
    """``samstream-nano``, the bundled demo model: a 2.27 M parameter SAM 2.1 layout (Hiera with
    32 -> 256 channels over stages of 1, 2, 2, 1 blocks; 96-wide neck, decoder and memory
    attention), meant for 128 x 128 inputs. Trained from scratch on synthetic images and videos with
    ``configs/samstream-nano-images.yaml``, ``configs/samstream-nano.yaml``,
    ``configs/samstream-nano-phase3.yaml``, ``configs/samstream-nano-phase4-images.yaml`` and
    ``configs/samstream-nano-phase5.yaml``, in that order."""
    hiera = HieraConfig(
        embed_dim=32, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(4, 5), window_spec=(8, 4, 4, 2),
        window_pos_embed_bkg_spatial_size=(4, 4),
    )
    decoder = DecoderConfig(transformer_mlp_dim=256, iou_head_hidden_dim=64)
    memory = MemoryConfig(mem_dim=32, attention_layers=2, attention_ff_dim=256, attention_dropout=0.0,
                          max_obj_ptrs_in_encoder=8)
    return ModelConfig(hiera=hiera, neck=NeckConfig(d_model=96), decoder=decoder, memory=memory,
                       image_size=image_size)
