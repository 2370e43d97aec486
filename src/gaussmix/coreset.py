"""Coresets for Gaussian mixtures: small weighted sets whose fit approximates the full fit.

A coreset of ``X`` is a weighted set ``(C, u)`` such that for every mixture ``theta`` in a
broad class, ``sum_c u_c log p(c | theta)`` approximates ``sum_i w_i log p(x_i | theta)``.
Fitting is then one ordinary weighted fit: ``GaussianMixture(...).fit(C, sample_weight=u)``
(or the shortcut ``GaussianMixture(...).fit(X, coreset_size=m)``).

:func:`build` implements importance sampling by sensitivity (Lucic, Faulkner, Krause and
Feldman, JMLR 2018, Algorithm 2):

1. a bicriteria solution ``B`` of ``n_clusters`` centres by weighted D² (k-means++) sampling;
2. for each row ``x`` with nearest centre ``b(x)``, an upper bound on its sensitivity,

   .. math::

      s(x) = \\alpha \\frac{d(x, B)^2}{\\bar c}
           + \\frac{2 \\alpha}{\\bar c} \\frac{\\sum_{x' \\in B_x} w' d(x', B)^2}{W(B_x)}
           + \\frac{4 W}{W(B_x)},

   where ``\\bar c = sum_i w_i d(x_i, B)^2 / W`` is the mean cost, ``W`` the total weight,
   ``W(B_x)`` the weight of the rows closest to ``b(x)`` and ``alpha = 16 (log k + 2)``;
3. ``size`` draws with probability ``q(x) = w(x) s(x) / sum_i w_i s_i`` and weight
   ``w(x) / (size q(x))``, so that every weighted sum is estimated without bias. Input weights
   enter both the probabilities and the output weights: a coreset of a coreset is again an
   unbiased coreset of the original data (its total weight stays close to ``n``).

Rows drawn more than once are returned once with their weights summed, so a coreset has at
most ``size`` distinct rows. :func:`uniform` is the uniform-sampling baseline, and
:class:`StreamingCoreset` builds a coreset of a stream of batches by merge and reduce.

None of these is exact: a coreset fit approximates the full fit with an error that shrinks as
``size`` grows. (When ``size`` is at least the number of rows with positive weight, the input
itself is returned and the fit is exact.)
"""
from __future__ import annotations

import logging
import math
import numbers
import threading

import numpy as np
from sklearn.utils import check_random_state

from ._kmeans import stratified_sample
from ._validation import check_sample_weight

__all__ = ["build", "uniform", "StreamingCoreset"]

logger = logging.getLogger("gaussmix")

#: Rows processed at once when computing distances (bounds the workspace for memory-mapped X).
_CHUNK = 1 << 18


# ---------------------------------------------------------------------------------------------
# validation


def _check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise ValueError(f"{name!r} must be an int >= {low}; got {value!r}.")
    return int(value)


def _check_X(X, what: str = "X") -> np.ndarray:
    """``X`` as a 2-D float array; memory-mapped arrays stay memory-mapped."""
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array of shape (n_samples, n_features); got "
                         f"{X.ndim} dimension(s) with shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{what} must be numeric; got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[1] < 1:
        raise ValueError(f"{what} has 0 features; at least one is required.")
    return X


def _check_finite_chunk(Xc: np.ndarray, start: int, what: str) -> None:
    if not np.isfinite(Xc).all():
        bad = np.argwhere(~np.isfinite(Xc))
        r, c = (int(v) for v in bad[0])
        raise ValueError(f"{what} contains {len(bad)} NaN or inf value(s) in rows "
                         f"{start}..{start + len(Xc) - 1} (first at row {start + r}, "
                         f"column {c}); remove or impute them first.")


# ---------------------------------------------------------------------------------------------
# the bicriteria solution


