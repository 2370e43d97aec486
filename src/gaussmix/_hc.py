"""Model-based agglomerative hierarchical clustering (Fraley 1998), mclust's default EM start.

Starting from one cluster per distinct row, the pair of clusters whose merge most increases the
classification likelihood is merged, until one cluster is left; cutting the tree at ``K``
clusters gives the hard partition that one M-step turns into initial parameters
(``init_params="hc"``). Notation: cluster ``c`` has mass ``l_c`` (sum of its sample weights),
``r_c`` distinct rows, mean ``m_c`` and centred scatter ``W_c``; merging ``i`` and ``j`` gives
``W_ij = W_i + W_j + (l_i l_j / l_ij) (m_i - m_j)(m_i - m_j)^T``.

Criteria (the merge chosen is the one of least cost ``term(i u j) - term(i) - term(j)``):

* ``"EII"``: ``term(c) = tr W_c``, so the cost is ``l_i l_j / l_ij |m_i - m_j|^2``, Ward's
  criterion. Equal masses use :func:`scipy.cluster.hierarchy.linkage` (``method="ward"``,
  exact); unequal ones the generic loop below with the same cost.
* ``"VVV"``: mclust's regularised classification likelihood of the unconstrained model,
  ``term(c) = l_c log(|W_c / l_c| + beta (tr W_c + alpha) / l_c)`` with ``beta = 1`` and
  ``alpha = tr(S) / (n p)`` (``S`` the scatter of the whole transformed data, ``n`` its mass),
  the determinant taken as 0 while ``r_c <= p`` (``W_c`` is then singular). As ``|W_c|``
  dominates this is ``l_c log |W_c / l_c|``, the VVV classification log-likelihood up to sign
  and constants; the trace term keeps small clusters well defined (mclust's ``hcVVV``).

Data transformation before agglomerating (mclust's ``hcUse``): ``"SVD"`` (the default, as in
mclust >= 5.4) standardises the columns and takes ``Z = X_s V D^{-1/2} = U D^{1/2}`` from the
(weighted) singular value decomposition ``X_s = U D V^T``; ``"VARS"`` uses the variables as
they are. Constant columns are dropped for ``"SVD"``.

Rows are first collapsed to distinct rows (their weights summed), as mclust's ``dupPartition``
starts from the partition of duplicated rows, and taken in canonical order
(:func:`gaussmix._sampling.canonical_order`, a sort on their contents): the tree depends only on
the weighted set of rows, so an integer weight acts exactly like repeated rows and the order of
the rows does not matter. The masses of the distinct rows are rescaled to mean one: the
SVD transformation, like mclust's, depends on the total mass ``n``, which is thus the number of
distinct rows, so the overall scale of the weights changes nothing and unit weights without
duplicated rows give exactly mclust's transformation (mclust counts duplicated rows in ``n``). With more than :data:`MAX_ROWS` distinct rows a subsample of
that size is agglomerated (mclust also agglomerates a subset of large data sets), drawn by the
weighted stratified sampler with a fixed seed, so ``"hc"`` does not depend on ``random_state``.

Costs are held in a dense matrix with a nearest-neighbour per row; a merge recomputes one row
(``O(G p^3)`` for VVV) and the nearest neighbours that pointed at the merged pair, so a tree on
``m`` rows costs ``O(m^2 p^3)`` time and ``O(m^2)`` memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kmeans import stratified_sample
from ._sampling import canonical_order, row_groups

__all__ = ["HCTree", "hc_tree", "agglomerate", "transform", "HC_INITS", "MAX_ROWS"]

#: Largest number of distinct rows agglomerated; larger inputs agglomerate a subsample.
MAX_ROWS = 2000
#: ``init_params`` values that start EM from the tree, with their (criterion, transformation).
HC_INITS = {"hc": ("VVV", "SVD"), "hc-EII": ("EII", "SVD"), "hc-VARS": ("VVV", "VARS"),
            "hc-EII-VARS": ("EII", "VARS")}
_SUBSAMPLE_SEED = 0


@dataclass
class HCTree:
    """A hierarchy over weighted rows.

    Attributes
    ----------
    X : ndarray of shape (m, n_features)
        The agglomerated rows (distinct, in the input's dtype and original scale).
    w : ndarray of shape (m,)
        Their masses (sums of the sample weights of the rows they stand for).
    merges : ndarray of shape (m - 1, 2)
        ``merges[t] = (i, j)``, ``i < j``: at step ``t`` the cluster represented by row ``j``
        joins the one represented by row ``i``.
    criterion, use : str
        The merge criterion ("VVV" or "EII") and data transformation ("SVD" or "VARS").
    """

    X: np.ndarray
    w: np.ndarray
    merges: np.ndarray
    criterion: str
    use: str

    def labels(self, k: int) -> np.ndarray:
        """Cluster labels (m,) in ``0..k-1`` (numbered by first row) of the cut at ``k``."""
        m = self.X.shape[0]
        if not 1 <= k <= m:
            raise ValueError(f"init_params='hc' cannot make {k} clusters from {m} distinct "
                             "rows; use fewer components or another init_params.")
        parent = np.arange(m)
        for i, j in self.merges[:m - k]:
            parent[j] = i
        # representatives: follow parents to the root (merges point to smaller indices)
        root = parent.copy()
        for t in range(m):  # parent[t] <= t, so roots are final once visited in order
            root[t] = root[parent[t]] if parent[t] != t else t
        _, labels = np.unique(root, return_inverse=True)
        return labels.astype(np.intp)


def transform(X: np.ndarray, w: np.ndarray, use: str) -> np.ndarray:
    """The data the criterion is computed on (float64), as mclust's ``hc(use=...)``."""
    Z = np.asarray(X, dtype=np.float64)
    if use == "VARS":
        return Z
    n = float(w.sum())
    mean = w @ Z / n
    Zc = Z - mean
    # R's sd(): denominator n - 1 (n the total mass, as for repeated rows)
    var = (w @ (Zc * Zc)) / (n - 1 if n > 1 else n)
    keep = var > 0
    Zs = Zc[:, keep] / np.sqrt(var[keep])
    if Zs.shape[1] == 0:
        return Zs
    # weighted SVD: X_s^T diag(w) X_s = V D^2 V^T, Z = X_s V D^{-1/2}
    evals, V = np.linalg.eigh((Zs * w[:, None]).T @ Zs)
    order = np.argsort(evals)[::-1]
    evals, V = np.clip(evals[order], 0.0, None), V[:, order]
    pos = evals > evals[0] * 1e-12 if evals[0] > 0 else np.zeros(len(evals), bool)
    d = np.sqrt(evals[pos])
    return (Zs @ V[:, pos]) / np.sqrt(d)


def hc_tree(X: np.ndarray, w: np.ndarray | None = None, *, criterion: str = "VVV",
            use: str = "SVD", max_rows: int | None = None) -> HCTree:
    """Agglomerate the weighted rows of ``X`` (a subsample of ``max_rows`` when larger).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,) or None
        Non-negative sample weights (masses); zero-weight rows are ignored.
    criterion : {"VVV", "EII"}
    use : {"SVD", "VARS"}
    max_rows : int, default=None
        Largest number of distinct rows agglomerated; ``None``: :data:`MAX_ROWS`.

    Returns
    -------
    tree : HCTree
    """
    if criterion not in ("VVV", "EII"):
        raise ValueError(f"criterion must be 'VVV' or 'EII'; got {criterion!r}.")
    if use not in ("SVD", "VARS"):
        raise ValueError(f"use must be 'SVD' or 'VARS'; got {use!r}.")
    max_rows = MAX_ROWS if max_rows is None else max_rows
    X = np.asarray(X)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    pos = w > 0
    Xp, wp = X[pos], w[pos]
    # distinct rows in canonical order, weights summed (mclust's dupPartition)
    order = canonical_order(Xp)
    groups = row_groups(Xp, order)
    first = np.flatnonzero(np.diff(groups, prepend=-1))
    Xd = Xp[order[first]]
    wd = np.bincount(groups, weights=wp[order], minlength=len(first))
    if Xd.shape[0] > max_rows:
        rows, counts = stratified_sample(wd, Xd.shape[0], max_rows,
                                         np.random.RandomState(_SUBSAMPLE_SEED))
        Xd, wd = Xd[rows], counts.astype(np.float64)
    # masses rescaled to mean one: the overall scale of the weights (which the estimator
    # normalises) cannot change the tree, and unit weights stay unit weights
    wd = wd * (len(wd) / wd.sum())
    Z = transform(Xd, wd, use)
    return HCTree(Xd, wd, agglomerate(Z, wd, criterion), criterion, use)


def agglomerate(Z: np.ndarray, w: np.ndarray, criterion: str) -> np.ndarray:
    """Merges (m - 1, 2) of the hierarchy of the rows of ``Z`` with masses ``w``."""
    m = Z.shape[0]
    if m == 1:
        return np.empty((0, 2), dtype=np.intp)
    if criterion == "EII" and np.all(w == w[0]):
        return _ward_scipy(Z)
    return _Agglomeration(Z, w, criterion).run()


def _ward_scipy(Z: np.ndarray) -> np.ndarray:
    """scipy's Ward linkage as merges of representative rows (the smaller index survives)."""
    from scipy.cluster.hierarchy import linkage
    m = Z.shape[0]
    if Z.shape[1] == 0:
        Z = np.zeros((m, 1))
    link = linkage(Z, method="ward")
    rep = np.concatenate([np.arange(m), np.zeros(m - 1, dtype=np.intp)])
    merges = np.empty((m - 1, 2), dtype=np.intp)
    for t, (a, b) in enumerate(link[:, :2].astype(np.intp)):
        i, j = sorted((rep[a], rep[b]))
        merges[t] = i, j
        rep[m + t] = i
    return merges


class _Agglomeration:
    """Greedy agglomeration with a dense cost matrix and per-row nearest neighbours."""

    def __init__(self, Z, w, criterion):
        self.Z = Z
        m, p = Z.shape
        self.m, self.p = m, p
        self.vvv = criterion == "VVV"
        self.mass = w.astype(np.float64).copy()
        self.count = np.ones(m, dtype=np.int64)
        self.mean = Z.copy()
        if self.vvv:
            n = float(w.sum())
            zc = Z - w @ Z / n
            self.alpha = max(float(w @ np.einsum("ij,ij->i", zc, zc)) / (n * max(p, 1)),
                             np.finfo(float).eps)
            self.beta = 1.0
            self.scatter = np.zeros((m, p, p))
            self.trace = np.zeros(m)
            self.term = self._term(self.mass, self.count, np.zeros(m), None)
        self.active = np.ones(m, dtype=bool)

    # -- the criterion
    def _term(self, mass, count, trace, logdet):
        """``l log(|W / l| + beta (tr W + alpha) / l)``, |W / l| = 0 while ``count <= p``."""
        reg = np.log(self.beta * (trace + self.alpha) / mass)
        if logdet is None:
            return mass * reg
        ld = np.where(count > self.p, logdet - self.p * np.log(mass), -np.inf)
        return mass * np.logaddexp(ld, reg)

    def _merged(self, i, others):
        """Cost of merging cluster ``i`` with each cluster in ``others``, and their scatters."""
        li, lo = self.mass[i], self.mass[others]
        l = li + lo
        f = li * lo / l
        delta = self.mean[others] - self.mean[i]
        sq = np.einsum("kd,kd->k", delta, delta)
        if not self.vvv:
            return f * sq
        # the trace needs no matrix; the determinant only where it can be non-zero
        trace = self.trace[i] + self.trace[others] + f * sq
        count = self.count[i] + self.count[others]
        logdet = np.full(len(others), -np.inf)
        big = np.flatnonzero(count > self.p)
        if len(big):
            ob = others[big]
            W = self.scatter[ob] + self.scatter[i]
            W += f[big, None, None] * delta[big, :, None] * delta[big, None, :]
            sign, ld = np.linalg.slogdet(W)
            logdet[big] = np.where(sign > 0, ld, -np.inf)
        return self._term(l, count, trace, logdet) - self.term[i] - self.term[others]

    def _initial_costs(self):
        """All pair costs between singletons, vectorised: ``W_ij`` has rank one."""
        Z, w = self.mean, self.mass
        sq = np.einsum("ij,ij->i", Z, Z)
        D2 = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
        np.maximum(D2, 0.0, out=D2)
        L = w[:, None] + w[None, :]
        F = w[:, None] * w[None, :] / L
        C = F * D2
        if self.vvv:
            tr = C
            # |W_ij / l| is zero for p >= 2 (rank one); for p == 1 it is tr / l
            if self.p == 1:
                with np.errstate(divide="ignore"):
                    ld = np.log(tr / L)
                cost = L * np.logaddexp(ld, np.log(self.beta * (tr + self.alpha) / L))
            else:
                cost = L * np.log(self.beta * (tr + self.alpha) / L)
            C = cost - self.term[:, None] - self.term[None, :]
        np.fill_diagonal(C, np.inf)
        return C

    def run(self) -> np.ndarray:
        m = self.m
        D = self._initial_costs()
        nn = np.argmin(D, axis=1)
        nnd = D[np.arange(m), nn]
        merges = np.empty((m - 1, 2), dtype=np.intp)
        for t in range(m - 1):
            a = int(np.argmin(nnd))
            b = int(nn[a])
            i, j = (a, b) if a < b else (b, a)
            merges[t] = i, j
            # merge j into i
            li, lj = self.mass[i], self.mass[j]
            l = li + lj
            delta = self.mean[j] - self.mean[i]
            if self.vvv:
                W = self.scatter[i] + self.scatter[j] + (li * lj / l) * np.outer(delta, delta)
                self.scatter[i] = W
                self.trace[i] = np.trace(W)
                cnt = self.count[i] + self.count[j]
                ld = -np.inf
                if cnt > self.p:
                    s, v = np.linalg.slogdet(W)
                    ld = v if s > 0 else -np.inf
                self.term[i] = self._term(np.array([l]), np.array([cnt]),
                                          np.array([np.trace(W)]), np.array([ld]))[0]
            self.mean[i] = (li * self.mean[i] + lj * self.mean[j]) / l
            self.mass[i] = l
            self.count[i] += self.count[j]
            self.active[j] = False
            D[j, :] = np.inf
            D[:, j] = np.inf
            nnd[j] = np.inf
            others = np.flatnonzero(self.active)
            others = others[others != i]
            if len(others) == 0:
                break
            row = np.full(m, np.inf)
            row[others] = self._merged(i, others)
            D[i, :] = row
            D[:, i] = row
            nn[i] = int(np.argmin(row))
            nnd[i] = row[nn[i]]
            # rows whose nearest neighbour was i or j must look again; others may now prefer i
            stale = others[(nn[others] == i) | (nn[others] == j)]
            if len(stale):
                sub = D[stale]
                nn[stale] = np.argmin(sub, axis=1)
                nnd[stale] = sub[np.arange(len(stale)), nn[stale]]
            better = others[row[others] < nnd[others]]
            nn[better] = i
            nnd[better] = row[better]
        return merges
