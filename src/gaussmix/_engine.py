"""The EM engine: initialisation, the E-pass over chunks, the M-step, the loop and recovery.

One EM iteration is one pass over the rows: each chunk's log-densities give responsibilities
and, at once, that chunk's :class:`~gaussmix._stats.SufficientStats`; merged statistics go
through the M-step. :func:`run_em` only sees a ``pass_fn(params) -> SufficientStats``, so the
same loop drives in-memory, out-of-core and distributed fits.

The lower bound reported per iteration is the weighted mean log-likelihood of the E-step of that
iteration (parameters *before* its M-step), exactly as scikit-learn reports it.
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import numpy as np

from . import _fast
from ._kernels import cholesky_lower, logsumexp_rows
from ._log import say
from ._kmeans import kmeans, kmeans_plusplus
from ._sampling import distinct_rows, row_uniforms
from ._stats import SufficientStats, chunk_stats
from .covariance import CovarianceModel

logger = logging.getLogger("gaussmix")

#: Default bytes of per-chunk workspace (log-densities, responsibilities, whitened residuals).
DEFAULT_CHUNK_BYTES = 64 * 2**20


class DegenerateComponentWarning(UserWarning):
    """A component emptied out or collapsed onto a point and was re-seeded."""


@dataclass
class Params:
    """Mixture parameters in float64, covariances in the model's scikit-learn shape."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    prec_chol: np.ndarray


@dataclass
class EMResult:
    params: Params
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    n_reseeds: int = 0


# ---------------------------------------------------------------------------------------------
# data sources


