"""Moved to :mod:`samstream.data.synthetic` (a data source, below eval and train in the layers).

This name stays only for ``samstream/demo.py`` and ``tests/train/test_forward.py`` (other
engineers' files) until they import :mod:`samstream.data.synthetic`; then it is deleted.
"""

from samstream.data.synthetic import SHAPES, SyntheticClip, SyntheticConfig, generate_clip  # noqa: F401
