"""Information criteria of a fitted mixture: the one place BIC, AIC and ICL are computed.

All three follow scikit-learn's sign convention (lower is better). With ``log L`` the
(weighted) log-likelihood of the data, ``n`` the number of rows (the sum of the sample weights
when weighted) and ``p`` the number of free parameters:

* ``bic = -2 log L + p log n`` (Schwarz 1978),
* ``aic = -2 log L + 2 p`` (Akaike 1974),
* ``icl = bic + 2 EN`` with the classification entropy ``EN = -sum_i w_i sum_k z_ik log z_ik``
  of the responsibilities ``z`` (Biernacki, Celeux and Govaert 2000, in its BIC approximation).
  ``EN >= 0``, so ICL is never below BIC; it penalises overlapping components. mclust reports
  ``-icl`` (higher is better), with the same magnitude.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["bic", "aic", "icl", "classification_entropy"]


def bic(log_likelihood: float, n: float, n_parameters: int) -> float:
    """Bayesian information criterion ``-2 log L + p log n`` (lower is better).

    Parameters
    ----------
    log_likelihood : float
        Total (weighted) log-likelihood ``log L`` of the data.
    n : float
        Number of rows, or the sum of the sample weights.
    n_parameters : int
        Free parameters ``p`` of the model.

    Returns
    -------
    float
    """
    if not n > 0:
        raise ValueError(f"BIC needs a positive number of samples (sum of weights); got {n!r}.")
    return float(-2.0 * log_likelihood + n_parameters * math.log(n))


def aic(log_likelihood: float, n_parameters: int) -> float:
    """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

    Parameters
    ----------
    log_likelihood : float
        Total (weighted) log-likelihood of the data.
    n_parameters : int
        Free parameters of the model.

    Returns
    -------
    float
    """
    return float(-2.0 * log_likelihood + 2.0 * n_parameters)


def classification_entropy(resp, sample_weight=None) -> float:
    """Weighted classification entropy ``-sum_i w_i sum_k z_ik log z_ik`` (>= 0).

    Parameters
    ----------
    resp : array-like of shape (n_samples, n_components)
        Responsibilities (rows sum to 1); ``0 log 0`` counts as 0.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights; ``None`` means ones.

    Returns
    -------
    float
    """
    z = np.asarray(resp, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"'resp' must be 2-D (n_samples, n_components), got shape {z.shape}.")
    safe = np.where(z > 0, z, 1.0)
    zlogz = (np.where(z > 0, z * np.log(safe), 0.0)).sum(axis=1)
    total = -zlogz.sum() if sample_weight is None else -np.dot(
        np.asarray(sample_weight, dtype=np.float64), zlogz)
    return float(max(0.0, total))


def icl(log_likelihood: float, n: float, n_parameters: int, entropy: float) -> float:
    """Integrated completed likelihood in its BIC approximation, ``bic + 2 EN`` (lower is better).

    Parameters
    ----------
    log_likelihood : float
        Total (weighted) log-likelihood of the data.
    n : float
        Number of rows, or the sum of the sample weights.
    n_parameters : int
        Free parameters of the model.
    entropy : float
        Classification entropy ``EN`` of the data (:func:`classification_entropy`).

    Returns
    -------
    float
    """
    return bic(log_likelihood, n, n_parameters) + 2.0 * float(entropy)
