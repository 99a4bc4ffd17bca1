"""Fixtures shared across the suite."""

from __future__ import annotations

import pytest
import torch

from samstream.checkpoints import build_model
from samstream.registry import get_variant

torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))


@pytest.fixture(scope="session")
def tiny_model():
    """sam2.1-tiny architecture, random weights, 256 input: fast, for behaviour (not accuracy) tests."""
    return build_model(get_variant("sam2.1-tiny").config.with_image_size(256), device="cpu", seed=0)


@pytest.fixture
def one_thread():
    """Many tiny model steps: one thread avoids oversubscribing a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
