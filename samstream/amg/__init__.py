"""Automatic mask generation ("segment everything") over a grid of point prompts."""

from samstream.amg.generator import MaskGenerator
from samstream.amg.options import GeneratorOptions

__all__ = ["MaskGenerator", "GeneratorOptions"]
