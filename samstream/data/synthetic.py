"""Synthetic videos with exact ground truth, for tests, smoke training and debugging.

A clip shows textured shapes (ellipses, boxes, triangles, rings, irregular blobs) moving over a
textured background seen by a moving camera. Each object translates, scales and rotates; some
paths leave the frame and come back; objects overlap (the one in front wins); unlabelled
*distractors* copy the shape and texture of a labelled object. Ground truth is exact: every pixel
is painted by exactly one object (or the background), tested at its centre, and the masks are the
pixels each labelled object painted. A clip depends only on its seed.

The failures users report most can be staged on purpose (``occluders``, ``crossing_distractors``):
labelled objects then cross the frame on straight paths, pass behind opaque boards placed on their
way (hidden entirely for a few frames), and meet look-alikes whose paths cross theirs later on
(in front of them or behind). Clips without these options are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from samstream.errors import InvalidInputError

SHAPES = ("ellipse", "box", "triangle", "ring", "blob")


@dataclass(frozen=True)
class SyntheticConfig:
    """What a synthetic clip looks like. Lengths are fractions of the frame's shorter side."""

    size: int = 256  # frames are size x size
    num_frames: int = 8
    min_objects: int = 1  # labelled objects per clip
    max_objects: int = 3
    max_distractors: int = 2  # unlabelled look-alikes
    radius: tuple[float, float] = (0.08, 0.22)  # object radius range
    max_speed: float = 0.05  # per frame
    max_growth: float = 0.04  # relative scale change per frame
    max_spin: float = 0.2  # radians per frame
    camera_speed: float = 0.02  # background drift per frame
    exit_prob: float = 0.25  # chance that an object's path leaves the frame and comes back
    occluders: int = 0  # opaque boards in front of everything, each on a labelled object's path
    crossing_distractors: int = 0  # look-alikes whose paths cross a labelled object's path
    staged_travel: float = 0.76  # with either: how far (in frame sides) a labelled object travels over the clip

    def validate(self) -> None:
        if self.size < 16 or self.num_frames < 1:
            raise InvalidInputError(f"size must be >= 16 and num_frames >= 1, got {self.size}, {self.num_frames}")
        if self.occluders < 0 or self.crossing_distractors < 0:
            raise InvalidInputError(f"occluders and crossing_distractors must be >= 0, got {self.occluders}, "
                                    f"{self.crossing_distractors}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise InvalidInputError(
                f"min_objects/max_objects must satisfy 1 <= min <= max, got {self.min_objects}, {self.max_objects}"
            )


@dataclass
class SyntheticClip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    masks: np.ndarray  # (T, N, H, W) bool, the visible pixels of each labelled object
    obj_ids: list[int]  # ids of the N labelled objects (1..N)


@dataclass
class _Object:
    shape: str
    aspect: float  # second half-axis relative to the first
    radius: float  # pixels
    wobble: np.ndarray  # (3, 2) blob harmonics: amplitude, phase
    colors: np.ndarray  # (2, 3) float
    pattern: int  # 0 stripes, 1 checker, 2 radial gradient, 3 dots
    freq: float
    path: np.ndarray  # (T, 2) centre in world pixels (x, y)
    scale: np.ndarray  # (T,)
    angle: np.ndarray  # (T,)


