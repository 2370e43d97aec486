"""The parameters of a fitted mixture and the result of one EM run, as the engine passes them.

Kept apart from the engine so that initialisation (:mod:`gaussmix._init`), repair
(:mod:`gaussmix._repair`) and the loop (:mod:`gaussmix._engine`) share them without importing
each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Params", "EMResult"]


@dataclass
class Params:
    """Mixture parameters in float64, covariances in the model's scikit-learn shape."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    prec_chol: np.ndarray


@dataclass
class EMResult:
    """What one EM run (or the best of several) produced; the estimator stores it.

    ``lower_bound`` is the weighted mean log-likelihood of ``params`` as reported by the loop,
    ``lower_bounds`` one value per iteration, ``n_reseeds`` the re-seeded components.
    """

    params: Params
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    n_reseeds: int = 0
