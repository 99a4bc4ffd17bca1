"""Image encoder: Hiera trunk + FPN neck (state-dict keys ``trunk.*`` and ``neck.*``)."""

from __future__ import annotations

from torch import Tensor, nn

from samstream.config import HieraConfig, NeckConfig
from samstream.errors import InvalidInputError
from samstream.model.hiera import Hiera
from samstream.model.neck import FpnNeck


class ImageEncoder(nn.Module):
    """(B, 3, H, W) normalised images -> multi-scale features and their position encodings.

    With the released configurations: three levels at strides 4, 8 and 16, ``d_model`` (256)
    channels each; the stride-32 level only feeds the stride-16 one.
    """

    def __init__(self, trunk: Hiera, neck: FpnNeck) -> None:
        super().__init__()
        if list(trunk.channel_list) != list(neck.backbone_channel_list):
            raise ValueError(
                f"trunk channels {trunk.channel_list} do not match neck channels {neck.backbone_channel_list}"
            )
        self.trunk = trunk
        self.neck = neck

    @classmethod
    def from_config(cls, hiera: HieraConfig, neck: NeckConfig) -> "ImageEncoder":
        trunk = Hiera(hiera)
        return cls(trunk, FpnNeck(neck, trunk.channel_list))

    @property
    def scalp(self) -> int:
        return self.neck.scalp

    def forward(self, images: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """images (B, 3, H, W) -> (features, position encodings), each a list over levels, finest first.

        Level i is (B, d_model, H / 2**(i+2), W / 2**(i+2)); encodings have the features' dtype.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise InvalidInputError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        return self.neck(self.trunk(images))


def build_image_encoder(hiera: HieraConfig, neck: NeckConfig) -> ImageEncoder:
    """The image encoder for a trunk and a neck configuration (random weights)."""
    return ImageEncoder.from_config(hiera, neck)
