"""Named model variants: SAM 2 and SAM 2.1 in four sizes, and samstream's own demo model.

Each entry pairs a typed :class:`~samstream.config.ModelConfig` with the official checkpoint's
download address and file name. ``min_bytes`` guards against truncated downloads: the official
files store every parameter in float32, so a complete file is at least ``4 * num_params`` bytes.
``samstream-nano`` is not downloaded: its weights ship inside the package (``bundled``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from samstream.config import HieraConfig, MemoryConfig, ModelConfig
from samstream.errors import InvalidInputError
from samstream.presets import nano_config

_BASE_2_0 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
_BASE_2_1 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"

HIERA_TINY = HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9),
                         window_pos_embed_bkg_spatial_size=(7, 7))
HIERA_SMALL = HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13),
                          window_pos_embed_bkg_spatial_size=(7, 7))
HIERA_BASE_PLUS = HieraConfig(embed_dim=112, num_heads=2, stages=(2, 3, 16, 3), global_att_blocks=(12, 16, 20),
                              window_pos_embed_bkg_spatial_size=(14, 14))
HIERA_LARGE = HieraConfig(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4), global_att_blocks=(23, 33, 43),
                          window_spec=(8, 4, 16, 8), window_pos_embed_bkg_spatial_size=(7, 7))

# SAM 2.0 has no spatial no-object embedding and no temporal encoding of object pointers.
MEMORY_2_0 = MemoryConfig(no_obj_embed_spatial=False, add_tpos_enc_to_obj_ptrs=False,
                          proj_tpos_enc_in_obj_ptrs=False, use_signed_tpos_enc_to_obj_ptrs=False)
MEMORY_2_1 = MemoryConfig()


@dataclass(frozen=True)
class Variant:
    """A released model: its configuration and where its official weights live."""

    name: str  # samstream name, e.g. "sam2.1-tiny"
    config: ModelConfig
    url: str
    filename: str
    official_config: str  # the official config name, e.g. "configs/sam2.1/sam2.1_hiera_t.yaml"
    num_params: int  # published parameter count (rounded)
    # the official file's SHA-256; None where no published digest was found (the first download pins one,
    # see samstream.checkpoints.download)
    sha256: str | None = None
    bundled: bool = False  # weights ship inside the package (samstream/weights/<filename>)

    @property
    def min_bytes(self) -> int:
        return 4 * int(self.num_params * 0.99)


def _variant(version: str, size: str, short: str, long: str, hiera: HieraConfig, params: float) -> Variant:
    memory = MEMORY_2_1 if version == "2.1" else MEMORY_2_0
    prefix = "sam2.1" if version == "2.1" else "sam2"
    filename = f"{prefix}_hiera_{long}.pt"
    return Variant(
        name=f"{prefix}-{size}",
        config=ModelConfig(hiera=hiera, memory=memory),
        url=(_BASE_2_1 if version == "2.1" else _BASE_2_0) + filename,
        filename=filename,
        official_config=f"configs/{prefix}/{prefix}_hiera_{short}.yaml",
        num_params=int(params * 1e6),
    )


_SIZES = [
    ("tiny", "t", "tiny", HIERA_TINY, 38.9),
    ("small", "s", "small", HIERA_SMALL, 46.0),
    ("base-plus", "b+", "base_plus", HIERA_BASE_PLUS, 80.8),
    ("large", "l", "large", HIERA_LARGE, 224.4),
]

VARIANTS: dict[str, Variant] = {}
for _version in ("2.0", "2.1"):
    for _size, _short, _long, _hiera, _params in _SIZES:
        _v = _variant(_version, _size, _short, _long, _hiera, _params)
        VARIANTS[_v.name] = _v

# samstream's demo model, trained from scratch on synthetic data (configs/samstream-nano*.yaml, five phases)
NANO_PARAMS = 2_271_226
VARIANTS["samstream-nano"] = Variant(
    name="samstream-nano", config=nano_config(128), url="", filename="samstream-nano.pt",
    official_config="configs/samstream-nano.yaml", num_params=NANO_PARAMS, bundled=True,
)

_ALIASES = {"base+": "base-plus", "b+": "base-plus", "t": "tiny", "s": "small", "l": "large", "base_plus": "base-plus"}


def _canonical(name: str) -> str:
    key = name.strip().lower()
    for suffix in (".pt", ".yaml"):
        key = key.removesuffix(suffix)
    key = key.rsplit("/", 1)[-1]
    key = key.replace("_hiera_", "-").replace("sam2_", "sam2-").replace("sam2.1_", "sam2.1-")
    key = key.replace("-hiera-", "-")
    if "-" in key:
        prefix, size = key.split("-", 1)
        key = f"{prefix}-{_ALIASES.get(size, size)}"
    return key


def get_variant(name: str) -> Variant:
    """Look up a variant by samstream name (``sam2.1-tiny``), official config or checkpoint file name."""
    key = _canonical(name)
    if key not in VARIANTS:
        known = ", ".join(VARIANTS)
        raise InvalidInputError(f"model: unknown model name {name!r}; known names: {known}")
    return VARIANTS[key]


def variant_for_config(cfg: ModelConfig) -> Variant | None:
    """The released variant whose architecture equals ``cfg`` (ignoring image size), if any."""
    for v in VARIANTS.values():
        if replace(v.config, image_size=cfg.image_size) == cfg:
            return v
    return None


def cache_dir() -> Path:
    """``$SAMSTREAM_HOME`` or ``~/.cache/samstream``."""
    env = os.environ.get("SAMSTREAM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "samstream"


def cached_path(variant: Variant) -> Path:
    """Where a variant's weights are read from: the cache, or the package for bundled ones."""
    if variant.bundled:
        return Path(__file__).resolve().parent / "weights" / variant.filename
    return cache_dir() / variant.filename
