"""Weighted random draws shared by the initialisations and the coresets.

Every weighted draw in the library is an inverse-CDF draw: index ``i`` is chosen by one uniform
``u`` when ``cum[i-1] <= u * cum[-1] < cum[i]`` with ``cum`` the cumulative weights. A row of
integer weight ``m`` then covers exactly the interval that ``m`` repeated rows cover, and a zero
weight covers nothing, so the draws inherit the weight invariances of the fit.

:func:`inverse_cdf` is the sampler. :func:`grouped_inverse_cdf` runs it in two levels (a group
of rows by the group's mass, then a row of that group), which gives the same draw as one
cumulative sum over all rows, up to rounding, while touching only the groups drawn: the coresets
use contiguous blocks of rows (:func:`blocked_inverse_cdf`), the initialisations the hash buckets
of a :class:`CanonicalIndex`.

Inverse-CDF draws depend on the order of the rows. The initialisations walk the rows in a
*canonical* order, a function of the rows' contents only, so that a shuffled weighted data set
and the repeated one draw the same points: the whole fit then depends only on the weighted set
of rows, as scikit-learn's ``check_sample_weight_equivalence`` asks. The canonical order sorts
rows on a fixed random projection (distinct rows that share it are ordered by their values), so
it also moves little when the data move little (float32 and float64 copies of the data seed
alike). Equal-width ranges of the projection split the rows into buckets of a few rows, so a
draw sums the weights per bucket (one pass in storage order) and sorts only the buckets it
lands in, not all ``n`` rows.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 65536

#: Up to this many rows, :meth:`CanonicalIndex.draw` sorts all rows once instead of by bucket.
_SMALL = 1 << 18

#: Largest float64 below 1: the top of the range of a uniform.
_BELOW_ONE = float(np.nextafter(1.0, 0.0))



def inverse_cdf(p: np.ndarray, u, *, cumulative: bool = False) -> np.ndarray:
    """Indices drawn with probability ``p_i / sum(p)``, one per uniform in ``u`` (in [0, 1)).

    Parameters
    ----------
    p : ndarray of shape (n,)
        Non-negative masses, not all zero; with ``cumulative=True``, their cumulative sums.
    u : float or ndarray of uniforms

    Returns
    -------
    ndarray of int, shaped like ``u``. A row of zero mass is never returned: a draw that
    rounding puts on one (at the very end of ``cum``) steps back to the last row with mass.
    """
    cum = np.asarray(p, dtype=np.float64) if cumulative else np.cumsum(p, dtype=np.float64)
    idx = np.searchsorted(cum, np.asarray(u) * cum[-1], side="right")
    idx = np.minimum(idx, len(cum) - 1)
    if cumulative:
        mass = cum[idx] - np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
    else:
        mass = np.asarray(p)[idx]
    zero = np.atleast_1d(mass <= 0)
    if zero.any():
        last = np.flatnonzero(np.diff(cum, prepend=0.0) > 0)[-1]
        idx = np.where(mass <= 0, last, idx)
    return idx


def grouped_inverse_cdf(p: np.ndarray, u, group_mass: np.ndarray, members) -> np.ndarray:
    """:func:`inverse_cdf` in two levels: a group drawn by its mass, then a row within it.

    Parameters
    ----------
    p : ndarray of shape (n,)
        Non-negative masses of the rows, not all zero.
    u : float or ndarray of uniforms in [0, 1)
    group_mass : ndarray of shape (n_groups,)
        The sum of ``p`` over each group.
    members : callable
        ``members(groups)``, for a sorted array of distinct group numbers, returns
        ``(rows, starts)``: the rows of ``groups[i]`` are ``rows[starts[i]:starts[i + 1]]``,
        in the order the draw walks them.

    Returns
    -------
    ndarray of int, shaped like ``u``: the draw of ``inverse_cdf(p[walk], u)`` mapped back to
    rows, where ``walk`` lists the groups in order and each group's rows in ``members`` order
    (equal up to rounding: each group's cumulative sum starts afresh). Rows of zero mass are
    never returned.
    """
    u = np.asarray(u, dtype=np.float64)
    shape, u = u.shape, u.ravel()
    cg = np.cumsum(group_mass, dtype=np.float64)
    g = inverse_cdf(cg, u, cumulative=True)
    below = np.where(g > 0, cg[np.maximum(g - 1, 0)], 0.0)
    # the uniform within the group: where u * total falls between the group's ends
    u2 = np.clip((u * cg[-1] - below) / (cg[g] - below), 0.0, _BELOW_ONE)
    hit, inv = np.unique(g, return_inverse=True)
    rows, starts = members(hit)
    pr = np.asarray(p, dtype=np.float64)[rows]
    cum = np.cumsum(pr)
    lo, hi = starts[:-1][inv], starts[1:][inv]  # each draw's segment [lo, hi)
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    j = np.searchsorted(cum, base + u2 * (cum[hi - 1] - base), side="right")
    j = np.clip(j, lo, hi - 1)
    for i in np.flatnonzero(pr[j] <= 0):  # rounding at a segment's edge: nearest row with mass
        seg = pr[lo[i]:hi[i]]
        before = np.flatnonzero(seg[:j[i] - lo[i] + 1] > 0)
        j[i] = lo[i] + (before[-1] if len(before) else np.flatnonzero(seg > 0)[0])
    return rows[j].reshape(shape)


def blocked_inverse_cdf(p: np.ndarray, u, block: int = 4096) -> np.ndarray:
    """:func:`inverse_cdf` over contiguous blocks of ``block`` rows: a draw costs one sum over
    ``p`` (the block sums) and a cumulative sum over the blocks it lands in, instead of a
    cumulative sum over all of ``p``. Rows are walked in storage order."""
    p = np.asarray(p, dtype=np.float64)
    n = len(p)
    if n <= 2 * block:
        return inverse_cdf(p, u)
    edges = np.arange(0, n, block)

    def members(blocks):
        lens = np.minimum(edges[blocks] + block, n) - edges[blocks]
        starts = np.concatenate([[0], np.cumsum(lens)])
        return np.repeat(edges[blocks] - starts[:-1], lens) + np.arange(starts[-1]), starts

    return grouped_inverse_cdf(p, u, np.add.reduceat(p, edges), members)


def _row_keys(X: np.ndarray) -> np.ndarray:
    """A float64 key per row: a fixed projection, summed column by column.

    Summing one column at a time makes the key of a row a function of its values only (not of
    its position, as BLAS blocking could make it), so identical rows get identical keys.
    """
    n, d = X.shape
    v = np.random.RandomState(20240601).standard_normal(d)
    keys, tmp = np.empty(n), np.empty(min(n, _BLOCK))
    for s in range(0, n, _BLOCK):
        Xb = X[s:s + _BLOCK]
        kb, t = keys[s:s + _BLOCK], tmp[:len(Xb)]
        np.multiply(Xb[:, 0], v[0], out=kb, dtype=np.float64)
        for j in range(1, d):
            np.multiply(Xb[:, j], v[j], out=t, dtype=np.float64)
            kb += t
    keys += 0.0  # -0.0 -> 0.0: rows that compare equal get the same bits
    return keys


class CanonicalIndex:
    """The rows of ``X`` in canonical order, for weighted draws, without sorting them all.

    The canonical order sorts the rows on ``key``, a fixed random projection of the row,
    distinct rows with equal keys by their values. It depends only on the multiset of rows:
    identical rows are adjacent, and a shuffled ``X`` gives the same sequence of rows.
    Equal-width ranges of the key put the rows in buckets, in canonical order bucket after
    bucket: about four per row for draws of many uniforms (a stratified sample), one per four
    rows for a few uniforms (a k-means++ step). :meth:`draw` sums the masses per
    bucket in one pass over the rows in storage order and sorts only the buckets it lands in. (When those
    hold a quarter of the rows or more, as for strongly clustered keys, all rows are sorted
    once and the order kept.)

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite rows.
    """

    def __init__(self, X: np.ndarray):
        self.X = X
        n = X.shape[0]
        self.key = _row_keys(X)
        self.n_groups = 1 << int(min(22, n.bit_length() + 2))
        lo, hi = (float(self.key.min()), float(self.key.max())) if n else (0.0, 0.0)
        scale = (self.n_groups / (hi - lo)) if hi > lo else 0.0
        if not np.isfinite(scale):
            scale = 0.0
        # floor of an increasing affine map: each bucket is a range of keys, in key order
        g = (self.key - lo) * scale
        np.clip(g, 0, self.n_groups - 1, out=g)
        self.group = g.astype(np.intp)
        self._coarse = None
        self._order = None

    def _sorted(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` in canonical order."""
        ks = self.key[rows]
        # rows with equal keys are identical (or put in value order below): any sort will do
        o = np.argsort(ks)
        rows, ks = rows[o], ks[o]
        tie = np.flatnonzero(ks[1:] == ks[:-1])
        if len(tie) and np.any(self.X[rows[tie]] != self.X[rows[tie + 1]]):
            # distinct rows with equal keys (rare): order them by their values
            o = np.lexsort(tuple(np.asarray(self.X[rows]).T[::-1]) + (ks,))
            rows = rows[o]
        return rows

    def order(self) -> np.ndarray:
        """The canonical permutation (n_samples,) of the rows."""
        if self._order is None:
            self._order = self._sorted(np.arange(self.X.shape[0]))
        return self._order

    def members(self, groups: np.ndarray, group: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the buckets ``groups`` (sorted) of the bucket numbers ``group`` (default:
        the fine ones), in canonical order, and their boundaries."""
        group = self.group if group is None else group
        if len(groups) <= 4 and self._order is None:
            mask = group == groups[0]
            for g in groups[1:]:
                mask |= group == g
        else:
            table = np.zeros(int(groups[-1]) + 1, dtype=bool)
            table[groups] = True
            mask = table[np.minimum(group, len(table) - 1)]
            mask &= group < len(table)
        rows = np.flatnonzero(mask)
        if self._order is not None or 4 * len(rows) > len(mask):
            rows = self.order()[mask[self.order()]]
        else:
            rows = self._sorted(rows)
        starts = np.searchsorted(group[rows], groups)
        return rows, np.append(starts, len(rows))

    def draw(self, p: np.ndarray, u) -> np.ndarray:
        """Rows drawn with probability ``p_i / sum(p)``, walking the rows in canonical order.

        Parameters
        ----------
        p : ndarray of shape (n_samples,)
            Non-negative masses in storage order, not all zero.
        u : float or ndarray of uniforms in [0, 1)

        Returns
        -------
        ndarray of int shaped like ``u``; ascending ``u`` give rows in canonical order.
        """
        if self.X.shape[0] <= _SMALL:
            # up to a few 100,000 rows: sort them all once, then one cumulative sum per draw
            order = self.order()
            return order[inverse_cdf(np.asarray(p, dtype=np.float64)[order], u)]
        if np.size(u) > 64:
            group, n_groups = self.group, self.n_groups
        else:
            if self._coarse is None:  # ranges of 16 fine buckets: still ranges of keys
                self._coarse = self.group >> 4
            group, n_groups = self._coarse, max(1, self.n_groups >> 4)
        mass = np.bincount(group, weights=p, minlength=n_groups)
        return grouped_inverse_cdf(p, u, mass, lambda gs: self.members(gs, group))


def canonical_order(X: np.ndarray) -> np.ndarray:
    """A permutation (n,) sorting the rows of ``X`` by their contents (see :class:`CanonicalIndex`).

    The order depends only on the multiset of rows: identical rows are adjacent and any shuffle
    of ``X`` gives the same sequence of rows.
    """
    return CanonicalIndex(X).order()


def row_groups(X: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Group index (n,) of each row of ``X`` in ``order``: identical rows share one group.

    Groups are numbered along ``order`` (a :func:`canonical_order`), so the numbering does not
    depend on how the rows were shuffled.
    """
    Xo = X[order]
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = np.any(Xo[1:] != Xo[:-1], axis=1)
    return np.cumsum(new) - 1


def distinct_rows(X: np.ndarray, w: np.ndarray, k: int, rng) -> np.ndarray:
    """Indices (k,) of ``k`` rows with distinct contents, drawn one after another with
    probability proportional to their weight (identical rows pool their weights).

    With equal weights this is scikit-learn's uniform draw without replacement. Identical rows
    count as one point, so repeated rows and an integer weight draw the same points; when there
    are fewer than ``k`` distinct rows of positive weight, the draws start again on all of them.
    """
    order = canonical_order(X)
    groups = row_groups(X, order)
    group_w = np.bincount(groups, weights=np.asarray(w, dtype=np.float64)[order])
    first = np.searchsorted(groups, np.arange(len(group_w)))
    mass = group_w.copy()
    chosen = np.empty(k, dtype=np.intp)
    for j, u in enumerate(rng.uniform(size=k)):
        if not np.any(mass > 0):
            mass = group_w.copy()
        g = int(inverse_cdf(mass, u))
        chosen[j] = order[first[g]]
        mass[g] = 0.0
    return chosen


def row_uniforms(X: np.ndarray, w: np.ndarray, k: int, rng) -> np.ndarray:
    """Uniforms (n, k): one row of ``k`` per distinct row of positive weight, in canonical order.

    Identical rows get the same uniforms and rows of zero weight draw none (they get ``1/k``),
    so random responsibilities built from them treat an integer weight like repeated rows and a
    zero weight like an absent row, whatever the order of the rows.
    """
    pos = np.flatnonzero(np.asarray(w) > 0)
    Xp = X[pos]
    order = canonical_order(Xp)
    groups = row_groups(Xp, order)
    u = rng.uniform(size=(int(groups[-1]) + 1, k))
    out = np.full((X.shape[0], k), 1.0 / k)
    out[pos[order]] = u[groups]
    return out
