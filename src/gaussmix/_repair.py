"""Degenerate components: what counts as one, re-seeding, and the variance floor.

A component is *degenerate* when it has emptied out or when its covariance is not positive
definite at the resolution of the data's dtype (:data:`PD_RESOLUTION`). A component on repeated
values that ``reg_covar`` keeps positive definite is a legitimate optimum and is left alone.
:func:`find_degenerate` finds them after an M-step, :func:`reseed` moves them onto the
worst-explained rows, and :func:`floor_covariances` is the last resort once re-seeding is
exhausted. The EM loop (:func:`gaussmix._engine.run_em`) reports all repairs of a run in one
:class:`DegenerateComponentWarning` (:func:`_warn_repairs`).
"""
from __future__ import annotations

import warnings

import numpy as np

from ._params import Params
from ._stats import SufficientStats
from .covariance import CovarianceModel


class DegenerateComponentWarning(UserWarning):
    """A component emptied out or collapsed onto a point and was re-seeded."""


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
    if stats.noise > 0:  # keep the noise component's weight (:mod:`gaussmix._noise`)
        weights *= params.weights.sum()
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
