"""Regularisation by a conjugate prior: maximum a posteriori EM (Fraley & Raftery 2007).

Notation: ``k`` components, ``d`` features; per component the responsibility mass ``nk``, the
weighted mean ``xbar_k`` and the centred scatter ``W_k`` (:class:`~gaussmix._stats.SufficientStats`).
The prior has a shrinkage ``kappa``, a mean ``mu0``, degrees of freedom ``nu`` and a scale.

The prior
---------
Means: ``mu_k | Sigma_k ~ N(mu0, Sigma_k / kappa)`` (none when ``kappa == 0``). Covariances, by the
covariance model's :attr:`~gaussmix.covariance.CovarianceModel.conjugate_prior` ``(kind, shared)``:

- "matrix": inverse Wishart, ``log p = -(nu + d + 1)/2 log|Sigma| - 1/2 tr(Sigma^-1 Lambda)``;
- "diagonal": inverse gamma ``IG(nu/2, s2/2)`` on each variance, which is the same form with
  exponent ``nu + 2`` and ``Lambda = s2 I``;
- "scalar": one ``IG(nu/2, s2/2)`` on the variance of ``sigma^2 I``: exponent ``(nu + 2)/d`` and
  ``Lambda = (s2/d) I``.

A model with one volume for all components (``shared``: EII, EEI, EVI, EEE, EEV) counts this
term once for the mixture (as ``1/k`` of it per component, exactly the single prior for the
equal-covariance models), the others once per component. Weights have no prior.

The MAP M-step
--------------
Profiling the means out of ``log-likelihood + log prior`` (the means' update is
``(nk xbar_k + kappa mu0) / (nk + kappa)``) leaves, per component,

    -a_k/2 log|Sigma_k| - 1/2 tr(Sigma_k^-1 B_k),
    a_k = nk + [kappa > 0] + c e,   B_k = W_k + kappa nk/(nk + kappa) (xbar_k - mu0)(...)^T + c Lambda,

with ``e`` the kind's exponent and ``c = 1/k`` when shared, else 1. That is the maximum
likelihood M-step objective with ``nk -> a_k`` and scatter ``-> B_k``, so every structure's MAP
update is its own :meth:`~gaussmix.covariance.CovarianceModel.from_stats` of those posterior
statistics: closed form where the structure's ML step is, iterated to tolerance where it
iterates (VEI, EVI, VEV). For VVV this is Fraley & Raftery's
``Sigma_k = (Lambda + W_k + kappa nk/(nk + kappa) d d^T) / (nu + nk + d + 2)``.

Which structures admit it
-------------------------
mclust defines the MAP M-step for E, V, EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV and VVV
(its ``mstep*`` functions with a prior, Fortran ``ms*p``); gaussmix follows that list. VEE, EVE,
VVE and EVV have iterative M-steps for which mclust defines no prior (no closed-form MAP update,
and the paper's prior on a shared orientation with per-component shapes is not given), so they
refuse a prior.

Deviations from mclust's Fortran, where this module follows the posterior above instead: mclust's
EII step leaves out the prior scale and centres its scatter on the updated mean; its EEV step sets
the shrinkage to zero. Those choices do not maximise the stated posterior, so a numerical check of
the MAP (``tests/test_prior.py``) would fail them.

Default hyperparameters (mclust's ``defaultPrior``): ``kappa = 0.01``, ``mu0`` the (weighted)
data mean, ``nu = d + 2``; the scale is ``var(X) / k^(2/d)`` (the data covariance, or its
diagonal when there are no more rows than features) for "matrix" kinds and
``s2 = tr var(X) / d / k^(2/d)`` for "diagonal" and "scalar" kinds. ``var`` divides by the total
weight minus one (frequency weights, as R's ``var``; by the total weight when that is at most one).

The log-likelihood reported for BIC and AIC is that of the data at the MAP estimate, as mclust
reports it; EM is monotone in the log posterior, which ``lower_bound_`` reports per row (see
:func:`log_prior`, which drops the prior's normalising constant).
"""
from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from ._stats import SufficientStats, _TINY
from .covariance import CovarianceModel

