"""Helpers shared by the parity tests: the reference model (sam2==1.1.0) with random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

sam2 = pytest.importorskip("sam2", reason="the reference implementation sam2==1.1.0 is a test dependency")


def perturb_constants_(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter that is constant after init (norm weights, zero embeddings) random values.

    Random init leaves LayerNorm weights at 1, biases and some embeddings at 0; a bug that mixes
    them up would then go unnoticed.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            flat = p.detach().flatten()
            if flat.numel() and bool((flat == flat[0]).all()):
                noise = torch.randn(p.shape, generator=gen) * 0.1
                p.copy_(p + noise.to(p.dtype))


def build_reference(config: str, image_size: int | None = None, seed: int = 0, postprocessing: bool = True,
                    video: bool = False, overrides: list[str] | None = None) -> torch.nn.Module:
    """The reference model for an official config name, random weights, on CPU, eval mode."""
    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    extra = list(overrides or [])
    if image_size is not None:
        extra.append(f"++model.image_size={image_size}")
    torch.manual_seed(seed)
    builder = build_sam2_video_predictor if video else build_sam2
    model = builder(config, None, device="cpu", hydra_overrides_extra=extra, apply_postprocessing=postprocessing)
    perturb_constants_(model, seed)
    return model.eval()


def save_reference(model: torch.nn.Module, path: Path) -> Path:
    torch.save({"model": model.state_dict()}, path)
    return path


def rel_diff(ref: torch.Tensor, ours: torch.Tensor) -> float:
    """max |Δ| / max(1, max |ref|) — the parity measure used throughout."""
    ref = torch.as_tensor(ref).double()
    ours = torch.as_tensor(ours).double()
    assert ref.shape == ours.shape, (ref.shape, ours.shape)
    if ref.numel() == 0:
        return 0.0
    return float((ref - ours).abs().max() / max(1.0, float(ref.abs().max())))


def masks_agree(ref_logits: torch.Tensor, ours_logits: torch.Tensor, threshold: float = 0.0, tol: float = 1e-5) -> bool:
    """Binary masks identical except where the reference logit is within tolerance of the threshold."""
    ref = torch.as_tensor(ref_logits).double()
    ours = torch.as_tensor(ours_logits).double()
    scale = max(1.0, float(ref.abs().max()))
    differ = (ref > threshold) != (ours > threshold)
    near = (ref - threshold).abs() <= tol * scale
    return bool((differ & ~near).sum() == 0)
