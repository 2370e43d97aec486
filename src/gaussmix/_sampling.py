"""Weighted random draws shared by the initialisations and the coresets.

Every weighted draw in the library is an inverse-CDF draw: index ``i`` is chosen by one uniform
``u`` when ``cum[i-1] <= u * cum[-1] < cum[i]`` with ``cum`` the cumulative weights. A row of
integer weight ``m`` then covers exactly the interval that ``m`` repeated rows cover, and a zero
weight covers nothing, so the draws inherit the weight invariances of the fit.

Inverse-CDF draws depend on the order of the rows. The initialisations walk the rows in a
*canonical* order (:func:`canonical_order`, a sort on the rows' contents) so that a shuffled
weighted data set and the repeated one draw the same points: the whole fit then depends only
on the weighted set of rows, as scikit-learn's ``check_sample_weight_equivalence`` asks.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 65536


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
    mass = np.diff(cum, prepend=0.0)[idx] if cumulative else np.asarray(p)[idx]
    zero = np.atleast_1d(mass <= 0)
    if zero.any():
        last = np.flatnonzero(np.diff(cum, prepend=0.0) > 0)[-1]
        idx = np.where(mass <= 0, last, idx)
    return idx


def _row_keys(X: np.ndarray) -> np.ndarray:
    """A float64 key per row: a fixed projection, summed column by column.

    Summing one column at a time makes the key of a row a function of its values only (not of
    its position, as BLAS blocking could make it), so identical rows get identical keys.
    """
    n, d = X.shape
    v = np.random.RandomState(20240601).standard_normal(d)
    keys = np.empty(n)
    for s in range(0, n, _BLOCK):
        Xb = X[s:s + _BLOCK]
        kb = keys[s:s + _BLOCK]
        kb[...] = 0.0
        for j in range(d):
            kb += Xb[:, j].astype(np.float64) * v[j]
    return keys


def canonical_order(X: np.ndarray) -> np.ndarray:
    """A permutation (n,) sorting the rows of ``X`` by their contents.

    Rows are sorted on a random projection; distinct rows that tie on it (rare) are then sorted
    lexicographically, so the order depends only on the multiset of rows: identical rows are
    adjacent and any shuffle of ``X`` gives the same sequence of rows.
    """
    keys = _row_keys(X)
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    tie = np.flatnonzero(ks[1:] == ks[:-1])
    if len(tie) and np.any(X[order[tie]] != X[order[tie + 1]]):
        order = np.lexsort(tuple(np.asarray(X, dtype=np.float64).T[::-1]))
    return order


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
