"""Weighted k-means (k-means++ seeding and Lloyd iterations) used to initialise EM.

Random choices are made by inverse-CDF sampling (:mod:`gaussmix._sampling`) on cumulative
*weighted* quantities with one uniform draw each, walking the rows in their canonical order
(:class:`gaussmix._sampling.CanonicalIndex`, which sorts only the buckets a draw lands in), so
an integer weight selects exactly like duplicated rows, a zero weight like an absent row, and
shuffling the rows changes nothing: the initialisation inherits the weight invariances of the
fit.
"""
from __future__ import annotations

import threading

import numpy as np

from ._sampling import CanonicalIndex, inverse_cdf

_BLOCK = 65536


def _sq_dist(X: np.ndarray, C: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, m) float64 between rows of ``X`` and ``C``, clipped at 0."""
    d = np.matmul(X, C.T.astype(X.dtype)).astype(np.float64, copy=False)
    d *= -2.0
    d += x_sq[:, None]
    d += np.einsum("md,md->m", C, C, dtype=np.float64)[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def stratified_sample(w: np.ndarray | None, n: int, m: int, rng,
                      index: CanonicalIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``m`` stratified draws of rows by weight, one uniform per stratum: (rows, counts).

    Inverse CDF of the cumulative weights (``w=None``: all weights equal) at ``(i + u_i) / m``,
    so a zero weight never draws a row and an integer weight draws like repeated rows. The rows
    are walked in storage order and returned sorted, or with ``index`` (a
    :class:`~gaussmix._sampling.CanonicalIndex` of the rows) walked and returned in canonical
    order, so that the sample does not depend on the order of the rows either.
    """
    u = (np.arange(m) + rng.uniform(size=m)) / m
    if index is not None:
        rows = index.draw(np.ones(n) if w is None else w, u)
        # ascending uniforms draw rows in canonical order: repeats are adjacent
        new = np.ones(m, dtype=bool)
        new[1:] = rows[1:] != rows[:-1]
        starts = np.flatnonzero(new)
        return rows[starts], np.diff(np.append(starts, m))
    if w is None:
        pos = np.minimum((u * n).astype(np.int64), n - 1)
    else:
        pos = inverse_cdf(w, u)
    return np.unique(pos, return_counts=True)


def kmeans_plusplus(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.RandomState,
                    n_local_trials: int | None = None) -> np.ndarray:
    """Greedy weighted k-means++ seeding (Arthur & Vassilvitskii 2007).

    Every draw walks the rows in canonical order (:class:`~gaussmix._sampling.CanonicalIndex`)
    with one uniform, so the seeds depend only on the weighted set of rows. Returns the indices
    (k,) of the chosen rows.
    """
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(k))
    index = CanonicalIndex(X)
    w = np.asarray(w, dtype=np.float64)
    x_sq = np.einsum("nd,nd->n", X, X, dtype=np.float64)
    first = int(index.draw(w, rng.uniform()))
    indices = [first]
    closest = _sq_dist(X, X[[first]], x_sq)[:, 0].copy()
    pot = float(np.dot(w, closest))
    p = np.empty_like(closest)  # w * closest, the D^2 masses, in storage order
    for _ in range(1, k):
        if pot <= 0:
            # every weighted row coincides with a centre: continue among positive-weight rows
            indices.append(int(index.draw(w, rng.uniform())))
            continue
        np.multiply(w, closest, out=p)
        cand = index.draw(p, rng.uniform(size=n_local_trials))
        d_cand = _sq_dist(X, X[cand], x_sq)
        np.minimum(d_cand, closest[:, None], out=d_cand)
        pots = w @ d_cand
        best = int(np.argmin(pots))
        indices.append(int(cand[best]))
        closest[...] = d_cand[:, best]
        pot = float(pots[best])
    return np.asarray(indices)


_workspace = threading.local()