__all__ = ["ConjugatePrior", "InUnits", "ResolvedPrior", "as_prior", "check_model"]

#: Structures without a MAP M-step, and why (the error message and the docs).
_WHY_NOT = ("the conjugate prior (Fraley & Raftery 2007) has no MAP M-step for this "
            "structure: its M-step is iterative with a shared orientation, mclust defines no "
            "prior for it, and no closed-form posterior update exists. Structures with a prior: "
            "E, V, EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV, VVV (and the aliases full, tied, "
            "diag, spherical)")


class ConjugatePrior:
    """Conjugate prior for maximum a posteriori EM (Fraley & Raftery 2007, mclust's prior).

    Pass as ``GaussianMixture(prior=ConjugatePrior(...))``; ``prior="conjugate"`` is
    ``ConjugatePrior()``, mclust's ``priorControl()`` default. Means get a normal prior
    ``N(mean, Sigma_k / shrinkage)``, covariances an inverse Wishart (general structures) or
    inverse gamma (diagonal and spherical ones) prior; the M-step maximises
    ``log-likelihood + log prior``. Small components and fits with about as many rows as
    features then converge without ``reg_covar``.

    Available for E, V, EII, VII (spherical), EEI, VEI, EVI, VVI (diag), EEE (tied), EEV, VEV and
    VVV (full): the structures for which mclust defines it. VEE, EVE, VVE and EVV raise a
    ``ValueError``: their M-steps are iterative with a shared orientation, no closed-form MAP
    update exists and mclust defines no prior for them.

    Parameters
    ----------
    shrinkage : float, default=0.01
        ``kappa >= 0``, the prior's weight on the mean (in rows); 0 puts no prior on the means.
    mean : array-like of shape (n_features,), default=None
        Prior mean; ``None``: the data's (weighted) mean. Needs ``shrinkage > 0``.
    dof : float, default=None
        Degrees of freedom ``nu > 0``; ``None``: ``n_features + 2``.
    scale : float or array-like of shape (n_features, n_features), default=None
        Inverse Wishart scale ``Lambda`` (a matrix, for general structures; a positive number
        means that number times the identity) or the inverse gamma scale ``s2`` (a positive
        number, for diagonal and spherical structures). ``None``: the data covariance (or the
        mean of its diagonal) divided by ``n_components^(2/n_features)``.

    See Also
    --------
    gaussmix.GaussianMixture : the ``prior`` parameter.

    References
    ----------
    C. Fraley and A. E. Raftery (2007). Bayesian regularization for normal mixture estimation and
    model-based clustering. Journal of Classification 24, 155-181.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import ConjugatePrior, GaussianMixture
    >>> X = np.random.default_rng(0).normal(size=(6, 5))  # fewer rows than 2 d
    >>> gm = GaussianMixture(2, reg_covar=0, prior=ConjugatePrior(), random_state=0).fit(X)
    >>> bool(np.all(np.linalg.eigvalsh(gm.covariances_) > 0))
    True
    """

    def __init__(self, shrinkage: float = 0.01, mean: npt.ArrayLike | None = None,
                 dof: float | None = None, scale: float | npt.ArrayLike | None = None) -> None:
        if (not isinstance(shrinkage, numbers.Real) or isinstance(shrinkage, bool)
                or not np.isfinite(shrinkage) or shrinkage < 0):
            raise ValueError(f"ConjugatePrior: 'shrinkage' must be a finite number >= 0; "
                             f"got {shrinkage!r}.")
        if dof is not None and (not isinstance(dof, numbers.Real) or isinstance(dof, bool)
                                or not np.isfinite(dof) or dof <= 0):
            raise ValueError(f"ConjugatePrior: 'dof' must be None or a finite number > 0; "
                             f"got {dof!r}.")
        if mean is not None:
            m = np.asarray(mean, dtype=np.float64)
            if m.ndim != 1 or not np.all(np.isfinite(m)):
                raise ValueError("ConjugatePrior: 'mean' must be None or a finite 1-d array of "
                                 f"length n_features; got shape {m.shape}.")
            if shrinkage == 0:
                raise ValueError("ConjugatePrior: a prior 'mean' needs shrinkage > 0 (with "
                                 "shrinkage=0 the means have no prior).")
        if scale is not None:
            s = np.asarray(scale, dtype=np.float64)
            if s.ndim not in (0, 2) or not np.all(np.isfinite(s)):
                raise ValueError("ConjugatePrior: 'scale' must be None, a positive number or a "
                                 f"finite (n_features, n_features) matrix; got shape {s.shape}.")
            if s.ndim == 0 and s <= 0:
                raise ValueError(f"ConjugatePrior: 'scale' must be positive; got {scale!r}.")
            if s.ndim == 2:
                if s.shape[0] != s.shape[1] or not np.allclose(s, s.T):
                    raise ValueError("ConjugatePrior: a 'scale' matrix must be square and "
                                     "symmetric.")
                if np.linalg.eigvalsh(s).min() <= 0:
                    raise ValueError("ConjugatePrior: a 'scale' matrix must be positive "
                                     "definite.")
        self.shrinkage = shrinkage
        self.mean = mean
        self.dof = dof
        self.scale = scale

    def get_params(self) -> dict:
        """The constructor's arguments (lists for arrays, as saved in model files).

        Returns
        -------
        dict
            ``shrinkage``, ``mean``, ``dof`` and ``scale``.
        """
        def plain(v):
            return np.asarray(v, dtype=float).tolist() if v is not None else None
        return {"shrinkage": float(self.shrinkage), "mean": plain(self.mean),
                "dof": None if self.dof is None else float(self.dof), "scale": plain(self.scale)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if v is not None and not (k == "shrinkage" and v == 0.01))
        return f"ConjugatePrior({args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ConjugatePrior) and self.get_params() == other.get_params()

    def resolve(self, stats: SufficientStats, model: CovarianceModel,
                unit: float = 1.0) -> "ResolvedPrior":
        """Hyperparameters for ``model`` with the data-dependent defaults taken from ``stats``.

        Parameters
        ----------
        stats : SufficientStats
            Statistics of one E-pass over all rows (under any parameters): their pooled mean
            and covariance are the data's.
        model : CovarianceModel
            The covariance structure fitted.
        unit : float, default=1.0
            The weight of one row in ``stats`` (the estimator scales sample weights by a power
            of two): the prior counts in rows, so that integer weights are repeated rows.

        Returns
        -------
        ResolvedPrior
        """
        kind, shared = check_model(model)
        k, d = stats.means.shape
        mean = stats.data_mean() if self.mean is None else np.asarray(self.mean, float)
        if mean.shape != (d,):
            raise ValueError(f"ConjugatePrior: 'mean' must have shape ({d},); got {mean.shape}.")
        nu = float(d + 2 if self.dof is None else self.dof)
        fac = float(k) ** (-2.0 / d)
        if self.scale is None:
            total = stats.weight / unit
            cov = stats.data_covariance() * (total / (total - 1.0) if total > 1 else 1.0)
            if kind == "matrix":
                lam = fac * (cov if stats.n_samples > d and stats.scatter.ndim == 3
                             else np.diag(np.diag(cov)))
            else:
                lam = fac * np.trace(cov) / d
        else:
            lam = np.asarray(self.scale, dtype=np.float64)
            if lam.ndim == 2 and kind != "matrix":
                raise ValueError(f"ConjugatePrior: the {model.name!r} structure takes a scalar "
                                 "'scale' (the inverse gamma scale of its variances), not a "
                                 "matrix.")
            if lam.ndim == 2 and lam.shape != (d, d):
                raise ValueError(f"ConjugatePrior: 'scale' must have shape ({d}, {d}); got "
                                 f"{lam.shape}.")
        if kind == "matrix":
            lam_mat = lam * np.eye(d) if np.ndim(lam) == 0 else lam
            expo = nu + d + 1
        elif kind == "diagonal":
            lam_mat, expo = float(lam) * np.eye(d), nu + 2
        else:
            lam_mat, expo = float(lam) / d * np.eye(d), (nu + 2) / d
        return ResolvedPrior(float(self.shrinkage), mean, nu, lam_mat, expo,
                             1.0 / k if shared else 1.0, unit)


