"""The EM engine: the E-pass over chunks, the M-step and the loop.

One EM iteration is one pass over the rows: each chunk's log-densities give responsibilities
and, at once, that chunk's :class:`~gaussmix._stats.SufficientStats`; merged statistics go
through the M-step. :func:`run_em` only sees a ``pass_fn(params) -> SufficientStats``, so the
same loop drives in-memory, out-of-core and distributed fits. Initialisation lives in
:mod:`gaussmix._init`, the repair of degenerate components in :mod:`gaussmix._repair`, the data
sources a pass reads in :mod:`gaussmix._data`.

The lower bound reported per iteration is the weighted mean log-likelihood of the E-step of that
iteration (parameters *before* its M-step), exactly as scikit-learn reports it.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np

from . import _fast
from ._kernels import logsumexp_rows
from ._log import say
from ._params import EMResult, Params
from ._progress import progress_bar
from ._repair import find_degenerate, floor_covariances, reseed, _warn_repairs
from ._stats import SufficientStats, chunk_stats
from .covariance import CovarianceModel

logger = logging.getLogger("gaussmix")


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


# ---------------------------------------------------------------------------------------------
# M-step


def m_step(stats: SufficientStats, model: CovarianceModel, reg_covar: float,
           previous: np.ndarray | None = None, prior=None) -> tuple[Params, list[int]]:
    """Parameters from statistics; also the components whose covariance is not PD.

    ``previous`` (the covariances before this step) warm-starts models whose M-step iterates
    (:attr:`~gaussmix.covariance.CovarianceModel.warm_start_m_step`); others ignore it.
    ``prior`` (a resolved :mod:`gaussmix._prior` prior) makes it the MAP M-step.
    """
    # a noise component's mass counts in the total, so the weights sum to 1 - pi_0
    total = stats.nk.sum() + stats.noise
    weights = stats.nk / total if total > 0 else np.full(len(stats.nk), 1.0 / len(stats.nk))
    if prior is not None:
        means, cov = prior.m_step(stats, model, reg_covar, previous)
        prec_chol, bad = model.precision_cholesky(cov)
        return Params(weights, means, cov, prec_chol), bad
    if model.warm_start_m_step:
        cov = model.from_stats(stats.nk, stats.scatter, reg_covar, previous=previous)
    else:
        cov = model.from_stats(stats.nk, stats.scatter, reg_covar)
    prec_chol, bad = model.precision_cholesky(cov)
    return Params(weights, stats.means.copy(), cov, prec_chol), bad


@dataclasses.dataclass(frozen=True)
class Fixed:
    """Parameters EM keeps at given values (the letters missing from ``params="wmc"``).

    Each field is ``None`` when that part is estimated. With the means fixed at ``mu0`` the
    M-step of the covariances is centred on ``mu0``, not on the responsibility-weighted mean
    ``xbar``: ``sum_i r_ij (x_i - mu0)(x_i - mu0)^T = S_j + n_j (xbar_j - mu0)(xbar_j - mu0)^T``
    with ``S_j`` the centred scatter (:meth:`stats`). The weights do not enter the M-step of the
    means or covariances, and the means (given the responsibilities) do not depend on the
    covariances, so replacing the fixed parts after that M-step maximises the expected
    complete-data log-likelihood over the free parts: the loop stays monotone.
    """

    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None
    prec_chol: np.ndarray | None = None

    def stats(self, stats: SufficientStats) -> SufficientStats:
        """``stats`` (not modified) re-centred on the fixed means, for the M-step."""
        if self.means is None:
            return stats
        diff = stats.means - self.means
        nk = stats.nk
        if stats.scatter.ndim == 3:
            scatter = stats.scatter + nk[:, None, None] * diff[:, :, None] * diff[:, None, :]
        else:
            scatter = stats.scatter + nk[:, None] * diff * diff
        return dataclasses.replace(stats, means=self.means.copy(), scatter=scatter)

    def apply(self, params: Params) -> Params:
        """``params`` with the fixed parts replaced by (copies of) their fixed values."""
        out = Params(params.weights, params.means, params.covariances, params.prec_chol)
        if self.weights is not None:
            out.weights = self.weights.copy()
        if self.means is not None:
            out.means = self.means.copy()
        if self.covariances is not None:
            out.covariances = self.covariances.copy()
            out.prec_chol = self.prec_chol.copy()
        return out

    def repairable(self, degenerate: dict[int, str], bad: list[int]
                   ) -> tuple[dict[int, str], list[int], list[int]]:
        """The repairs allowed to touch only free parts: ``(reseed, floor, not repaired)``.

        A fixed covariance is never floored nor counted as collapsed; a component whose mean is
        fixed cannot be moved, so nothing is re-seeded (a collapsed free covariance is floored
        instead, an emptied-out component keeps its fixed mean: the last list).
        """
        if self.covariances is not None:
            bad = []
            degenerate = {j: why for j, why in degenerate.items() if why == "emptied out"}
        if self.means is not None:
            return {}, bad, sorted(j for j, why in degenerate.items() if why == "emptied out")
        return degenerate, bad, []


def params_from_precisions(weights, means, precisions, model: CovarianceModel) -> Params:
    prec_chol = model.precision_cholesky_from_precisions(np.asarray(precisions, dtype=np.float64))
    cov = model.covariances_from_precision_cholesky(prec_chol)
    return Params(np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64),
                  cov, prec_chol)

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


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _say(verbose: int, msg: str) -> None:
    say(msg, verbose=verbose, log=logger)  # logged or written to stderr, never both


# ---------------------------------------------------------------------------------------------
# the loop


def run_em(pass_fn: Callable[[Params], SufficientStats], params: Params,
           model: CovarianceModel, *, reg_covar: float, tol: float, max_iter: int,
           lower_bound: float = -np.inf, verbose: int = 0, verbose_interval: int = 10,
           max_reseeds: int | None = None, dtype=np.float64,
           fixed: Fixed | None = None, prior=None) -> EMResult:
    """EM from ``params`` until the mean log-likelihood changes by less than ``tol``.

    ``dtype`` is the data's: it sets the resolution at which a covariance counts as not
    positive definite (:func:`find_degenerate`). EM is monotone, but re-seeding a degenerate
    component is not: when a re-seed ends at a lower log-likelihood than parameters seen
    earlier in the run, those parameters are returned. ``fixed`` keeps parts of the
    parameters at given values (:class:`Fixed`); repairs then touch only the free parts.
    ``prior`` (:class:`gaussmix._prior.ConjugatePrior`, resolved on the first pass) makes it
    MAP EM: the lower bound is then the mean log posterior (log-likelihood plus log prior, per
    unit of weight), in which EM is monotone.
    """
    k = len(params.weights)
    if fixed is not None:
        params = fixed.apply(params)
    not_reseeded: set[int] = set()
    max_reseeds = 3 * k if max_reseeds is None else max_reseeds
    lower_bounds: list[float] = []
    converged = False
    n_reseeds = 0
    n_iter = 0
    events: list[str] = []  # repairs of degenerate components, reported once at the end
    best = (params, -np.inf)  # the best parameters evaluated so far, with their log-likelihood
    t_prev = time.perf_counter()
    # verbose >= 1 on a terminal: a bar per run (iterations, lower bound) beside the messages,
    # removed when the run ends. Not when stderr is a file or a pipe, where the messages are
    # the record and a redrawn bar would be noise between them (tqdm's own convention).
    bar = progress_bar(max_iter, "EM", verbose and _stderr_is_terminal())
    try:
        for n_iter in range(1, max_iter + 1):
            prev = lower_bound
            stats = pass_fn(params)
            lower_bound = stats.mean_log_likelihood
            if prior is not None:
                prior = prior.resolve(stats, model)
                lower_bound += prior.log_prior(params.means, params.covariances,
                                               model) / stats.weight
            if lower_bound > best[1]:
                best = (params, lower_bound)
            if fixed is None:
                new, bad = m_step(stats, model, reg_covar, params.covariances, prior)
                degenerate, bad = find_degenerate(stats, model, new, bad, dtype)
            else:
                centred = fixed.stats(stats)
                new, bad = m_step(centred, model, reg_covar, params.covariances)
                new = fixed.apply(new)
                degenerate, bad = find_degenerate(centred, model, new, bad, dtype)
                degenerate, bad, kept = fixed.repairable(degenerate, bad)
                for j in kept:
                    if j not in not_reseeded:
                        not_reseeded.add(j)
                        events.append(f"component {j} emptied out at iteration {n_iter}: its "
                                      "mean is fixed (params), so it was not re-seeded")
            if degenerate or bad:
                if degenerate and n_reseeds < max_reseeds and -1 not in bad:
                    seeded = reseed(new, stats, model, reg_covar, degenerate)
                    if seeded is not None:
                        n_reseeds += len(degenerate)
                        events.append(", ".join(f"component {j} {why}"
                                                for j, why in degenerate.items())
                                      + f" at iteration {n_iter}: re-seeded from the "
                                      "worst-explained samples")
                        new = seeded if fixed is None else fixed.apply(seeded)
                        bad = []
                if bad:
                    new = floor_covariances(new, stats, model, bad, events)
            params = new
            lower_bounds.append(lower_bound)
            change = lower_bound - prev
            for hook in _progress_hooks:
                hook(n_iter, lower_bound)
            bar.update(1)
            bar.set_postfix_str(f"lower bound {lower_bound:.6g}", refresh=False)
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
        bar.close()
        _warn_repairs(events)


def fit_em(pass_fn: Callable[[Params], SufficientStats], init_fn: Callable[[], Params],
           model: CovarianceModel, *, n_init: int, reg_covar: float, tol: float, max_iter: int,
           warm: tuple[Params, float] | None = None, verbose: int = 0,
           verbose_interval: int = 10, dtype=np.float64,
           fixed: Fixed | None = None, prior=None) -> EMResult:
    """EM from ``n_init`` initialisations (or once from ``warm = (params, lower_bound)``).

    Keeps the run with the highest final lower bound, as scikit-learn does. ``fixed``: the
    parts of the parameters EM keeps (:class:`Fixed`).
    """
    best: EMResult | None = None
    for init in range(1 if warm is not None else n_init):
        _say(verbose, f"Initialization {init}")
        t0 = time.perf_counter()
        params, lb0 = warm if warm is not None else (init_fn(), -np.inf)
        if max_iter == 0:
            result = EMResult(params if fixed is None else fixed.apply(params), -np.inf)
        else:
            result = run_em(pass_fn, params, model, reg_covar=reg_covar, tol=tol,
                            max_iter=max_iter, lower_bound=lb0, verbose=verbose,
                            verbose_interval=verbose_interval, dtype=dtype, fixed=fixed,
                            prior=prior)
            msg = "converged" if result.converged else "did not converge"
            extra = (f". time lapse {time.perf_counter() - t0:.5f}s\t lower bound "
                     f"{result.lower_bound:.5f}" if verbose >= 2 else "")
            _say(verbose, f"Initialization {msg}{extra}.")
        if best is None or result.lower_bound > best.lower_bound:
            best = result
    return best