def _buffers(m: int, d: int, k: int, dtype) -> tuple[np.ndarray, ...]:
    """This thread's reusable (m, d), (k, m), (m,) and (m,) bool buffers.

    Fresh pages are slow to touch on some machines (microseconds per page).
    """
    key = (d, k, np.dtype(dtype))
    ws = getattr(_workspace, "bufs", None)
    if ws is None or ws[0] != key or ws[1].shape[0] < m:
        ws = (key, np.empty((m, d), dtype), np.empty((k, m), dtype), np.empty(m, dtype),
              np.empty(m, bool))
        _workspace.bufs = ws
    return ws[1][:m], ws[2][:, :m], ws[3][:m], ws[4][:m]


def nearest_block(X: np.ndarray, M: np.ndarray, c_sq: np.ndarray, shift: np.ndarray | None,
                  labels: np.ndarray, dist: np.ndarray, *, exact: bool = True) -> None:
    """Nearest centre and squared distance to it for one block of rows ``X`` (m, d).

    Writes ``labels`` (m,) (any integer dtype) and ``dist`` (m,) float64 in place.
    ``M = -2 (C - shift)`` (k, d) and ``c_sq = |C - shift|^2`` (k,) are in the dtype of ``X``;
    ``|x - c_j|^2 = |x|^2 + (|c_j|^2 - 2 x.c_j)``, the (k, m) products coming from one matrix
    product. Centring on ``shift`` keeps the float32 cancellation small. Workspaces are reused
    per thread.

    With ``exact=True`` the minimum runs over the k rows as whole-array operations (numpy's
    ``argmin`` along a short last axis costs ~20 ns a row), ties going to the lowest index.
    With ``exact=False``, float32 ``X`` and k <= 256, each distance carries its centre's
    index in its lowest ``ceil(log2 k)`` mantissa bits and one integer minimum gives both
    (about 4x faster): a centre within a relative ``2^(bits - 23)`` of the nearest one may be
    returned instead, and the distance is exact to that precision.
    """
    m, d = X.shape
    k = len(M)
    xs, G, x_sq, mask = _buffers(m, d, k, X.dtype)
    if shift is not None:
        np.subtract(X, shift, out=xs)
    else:
        xs[...] = X
    np.matmul(M, xs.T, out=G)
    G += c_sq[:, None]
    np.square(xs, out=xs)
    np.matmul(xs, np.ones(d, dtype=xs.dtype), out=x_sq)
    bits = max(1, (k - 1).bit_length())
    if not exact and X.dtype == np.float32 and bits <= 8:
        G += x_sq
        np.maximum(G, 0.0, out=G)  # non-negative floats order like their bit patterns
        Gi = G.view(np.int32)
        low = np.int32((1 << bits) - 1)
        Gi &= ~low
        Gi |= np.arange(k, dtype=np.int32)[:, None]
        packed = Gi.min(axis=0)
        np.bitwise_and(packed, low, out=labels, casting="unsafe")
        packed &= ~low
        np.copyto(dist, packed.view(np.float32))
        return
    best = G[0]
    labels[...] = 0
    for j in range(1, k):
        np.less(G[j], best, out=mask)
        np.putmask(labels, mask, j)
        np.minimum(best, G[j], out=best)
    np.add(best, x_sq, out=dist, dtype=np.float64)
    np.maximum(dist, 0.0, out=dist)


def centre_terms(C: np.ndarray, shift: np.ndarray | None, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(M, c_sq)`` of :func:`nearest_block` for centres ``C`` (k, d), in ``dtype``."""
    Cs = np.asarray(C, dtype=np.float64)
    if shift is not None:
        Cs = Cs - shift
    return (-2.0 * Cs).astype(dtype), np.einsum("kd,kd->k", Cs, Cs).astype(dtype)


def _assign(X, C, shift=None, *, with_dist=True):
    """Labels (n,) and squared distance to the nearest centre (n,), in blocks of rows.

    Large inputs are split between threads running single-threaded BLAS (the GIL is released
    inside numpy). Labels take the smallest unsigned integer type that holds ``k - 1`` (one
    byte a row for up to 256 centres: the final assignment of a large memory-mapped input
    should not cost more memory than the data). With ``with_dist=False`` the distances are
    not kept (``None`` is returned for them).
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.min_scalar_type(max(len(C) - 1, 0)))
    dist = np.empty(n, dtype=np.float64) if with_dist else None
    M, c_sq = centre_terms(C, shift, X.dtype)
    sh = None if shift is None else np.asarray(shift, dtype=X.dtype)

    def run(s):
        e = min(s + _BLOCK, n)
        out = dist[s:e] if with_dist else np.empty(e - s)
        nearest_block(X[s:e], M, c_sq, sh, labels[s:e], out)

    from ._fast import default_n_threads, thread_map
    thread_map(run, range(0, n, _BLOCK), n_threads=default_n_threads() if n > 2 * _BLOCK else 1)
    return labels, dist


