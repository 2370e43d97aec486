"""gaussmix: Gaussian mixture models.

A fast, weighted, robust drop-in replacement for :class:`sklearn.mixture.GaussianMixture`, with
model selection, anomaly detection, conditional mixtures, coresets, streaming and Dask EM, image
segmentation, plots and deep GMMs in PyTorch.

Submodules with optional dependencies are imported on first use: ``gaussmix.dask`` (dask),
``gaussmix.torch`` (PyTorch), ``gaussmix.plotting`` (matplotlib), ``gaussmix.image``.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version
from typing import Any

from . import coreset, covariance
from ._bootstrap import BootstrapLRTResult, BootstrapResult, bootstrap, bootstrap_lrt
from ._repair import DegenerateComponentWarning
from ._estimator import GaussianMixture
from ._bayesian import BayesianGaussianMixture
from .classifier import GaussianMixtureClassifier
from .impute import GaussianMixtureImputer
from ._io import ModelFileError, load
from ._map import map_adapt
from ._prior import ConjugatePrior
from ._noise import hypvol, nn_clutter
from .anomaly import GaussianMixtureOutlierDetector
from .conditional import ConditionalMixture, GaussianMixtureRegressor, condition, conditional_sample
from .selection import GaussianMixtureSelector, SelectionResult, select
from .verification import GMMUBMVerifier

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__: str = _version("gaussmix")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = [
    "GaussianMixture",
    "BayesianGaussianMixture",
    "GaussianMixtureClassifier",
    "GaussianMixtureImputer",
    "GaussianMixtureSelector",
    "GaussianMixtureOutlierDetector",
    "GaussianMixtureRegressor",
    "ConditionalMixture",
    "SelectionResult",
    "DegenerateComponentWarning",
    "ModelFileError",
    "select",
    "bootstrap_lrt",
    "bootstrap",
    "BootstrapLRTResult",
    "BootstrapResult",
    "condition",
    "conditional_sample",
    "map_adapt",
    "ConjugatePrior",
    "hypvol",
    "nn_clutter",
    "GMMUBMVerifier",
    "verification",
    "load",
    "coreset",
    "covariance",
    "__version__",
]

_LAZY = ("dask", "torch", "plotting", "image")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
