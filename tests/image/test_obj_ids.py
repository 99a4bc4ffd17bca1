"""The one object-id rule (samstream.image.prompts.check_obj_id)."""

import numpy as np
import pytest

from samstream.errors import PromptError
from samstream.image.prompts import MAX_OBJ_ID, check_obj_id


@pytest.mark.parametrize("value", [0, 1, 255, 256, MAX_OBJ_ID, np.int64(7)])
def test_accepts_non_negative_int32(value):
    assert check_obj_id(value) == int(value)


@pytest.mark.parametrize("value", [-1, MAX_OBJ_ID + 1, True, 1.0, "3", None])
def test_refuses_others_naming_the_argument(value):
    with pytest.raises(PromptError, match="obj_id"):
        check_obj_id(value)
