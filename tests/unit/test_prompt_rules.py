"""samstream.prompt_rules: the prompt rules both hosts use, their scaling, and that they need no torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from samstream.errors import PromptError
from samstream.prompt_rules import binary_mask, check_obj_id, low_res_mask, point_prompts


def test_scaling_is_the_trackers_float32_arithmetic():
    # what the PyTorch path computed before the rules moved here: float32 tensors, / (W, H), * size
    rng = np.random.default_rng(0)
    h, w, size = 481, 853, 1024
    points = rng.uniform(0, [w, h], (5, 2))
    box = [3.5, 7.25, 800.75, 470.5]
    got = point_prompts(points, [1, 0, 1, 1, 0], box, (h, w), size)
    coords = torch.as_tensor(np.concatenate([np.reshape(box, (1, 2, 2)), points[None]], 1).astype(np.float32))
    expected = coords / torch.tensor([w, h], dtype=torch.float32) * size
    assert got.coords.dtype == np.float32 and got.coords.shape == (1, 7, 2)
    np.testing.assert_array_equal(got.coords, expected.numpy())  # bit for bit
    assert got.labels.tolist() == [[2, 3, 1, 0, 1, 1, 0]] and not got.batched
    fractions = point_prompts(points / [w, h], [1] * 5, None, (h, w), size, normalize_coords=False)
    np.testing.assert_allclose(fractions.coords[0], points / [w, h] * size, rtol=1e-6)


def test_batches_broadcast_one_box_or_one_click_set():
    boxes = [[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]]
    got = point_prompts([[4, 4]], [1], boxes, (100, 100), 100)
    assert got.batched and got.coords.shape == (3, 3, 2) and got.batch_size == 3
    np.testing.assert_array_equal(got.coords[:, 2], [[4, 4]] * 3)  # the one click in every set
    got = point_prompts([[[4, 4]], [[6, 6]]], [[1], [0]], [0, 0, 10, 10], (100, 100), 100)
    assert got.coords.shape == (2, 3, 2) and got.labels.tolist() == [[2, 3, 1], [2, 3, 0]]


def test_lenient_rules_for_the_official_api():
    got = point_prompts([[-5, 500]], [-1], [9, 9, 1, 1], (100, 100), 100, strict=False)
    assert got.labels.tolist() == [[2, 3, -1]]
    with pytest.raises(PromptError, match="outside"):
        point_prompts([[-5, 500]], [1], None, (100, 100), 100)


def test_other_rules():
    with pytest.raises(PromptError, match="obj_id: expected an integer"):
        check_obj_id(True)
    with pytest.raises(PromptError, match=r"lie in \[0, 2147483647\]"):
        check_obj_id(2**31)
    assert check_obj_id(np.int64(7)) == 7
    assert low_res_mask(np.zeros((4, 4)), 4).shape == (1, 1, 4, 4)
    assert low_res_mask(np.zeros((3, 4, 4)), 4).shape == (3, 1, 4, 4)
    assert low_res_mask(torch.zeros(1, 4, 4, requires_grad=True), 4).dtype == np.float32
    assert binary_mask(torch.ones(3, 5)).dtype == bool
    with pytest.raises(PromptError, match="mask: values"):
        binary_mask(np.full((2, 2), "1"))
    with pytest.raises(PromptError, match="prompt: empty"):
        point_prompts(None, None, None, (10, 10), 10)


def test_the_rules_import_no_torch():
    code = ("import sys\nimport samstream.prompt_rules as r\n"
            "r.point_prompts([[1, 2]], [1], [0, 0, 3, 3], (10, 10), 16)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
