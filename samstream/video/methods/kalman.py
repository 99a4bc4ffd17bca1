"""The box motion model SAMURAI scores candidate masks with: a constant-velocity Kalman filter.

The state is ``(x, y, a, h, vx, vy, va, vh)``: the box centre, its aspect ratio w / h, its height, and
their velocities per frame, in float64. Noise is proportional to the box height (the usual choice of
multi-object trackers: a position error of 1/20 and a velocity error of 1/160 of the height per
frame, the aspect ratio nearly fixed). Measurements are boxes ``(x, y, a, h)``.

Everything here is plain numpy on 8-vectors and 8x8 matrices, in the order of operations SAMURAI's
filter uses (its choices depend on IoUs computed from the predicted box, so the arithmetic is kept
the same; the 4x4 innovation system is solved with numpy's solver where SAMURAI uses SciPy's
Cholesky solver, which agrees to float64 rounding).
"""

from __future__ import annotations

import numpy as np

POSITION_NOISE = 1.0 / 20  # per unit of box height
VELOCITY_NOISE = 1.0 / 160

_NDIM = 4
_MOTION = np.eye(2 * _NDIM)  # x_{t+1} = x_t + v_t (one frame apart)
for _i in range(_NDIM):
    _MOTION[_i, _NDIM + _i] = 1.0
_OBSERVE = np.eye(_NDIM, 2 * _NDIM)  # the box is observed, not its velocity

Box = list  # [x0, y0, x1, y1]: integer pixel bounds (inclusive) of a mask, or floats of a predicted box


def initiate(measurement: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A new track at box ``(x, y, a, h)``: the box with zero velocity, its uncertainty from its height."""
    mean = np.r_[measurement, np.zeros_like(measurement)]
    h = measurement[3]
    std = [2 * POSITION_NOISE * h, 2 * POSITION_NOISE * h, 1e-2, 2 * POSITION_NOISE * h,
           10 * VELOCITY_NOISE * h, 10 * VELOCITY_NOISE * h, 1e-5, 10 * VELOCITY_NOISE * h]
    return mean, np.diag(np.square(std))


def predict(mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The state one frame later."""
    h = mean[3]
    std = [POSITION_NOISE * h, POSITION_NOISE * h, 1e-2, POSITION_NOISE * h,
           VELOCITY_NOISE * h, VELOCITY_NOISE * h, 1e-5, VELOCITY_NOISE * h]
    noise = np.diag(np.square(std))
    mean = np.dot(mean, _MOTION.T)
    covariance = np.linalg.multi_dot((_MOTION, covariance, _MOTION.T)) + noise
    return mean, covariance


def update(mean: np.ndarray, covariance: np.ndarray, measurement: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The state corrected by a measured box."""
    h = mean[3]
    std = [POSITION_NOISE * h, POSITION_NOISE * h, 1e-1, POSITION_NOISE * h]
    projected_mean = np.dot(_OBSERVE, mean)
    projected_cov = np.linalg.multi_dot((_OBSERVE, covariance, _OBSERVE.T)) + np.diag(np.square(std))
    gain = np.linalg.solve(projected_cov, np.dot(covariance, _OBSERVE.T).T).T  # (8, 4)
    innovation = np.asarray(measurement) - projected_mean
    new_mean = mean + np.dot(innovation, gain.T)
    new_covariance = covariance - np.linalg.multi_dot((gain, projected_cov, gain.T))
    return new_mean, new_covariance


def xyxy_to_xyah(box: Box) -> list[float]:
    """Pixel bounds -> (centre x, centre y, w / h, h); a box of height 0 counts as height 1."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if h == 0:
        h = 1
    return [(x0 + x1) / 2, (y0 + y1) / 2, w / h, h]


def xyah_to_xyxy(state: np.ndarray) -> list[float]:
    xc, yc, a, h = state[:4]
    return [xc - a * h / 2, yc - h / 2, xc + a * h / 2, yc + h / 2]


def box_iou(predicted: list[float], box: Box) -> float:
    """IoU of a predicted (float) box with a mask's box, areas as continuous rectangles; an empty
    mask's box ``[0, 0, 0, 0]`` scores 0."""
    if list(box) == [0, 0, 0, 0]:
        return 0.0
    x0, y0, x1, y1 = predicted
    u0, v0, u1, v1 = box
    inter = max(0, min(x1, u1) - max(x0, u0)) * max(0, min(y1, v1) - max(y0, v0))
    union = (x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter
    return inter / union if union != 0 else 0.0
