"""gaussmix: Gaussian mixture models.

A fast, weighted, robust drop-in replacement for :class:`sklearn.mixture.GaussianMixture`.
"""
from ._engine import DegenerateComponentWarning
from ._estimator import GaussianMixture
from ._io import ModelFileError, load

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "DegenerateComponentWarning", "ModelFileError", "load",
           "__version__"]