def check_model(model) -> tuple[str, bool]:
    """``model.conjugate_prior``, or a ``ValueError`` saying why the structure has no prior."""
    form = getattr(model, "conjugate_prior", None)
    if form is None:
        raise ValueError(f"prior is not available for covariance_type={model.name!r}: {_WHY_NOT}.")
    return form


class InUnits:
    """A :class:`ConjugatePrior` to resolve with rows of weight ``unit`` (see ``resolve``)."""

    def __init__(self, prior: ConjugatePrior, unit: float) -> None:
        self.prior, self.unit = prior, unit

    def resolve(self, stats: SufficientStats, model: CovarianceModel) -> "ResolvedPrior":
        return self.prior.resolve(stats, model, self.unit)


def as_prior(prior) -> ConjugatePrior | None:
    """The estimator's ``prior`` parameter as a :class:`ConjugatePrior` (or ``None``)."""
    if prior is None or isinstance(prior, ConjugatePrior):
        return prior
    if prior == "conjugate":
        return ConjugatePrior()
    raise ValueError(f"The 'prior' parameter must be None, 'conjugate' or a ConjugatePrior; "
                     f"got {prior!r}.")


class ResolvedPrior:
    """A prior with numbers for every hyperparameter, for one structure and ``k``.

    ``kappa``, ``mu0`` (d,), ``nu``; ``lam`` the (d, d) matrix ``Lambda`` of the kind's
    ``-expo/2 log|Sigma| - 1/2 tr(Sigma^-1 Lambda)`` form; ``c`` its weight per component;
    ``unit`` the weight of one row. With rows of weight ``unit`` the log-likelihood is ``unit``
    times that in rows, so the posterior maximised is ``log-likelihood + unit * log prior``:
    every prior count (``kappa``, the exponents, ``Lambda``) is multiplied by ``unit``.
    """

    def __init__(self, kappa, mu0, nu, lam, expo, c, unit=1.0):
        self.kappa, self.mu0, self.nu, self.lam, self.expo, self.c = kappa, mu0, nu, lam, expo, c
        self.unit = unit

    def resolve(self, stats, model) -> "ResolvedPrior":
        return self

    def m_step(self, stats: SufficientStats, model, reg_covar: float, previous=None):
        """MAP means and covariances from ``stats`` (see the module docstring)."""
        nk, xbar = stats.nk, stats.means
        u = self.unit
        kap = u * self.kappa
        denom = nk + kap
        safe = np.maximum(denom, _TINY)
        means = np.where((denom > 0)[:, None],
                         (nk[:, None] * xbar + kap * self.mu0) / safe[:, None], xbar)
        diff = xbar - self.mu0
        shrink = np.where(denom > 0, kap * nk / safe, 0.0)
        a = nk + (u if kap > 0 else 0.0) + u * self.c * self.expo
        if stats.scatter.ndim == 3:
            B = (stats.scatter + shrink[:, None, None] * diff[:, :, None] * diff[:, None, :]
                 + u * self.c * self.lam)
        else:
            B = stats.scatter + shrink[:, None] * diff * diff + u * self.c * np.diag(self.lam)
        if model.warm_start_m_step:
            cov = model.from_stats(a, B, reg_covar, previous=previous)
        else:
            cov = model.from_stats(a, B, reg_covar)
        return means, cov

    def log_prior(self, means: np.ndarray, covariances: np.ndarray, model) -> float:
        """``unit`` times the log prior density of the parameters, without its normalising
        constant (the term EM adds to the weighted log-likelihood)."""
        k, d = means.shape
        dense = model.dense(covariances, k, d)
        _, logdet = np.linalg.slogdet(dense)
        chol = np.linalg.cholesky(dense)
        total = 0.0
        for j in range(k):
            inv_l = np.linalg.solve(chol[j], np.eye(d))
            prec = inv_l.T @ inv_l
            total += self.c * (-0.5 * self.expo * logdet[j] - 0.5 * np.sum(prec * self.lam))
            if self.kappa > 0:
                dm = means[j] - self.mu0
                total += -0.5 * logdet[j] - 0.5 * self.kappa * dm @ prec @ dm
        return float(self.unit * total)
