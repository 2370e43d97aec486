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

This module computes; the estimator owns the state. :func:`step` takes the current parameters
and running :class:`OnlineState` and returns the new ones; ``GaussianMixture.partial_fit``
keeps the state in its private ``_online_state`` attribute, which only the estimator sets.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._engine import m_step
from ._params import Params
from ._repair import DegenerateComponentWarning, find_degenerate, floor_covariances, reseed
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


@dataclass
class OnlineState:
    """The running state of stepwise EM between two batches.

    Attributes
    ----------
    stats : SufficientStats
        The running normalised statistics ``S_t`` (total mass 1).
    t : int
        Updates so far.
    means : ndarray
        The ``means_`` array the update produced: a model whose ``means_`` is another object
        (refitted, loaded, built from parameters) restarts from its parameters.
    """

    stats: SufficientStats
    t: int
    means: np.ndarray


def check_batch(X, sample_weight) -> None:
    """Refuse an empty batch, or one whose weights are all zero, before anything is read."""
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


def step(batch: SufficientStats, params: Params, state: OnlineState | None, model,
         reg_covar: float, dtype, fixed=None) -> tuple[Params, OnlineState]:
    """One stepwise-EM update; see the module docstring.

    Parameters
    ----------
    batch : SufficientStats
        The batch's statistics under ``params`` (one E-pass over the batch).
    params : Params
        The parameters ``batch`` was computed under.
    state : OnlineState or None
        The running state; ``None`` for the first update, which takes the batch's statistics
        whole (``eta = 1``).
    model : CovarianceModel
    reg_covar : float
    dtype : numpy.dtype
        The data's, for the degeneracy test (:func:`gaussmix._repair.find_degenerate`).
    fixed : gaussmix._engine.Fixed or None
        Parts of the parameters kept at given values (``params``); the running statistics
        stay those of the data, only their M-step is centred on fixed means.

    Returns
    -------
    params : Params
        The M-step of the new running statistics (degenerate components re-seeded).
    state : OnlineState
    """
    batch_n = scaled(batch, 1.0 / batch.weight)
    if state is None:
        stats, t = batch_n, 0
    else:
        eta = step_size(state.t)
        stats, t = scaled(state.stats, 1.0 - eta).merge(scaled(batch_n, eta)), state.t
    t += 1
    if fixed is not None:
        centred = fixed.stats(stats)
        new, bad = m_step(centred, model, reg_covar)
        new = fixed.apply(new)
        degenerate, bad = find_degenerate(centred, model, new, bad, dtype)
        degenerate, bad, _ = fixed.repairable(degenerate, bad)
        if bad and not degenerate:
            new = floor_covariances(new, stats, model, bad)
            return new, OnlineState(stats, t, new.means)
        if degenerate:
            bad = []
    else:
        new, bad = m_step(stats, model, reg_covar)
        degenerate, bad = find_degenerate(stats, model, new, bad, dtype)
    if degenerate or bad:
        seeded = reseed(new, batch, model, reg_covar, degenerate)
        if seeded is None:
            raise ValueError(
                "partial_fit produced components with ill-defined covariance "
                f"({sorted(degenerate)}); increase reg_covar or use larger batches.")
        warnings.warn("; ".join(f"component {j} {why}" for j, why in degenerate.items())
                      + f" at step {t}: re-seeded from the worst-explained rows of the batch.",
                      DegenerateComponentWarning, stacklevel=3)
        new = seeded if fixed is None else fixed.apply(seeded)
    return new, OnlineState(stats, t, new.means)


def resume(params: Params, state: OnlineState | None, means, model,
           reg_covar: float) -> OnlineState:
    """The running state to continue from: ``state`` when it belongs to ``means`` (the model's
    ``means_``), else the statistics of ``params`` at step 1 (a model fitted by ``fit``,
    loaded, or built from parameters)."""
    if state is not None and state.means is means:
        return state
    return OnlineState(stats_from_params(params, model, reg_covar), 1, means)