def auto_chunk_size(d: int, k: int, itemsize: int, budget: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that the (rows, k, d) workspace and (rows, k) arrays fit ``budget``."""
    per_row = itemsize * (k * d + 4 * k + 2 * d) + 16
    return int(max(256, min(2**20, budget // per_row)))


class ArraySource:
    """Rows of an in-memory or memory-mapped 2-D array with weights, served in chunks."""

    def __init__(self, X: np.ndarray, w: np.ndarray, chunk_size: int):
        self.X = X
        self.w = w
        self.chunk_size = int(chunk_size)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, cs = self.X.shape[0], self.chunk_size
        for s in range(0, n, cs):
            yield self.X[s:s + cs], self.w[s:s + cs]

    def weighted_mean(self) -> np.ndarray:
        tot = np.zeros(self.X.shape[1])
        wsum = 0.0
        for Xc, wc in self.chunks():
            tot += wc.astype(np.float64) @ Xc.astype(np.float64, copy=False)
            wsum += float(wc.sum(dtype=np.float64))
        return tot / wsum


# ---------------------------------------------------------------------------------------------
# E-step kernels


def _centred_log_prob(model: CovarianceModel, Xs: np.ndarray, params: Params,
                      shift: np.ndarray) -> np.ndarray:
    dt = Xs.dtype
    lp = model.log_prob(Xs, (params.means - shift).astype(dt), params.prec_chol.astype(dt))
    with np.errstate(divide="ignore"):
        lp += np.log(params.weights).astype(dt)
    return lp


def weighted_log_prob(model: CovarianceModel, X: np.ndarray, params: Params,
                      shift: np.ndarray) -> np.ndarray:
    """``log w_j + log N(x_i | mu_j, Sigma_j)`` (n, k) in the dtype of ``X``.

    ``shift`` is subtracted from ``X`` and the means first: log-densities are translation
    invariant, and centring keeps float32 residuals accurate.
    """
    return _centred_log_prob(model, X - shift.astype(X.dtype), params, shift)


def e_pass(source, params: Params, model: CovarianceModel, shift: np.ndarray,
           dtype, n_worst: int | None = None, *, n_threads: int | None = None,
           block_rows: int | None = None, reg_covar: float | None = None) -> SufficientStats:
    """One pass over ``source``: sufficient statistics under ``params``.

    Uses the batched kernels of :mod:`gaussmix._fast` (a thread pool of ``n_threads``, default
    from :func:`gaussmix._fast.default_n_threads`, over blocks of ``block_rows`` rows) when the
    covariance model provides :meth:`~gaussmix.covariance.CovarianceModel.expansion` and the
    expansion resolves every component (see :func:`gaussmix._fast.fast_pass`; ``reg_covar``,
    the M-step's, tells which variances matter), else the reference kernel. Workspaces are kept
    on ``source`` (when it allows attributes) so repeated passes reuse their memory.
    """
    k, d = params.means.shape
    n_worst = k if n_worst is None else n_worst
    pool = getattr(source, "workspace_pool", None)
    if pool is None:
        pool = _fast.WorkspacePool()
        try:
            source.workspace_pool = pool
        except AttributeError:
            pass
    stats = _fast.fast_pass(source.chunks(), params, model, shift, dtype, n_worst,
                            n_threads=n_threads, block_rows=block_rows, pool=pool,
                            n_rows=getattr(source, "n_samples", None), reg_covar=reg_covar)
    if stats is not None:
        return stats
    return e_pass_reference(source, params, model, shift, dtype, n_worst)


def e_pass_reference(source, params: Params, model: CovarianceModel, shift: np.ndarray,
                     dtype, n_worst: int | None = None) -> SufficientStats:
    """:func:`e_pass` with the per-component reference kernel (:func:`chunk_pass_reference`)."""
    k, d = params.means.shape
    n_worst = k if n_worst is None else n_worst
    stats = SufficientStats.empty(k, d, model.full_scatter)
    for Xc, wc in source.chunks():
        Xc = np.asarray(Xc, dtype=dtype)
        stats = stats.merge(chunk_pass_reference(Xc, wc, params, model, shift, n_worst))
    return stats


def chunk_pass(X: np.ndarray, w: np.ndarray, params: Params, model: CovarianceModel,
               shift: np.ndarray, n_worst: int, *, n_threads: int = 1,
               reg_covar: float | None = None) -> SufficientStats:
    """E-step and statistics of one chunk ``X`` (already in the compute dtype)."""
    stats = _fast.fast_pass([(X, np.asarray(w))], params, model, shift, X.dtype, n_worst,
                            n_threads=n_threads, n_rows=X.shape[0], reg_covar=reg_covar)
    if stats is not None:
        return stats
    return chunk_pass_reference(X, w, params, model, shift, n_worst)


def chunk_pass_reference(X: np.ndarray, w: np.ndarray, params: Params, model: CovarianceModel,
                         shift: np.ndarray, n_worst: int) -> SufficientStats:
    """:func:`chunk_pass` through :meth:`CovarianceModel.log_prob` and :func:`chunk_stats`."""
    Xs = X - shift.astype(X.dtype)
    log_norm, resp = logsumexp_rows(_centred_log_prob(model, Xs, params, shift), out_resp=True,
                                    finite=True)
    s = chunk_stats(Xs, np.asarray(w), resp, log_norm, model.full_scatter, n_worst)
    s.means += shift
    if len(s.worst_X):
        s.worst_X += shift
    return s


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


# ---------------------------------------------------------------------------------------------
# M-step


def m_step(stats: SufficientStats, model: CovarianceModel, reg_covar: float
           ) -> tuple[Params, list[int]]:
    """Parameters from statistics; also the components whose covariance is not PD."""
    total = stats.nk.sum()
    weights = stats.nk / total if total > 0 else np.full(len(stats.nk), 1.0 / len(stats.nk))
    cov = model.from_stats(stats.nk, stats.scatter, reg_covar)
    prec_chol, bad = model.precision_cholesky(cov)
    return Params(weights, stats.means.copy(), cov, prec_chol), bad


def params_from_precisions(weights, means, precisions, model: CovarianceModel) -> Params:
    prec_chol = model.precision_cholesky_from_precisions(np.asarray(precisions, dtype=np.float64))
    cov = model.covariances_from_precision_cholesky(prec_chol)
    return Params(np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64),
                  cov, prec_chol)


# ---------------------------------------------------------------------------------------------
# degenerate components


#: A covariance is numerically not positive definite when its smallest standard deviation is
#: at most this many units in the last place of the values it describes (the data's dtype, at
#: the component's distance from the data centre plus one data standard deviation): such a
#: component cannot tell its own points apart, its covariance is rounding noise.
PD_RESOLUTION = 64.0


def data_unit_variances(stats: SufficientStats) -> np.ndarray:
    """The data's per-feature variances (d,), the unit in which covariances are judged.

    A constant feature has nothing to resolve: its unit is floored at float64's epsilon times
    the largest variance, so the regularised variance along it is never taken for a collapse
    (while an exactly zero variance, with ``reg_covar=0``, still is).
    """
    unit = np.diag(stats.data_covariance()).copy()
    top = unit.max(initial=0.0)
    if not top > 0:
        return np.ones_like(unit)
    return np.maximum(unit, np.finfo(np.float64).eps * top)


def find_degenerate(stats: SufficientStats, model: CovarianceModel, params: Params,
                    bad_chol: list[int], dtype=np.float64) -> tuple[dict[int, str], list[int]]:
    """Components to re-seed, with the reason, and the covariances to floor instead.

    A component is re-seeded when it has emptied out (no weight) or when its covariance, after
    ``reg_covar``, is not positive definite at the resolution of ``dtype`` at the scale of its
    values (:data:`PD_RESOLUTION`). A component that sits on repeated values is *not*
    degenerate when ``reg_covar`` keeps it positive definite: it is a legitimate
    maximum-likelihood solution (integer, binary or flat-colour data), and moving it would give
    a worse fit. A shared (tied) covariance is never re-seeded: when it is not positive
    definite it is returned in the second list as ``-1``, for :func:`floor_covariances`.
    """
    k = len(stats.nk)
    total = stats.nk.sum()
    out: dict[int, str] = {}
    bad = [int(j) for j in bad_chol]
    unit = data_unit_variances(stats)
    small = model.smallest_variances(params.covariances, unit)
    # squared magnitude of the values, in units of the data's variances: 1 (one standard
    # deviation) plus the component's offset from the data mean
    centre = stats.data_mean()
    mag = 1.0 + (((stats.means - centre) ** 2) / unit).max(axis=1)
    if model.shared:
        mag = mag.max(keepdims=True)
    singular = ~(small > (PD_RESOLUTION * np.finfo(dtype).eps) ** 2 * mag)
    if model.shared:
        if singular[0] and -1 not in bad:
            bad.append(-1)
    else:
        for j in np.flatnonzero(singular):
            if j not in bad:
                bad.append(int(j))
    for j in range(k):
        if stats.nk[j] <= 1e-10 * total:
            out[j] = "emptied out"
    for j in bad:
        if j >= 0:
            out.setdefault(j, "collapsed: its covariance is not positive definite")
    return out, bad


def reseed(params: Params, stats: SufficientStats, model: CovarianceModel, reg_covar: float,
           comps: dict[int, str]) -> Params | None:
    """Move each component in ``comps`` onto a worst-explained row with the data's covariance.

    Returns ``None`` when there is nothing to re-seed from (all rows identical).
    """
    data_cov = stats.data_covariance()
    d = data_cov.shape[0]
    if np.trace(data_cov) <= 0 or len(stats.worst_X) == 0:
        return None
    data_cov = data_cov + reg_covar * np.eye(d)
    weights = params.weights.copy()
    means = params.means.copy()
    cov = params.covariances.copy()
    k = len(weights)
    order = np.argsort(stats.worst_score, kind="stable")
    for i, j in enumerate(sorted(comps)):
        means[j] = stats.worst_X[order[i % len(order)]]
        weights[j] = 1.0 / k
        model.reset_component(cov, j, data_cov)
    weights /= weights.sum()
    prec_chol, bad = model.precision_cholesky(cov)
    if bad:
        return None
    return Params(weights, means, cov, prec_chol)


#: Variance floor, relative to the data's mean variance, for components that keep collapsing.
COLLAPSE_FLOOR = 1e-6


def floor_covariances(params: Params, stats: SufficientStats, model: CovarianceModel,
                      bad: list[int], events: list[str] | None = None) -> Params:
    """Add a variance floor to the covariances in ``bad`` (``-1``: the shared one), with a warning.

    With ``events`` the warning's text is appended there instead of being issued (the EM loop
    reports all repairs of one run in a single warning).

    The last resort once re-seeding is exhausted: a component that keeps collapsing onto an
    isolated point (or a tied covariance that is singular) with ``reg_covar=0`` has an unbounded
    likelihood. Flooring its variance at ``COLLAPSE_FLOOR`` times the data's mean variance keeps
    every parameter finite. Raises ``ValueError`` when the data have no variance at all.
    """
    data_var = float(np.trace(stats.data_covariance())) / stats.means.shape[1]
    floor = COLLAPSE_FLOOR * data_var
    if not floor > 0:
        raise ValueError(_ILL_DEFINED + " All weighted samples are identical: increase reg_covar.")
    d = params.means.shape[1]
    cov = params.covariances.copy()
    for j in bad:
        if j < 0:
            cov = cov + floor * np.eye(d)
        else:
            model.reset_component(cov, j, model.component_covariance(cov, j, d) + floor * np.eye(d))
    prec_chol, still_bad = model.precision_cholesky(cov)
    if still_bad:
        raise ValueError(_ILL_DEFINED + f" (components {sorted(still_bad)})")
    which = "the shared covariance" if -1 in bad else "component " + ", ".join(map(str, bad))
    msg = (f"the covariance of {which} is singular and re-seeding did not help (an isolated "
           f"point or too many components): its variance was floored at {floor:.3g}")
    if events is None:
        warnings.warn(msg[0].upper() + msg[1:] + ". " + _REPAIR_ADVICE,
                      DegenerateComponentWarning, stacklevel=4)
    else:
        events.append(msg)
    return Params(params.weights, params.means, cov, prec_chol)


_REPAIR_ADVICE = "Set reg_covar > 0 or reduce n_components to avoid this."

#: Repairs of one EM run listed in full in its warning; the rest are counted.
_MAX_LISTED_EVENTS = 3


def _warn_repairs(events: list[str]) -> None:
    """One :class:`DegenerateComponentWarning` for all repairs of an EM run."""
    if not events:
        return
    listed = "; ".join(events[:_MAX_LISTED_EVENTS])
    if len(events) > _MAX_LISTED_EVENTS:
        listed += f"; and {len(events) - _MAX_LISTED_EVENTS} more"
    warnings.warn(f"EM repaired degenerate components: {listed}. {_REPAIR_ADVICE}",
                  DegenerateComponentWarning, stacklevel=4)


_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)

# ---------------------------------------------------------------------------------------------
# progress

_progress_hooks: list[Callable[[int, float], None]] = []


@contextmanager
def progress(hook: Callable[[int, float], None]):
    """Call ``hook(n_iter, lower_bound)`` after every EM iteration inside the block."""
    _progress_hooks.append(hook)
    try:
        yield
    finally:
        _progress_hooks.remove(hook)


def _say(verbose: int, msg: str) -> None:
    say(msg, verbose=verbose, log=logger)  # logged or written to stderr, never both


# ---------------------------------------------------------------------------------------------
# the loop


def run_em(pass_fn: Callable[[Params], SufficientStats], params: Params,
           model: CovarianceModel, *, reg_covar: float, tol: float, max_iter: int,
           lower_bound: float = -np.inf, verbose: int = 0, verbose_interval: int = 10,
           max_reseeds: int | None = None, dtype=np.float64) -> EMResult:
    """EM from ``params`` until the mean log-likelihood changes by less than ``tol``.

    ``dtype`` is the data's: it sets the resolution at which a covariance counts as not
    positive definite (:func:`find_degenerate`). EM is monotone, but re-seeding a degenerate
    component is not: when a re-seed ends at a lower log-likelihood than parameters seen
    earlier in the run, those parameters are returned.
    """
    k = len(params.weights)
    max_reseeds = 3 * k if max_reseeds is None else max_reseeds
    lower_bounds: list[float] = []
    converged = False
    n_reseeds = 0
    n_iter = 0
    events: list[str] = []  # repairs of degenerate components, reported once at the end
    best = (params, -np.inf)  # the best parameters evaluated so far, with their log-likelihood
    t_prev = time.perf_counter()
    try:
        for n_iter in range(1, max_iter + 1):
            prev = lower_bound
            stats = pass_fn(params)
            lower_bound = stats.mean_log_likelihood
            if lower_bound > best[1]:
                best = (params, lower_bound)
            new, bad = m_step(stats, model, reg_covar)
            degenerate, bad = find_degenerate(stats, model, new, bad, dtype)
            if degenerate or bad:
                if degenerate and n_reseeds < max_reseeds and -1 not in bad:
                    seeded = reseed(new, stats, model, reg_covar, degenerate)
                    if seeded is not None:
                        n_reseeds += len(degenerate)
                        events.append(", ".join(f"component {j} {why}"
                                                for j, why in degenerate.items())
                                      + f" at iteration {n_iter}: re-seeded from the "
                                      "worst-explained samples")
                        new = seeded
                        bad = []
                if bad:
                    new = floor_covariances(new, stats, model, bad, events)
            params = new
            lower_bounds.append(lower_bound)
            change = lower_bound - prev
            for hook in _progress_hooks:
                hook(n_iter, lower_bound)
            if verbose and n_iter % verbose_interval == 0:
                now = time.perf_counter()
                msg = f"  Iteration {n_iter}"
                if verbose >= 2:
                    msg += f"\t time lapse {now - t_prev:.5f}s\t ll change {change:.5f}"
                t_prev = now
                _say(verbose, msg)
            if not math.isfinite(lower_bound):
                raise ValueError(
                    "The log-likelihood became non-finite during EM. Scale the input data or "
                    "increase reg_covar.")
            if abs(change) < tol:
                converged = True
                break
        if n_reseeds and best[1] > lower_bound:
            # a re-seed moved EM to a worse optimum than one it had seen: return the best
            # parameters evaluated, with their own log-likelihood
            params, lower_bound = best
        return EMResult(params, lower_bound, lower_bounds, n_iter, converged, n_reseeds)
    finally:
        _warn_repairs(events)


def fit_em(pass_fn: Callable[[Params], SufficientStats], init_fn: Callable[[], Params],
           model: CovarianceModel, *, n_init: int, reg_covar: float, tol: float, max_iter: int,
           warm: tuple[Params, float] | None = None, verbose: int = 0,
           verbose_interval: int = 10, dtype=np.float64) -> EMResult:
    """EM from ``n_init`` initialisations (or once from ``warm = (params, lower_bound)``).

    Keeps the run with the highest final lower bound, as scikit-learn does.
    """
    best: EMResult | None = None
    for init in range(1 if warm is not None else n_init):
        _say(verbose, f"Initialization {init}")
        t0 = time.perf_counter()
        params, lb0 = warm if warm is not None else (init_fn(), -np.inf)
        if max_iter == 0:
            result = EMResult(params, -np.inf)
        else:
            result = run_em(pass_fn, params, model, reg_covar=reg_covar, tol=tol,
                            max_iter=max_iter, lower_bound=lb0, verbose=verbose,
                            verbose_interval=verbose_interval, dtype=dtype)
            msg = "converged" if result.converged else "did not converge"
            extra = (f". time lapse {time.perf_counter() - t0:.5f}s\t lower bound "
                     f"{result.lower_bound:.5f}" if verbose >= 2 else "")
            _say(verbose, f"Initialization {msg}{extra}.")
        if best is None or result.lower_bound > best.lower_bound:
            best = result
    return best


# ---------------------------------------------------------------------------------------------
# initialisation


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