def _sq_dist_to(X: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distances (n,) of the rows of ``X`` to one point ``c``, in the dtype of ``X``.

    Computed from the differences (not ``|x|^2 - 2 x.c + |c|^2``), so float32 keeps full
    relative precision for rows close to ``c``.
    """
    diff = X - c.astype(X.dtype)
    return np.einsum("nd,nd->n", diff, diff)


_BLOCK = 4096


def _pick(p: np.ndarray, u: float) -> int:
    """Index ``i`` drawn with probability ``p_i / sum(p)`` by inverse CDF with the uniform ``u``.

    Two levels (block sums, then one block) so that a draw costs a sum over ``p`` rather than a
    full cumulative sum; the result is that of ``searchsorted(cumsum(p), u * sum(p))``.
    """
    n = len(p)
    m = n // _BLOCK
    if m < 2:
        cum = np.cumsum(p)
        i = int(min(np.searchsorted(cum, u * cum[-1], side="right"), n - 1))
    else:
        sums = np.empty(m + 1)
        sums[:m] = p[:m * _BLOCK].reshape(m, _BLOCK).sum(axis=1)
        sums[m] = p[m * _BLOCK:].sum()
        cb = np.cumsum(sums)
        target = u * cb[-1]
        b = int(min(np.searchsorted(cb, target, side="right"), m))
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, n)
        cw = np.cumsum(p[lo:hi])
        rem = target - (cb[b - 1] if b else 0.0)
        i = lo + int(min(np.searchsorted(cw, rem, side="right"), hi - lo - 1))
    if p[i] <= 0:  # rounding at a block edge: step back to the nearest row with mass
        i = int(np.flatnonzero(p[:i + 1] > 0)[-1]) if np.any(p[:i + 1] > 0) \
            else int(np.flatnonzero(p > 0)[0])
    return i


def d2_seeding(X: np.ndarray, w: np.ndarray, n_seeds: int, rng, *, check: str | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted D² sampling of ``n_seeds`` centres (plain k-means++, no local trials).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows; may be memory-mapped (read in chunks).
    w : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.
    n_seeds : int
    rng : numpy.random.RandomState
    check : str or None
        When given, each chunk is checked for NaN/inf on the first read and an error names it
        with this word.

    Returns
    -------
    centres : ndarray of shape (n_seeds, n_features)
    labels : ndarray of shape (n_samples,)
        Index of the nearest centre of each row.
    dist : ndarray of shape (n_samples,)
        Squared distance of each row to its nearest centre (float64).
    """
    n = X.shape[0]
    w = np.asarray(w, dtype=np.float64)
    centres = [np.array(X[_pick(w, rng.uniform())], dtype=np.float64)]
    dist = np.empty(n)
    labels = np.zeros(n, dtype=np.int32)
    for s in range(0, n, _CHUNK):
        Xc = np.asarray(X[s:s + _CHUNK])
        if check is not None:
            _check_finite_chunk(Xc, s, check)
        dist[s:s + _CHUNK] = _sq_dist_to(Xc, centres[0])
    # |x - c|^2 = |x - c0|^2 - 2 (x - c0).(c - c0) + |c - c0|^2: one matrix-vector product
    # per centre instead of an (n, d) difference; centring on c0 keeps the cancellation small
    sq0 = dist.copy()
    c0 = centres[0]
    p = np.empty(n)
    dn = np.empty(min(n, _CHUNK))
    for j in range(1, n_seeds):
        np.multiply(w, dist, out=p)
        u = rng.uniform()
        # when every weighted row sits on a centre, further centres are redundant copies
        c = np.array(X[_pick(p if p.sum() > 0 else w, u)], dtype=np.float64)
        centres.append(c)
        cc = c - c0
        off = float(c0 @ cc)
        cc2 = float(cc @ cc)
        for s in range(0, n, _CHUNK):
            Xc = np.asarray(X[s:s + _CHUNK])
            m = len(Xc)
            d_ = dn[:m]
            np.subtract(Xc @ cc.astype(Xc.dtype), off, out=d_)
            d_ *= -2.0
            d_ += sq0[s:s + m]
            d_ += cc2
            np.maximum(d_, 0.0, out=d_)
            seg = dist[s:s + m]
            np.putmask(labels[s:s + m], d_ < seg, j)
            np.minimum(seg, d_, out=seg)
    return np.asarray(centres), labels, dist


def sensitivity_terms(mass: np.ndarray, cost: np.ndarray, n_clusters: int
                      ) -> tuple[np.ndarray, float]:
    """``(a, b)`` with sensitivity ``s(x) = a[b(x)] + b d(x, B)^2`` from per-centre sums.

    ``mass`` and ``cost`` are each centre's weight and weighted squared distance sums (see the
    module docstring for the bound; Lucic et al. 2018, Algorithm 2, with weights).
    """
    W = float(mass.sum())
    total_cost = float(cost.sum())
    mean_cost = total_cost / W
    alpha = 16.0 * (math.log(max(n_clusters, 1)) + 2.0)
    # a centre that no row is closest to (a duplicate seed, as on constant data) enters no
    # row's bound: its term is 0, not 4 W / 0 = inf (which made 0 * inf = NaN probabilities)
    has_mass = mass > 0
    inv_mass = np.divide(1.0, mass, out=np.zeros(len(mass)), where=has_mass)
    a = 4.0 * W * inv_mass
    if mean_cost <= 0:
        # every row sits on its centre (constant or k-valued data): no cost term, and the
        # draws are uniform by weight within each centre's share 4 W / W(B_x)
        return a, 0.0
    a += (2.0 * alpha / mean_cost) * (cost * inv_mass)
    return a, alpha / mean_cost


def sensitivities(w: np.ndarray, labels: np.ndarray, dist: np.ndarray, n_clusters: int
                  ) -> np.ndarray:
    """Sensitivity upper bounds (n,) per unit weight from a bicriteria solution.

    ``labels`` and ``dist`` give each row's nearest centre and squared distance to it; see the
    module docstring for the formula (Lucic et al. 2018, Algorithm 2, with weights).
    """
    w = np.asarray(w, dtype=np.float64)
    m = int(labels.max()) + 1 if len(labels) else 1
    mass = np.bincount(labels, weights=w, minlength=m)
    cost = np.bincount(labels, weights=w * dist, minlength=m)
    a, b = sensitivity_terms(mass, cost, n_clusters)
    return a[labels] + b * dist


# ---------------------------------------------------------------------------------------------
# sampling


def _gather(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (sorted) of ``X`` as an in-memory array (reads a memmap in order)."""
    return np.array(X[idx], copy=True)


#: Rows per block of the sampling and assignment passes (a block's workspace stays in cache).
_PASS_BLOCK = 1 << 15


def _inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn with probability ``p_i / sum(p)``, one per uniform ``u`` in [0, 1).

    A row with ``p_i = 0`` is never returned (a draw rounded onto the end steps back to the
    last row with mass).
    """
    cum = np.cumsum(p)
    idx = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(p) - 1)
    zero = p[idx] <= 0
    if zero.any():
        idx[zero] = np.flatnonzero(p > 0)[-1]
    return idx


def _draw(p: np.ndarray, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``size`` i.i.d. draws of indices with probability ``p_i / sum(p)``: (sorted rows, counts).

    The draws are split between blocks of rows by one multinomial on the block sums, then drawn
    within each block by inverse CDF, so no cumulative sum of all ``n`` values is formed.
    """
    starts = np.arange(0, len(p), _PASS_BLOCK)
    sums = np.add.reduceat(p, starts)
    per_block = rng.multinomial(size, sums / sums.sum())
    rows = [s + _inverse_cdf(p[s:s + _PASS_BLOCK], rng.uniform(size=per_block[b]))
            for b, s in enumerate(starts) if per_block[b]]
    return np.unique(np.concatenate(rows), return_counts=True)


def _sample(X, w, prob, size, rng) -> tuple[np.ndarray, np.ndarray]:
    """``size`` draws with probabilities ``prob``; weight ``w / (size prob)`` per draw, merged."""
    idx, counts = _draw(prob, size, rng)
    p = prob[idx] / float(prob.sum())
    weights = counts * w[idx] / (size * p)
    return _gather(X, idx), weights


def _exact(X, w) -> tuple[np.ndarray, np.ndarray]:
    keep = np.flatnonzero(w > 0)
    return _gather(X, keep), w[keep].astype(np.float64)


def _without_replacement(n: int, size: int, rng) -> np.ndarray:
    """A uniformly random subset of ``size`` of ``range(n)``, sorted.

    Draws with replacement and keeps the first occurrence of each row in draw order (sequential
    sampling without replacement), which costs O(size) instead of a permutation of ``n``.
    """
    if 4 * size > n:
        return np.sort(rng.permutation(n)[:size])
    seen = np.empty(0, dtype=np.int64)
    while True:
        cand = np.concatenate([seen, rng.randint(0, n, size=size + size // 8 + 16)])
        _, first = np.unique(cand, return_index=True)
        seen = cand[np.sort(first)]
        if len(seen) >= size:
            return np.sort(seen[:size])


def _seed_sample_size(n_seeds: int) -> int:
    """Rows of the subsample the bicriteria seeds are drawn from on large inputs."""
    return max(1 << 16, 256 * n_seeds)


_scratch = threading.local()


#: Largest per-row cache (labels and distances) that :class:`_Nearest` keeps between passes.
_KEEP_BYTES = 1 << 30


class _Nearest:
    """Nearest seed and squared distance to it for block ``b`` of the rows of ``X``.

    The first computation of a block checks it for NaN/inf. When the labels (int16/int32) and
    float32 distances of all rows fit in ``_KEEP_BYTES`` they are kept for the next pass;
    otherwise a later pass recomputes them (one matrix product per block), so that the memory
    of :func:`build` does not grow with ``n`` (a memory-mapped ``X`` larger than memory works).
    """

    def __init__(self, X: np.ndarray, centres: np.ndarray):
        from ._kmeans import centre_terms

        self.X = X
        self.n, self.k = X.shape[0], len(centres)
        shift = centres.mean(axis=0)
        self.M, self.c_sq = centre_terms(centres, shift, X.dtype)
        self.shift = shift.astype(X.dtype)
        self.n_blocks = -(-self.n // _PASS_BLOCK)
        ltype = np.int16 if self.k < 2**15 else np.int32
        if self.n * (np.dtype(ltype).itemsize + 4) <= _KEEP_BYTES:
            self.kept = (np.empty(self.n, ltype), np.empty(self.n, np.float32))
        else:
            self.kept = None
        self.done = np.zeros(self.n_blocks, dtype=bool)

    def __call__(self, b: int, check: bool = False):
        """``(start, labels, dist)`` of block ``b`` (int32 and float64 arrays of scratch)."""
        from ._kmeans import nearest_block

        s = b * _PASS_BLOCK
        e = min(s + _PASS_BLOCK, self.n)
        buf = getattr(_scratch, "buf", None)
        if buf is None:
            buf = _scratch.buf = (np.empty(_PASS_BLOCK, np.int32), np.empty(_PASS_BLOCK))
        labels, dist = buf[0][:e - s], buf[1][:e - s]
        if self.kept is not None and self.done[b]:
            labels[...] = self.kept[0][s:e]
            dist[...] = self.kept[1][s:e]
            return s, labels, dist
        Xb = np.asarray(self.X[s:e])
        nearest_block(Xb, self.M, self.c_sq, self.shift, labels, dist, exact=False)
        if check and not np.isfinite(dist).all():
            _check_finite_chunk(Xb, s, "X")
            raise ValueError(f"X rows {s}..{e - 1} are too large: their squared distances "
                             f"overflow {self.X.dtype}; rescale the data.")
        if self.kept is not None:
            self.kept[0][s:e] = labels
            self.kept[1][s:e] = dist
            dist[...] = self.kept[1][s:e]  # the same (rounded) values in every pass
            self.done[b] = True
        return s, labels, dist

    def map(self, fn, blocks) -> None:
        from ._fast import default_n_threads, thread_map

        thread_map(fn, blocks, n_threads=default_n_threads() if self.n_blocks > 4 else 1)


def _seeds(X, w, n_seeds: int, n_pos: int, unit: bool, rng) -> np.ndarray:
    """Seeds (n_seeds, d) of the bicriteria solution by weighted D² sampling.

    Up to ``4 m`` positive-weight rows (``m`` from :func:`_seed_sample_size`) they are drawn
    from all rows (``n_seeds`` passes over ``X``); above, from a stratified weighted subsample
    of ``m`` rows. Any set of centres gives valid sensitivity upper bounds; seeds from the
    subsample only make them slightly looser, and the construction then reads ``X`` twice in
    all, whatever ``n_seeds``.
    """
    m = _seed_sample_size(n_seeds)
    if n_pos <= 4 * m:
        return d2_seeding(X, w, n_seeds, rng, check="X")[0]
    rows, counts = stratified_sample(None if unit else w, X.shape[0], m, rng)
    Xs = _gather(X, rows)
    if not np.isfinite(Xs).all():  # find and name the first bad rows in X
        for s in range(0, X.shape[0], _CHUNK):
            _check_finite_chunk(np.asarray(X[s:s + _CHUNK]), s, "X")
    return d2_seeding(Xs, counts.astype(np.float64), n_seeds, rng)[0]


def _sensitivity_sample(X, w, centres, size: int, n_clusters: int, unit: bool, rng):
    """Two passes over ``X``: per-seed weight and cost sums, then ``size`` draws ∝ ``w s``.

    The first pass gives each block's per-seed sums, hence the sensitivity terms and every
    block's total probability; one multinomial splits the draws between blocks, and the second
    pass recomputes the distances of the blocks that received draws and draws within them by
    inverse CDF. The uniforms are drawn beforehand in block order and partial sums are added in
    block order, so the result does not depend on the thread schedule.
    """
    near = _Nearest(X, centres)
    k, nb = near.k, near.n_blocks
    mass, cost = np.zeros((nb, k)), np.zeros((nb, k))

    def first(b):
        s, lab, d = near(b, check=True)
        wb = None if unit else w[s:s + len(lab)]
        mass[b] = np.bincount(lab, weights=wb, minlength=k)
        cost[b] = np.bincount(lab, weights=d if unit else wb * d, minlength=k)

    near.map(first, range(nb))
    a, beta = sensitivity_terms(mass.sum(axis=0), cost.sum(axis=0), n_clusters)
    block_total = mass @ a + beta * cost.sum(axis=1)
    total = float(block_total.sum())
    per_block = rng.multinomial(size, block_total / total)
    blocks = np.flatnonzero(per_block)
    uniforms = [rng.uniform(size=per_block[b]) for b in blocks]
    rows, probs = [None] * len(blocks), [None] * len(blocks)

    def second(j):
        s, lab, d = near(blocks[j])
        p = a[lab] + beta * d
        if not unit:
            p *= w[s:s + len(lab)]
        local = _inverse_cdf(p, uniforms[j])
        rows[j], probs[j] = s + local, p[local] / total

    near.map(second, range(len(blocks)))
    rows, probs = np.concatenate(rows), np.concatenate(probs)
    idx, first_at, counts = np.unique(rows, return_index=True, return_counts=True)
    weights = counts * w[idx] / (size * probs[first_at])
    return _gather(X, idx), weights


def build(X, size, *, n_clusters, sample_weight=None, random_state=None, n_seeds=None):
    """Sensitivity-sampling coreset of the weighted rows of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; a :class:`numpy.memmap` is read in chunks and never loaded whole.
    size : int
        Number of draws; the coreset has at most ``size`` distinct rows.
    n_clusters : int
        Number of mixture components the coreset is meant for (sets the bicriteria size and
        the constant ``alpha`` of the sensitivity bound).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative input weights (for instance a previous coreset's weights).
    random_state : int, RandomState instance or None, default=None
    n_seeds : int or None, default=None
        Centres of the bicriteria solution; ``None`` uses ``n_clusters``.

    Returns
    -------
    points : ndarray of shape (m, n_features)
        Distinct sampled rows (``m <= size``), in the dtype of ``X`` (float32 or float64).
    weights : ndarray of shape (m,)
        Their weights (float64); their sum estimates ``sample_weight.sum()`` without bias.

    Notes
    -----
    Approximate, not exact: the coreset fit's log-likelihood on the full data approaches the
    full fit's as ``size`` grows. Construction costs two passes over ``X`` on large inputs
    (the seeds come from a subsample of ``max(65536, 256 n_seeds)`` rows, see
    :func:`_seeds`; ``n_seeds`` more passes on small ones); besides ``X`` and the result, memory
    does not grow with ``n_samples`` on large inputs (a memory-mapped ``X`` is never loaded
    whole).

    References
    ----------
    Lucic, Faulkner, Krause, Feldman (2018). Training Gaussian mixture models at scale via
    coresets. Journal of Machine Learning Research 18(160).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import coreset
    >>> X = np.random.default_rng(0).normal(size=(10000, 2))
    >>> points, weights = coreset.build(X, 500, n_clusters=3, random_state=0)
    >>> points.shape[0] <= 500, bool(abs(weights.sum() / 10000 - 1) < 0.1)
    (True, True)
    """
    X = _check_X(X)
    size = _check_int(size, "size")
    n_clusters = _check_int(n_clusters, "n_clusters")
    n_seeds = n_clusters if n_seeds is None else _check_int(n_seeds, "n_seeds")
    n = X.shape[0]
    w = check_sample_weight(sample_weight, n)
    rng = check_random_state(random_state)
    n_pos = int(np.count_nonzero(w))
    if n_pos <= size:
        for s in range(0, n, _CHUNK):
            _check_finite_chunk(np.asarray(X[s:s + _CHUNK]), s, "X")
        return _exact(X, w)
    unit = sample_weight is None
    centres = _seeds(X, w, min(n_seeds, n_pos), n_pos, unit, rng)
    return _sensitivity_sample(X, w, centres, size, n_clusters, unit, rng)


def uniform(X, size, *, sample_weight=None, random_state=None):
    """Uniform-sampling baseline: ``size`` rows drawn with probability proportional to weight.

    Without weights the rows are drawn without replacement and each gets weight
    ``n_samples / size``; with weights, ``size`` draws with probability ``w_i / W`` and weight
    ``W / size`` per draw (duplicates merged).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    size : int
    sample_weight : array-like of shape (n_samples,), default=None
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    points : ndarray of shape (m, n_features)
    weights : ndarray of shape (m,)

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import coreset
    >>> points, weights = coreset.uniform(np.arange(20.0).reshape(10, 2), 5, random_state=0)
    >>> points.shape, weights.tolist()
    ((5, 2), [2.0, 2.0, 2.0, 2.0, 2.0])
    """
    X = _check_X(X)
    size = _check_int(size, "size")
    n = X.shape[0]
    w = check_sample_weight(sample_weight, n)
    rng = check_random_state(random_state)
    if int(np.count_nonzero(w)) <= size:
        return _exact(X, w)
    if sample_weight is None:
        idx = _without_replacement(n, size, rng)
        points = _gather(X, idx)
        _check_finite_chunk(points, 0, "the uniform sample of X")
        return points, np.full(size, n / size)
    points, weights = _sample(X, w, w, size, rng)
    _check_finite_chunk(points, 0, "the uniform sample of X")
    return points, weights


# ---------------------------------------------------------------------------------------------
# merge and reduce


def reduce(parts, size: int, n_clusters: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A coreset of the union of weighted sets ``parts = [(points, weights), ...]``.

    The union of coresets of disjoint data is a coreset of their union; :func:`build` on it
    compresses it back to ``size`` (Har-Peled & Mazumdar 2004; Feldman et al. 2011).
    """
    pts = np.concatenate([p for p, _ in parts])
    wts = np.concatenate([u for _, u in parts])
    if len(pts) <= size:
        return pts, wts
    return build(pts, size, n_clusters=n_clusters, sample_weight=wts, random_state=rng)


class StreamingCoreset:
    """Coreset of a stream of batches by merge and reduce.

    Rows are buffered until ``leaf_size`` have arrived; the buffer is compressed to a coreset of
    ``size`` rows at level 0. Whenever two coresets sit at the same level they are merged and
    reduced to one coreset at the next level (a binary counter), so after ``n`` rows at most
    ``log2(n / leaf_size) + 1`` coresets are held: memory is
    O(``size`` log(n / ``size``) + ``leaf_size``) rows, independent of ``n``.
    :meth:`coreset` can be called at any time and does not disturb the stream.

    Each level of reduction adds a sampling error, so a streaming coreset of a given size is
    somewhat less accurate than :func:`build` on all the data at once (the usual price of
    merge and reduce); it is not exact.

    Parameters
    ----------
    size : int
        Rows per coreset (each reduction keeps at most ``size`` distinct rows).
    n_clusters : int
        Number of mixture components the coreset is meant for.
    leaf_size : int or None, default=None
        Raw rows compressed at once; ``None`` uses ``max(4 * size, 262144)``. Larger leaves
        mean fewer levels (less error) and higher throughput, at ``leaf_size`` rows of memory.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    n_samples_seen_ : int
        Rows received so far.
    total_weight_ : float
        Sum of the weights received so far (the coreset's weights sum to about this).
    n_features_in_ : int
        Number of columns, fixed by the first batch.

    See Also
    --------
    build : coreset of data held in memory or memory-mapped.

    References
    ----------
    Har-Peled, Mazumdar (2004). On coresets for k-means and k-median clustering. STOC.
    Lucic, Faulkner, Krause, Feldman (2018). Training Gaussian mixture models at scale via
    coresets. JMLR 18(160).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.coreset import StreamingCoreset
    >>> rng = np.random.default_rng(0)
    >>> sc = StreamingCoreset(size=200, n_clusters=3, leaf_size=1000, random_state=0)
    >>> for _ in range(20):
    ...     _ = sc.partial_fit(rng.normal(size=(500, 2)))
    >>> points, weights = sc.coreset()
    >>> len(points) <= 200, bool(abs(weights.sum() / sc.n_samples_seen_ - 1) < 0.1)
    (True, True)
    """

    def __init__(self, size, n_clusters, *, leaf_size=None, random_state=None):
        self.size = size
        self.n_clusters = n_clusters
        self.leaf_size = leaf_size
        self.random_state = random_state

    def _start(self, d: int, dtype) -> None:
        self._size = _check_int(self.size, "size")
        self._k = _check_int(self.n_clusters, "n_clusters")
        self._leaf = (max(4 * self._size, 1 << 18) if self.leaf_size is None
                      else _check_int(self.leaf_size, "leaf_size"))
        if self._leaf < self._size:
            raise ValueError(f"'leaf_size' ({self._leaf}) must be at least 'size' ({self._size}).")
        self._rng = check_random_state(self.random_state)
        self._buf: list[tuple[np.ndarray, np.ndarray]] = []
        self._buf_rows = 0
        self._levels: list[tuple[np.ndarray, np.ndarray] | None] = []
        self._dtype = dtype
        self.n_features_in_ = d
        self.n_samples_seen_ = 0
        self.total_weight_ = 0.0
        self._n_batches = 0

    def partial_fit(self, X, sample_weight=None):
        """Add a batch of rows.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : StreamingCoreset
        """
        X = _check_X(X, "batch")
        if not hasattr(self, "_levels"):
            self._start(X.shape[1], X.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"batch has {X.shape[1]} features, but the stream has "
                             f"{self.n_features_in_}.")
        n = X.shape[0]
        if n == 0:
            self._n_batches += 1
            return self
        w = check_sample_weight(sample_weight, n)
        _check_finite_chunk(np.asarray(X), self.n_samples_seen_,
                            f"batch {self._n_batches}")
        X = np.array(X, dtype=np.result_type(X.dtype, self._dtype), copy=True)
        self._buf.append((X, w))
        self._buf_rows += n
        self.n_samples_seen_ += n
        self.total_weight_ += float(w.sum())
        self._n_batches += 1
        if self._buf_rows >= self._leaf:
            Xb = np.concatenate([b for b, _ in self._buf])
            wb = np.concatenate([u for _, u in self._buf])
            n_full = (len(Xb) // self._leaf) * self._leaf
            for s in range(0, n_full, self._leaf):
                self._push(self._compress(Xb[s:s + self._leaf], wb[s:s + self._leaf]))
            rest = (Xb[n_full:], wb[n_full:])
            self._buf = [rest] if len(rest[0]) else []
            self._buf_rows = len(rest[0])
        return self

    def _compress(self, X, w):
        if not np.any(w > 0):
            return X[:0], w[:0]
        return build(X, self._size, n_clusters=self._k, sample_weight=w,
                     random_state=self._rng) if np.count_nonzero(w) > self._size \
            else _exact(X, w)

    def _push(self, part) -> None:
        level = 0
        while True:
            if level == len(self._levels):
                self._levels.append(None)
            if self._levels[level] is None:
                self._levels[level] = part
                return
            part = reduce([self._levels[level], part], self._size, self._k, self._rng)
            self._levels[level] = None
            level += 1

    @property
    def n_stored_(self) -> int:
        """Rows currently held (buffer plus all levels)."""
        if not hasattr(self, "_levels"):
            return 0
        return self._buf_rows + sum(len(p[0]) for p in self._levels if p is not None)

    def coreset(self, *, reduce_to_size=True):
        """The coreset of everything seen so far.

        Parameters
        ----------
        reduce_to_size : bool, default=True
            Compress the union of the levels and the buffer to at most ``size`` rows. With
            ``False`` the union itself is returned (larger, slightly more accurate).

        Returns
        -------
        points : ndarray of shape (m, n_features)
        weights : ndarray of shape (m,)
        """
        if not hasattr(self, "_levels") or self.total_weight_ <= 0:
            raise ValueError("StreamingCoreset has not received any rows with positive weight; "
                             "call partial_fit first.")
        parts = [p for p in self._levels if p is not None]
        if self._buf_rows:
            Xb = np.concatenate([b for b, _ in self._buf])
            wb = np.concatenate([u for _, u in self._buf])
            keep = wb > 0
            parts.append((Xb[keep], wb[keep]))
        if reduce_to_size:
            # draws use a copy of the generator so that coreset() does not change the stream
            rng = check_random_state(None)
            rng.set_state(self._rng.get_state())
            return reduce(parts, self._size, self._k, rng)
        return np.concatenate([p for p, _ in parts]), np.concatenate([u for _, u in parts])
