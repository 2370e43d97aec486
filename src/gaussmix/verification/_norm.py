"""Score normalisation: Z-norm, T-norm and ZT-norm.

Scores are arranged as matrices ``(n_models, n_segments)``: entry ``[i, j]`` scores test segment
``j`` against enrolled model ``i``. Each normalisation subtracts the mean and divides by the
standard deviation (``ddof=1``) of impostor scores:

* Z-norm (zero normalisation) uses, for each *model*, its scores on a set of impostor segments
  (``impostor_scores``, shape ``(n_models, n_impostor_segments)``): it removes the model's bias
  and can be computed at enrolment time.
* T-norm (test normalisation) uses, for each *test segment*, the scores of a cohort of impostor
  models on it (``cohort_scores``, shape ``(n_cohort, n_segments)``): it removes the segment's
  bias (duration, channel).
* ZT-norm applies Z-norm, then T-norm with a cohort whose scores were themselves Z-normalised
  (``cohort_impostor_scores``: the cohort models on the impostor segments).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["znorm", "tnorm", "ztnorm"]


def _matrix(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return a


def _mean_std(a: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if a.shape[axis] < 2:
        raise ValueError(f"{name} needs at least 2 scores along axis {axis} to estimate a "
                         f"standard deviation, got shape {a.shape}.")
    mu = a.mean(axis=axis, keepdims=True)
    sd = a.std(axis=axis, ddof=1, keepdims=True)
    if np.any(sd <= 0):
        raise ValueError(f"{name} has a constant set of scores (zero standard deviation), "
                         "which cannot normalise.")
    return mu, sd


def znorm(scores: npt.ArrayLike, impostor_scores: npt.ArrayLike) -> np.ndarray:
    """Z-normalised scores: ``(s[i, j] - mean_i) / std_i`` over model ``i``'s impostor scores.

    Parameters
    ----------
    scores : array-like of shape (n_models, n_segments)
    impostor_scores : array-like of shape (n_models, n_impostor_segments)
        Each model's scores on impostor segments (at least 2).

    Returns
    -------
    ndarray of shape (n_models, n_segments)

    Examples
    --------
    >>> znorm([[3.0, 1.0]], [[0.0, 2.0]]).round(4).tolist()  # mean 1, std sqrt(2)
    [[1.4142, 0.0]]
    """
    s = _matrix(scores, "scores")
    imp = _matrix(impostor_scores, "impostor_scores")
    if imp.shape[0] != s.shape[0]:
        raise ValueError(f"impostor_scores has {imp.shape[0]} rows (models) but scores has "
                         f"{s.shape[0]}.")
    mu, sd = _mean_std(imp, 1, "impostor_scores")
    return (s - mu) / sd


def tnorm(scores: npt.ArrayLike, cohort_scores: npt.ArrayLike) -> np.ndarray:
    """T-normalised scores: ``(s[i, j] - mean_j) / std_j`` over the cohort's scores on segment ``j``.

    Parameters
    ----------
    scores : array-like of shape (n_models, n_segments)
    cohort_scores : array-like of shape (n_cohort, n_segments)
        Scores of impostor (cohort) models on the same test segments (at least 2 models).

    Returns
    -------
    ndarray of shape (n_models, n_segments)

    Examples
    --------
    >>> tnorm([[3.0], [1.0]], [[0.0], [2.0]]).round(4).tolist()
    [[1.4142], [0.0]]
    """
    s = _matrix(scores, "scores")
    coh = _matrix(cohort_scores, "cohort_scores")
    if coh.shape[1] != s.shape[1]:
        raise ValueError(f"cohort_scores has {coh.shape[1]} columns (segments) but scores has "
                         f"{s.shape[1]}.")
    mu, sd = _mean_std(coh, 0, "cohort_scores")
    return (s - mu) / sd


def ztnorm(scores: npt.ArrayLike, impostor_scores: npt.ArrayLike, cohort_scores: npt.ArrayLike,
           cohort_impostor_scores: npt.ArrayLike) -> np.ndarray:
    """Z-norm followed by T-norm with a Z-normalised cohort.

    Parameters
    ----------
    scores : array-like of shape (n_models, n_segments)
    impostor_scores : array-like of shape (n_models, n_impostor_segments)
        The models' scores on the impostor segments.
    cohort_scores : array-like of shape (n_cohort, n_segments)
        The cohort models' scores on the test segments.
    cohort_impostor_scores : array-like of shape (n_cohort, n_impostor_segments)
        The cohort models' scores on the impostor segments.

    Returns
    -------
    ndarray of shape (n_models, n_segments)
        ``tnorm(znorm(scores, impostor_scores), znorm(cohort_scores, cohort_impostor_scores))``.
    """
    return tnorm(znorm(scores, impostor_scores), znorm(cohort_scores, cohort_impostor_scores))
