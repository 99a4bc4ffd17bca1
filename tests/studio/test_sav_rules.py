"""The SA-V export's per-masklet fields follow the rules of SA-V's own files (checked on the example)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samstream.studio.export import masklet_stats

EXAMPLE = Path("/work/shared/data/sav_example/sav_000001_manual.json")
pytestmark = pytest.mark.skipif(not EXAMPLE.is_file(), reason="the SA-V example file is not available")


def test_masklet_fields_recomputed_from_the_masks_equal_the_example():
    doc = json.loads(EXAMPLE.read_text())
    hw = (int(doc["video_height"]), int(doc["video_width"]))
    for j in range(doc["masklet_num"]):
        stats = masklet_stats([frame[j] for frame in doc["masklet"]], hw)
        assert stats["abs"] == pytest.approx(doc["masklet_size_abs"][j], abs=1e-9)
        assert stats["rel"] == pytest.approx(doc["masklet_size_rel"][j], abs=1e-9)
        assert stats["bucket"] == doc["masklet_size_bucket"][j]
        assert stats["vis"] == doc["masklet_visibility_changes"][j]
        assert stats["first"] == doc["masklet_first_appeared_frame"][j]