def _lloyd(X, C, w, max_iter, tol_abs, shift=None):
    """Weighted Lloyd iterations from centres ``C`` (k, d) float64; returns the new centres.

    Distances are computed on rows centred on ``shift`` (for instance the weighted mean).
    """
    from scipy import sparse

    n = X.shape[0]
    k, d = C.shape
    for _ in range(max_iter):
        labels, dist = _assign(X, C, shift)
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
        moved = float(((C_new - C) ** 2).sum())
        C = C_new
        if moved <= tol_abs:
            break
    return C


def _weighted_mean_var(X, w):
    """Weighted mean and per-feature variance (float64), in one pass over blocks of rows.

    Moments are taken about ``s``, the weighted mean of the first block with positive weight:
    ``var = E[(x - s)^2] - (E[x] - s)^2`` loses only a relative ``eps |E[x] - s|^2 / var``,
    small because ``s`` is already close to the mean (no float64 copy of ``X`` is made).
    """
    w = np.asarray(w, dtype=np.float64)
    wsum = float(w.sum())
    d = X.shape[1]
    s, first, sq = None, np.zeros(d), np.zeros(d)
    for b in range(0, X.shape[0], _BLOCK):
        wb = w[b:b + _BLOCK]
        if s is None:
            wb_sum = float(wb.sum())
            if wb_sum <= 0:
                continue
            s = (wb @ X[b:b + _BLOCK].astype(np.float64, copy=False)) / wb_sum
        Xc = X[b:b + _BLOCK] - s
        first += wb @ Xc
        sq += wb @ np.square(Xc, out=Xc)
    delta = first / wsum
    return s + delta, np.maximum(sq / wsum - delta * delta, 0.0)


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
    ``m`` rows drawn by stratified inverse-CDF sampling of the cumulative weights in canonical
    row order (so a zero weight never draws a row, an integer weight draws like repeated rows
    and the order of the rows does not matter), followed by at most ``n_refine`` Lloyd
    iterations on all rows; the tolerance's variance and the centring shift then come from the
    subsample too (one pass over ``X`` fewer). Pass ``sample_size=None`` to run on all rows.

    Returns ``(centers (k, d), labels (n,))``.
    """
    n, d = X.shape
    if sample_size == "auto":
        sample_size = subsample_size(int(np.count_nonzero(w)), k)
    if sample_size is not None and sample_size < n:
        rows, counts = stratified_sample(w, n, sample_size, rng, CanonicalIndex(X))
        Xs, ws = X[rows], counts.astype(np.float64)  # in canonical order
        mean, var = _weighted_mean_var(Xs, ws)
        tol_abs = tol * float(np.mean(var))
        C = Xs[kmeans_plusplus(Xs, k, ws, rng)].astype(np.float64)
        C = _lloyd(Xs, C, ws, max_iter, tol_abs, mean)
        C = _lloyd(X, C, w, n_refine, tol_abs, mean)
    else:
        mean, var = _weighted_mean_var(X, w)
        tol_abs = tol * float(np.mean(var))
        C = X[kmeans_plusplus(X, k, w, rng)].astype(np.float64)
        C = _lloyd(X, C, w, max_iter, tol_abs, mean)
    labels, _ = _assign(X, C, mean, with_dist=False)
    return C, labels
