"""Stepwise (online) EM for ``GaussianMixture.partial_fit``.

Stepwise EM (Cappé & Moulines 2009; Liang & Klein 2009) keeps a running estimate ``S`` of the
*normalised* sufficient statistics (per unit weight: mixing mass, component means, centred
scatter) and, for the ``t``-th batch, moves it towards the batch's statistics computed under the
current parameters:

.. math::

   S_{t} = (1 - \\eta_t) S_{t-1} + \\eta_t \\hat S(\\text{batch}_t; \\theta_{t-1}),
   \\qquad \\theta_t = \\text{M-step}(S_t),
   \\qquad \\eta_t = (t + 2)^{-0.6}.

The convex combination is one :meth:`~gaussmix._stats.SufficientStats.merge` of the two
statistics with their masses scaled by ``1 - eta`` and ``eta`` (the centred moments combine
with the parallel-variance formula). The exponent 0.6 lies in (1/2, 1], so
``sum eta_t = inf`` and ``sum eta_t^2 < inf``: on stationary data (batches drawn from one
distribution, e.g. a shuffled data set) the iterates converge to a stationary point of the
expected log-likelihood, i.e. to the batch EM solution up to the noise of the last steps.
This is *not* exact: each step uses one batch, and the result depends on batch order and size.

The first call, on an unfitted estimator, initialises the parameters from the first batch
(``init_params``, which needs at least ``n_components`` rows of positive weight) and takes one
full step (``eta = 1``). A call on a model fitted by ``fit`` (or loaded) continues from its
parameters, whose expected statistics play the role of the first step's ``S_1``.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state

from . import covariance
from ._engine import (ArraySource, DegenerateComponentWarning, Params, auto_chunk_size,
                      e_pass, find_degenerate, initial_params, m_step, reseed)
from ._stats import SufficientStats

#: Step size ``eta_t = (t + STEP_OFFSET) ** -STEP_EXPONENT`` for the ``t``-th update (t >= 1).
STEP_OFFSET = 2.0
STEP_EXPONENT = 0.6


def step_size(t: int) -> float:
    """The step size of the ``t``-th stochastic update (``t >= 0``)."""
    return float((t + STEP_OFFSET) ** -STEP_EXPONENT)


def scaled(s: SufficientStats, c: float) -> SufficientStats:
    """``s`` with every mass (nk, scatter, log-likelihood, weight) multiplied by ``c``."""
    return SufficientStats(s.nk * c, s.means, s.scatter * c, s.log_likelihood * c, s.weight * c,
                           s.n_samples, s.worst_X, s.worst_score)


def stats_from_params(params: Params, model, reg_covar: float) -> SufficientStats:
    """Normalised statistics (total mass 1) whose M-step returns ``params``."""
    k, d = params.means.shape
    nk = params.weights / params.weights.sum()
    scatter = np.zeros((k, d, d) if model.full_scatter else (k, d))
    for j in range(k):
        c = model.component_covariance(params.covariances, j, d) - reg_covar * np.eye(d)
        scatter[j] = nk[j] * (c if model.full_scatter else np.clip(np.diag(c), 0, None))
    return SufficientStats(nk, params.means.copy(), scatter, 0.0, 1.0, 0,
                           np.empty((0, d)), np.empty(0))


def _check_batch(est, X, sample_weight):
    n = getattr(X, "shape", (None,))[0] if hasattr(X, "shape") else (
        len(X) if hasattr(X, "__len__") else None)
    if n == 0:
        raise ValueError("partial_fit received an empty batch (0 rows); every batch needs at "
                         "least one row.")
    if sample_weight is not None and not np.isscalar(sample_weight):
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.size and np.all(sw == 0):
            raise ValueError("partial_fit received a batch whose sample weights are all zero; "
                             "it carries no information (drop it instead of passing it).")
    elif sample_weight is not None and float(sample_weight) == 0:
        raise ValueError("partial_fit received sample_weight=0; the batch would carry no "
                         "information.")


def partial_fit(est, X, sample_weight=None) -> None:
    """One stepwise-EM update of ``est`` with the batch ``X``; see the module docstring."""
    from ._validation import check_sample_weight

    est._check_params()
    _check_batch(est, X, sample_weight)
    fitted = hasattr(est, "means_")
    X = est._validate_X(X, reset=not fitted)
    n, d = X.shape
    w = check_sample_weight(sample_weight, n, normalize=True)
    k = est.n_components
    model = covariance.get(est.covariance_type)
    dtype = X.dtype
    source = ArraySource(X, w, est.chunk_size or auto_chunk_size(d, k, dtype.itemsize))
    shift = source.weighted_mean()
    state = est.__dict__.get("_online")
    if not fitted:
        n_pos = int(np.count_nonzero(w))
        if n_pos < k:
            raise ValueError(
                f"The first batch given to partial_fit must have at least n_components = {k} "
                f"rows with positive weight to initialise the mixture; it has {n_pos}.")
        rng = check_random_state(est.random_state)
        inits = est._check_init_arrays(d, model)
        params = initial_params(source, k, model, est.init_params, rng, est.reg_covar, shift,
                                dtype, **inits)
        stats = None
        t = 0
        lower_bounds: list[float] = []
    else:
        params = est._params()
        if state is not None and state["means"] is est.means_:
            stats, t, lower_bounds = state["stats"], state["t"], list(est.lower_bounds_)
        else:  # fitted by fit(), loaded, or parameters set by hand: start from the parameters
            stats, t, lower_bounds = stats_from_params(params, model, est.reg_covar), 1, []
    batch = e_pass(source, params, model, shift, dtype, reg_covar=est.reg_covar)
    batch_n = scaled(batch, 1.0 / batch.weight)
    if stats is None:
        stats = batch_n
    else:
        eta = step_size(t)
        stats = scaled(stats, 1.0 - eta).merge(scaled(batch_n, eta))
    t += 1
    new, bad = m_step(stats, model, est.reg_covar)
    degenerate, bad = find_degenerate(stats, model, new, bad, dtype)
    if degenerate or bad:
        seeded = reseed(new, batch, model, est.reg_covar, degenerate)
        if seeded is None:
            raise ValueError(
                "partial_fit produced components with ill-defined covariance "
                f"({sorted(degenerate)}); increase reg_covar or use larger batches.")
        warnings.warn("; ".join(f"component {j} {why}" for j, why in degenerate.items())
                      + f" at step {t}: re-seeded from the worst-explained rows of the batch.",
                      DegenerateComponentWarning, stacklevel=3)
        new = seeded
    est._set_fitted(new, model)
    est.converged_ = False
    est.n_iter_ = t
    est.lower_bound_ = float(batch.mean_log_likelihood)
    lower_bounds.append(est.lower_bound_)
    est.lower_bounds_ = lower_bounds
    est._online = {"stats": stats, "t": t, "means": est.means_}