def _inside(obj: _Object, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shape test in object coordinates (the shape spans about [-1, 1])."""
    if obj.shape == "ellipse":
        return u * u + (v / obj.aspect) ** 2 <= 1.0
    if obj.shape == "box":
        return (np.abs(u) <= 0.9) & (np.abs(v) <= 0.9 * obj.aspect)
    if obj.shape == "triangle":
        return (v <= 0.5) & (v >= 1.732 * np.abs(u) - 1.0)  # apex at (0, -1), base at v = 0.5
    r2 = u * u + v * v
    if obj.shape == "ring":
        return (r2 <= 1.0) & (r2 >= 0.4 * 0.4 + 0.2 * (1 - obj.aspect))
    theta = np.arctan2(v, u)
    edge = 0.8 + sum(a * np.cos((k + 2) * theta + p) for k, (a, p) in enumerate(obj.wobble))
    return r2 <= edge * edge


def _texture(obj: _Object, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n,) object coordinates -> (n, 3) colours; the texture moves and turns with the object."""
    f = obj.freq
    if obj.pattern == 0:
        w = (np.sin(f * u) > 0).astype(np.float32)
    elif obj.pattern == 1:
        w = ((np.floor(f * u / 3) + np.floor(f * v / 3)) % 2).astype(np.float32)
    elif obj.pattern == 2:
        w = np.clip(np.sqrt(u * u + v * v), 0, 1).astype(np.float32)
    else:
        w = ((np.sin(f * u) * np.sin(f * v)) > 0.5).astype(np.float32)
    c0, c1 = obj.colors
    return c0[None] * (1 - w[:, None]) + c1[None] * w[:, None]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour field plus fine texture: (H, W, 3) float in [0, 255]."""
    coarse = torch.from_numpy(rng.uniform(0, 255, size=(1, 3, 5, 5)).astype(np.float32))
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    fine = torch.from_numpy(rng.normal(0, 18, size=(1, 3, height // 4 + 1, width // 4 + 1)).astype(np.float32))
    field = field + F.interpolate(fine, size=(height, width), mode="nearest")[0]
    if rng.random() < 0.5:  # faint stripes
        ys = torch.arange(height, dtype=torch.float32)[:, None]
        xs = torch.arange(width, dtype=torch.float32)[None, :]
        ang, freq = rng.uniform(0, math.pi), rng.uniform(0.05, 0.3)
        field = field + 20 * torch.sin(freq * (xs * math.cos(ang) + ys * math.sin(ang)))[None]
    return field.clamp(0, 255).permute(1, 2, 0).numpy()


def _path(rng: np.random.Generator, cfg: SyntheticConfig, radius: float, t: np.ndarray) -> np.ndarray:
    """(T, 2) centres in frame pixels; with ``exit_prob`` the path swings out of the frame and back."""
    s = cfg.size
    if rng.random() < cfg.exit_prob and len(t) >= 4:
        axis = rng.integers(0, 2)
        swing = 0.5 * s + 1.1 * radius  # far enough to leave the frame entirely
        period = rng.uniform(0.8, 1.2) * len(t)
        phase = rng.uniform(0, 2 * math.pi)
        out = np.empty((len(t), 2))
        out[:, axis] = 0.5 * s + swing * np.sin(2 * math.pi * t / period + phase)
        out[:, 1 - axis] = rng.uniform(0.25, 0.75) * s + rng.uniform(-1, 1) * cfg.max_speed * s * 0.3 * t
        return out
    start = rng.uniform(0.2, 0.8, size=2) * s
    vel = rng.uniform(-1, 1, size=2) * cfg.max_speed * s
    wiggle = rng.uniform(0, 0.02 * s, size=2)
    return start[None] + vel[None] * t[:, None] + wiggle[None] * np.sin(t[:, None] * rng.uniform(0.5, 1.5))


def _make_object(rng: np.random.Generator, cfg: SyntheticConfig, t: np.ndarray) -> _Object:
    radius = rng.uniform(*cfg.radius) * cfg.size
    growth = rng.uniform(-1, 1) * cfg.max_growth
    spin = rng.uniform(-1, 1) * cfg.max_spin
    return _Object(
        shape=SHAPES[rng.integers(0, len(SHAPES))],
        aspect=rng.uniform(0.5, 1.0),
        radius=radius,
        wobble=np.stack([rng.uniform(0, 0.15, 3), rng.uniform(0, 2 * math.pi, 3)], axis=1),
        colors=rng.uniform(0, 255, size=(2, 3)).astype(np.float32),
        pattern=int(rng.integers(0, 4)),
        freq=rng.uniform(4, 12),
        path=_path(rng, cfg, radius, t),
        scale=np.clip((1 + growth) ** t, 0.4, 2.5),
        angle=rng.uniform(0, 2 * math.pi) + spin * t,
    )


def _distractor(rng: np.random.Generator, cfg: SyntheticConfig, like: _Object, t: np.ndarray) -> _Object:
    """A look-alike of ``like``: same shape and texture, its own size and path."""
    other = _make_object(rng, cfg, t)
    other.shape, other.aspect, other.wobble = like.shape, like.aspect, like.wobble
    other.colors, other.pattern, other.freq = like.colors.copy(), like.pattern, like.freq
    other.radius = like.radius * rng.uniform(0.8, 1.2)
    return other


def _paint(canvas: np.ndarray, owner: np.ndarray, obj: _Object, index: int, frame: int, offset: np.ndarray) -> None:
    """Paint one object into ``canvas`` (H, W, 3) and mark its pixels in ``owner`` (H, W)."""
    h, w = owner.shape
    cx, cy = obj.path[frame] - offset
    scale = obj.radius * obj.scale[frame]
    reach = 1.45 * scale
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 2)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = (xs + 0.5 - cx) / scale, (ys + 0.5 - cy) / scale  # pixel centres
    ca, sa = math.cos(obj.angle[frame]), math.sin(obj.angle[frame])
    u, v = ca * dx + sa * dy, -sa * dx + ca * dy  # rotate into object coordinates
    inside = _inside(obj, u, v)
    if not inside.any():
        return
    shade = 1.0 - 0.25 * np.clip(u[inside] * 0.5 + v[inside] * 0.5, -1, 1)[:, None]  # simple lighting
    canvas[y0:y1, x0:x1][inside] = _texture(obj, u[inside], v[inside]) * shade
    owner[y0:y1, x0:x1][inside] = index


@dataclass
class _Board:
    """An opaque textured rectangle that hides what passes behind it."""

    centre: np.ndarray  # (2,) world pixels
    axes: np.ndarray  # (2, 2) unit vectors: across the path, along it
    half: np.ndarray  # (2,) half extents along those axes
    colors: np.ndarray  # (2, 3)


def _stage(rng: np.random.Generator, cfg: SyntheticConfig, labelled: list[_Object], t: np.ndarray
           ) -> tuple[list[_Object], list[_Board]]:
    """Straight crossing paths for the labelled objects, boards on their way, look-alikes crossing them."""
    s, last = cfg.size, max(1.0, float(t[-1]))
    boards, crossers = [], []
    for k, obj in enumerate(labelled):
        angle = rng.uniform(0, 2 * math.pi)
        d = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-d[1], d[0]])
        travel = cfg.staged_travel * s
        start = 0.5 * s - 0.5 * travel * d + rng.uniform(-0.2, 0.2) * s * normal
        obj.path = start[None] + (travel / last) * d[None] * t[:, None]  # across the frame, at an even pace
        size = obj.radius * float(obj.scale.max())  # most shapes lie within this of their centre
        if k < cfg.occluders or (cfg.occluders > len(labelled) and k < cfg.occluders % len(labelled)):
            t_board = int(rng.uniform(0.3, 0.45) * last)
            base = rng.uniform(60, 200, size=3)  # a plain, low-contrast board: scenery, not a salient object
            colors = np.stack([base - 12, base + 12]).astype(np.float32)
            boards.append(_Board(obj.path[t_board].copy(), np.stack([d, normal]), np.array([1.1 * size, 1.2 * size]),
                                 colors))
        if k < cfg.crossing_distractors:
            crosser = _distractor(rng, cfg, obj, t)
            t_cross = rng.uniform(0.55, 0.75) * last
            turn = rng.uniform(0.35, 0.65) * math.pi * rng.choice([-1.0, 1.0])
            e = np.array([math.cos(angle + turn), math.sin(angle + turn)])
            meet = obj.path[int(round(t_cross))]
            crosser.path = meet[None] + (travel / last) * e[None] * (t[:, None] - t_cross)
            crossers.append(crosser)
    return crossers, boards


def _paint_board(canvas: np.ndarray, owner: np.ndarray, board: _Board, offset: np.ndarray) -> None:
    h, w = owner.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rel = np.stack([xs + 0.5, ys + 0.5], -1) - (board.centre - offset)
    a, b = rel @ board.axes[0], rel @ board.axes[1]
    inside = (np.abs(a) <= board.half[0]) & (np.abs(b) <= board.half[1])
    stripes = (np.sin(0.8 * (a + b)) > 0).astype(np.float32)[inside][:, None]
    canvas[inside] = board.colors[0] * (1 - stripes) + board.colors[1] * stripes
    owner[inside] = -2


def generate_clip(seed: int, cfg: SyntheticConfig | None = None) -> SyntheticClip:
    """One clip; the same seed and configuration always give the same pixels and masks."""
    cfg = cfg or SyntheticConfig()
    cfg.validate()
    rng = np.random.default_rng(seed)
    s, n_frames = cfg.size, cfg.num_frames
    t = np.arange(n_frames, dtype=np.float64)
    num = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects = [_make_object(rng, cfg, t) for _ in range(num)]
    for _ in range(int(rng.integers(0, cfg.max_distractors + 1))):
        objects.append(_distractor(rng, cfg, objects[int(rng.integers(0, num))], t))
    order = rng.permutation(len(objects))  # back to front
    boards: list[_Board] = []
    if cfg.occluders or cfg.crossing_distractors:  # drawn apart, so that other clips stay as they were
        staged = np.random.default_rng([seed, 1])
        crossers, boards = _stage(staged, cfg, objects[:num], t)
        for crosser in crossers:  # each passes in front of or behind the object it crosses
            objects.append(crosser)
            order = np.insert(order, int(staged.integers(0, len(order) + 1)), len(objects) - 1)

    cam_vel = rng.uniform(-1, 1, size=2) * cfg.camera_speed * s
    offsets = cam_vel[None] * t[:, None]  # (T, 2) camera position in world pixels
    margin = int(np.ceil(np.abs(offsets).max())) + 1
    background = _background(rng, s + 2 * margin, s + 2 * margin)
    # objects live in world coordinates: the camera's drift moves them on screen too
    frames = np.empty((n_frames, s, s, 3), dtype=np.uint8)
    masks = np.zeros((n_frames, num, s, s), dtype=bool)
    for f in range(n_frames):
        ox, oy = np.round(offsets[f]).astype(int) + margin
        canvas = background[oy : oy + s, ox : ox + s].copy()
        owner = np.full((s, s), -1, dtype=np.int16)
        for k in order:
            _paint(canvas, owner, objects[k], int(k), f, offsets[f])
        for board in boards:
            _paint_board(canvas, owner, board, offsets[f])
        frames[f] = np.clip(canvas, 0, 255).astype(np.uint8)
        for k in range(num):
            masks[f, k] = owner == k
    return SyntheticClip(frames, masks, list(range(1, num + 1)))
