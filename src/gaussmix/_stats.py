"""Additive sufficient statistics of a Gaussian mixture: the centre of every fit.

Every fit in gaussmix (in memory, chunked, streaming, coreset, Dask) is the same loop: an E-step
over some rows produces a :class:`SufficientStats`, statistics from different rows are merged,
and the M-step turns the merged statistics into parameters. Second moments are kept *centred* on
each component's own mean and merged with the parallel-variance formula (Chan, Golub, LeVeque),
which, unlike raw ``E[x x^T] - mu mu^T``, does not cancel catastrophically in float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_TINY = np.finfo(np.float64).tiny


@dataclass
class SufficientStats:
    """Weighted sufficient statistics of one or more chunks of rows.

    Attributes
    ----------
    nk : ndarray of shape (k,)
        Responsibility mass per component, ``sum_i w_i resp_ij``.
    means : ndarray of shape (k, d)
        Weighted component means ``sum_i w_i resp_ij x_i / nk_j`` (zero where ``nk_j == 0``).
    scatter : ndarray of shape (k, d, d) or (k, d)
        Centred second moments ``sum_i w_i resp_ij (x_i - mean_j)(x_i - mean_j)^T``, or their
        diagonals for models that need only those.
    log_likelihood : float
        ``sum_i w_i log p(x_i)`` under the parameters of the E-step.
    weight : float
        ``sum_i w_i``.
    n_samples : int
        Number of rows seen (zero-weight rows included).
    worst_X : ndarray of shape (m, d)
        The positive-weight rows with the lowest log-likelihood seen (``m <= k``), candidates for
        re-seeding a degenerate component.
    worst_score : ndarray of shape (m,)
        Their log-likelihoods.
    noise : float
        Responsibility mass of a uniform noise component (:mod:`gaussmix._noise`); 0 without.
    """

    nk: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    log_likelihood: float = 0.0
    weight: float = 0.0
    n_samples: int = 0
    worst_X: np.ndarray = field(default=None)
    worst_score: np.ndarray = field(default=None)
    noise: float = 0.0

    @classmethod
    def empty(cls, k: int, d: int, full_scatter: bool) -> "SufficientStats":
        scatter = np.zeros((k, d, d) if full_scatter else (k, d))
        return cls(np.zeros(k), np.zeros((k, d)), scatter, 0.0, 0.0, 0,
                   np.empty((0, d)), np.empty(0))

    @property
    def mean_log_likelihood(self) -> float:
        """Weighted mean log-likelihood ``log_likelihood / weight``."""
        return self.log_likelihood / self.weight if self.weight > 0 else -np.inf

    def merge(self, other: "SufficientStats") -> "SufficientStats":
        """Statistics of the union of the rows behind ``self`` and ``other``."""
        na, nb = self.nk, other.nk
        n = na + nb
        safe = np.maximum(n, _TINY)
        delta = other.means - self.means
        fb = (nb / safe)[:, None]
        means = self.means + delta * fb
        # parallel-variance update: S = Sa + Sb + na nb / n * delta delta^T
        c = na * nb / safe
        if self.scatter.ndim == 3:
            scatter = self.scatter + other.scatter + c[:, None, None] * (
                delta[:, :, None] * delta[:, None, :])
        else:
            scatter = self.scatter + other.scatter + c[:, None] * delta * delta
        m = max(len(self.worst_score), len(other.worst_score))
        wx = np.concatenate([self.worst_X, other.worst_X])
        ws = np.concatenate([self.worst_score, other.worst_score])
        if len(ws) > m:
            keep = np.argsort(ws, kind="stable")[:m]
            wx, ws = wx[keep], ws[keep]
        return SufficientStats(n, means, scatter, self.log_likelihood + other.log_likelihood,
                               self.weight + other.weight, self.n_samples + other.n_samples,
                               wx, ws, self.noise + other.noise)

    def data_mean(self) -> np.ndarray:
        """Weighted mean (d,) of all rows, from the per-component statistics."""
        total = max(self.nk.sum(), _TINY)
        return (self.nk[:, None] * self.means).sum(axis=0) / total

    def data_covariance(self) -> np.ndarray:
        """Weighted covariance (d, d) of all rows, from the per-component statistics.

        Only available for full scatter; for diagonal scatter the diagonal is returned as a
        diagonal matrix.
        """
        total = max(self.nk.sum(), _TINY)
        dm = self.means - self.data_mean()
        if self.scatter.ndim == 3:
            s = self.scatter.sum(axis=0) + np.einsum("k,kd,ke->de", self.nk, dm, dm)
        else:
            s = np.diag(self.scatter.sum(axis=0) + np.einsum("k,kd->d", self.nk, dm * dm))
        return s / total


def chunk_stats(X: np.ndarray, w: np.ndarray, resp: np.ndarray, log_norm: np.ndarray,
                full_scatter: bool, n_worst: int) -> SufficientStats:
    """Statistics of one chunk of rows.

    ``X`` (n, d) and ``resp`` (n, k) are in the compute dtype; sums come back in float64. The
    chunk's moments are centred on the chunk's own component means, so the float32 products
    never see the cancellation of raw moments.
    """
    n, d = X.shape
    k = resp.shape[1]
    rw = resp * w[:, None].astype(resp.dtype, copy=False)
    nk = rw.sum(axis=0, dtype=np.float64)
    safe = np.maximum(nk, _TINY)
    means = (rw.T @ X).astype(np.float64) / safe[:, None]
    means[nk <= 0] = 0.0
    mc = means.astype(X.dtype)
    if full_scatter:
        scatter = np.empty((k, d, d))
        for j in range(k):
            diff = X - mc[j]
            scatter[j] = (diff * rw[:, j:j + 1]).T @ diff
    else:
        scatter = np.empty((k, d))
        for j in range(k):
            diff = X - mc[j]
            diff *= diff
            scatter[j] = rw[:, j] @ diff
    ll = float(np.dot(w, log_norm.astype(np.float64)))
    # rows with zero weight are as good as absent: never re-seed from them
    score = np.where(w > 0, log_norm, np.inf)
    m = min(n_worst, int(np.count_nonzero(w > 0)))
    if m > 0:
        idx = np.argpartition(score, m - 1)[:m] if m < n else np.arange(n)
        idx = idx[score[idx] < np.inf][:m]
        worst_X, worst_score = X[idx].astype(np.float64), score[idx].astype(np.float64)
    else:
        worst_X, worst_score = np.empty((0, d)), np.empty(0)
    return SufficientStats(nk, means, scatter, ll, float(w.sum(dtype=np.float64)), n,
                           worst_X, worst_score)
