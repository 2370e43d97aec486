"""Weighted k-means (k-means++ seeding and Lloyd iterations) used to initialise EM.

Random choices are made by inverse-CDF sampling on cumulative *weighted* quantities with one
uniform draw each, so an integer weight selects exactly like duplicated rows and a zero weight
like an absent row: the initialisation inherits the weight invariances of the fit.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 65536


def _sq_dist(X: np.ndarray, C: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, m) between rows of ``X`` and ``C``, clipped at zero."""
    d = x_sq[:, None] - 2.0 * (X @ C.T) + np.einsum("md,md->m", C, C)[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def _weighted_pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices ``i`` with ``cum[i-1] <= u * cum[-1] < cum[i]`` (inverse CDF)."""
    idx = np.searchsorted(cum, u * cum[-1], side="right")
    return np.minimum(idx, len(cum) - 1)


def kmeans_plusplus(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.RandomState,
                    n_local_trials: int | None = None) -> np.ndarray:
    """Greedy weighted k-means++ seeding (Arthur & Vassilvitskii 2007).

    Returns the indices (k,) of the chosen rows.
    """
    n = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(k))
    x_sq = np.einsum("nd,nd->n", X, X)
    cum_w = np.cumsum(w, dtype=np.float64)
    first = int(_weighted_pick(cum_w, rng.uniform(size=1))[0])
    indices = [first]
    closest = _sq_dist(X, X[[first]], x_sq)[:, 0].astype(np.float64)
    pot = float(np.dot(w, closest))
    for _ in range(1, k):
        if pot <= 0:
            # every weighted row coincides with a centre: continue among positive-weight rows
            cand = _weighted_pick(cum_w, rng.uniform(size=1))
            indices.append(int(cand[0]))
            continue
        cand = _weighted_pick(np.cumsum(w * closest), rng.uniform(size=n_local_trials))
        d_cand = _sq_dist(X, X[cand], x_sq).astype(np.float64)
        np.minimum(d_cand, closest[:, None], out=d_cand)
        pots = w @ d_cand
        best = int(np.argmin(pots))
        indices.append(int(cand[best]))
        closest = d_cand[:, best]
        pot = float(pots[best])
    return np.asarray(indices)


def _assign(X, C, x_sq):
    """Labels (n,) and squared distance to the nearest centre (n,), in blocks of rows."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=np.float64)
    for s in range(0, n, _BLOCK):
        e = min(s + _BLOCK, n)
        d = _sq_dist(X[s:e], C, x_sq[s:e])
        labels[s:e] = np.argmin(d, axis=1)
        dist[s:e] = d[np.arange(e - s), labels[s:e]]
    return labels, dist


def kmeans(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.RandomState,
           max_iter: int = 300, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Lloyd k-means from a k-means++ seeding.

    ``tol`` is relative to the mean per-feature weighted variance, as in scikit-learn.
    Returns ``(centers (k, d), labels (n,))``.
    """
    n, d = X.shape
    wsum = float(w.sum(dtype=np.float64))
    mean = (w @ X) / wsum
    var = (w @ ((X - mean) ** 2)) / wsum
    tol_abs = tol * float(np.mean(var))
    C = X[kmeans_plusplus(X, k, w, rng)].astype(np.float64)
    x_sq = np.einsum("nd,nd->n", X, X)
    labels = None
    for _ in range(max_iter):
        labels, dist = _assign(X, C.astype(X.dtype), x_sq)
        mass = np.bincount(labels, weights=w, minlength=k)
        sums = np.stack([np.bincount(labels, weights=w * X[:, j], minlength=k)
                         for j in range(d)], axis=1)
        C_new = C.copy()
        nonempty = mass > 0
        C_new[nonempty] = sums[nonempty] / mass[nonempty, None]
        empty = np.flatnonzero(~nonempty)
        if len(empty):
            # relocate empty clusters to the positive-weight rows farthest from their centre
            far = np.argsort(-(dist * (w > 0)), kind="stable")[: len(empty)]
            C_new[empty] = X[far]
        shift = float(((C_new - C) ** 2).sum())
        C = C_new
        if shift <= tol_abs:
            break
    labels, _ = _assign(X, C.astype(X.dtype), x_sq)
    return C, labels
