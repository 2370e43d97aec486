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


def _assign_block(X, C, c_sq, x_sq):
    # argmin_j |x - c_j|^2 = argmin_j (|c_j|^2 - 2 x.c_j): |x|^2 is only added to the minimum
    d = X @ (-2.0 * C.T).astype(X.dtype)
    d += c_sq
    labels = np.argmin(d, axis=1)
    dist = d[np.arange(len(labels)), labels].astype(np.float64)
    dist += x_sq
    np.maximum(dist, 0.0, out=dist)
    return labels, dist


def _assign(X, C, x_sq):
    """Labels (n,) and squared distance to the nearest centre (n,), in blocks of rows.

    Large inputs are split between two threads running single-threaded BLAS (the GIL is
    released inside numpy).
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=np.float64)
    c_sq = np.einsum("md,md->m", C, C).astype(X.dtype)
    starts = range(0, n, _BLOCK)

    def run(s):
        e = min(s + _BLOCK, n)
        labels[s:e], dist[s:e] = _assign_block(X[s:e], C, c_sq, x_sq[s:e])

    from ._fast import default_n_threads, thread_map
    thread_map(run, starts, n_threads=default_n_threads() if n > 2 * _BLOCK else 1)
    return labels, dist


def _lloyd(X, C, w, x_sq, max_iter, tol_abs):
    """Weighted Lloyd iterations from centres ``C`` (k, d) float64; returns the new centres."""
    from scipy import sparse

    n = X.shape[0]
    k, d = C.shape
    for _ in range(max_iter):
        labels, dist = _assign(X, C.astype(X.dtype), x_sq)
        # one entry per column: the (k, n) matrix of weighted one-hot labels, in CSC form
        onehot = sparse.csc_matrix((np.asarray(w, dtype=np.float64), labels,
                                    np.arange(n + 1)), shape=(k, n))
        mass = np.bincount(labels, weights=w, minlength=k)
        sums = np.asarray(onehot @ X, dtype=np.float64)
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
    return C


def subsample_size(n_positive: int, k: int) -> int | None:
    """Rows of the k-means subsample, or ``None`` when the data are small enough to use whole."""
    m = max(20_000, 1_000 * k)
    return m if n_positive > 4 * m else None


def kmeans(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.RandomState,
           max_iter: int = 300, tol: float = 1e-4, *, sample_size="auto",
           n_refine: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Lloyd k-means from a k-means++ seeding.

    ``tol`` is relative to the mean per-feature weighted variance, as in scikit-learn.

    On large data (``sample_size="auto"``: more than 80,000 positive-weight rows, see
    :func:`subsample_size`) k-means++ and Lloyd run to convergence on a weighted subsample of
    ``m`` rows drawn by stratified inverse-CDF sampling of the cumulative weights (so a zero
    weight never draws a row and an integer weight draws like repeated rows), followed by at most
    ``n_refine`` Lloyd iterations on all rows. Pass ``sample_size=None`` to run on all rows.

    Returns ``(centers (k, d), labels (n,))``.
    """
    n, d = X.shape
    wsum = float(w.sum(dtype=np.float64))
    mean = (w @ X) / wsum
    var = (w @ ((X - mean) ** 2)) / wsum
    tol_abs = tol * float(np.mean(var))
    x_sq = np.einsum("nd,nd->n", X, X)
    if sample_size == "auto":
        sample_size = subsample_size(int(np.count_nonzero(w)), k)
    if sample_size is not None and sample_size < n:
        cum_w = np.cumsum(w, dtype=np.float64)
        u = (np.arange(sample_size) + rng.uniform(size=sample_size)) / sample_size
        rows, counts = np.unique(_weighted_pick(cum_w, u), return_counts=True)
        Xs, ws = X[rows], counts.astype(np.float64)
        C = Xs[kmeans_plusplus(Xs, k, ws, rng)].astype(np.float64)
        C = _lloyd(Xs, C, ws, x_sq[rows], max_iter, tol_abs)
        C = _lloyd(X, C, w, x_sq, n_refine, tol_abs)
    else:
        C = X[kmeans_plusplus(X, k, w, rng)].astype(np.float64)
        C = _lloyd(X, C, w, x_sq, max_iter, tol_abs)
    labels, _ = _assign(X, C.astype(X.dtype), x_sq)
    return C, labels
