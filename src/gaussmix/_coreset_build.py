"""Sensitivity-sampling coresets: bicriteria seeds, sensitivity bounds, the two-pass build,
and the uniform baseline (public through :mod:`gaussmix.coreset`).
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
most ``size`` distinct rows. Every draw is an inverse-CDF draw of :mod:`gaussmix._sampling`.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import numpy.typing as npt
from sklearn.utils import check_random_state

from ._kmeans import stratified_sample
from ._progress import progress_bar
from ._sampling import blocked_inverse_cdf, inverse_cdf
from ._typing import RandomStateLike
from ._validation import Interval, check_params, check_sample_weight

#: Rows processed at once when computing distances (bounds the workspace for memory-mapped X).
_CHUNK = 1 << 18


# ---------------------------------------------------------------------------------------------
# validation


def _check_int(value, name: str, low: int = 1, owner: str = "gaussmix.coreset") -> int:
    """``value`` checked against the declarative table (an int >= ``low``) and returned."""
    check_params(owner, {name: value}, {name: [Interval(int, low, None)]})
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
    centres = [np.array(X[int(blocked_inverse_cdf(w, rng.uniform()))], dtype=np.float64)]
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
        c = np.array(X[int(blocked_inverse_cdf(p if p.sum() > 0 else w, u))], dtype=np.float64)
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


def _draw(p: np.ndarray, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``size`` i.i.d. draws of indices with probability ``p_i / sum(p)``: (sorted rows, counts).

    The draws are split between blocks of rows by one multinomial on the block sums, then drawn
    within each block by inverse CDF, so no cumulative sum of all ``n`` values is formed.
    """
    starts = np.arange(0, len(p), _PASS_BLOCK)
    sums = np.add.reduceat(p, starts)
    per_block = rng.multinomial(size, sums / sums.sum())
    rows = [s + inverse_cdf(p[s:s + _PASS_BLOCK], rng.uniform(size=per_block[b]))
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


#: Largest per-row cache (labels and distances) that :class:`_Nearest` keeps between passes:
#: 256 MiB, i.e. up to ~44M rows (6 bytes a row). Beyond that the second pass recomputes the
#: distances (one matrix product per block) rather than hold memory that grows with n.
_KEEP_BYTES = 1 << 28


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


def _sensitivity_sample(X, w, centres, size: int, n_clusters: int, unit: bool, rng,
                        verbose=0):
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

    bar = progress_bar(2 * nb, "coreset", verbose, unit="block")
    near.map(lambda b: (first(b), bar.update()), range(nb))
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
        local = inverse_cdf(p, uniforms[j])
        rows[j], probs[j] = s + local, p[local] / total

    near.map(lambda j: (second(j), bar.update()), range(len(blocks)))
    bar.update(nb - len(blocks))
    bar.close()
    rows, probs = np.concatenate(rows), np.concatenate(probs)
    idx, first_at, counts = np.unique(rows, return_index=True, return_counts=True)
    weights = counts * w[idx] / (size * probs[first_at])
    return _gather(X, idx), weights


def build(X: npt.ArrayLike, size: int, *, n_clusters: int,
          sample_weight: npt.ArrayLike | None = None, random_state: RandomStateLike = None,
          n_seeds: int | None = None, verbose: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
    verbose : int, default=0
        Show a progress bar over the blocks of the two passes (on standard error).

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
    return _sensitivity_sample(X, w, centres, size, n_clusters, unit, rng, verbose)


def uniform(X: npt.ArrayLike, size: int, *, sample_weight: npt.ArrayLike | None = None,
            random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray]:
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
