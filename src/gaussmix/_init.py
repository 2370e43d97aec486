"""Initial parameters of EM: k-means, k-means++, random rows, random responsibilities, and
model-based hierarchical clustering (``"hc"``, :mod:`gaussmix._hc`).

Each ``init_params`` choice gives statistics (a hard assignment, chosen points, or soft random
responsibilities) that one M-step turns into parameters, as scikit-learn does, with sample
weights honoured throughout; explicit ``weights_init``/``means_init``/``precisions_init``
replace their part. An initial covariance that is not positive definite (a cluster of one
point without ``reg_covar``) is replaced by the data's covariance, with a warning.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._data import ArraySource
from ._engine import m_step, params_from_precisions
from ._hc import HC_INITS, HCTree, hc_tree
from ._kernels import cholesky_lower
from ._kmeans import kmeans, kmeans_plusplus
from ._params import Params
from ._repair import _ILL_DEFINED, COLLAPSE_FLOOR, DegenerateComponentWarning
from ._sampling import distinct_rows, row_uniforms
from ._stats import SufficientStats, chunk_stats
from .covariance import CovarianceModel


def initial_params(source, k: int, model: CovarianceModel, init_params: str, rng,
                   reg_covar: float, shift: np.ndarray, dtype, *, weights_init=None,
                   means_init=None, precisions_init=None) -> Params:
    """Initial parameters as scikit-learn builds them, with sample weights honoured."""
    X, w = source.X, source.w
    n = X.shape[0]
    if init_params == "kmeans":
        _, labels = kmeans(np.asarray(X, dtype=dtype), k, w, rng)
        stats = stats_from_labels(source, labels, k, model, shift, dtype)
    elif init_params == "k-means++":
        idx = kmeans_plusplus(np.asarray(X, dtype=dtype), k, w, rng)
        stats = _stats_from_points(X, w, idx, model)
    elif init_params == "random_from_data":
        idx = distinct_rows(np.asarray(X), w, k, rng)
        stats = _stats_from_points(X, w, idx, model)
    elif init_params in HC_INITS:
        criterion, use = HC_INITS[init_params]
        stats = hc_stats(hc_tree(X, w, criterion=criterion, use=use), k, model, shift, dtype)
    elif init_params == "random":
        resp = row_uniforms(np.asarray(X), w, k, rng).astype(dtype)
        resp /= resp.sum(axis=1)[:, None]
        stats = stats_from_resp(source, resp, model, shift, dtype)
    else:  # validated earlier
        raise ValueError(f"unknown init_params {init_params!r}")
    params, _ = m_step(stats, model, reg_covar)
    if weights_init is not None:
        params.weights = np.asarray(weights_init, dtype=np.float64).copy()
    if means_init is not None:
        params.means = np.asarray(means_init, dtype=np.float64).copy()
    if precisions_init is not None:
        p = params_from_precisions(params.weights, params.means, precisions_init, model)
        params.prec_chol, params.covariances = p.prec_chol, p.covariances
    else:
        prec_chol, bad = model.precision_cholesky(params.covariances)
        if bad:
            prec_chol = _repair_initial_covariances(params, stats, model, reg_covar, bad)
        params.prec_chol = prec_chol
    return params


def hc_stats(tree: HCTree, k: int, model: CovarianceModel, shift: np.ndarray,
             dtype) -> SufficientStats:
    """Statistics of the cut of a hierarchical-clustering tree at ``k`` clusters.

    They are computed on the agglomerated rows with their masses (all positive-weight rows, or
    the subsample of a large input), as mclust's M-step on the subset; EM then runs on all rows.
    """
    source = ArraySource(tree.X, tree.w, max(256, tree.X.shape[0]))
    return stats_from_labels(source, tree.labels(k), k, model, shift, dtype)


def _repair_initial_covariances(params: Params, stats: SufficientStats, model: CovarianceModel,
                                reg_covar: float, bad: list[int]) -> np.ndarray:
    """Give initial components whose covariance is not PD the data's covariance, with a warning.

    An initial cluster of one point (or of identical points) has a zero covariance; with
    ``reg_covar=0`` that is singular. Its centre is still a good start, so only its covariance
    is replaced. ``-1`` in ``bad`` denotes a shared (tied) covariance, replaced as a whole.
    Raises ``ValueError`` when the data's own covariance is singular.
    """
    d = params.means.shape[1]
    data_cov = stats.data_covariance() + reg_covar * np.eye(d)
    if cholesky_lower(data_cov) is None:
        # collinear features: the data's own covariance is singular, floor it
        data_cov = data_cov + COLLAPSE_FLOOR * np.trace(data_cov) / d * np.eye(d)
    cov = params.covariances.copy()
    if -1 in bad:
        cov = data_cov.copy()
    for j in bad:
        if j >= 0:
            model.reset_component(cov, j, data_cov)
    prec_chol, still_bad = model.precision_cholesky(cov)
    if still_bad:
        raise ValueError(_ILL_DEFINED)
    which = ("the shared covariance" if -1 in bad
             else ("component " if len(bad) == 1 else "components ")
             + ", ".join(str(j) for j in bad))
    warnings.warn(f"The initial covariance of {which} is not positive definite (too few "
                  "distinct points, or collinear features, and no reg_covar): started from "
                  "the data's covariance instead.",
                  DegenerateComponentWarning, stacklevel=4)
    params.covariances = cov
    return prec_chol


def _stats_from_points(X, w, idx, model) -> SufficientStats:
    """Statistics where component ``j`` owns exactly row ``idx[j]``.

    Every component gets unit mass, as scikit-learn's one-hot responsibilities give it, whatever
    the weight of the chosen row: picking a row with weight 3 must start EM exactly like picking
    one of its three duplicates.
    """
    k = len(idx)
    d = X.shape[1]
    nk = np.ones(k)
    means = np.asarray(X, dtype=np.float64)[idx]
    scatter = np.zeros((k, d, d) if model.full_scatter else (k, d))
    return SufficientStats(nk, means, scatter, 0.0, float(nk.sum()), k,
                           np.empty((0, d)), np.empty(0))


def stats_from_labels(source, labels: np.ndarray, k: int, model: CovarianceModel,
                      shift: np.ndarray, dtype) -> SufficientStats:
    """Statistics of a hard assignment (one-hot responsibilities).

    Rows are grouped by label, so each component's centred scatter costs only its own rows.
    """
    d = source.X.shape[1]
    full = model.full_scatter
    stats = SufficientStats.empty(k, d, full)
    start = 0
    for Xc, wc in source.chunks():
        n = Xc.shape[0]
        lab = np.asarray(labels[start:start + n])
        start += n
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(k + 1))
        wc = np.asarray(wc, dtype=np.float64)
        nk = np.zeros(k)
        means = np.zeros((k, d))
        scatter = np.zeros((k, d, d) if full else (k, d))
        for j in range(k):
            rows = order[bounds[j]:bounds[j + 1]]
            if len(rows) == 0:
                continue
            Xj = np.asarray(Xc[rows], dtype=dtype) - shift.astype(dtype)
            wj = wc[rows]
            nk[j] = wj.sum()
            if nk[j] <= 0:
                continue
            mu = (wj.astype(dtype) @ Xj).astype(np.float64) / nk[j]
            means[j] = mu
            diff = Xj - mu.astype(dtype)
            if full:
                scatter[j] = (diff * wj[:, None].astype(dtype)).T @ diff
            else:
                scatter[j] = wj.astype(dtype) @ (diff * diff)
        s = SufficientStats(nk, means + shift, scatter, 0.0, float(wc.sum()), n,
                            np.empty((0, d)), np.empty(0))
        stats = stats.merge(s)
    return stats


def stats_from_resp(source, resp: np.ndarray, model: CovarianceModel, shift, dtype):
    """Statistics of soft responsibilities ``resp`` (n, k) given for every row."""
    k = resp.shape[1]
    d = source.X.shape[1]
    stats = SufficientStats.empty(k, d, model.full_scatter)
    start = 0
    for Xc, wc in source.chunks():
        n = Xc.shape[0]
        Xs = np.asarray(Xc, dtype=dtype) - shift.astype(dtype)
        s = chunk_stats(Xs, wc, resp[start:start + n].astype(dtype), np.zeros(n, dtype=dtype),
                        model.full_scatter, 0)
        s.means += shift
        stats = stats.merge(s)
        start += n
    return stats
