"""Registers the built-in problem families (imported on the first look-up of the registry)."""

from convergan.problems.dirac import DiracFamily
from convergan.problems.images import ImageFamily
from convergan.problems.toy2d import Toy2DFamily
from convergan.registry import PROBLEM_FAMILIES

PROBLEM_FAMILIES.register("toy2d", Toy2DFamily(), description="2D distributions made in code")
PROBLEM_FAMILIES.register("images", ImageFamily(), description="image datasets")
PROBLEM_FAMILIES.register("dirac", DiracFamily(), description="the Dirac-GAN, data at 0 in R^d")
