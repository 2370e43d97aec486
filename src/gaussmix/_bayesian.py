"""Variational Bayesian Gaussian mixture on the fast E-pass: a drop-in for scikit-learn's.

Model and notation (Bishop 2006, ch. 10.2; scikit-learn's ``BayesianGaussianMixture``): weights
with a Dirichlet distribution or a (truncated, stick-breaking) Dirichlet process prior, and a
Gaussian-Wishart prior on each component's mean and precision ``Lambda_k``. The variational
posterior of component ``k`` is ``N(mu | m_k, (beta_k Lambda)^-1) W(Lambda | W_k, nu_k)``; the
fitted attributes keep scikit-learn's names: ``mean_precision_`` is ``beta``, ``means_`` is
``m``, ``degrees_of_freedom_`` is ``nu`` and ``covariances_`` is ``(nu W)^-1`` (the inverse of
``E[Lambda]``), so ``precisions_cholesky_`` is ``chol(nu W)``.

The E-step
----------
The variational responsibilities are ``r_nk ~ rho_nk`` with

    log rho_nk = E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi - d/(2 beta_k)
                 - nu_k/2 (x - m_k)^T W_k (x - m_k)
               = log N(x | m_k, (nu_k W_k)^-1) + c_k,
    c_k = E[log pi_k] + 1/2 (E[log|Lambda_k|] - d log nu_k - log|W_k|) - d/(2 beta_k),

a Gaussian log-density with precision ``nu_k W_k`` plus a per-component constant. The engine's
E-pass (:func:`gaussmix._engine.e_pass`) adds ``log weights`` to the Gaussian log-densities, so
one pass with ``weights = exp(c - max c)`` gives the responsibilities and, at once, the
sufficient statistics (``nk``, weighted means, centred scatter) on every data path the engine
serves (in memory, chunked, memory map), in the data's dtype. The M-step is the conjugate update.

The lower bound
---------------
``lower_bound_`` is scikit-learn's: ``-sum w r log r`` minus the log-normalisers of the posterior
Wishart, Dirichlet (or Beta) and ``d/2 sum log beta`` (terms that cancel at the optimum of the
M-step are dropped). The responsibilities' entropy needs no second pass: with ``Z_n`` the row's
normaliser, ``sum_n w_n sum_k r log r = sum_k sum_n w r_nk log rho_nk - sum_n w log Z_n``, and
``sum_n w r_nk (x - m_k)^T P_k (x - m_k) = tr(P_k S_k) + nk (xbar_k - m_k)^T P_k (xbar_k - m_k)``
from the centred statistics. As in scikit-learn, the bound is a total (not a mean), and ``tol``
applies to it.

Missing values
--------------
With ``missing="marginalize"`` NaN marks an entry missing at random, and the missing entries
join the latent variables: mean-field ``q(z, x_m) q(mu, Lambda) q(pi)``. For a row with observed
features ``o`` and missing ``m``, the expected complete-data log-density of component ``k`` is,
with ``P = nu_k W_k = E[Lambda_k]`` and ``Sigma = P^-1`` (``covariances_``),

    E[log N(x | mu_k, Lambda_k)] = 1/2 E[log|Lambda_k|] - d/2 log 2 pi - d/(2 beta_k)
                                   - 1/2 (x - m_k)^T P (x - m_k),

quadratic in ``x_m``, so the optimal ``q(x_m | z=k)`` is Gaussian with precision ``P_mm`` and
mean ``m_km - P_mm^-1 P_mo (x_o - m_ko) = m_km + Sigma_mo Sigma_oo^-1 (x_o - m_ko)``: the
conditional law of ``N(m_k, Sigma)``, covariance ``C = P_mm^-1 = Sigma_mm - Sigma_mo Sigma_oo^-1
Sigma_om``. Splitting ``(x - m)^T P (x - m) = r_o^T Sigma_oo^-1 r_o + (x_m - xhat_m)^T P_mm (x_m -
xhat_m)`` (Schur complement, ``r_o = x_o - m_ko``), its expectation is ``r_o^T Sigma_oo^-1 r_o +
|m|``, and the entropy of ``q(x_m | z=k)`` is ``|m|/2 (1 + log 2 pi) - 1/2 log|P_mm|``. With
``log|P| = log|P_mm| - log|Sigma_oo|``,

    log rho_nk = E[log pi_k] + E[log N(x | mu_k, Lambda_k)] + H[q(x_m | z=k)]
               = log N(x_o | m_ko, Sigma_oo) + c_k,

the *same* constant ``c_k`` as above and the marginal of the E-step's Gaussian over the observed
features: exactly the E-step of maximum-likelihood EM with missing values
(:mod:`gaussmix._missing`) at parameters ``(exp(c - max c), m, Sigma)``, whose statistics are
the completed ones the conjugate M-step needs (``E[x_m]`` and ``E[x_m x_m^T] = C + xhat
xhat^T`` under ``q(x_m | z=k)``, weighted by ``r``). The lower bound needs no new term either:
evaluated on completed statistics, ``sum_n r (c + 1/2 log|P| - d/2 log 2 pi - 1/2 E[(x - m)^T
P (x - m)])`` equals ``sum_n r (log rho - H[q(x_m | z)])``, so ``-sum r log r`` in
:meth:`BayesianGaussianMixture._entropy_term` becomes ``-sum r log r + sum r H[q(x_m | z)]``,
the entropy of ``q(z, x_m)``, and the bound stays the full ELBO of the model with missing
entries (monotone over iterations). Without NaN nothing changes, bit for bit.

Shared spherical and diagonal precisions (EII, EEI)
---------------------------------------------------
mclust's "EII" (``Sigma_k = sigma^2 I``) and "EEI" (``Sigma_k = diag(sigma_1^2 .. sigma_d^2)``)
share one precision among the components, ``Lambda = tau I`` or ``diag(tau_1 .. tau_d)``, with
independent Gamma priors and ``mu_k | Lambda ~ N(m_0, (beta_0 Lambda)^-1)``. The posterior is
``q(Lambda) prod_k N(mu_k | m_k, (beta_k Lambda)^-1)`` with the usual ``beta_k``, ``m_k`` and,
in scikit-learn's units of the per-component types ("spherical", "diag": ``nu`` counts rows
and ``covariances_ = (nu_0 W_0^-1 + scatter) / nu`` per feature), pooled over the components:

    nu = nu_0 + N,   N = sum_k N_k (the data's total weight)
    EEI: tau_j ~ Gamma(a = nu/2, b_j = nu sigma_j^2 / 2),
         nu sigma_j^2 = c_0j + sum_k [S_kjj + N_k reg + beta_0 N_k / beta_k (xbar_kj - m_0j)^2]
    EII: tau ~ Gamma(a = d nu/2, b = d nu sigma^2 / 2),  nu sigma^2 = the EEI sum averaged over j

(``c_0`` is ``covariance_prior``, the prior is ``Gamma(nu_0/2, c_0j/2)`` per feature for EEI
and ``Gamma(d nu_0/2, d c_0/2)`` for EII: its mean ``E[tau] = nu_0 / c_0`` is that of
scikit-learn's "spherical"; ``N d / 2`` is the shape the data add, one half per row and
feature). ``covariances_ = sigma^2 = b / a = E[tau]^-1``, repeated in the shapes of "spherical"
(k,) and "diag" (k, d) (the registry's storage of EII and EEI), and ``degrees_of_freedom_``
holds ``nu`` repeated. ``reg_covar`` adds ``N reg / 2`` to each rate: with the total weight
fixed, a constant shift of the prior's rate, so the bound stays an exact, monotone ELBO.

The E-step's constant uses ``E[log tau_j] - log E[tau_j] = digamma(a) - log a``:

    c_k = E[log pi_k] + d/2 (digamma(a) - log a) - d/(2 beta_k).

The bound after the M-step is, with constants dropped as in scikit-learn (``d/2 log 2 pi``
per unit weight, the priors' normalisers),

    -sum w r log r - log C(weights) + sum_j (log Gamma(a) - a log b_j) - d/2 sum_k log beta_k

(one term for EII): the ``beta_0`` and Gamma-prior factors of the mean prior and the posterior
cancel except these; the shared Gamma's normaliser is counted once, for the mixture (unlike
scikit-learn's "tied", which counts its Wishart ``n_components`` times). It is checked
against the ELBO computed from its definition in ``tests/test_bayesian_shared.py``.

Stochastic variational inference
--------------------------------
The posterior's natural parameters are linear in the expected statistics ``(nk, sum r x,
sum r x x^T)``, so the natural-gradient step of Hoffman et al. (2013),
``lambda <- (1 - rho_t) lambda + rho_t lambda_hat`` with ``lambda_hat`` the posterior from the
batch's statistics scaled by ``N / |batch|``, is the same interpolation of running statistics
(done with the centred merge of :class:`~gaussmix._stats.SufficientStats`) followed by the
ordinary M-step. ``rho_t = (t + learning_offset) ** -learning_decay``, ``t = 1, 2, ...``.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import numbers
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, gammaln
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _io, _missing, covariance
from ._data import ArraySource, ChunkSource, DaskSource, auto_chunk_size, data_kind
from . import _fast
from ._engine import Fixed, e_pass, e_pass_reference
from ._kernels import logsumexp_rows
from ._kmeans import kmeans, kmeans_plusplus
from ._log import say
from ._params import Params
from ._passfit import coreset_source
from ._sampling import distinct_rows, row_uniforms
from ._stats import SufficientStats
from ._typing import INIT_PARAMS
from ._validation import (ArrayLike, Interval, Kinds, Letters, Options, check_means_init,
                          check_params, check_sample_weight, check_weights_init)
from ._init import _stats_from_points, stats_from_labels, stats_from_resp

if TYPE_CHECKING:
    import sklearn.mixture

__all__ = ["BayesianGaussianMixture"]

logger = logging.getLogger("gaussmix")

_EPS10 = 10 * np.finfo(np.float64).eps  # scikit-learn's guard added to nk
_LOG_2PI = math.log(2 * math.pi)
_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_RANDOM_STATE = Kinds(None, numbers.Integral, np.random.RandomState, np.random.Generator,
                      label="None, an int or a numpy random state")
_POS_OR_NONE = [Kinds(None, label="None"), Interval(float, 0, closed="neither")]


# ---------------------------------------------------------------------------------------------
# per covariance type: the Wishart update and the traces the lower bound needs. Only the four
# types whose variational update is closed-form in scikit-learn's parametrisation are offered.


def _data_sums(stats: SufficientStats):
    """scikit-learn's ``nk`` (with its 10 eps guard), ``xk`` and the centred scatter."""
    nk = stats.nk + _EPS10
    xk = stats.nk[:, None] * stats.means / nk[:, None]
    return nk, xk, stats.scatter


def _wishart_full(nk, xk, S, reg, beta, p):
    d = xk.shape[1]
    dof = p["dof"] + nk
    diff = xk - p["mean"]
    cov = (p["cov"][None] + S + (nk * reg)[:, None, None] * np.eye(d)
           + (nk * p["beta"] / beta)[:, None, None] * diff[:, :, None] * diff[:, None, :])
    return dof, cov / dof[:, None, None]


def _wishart_tied(nk, xk, S, reg, beta, p):
    d = xk.shape[1]
    k = len(nk)
    n = nk.sum()
    dof = p["dof"] + n / k
    diff = xk - p["mean"]
    # scikit-learn's sk * N / k, with sk = sum_k S_k / N + reg
    cov = (p["cov"] + (S.sum(axis=0) + n * reg * np.eye(d)) / k
           + p["beta"] / k * ((nk / beta) * diff.T) @ diff)
    return dof, cov / dof


def _wishart_diag(nk, xk, S, reg, beta, p):
    dof = p["dof"] + nk
    diff = xk - p["mean"]
    cov = p["cov"] + S + nk[:, None] * (reg + (p["beta"] / beta)[:, None] * diff ** 2)
    return dof, cov / dof[:, None]


def _wishart_spherical(nk, xk, S, reg, beta, p):
    dof = p["dof"] + nk
    diff = xk - p["mean"]
    cov = p["cov"] + S.mean(axis=1) + nk * (reg + p["beta"] / beta * np.mean(diff ** 2, 1))
    return dof, cov / dof


def _trace_full(P, S, diff):
    return np.einsum("kab,kab->k", P, S) + np.einsum("ka,kab,kb->k", diff, P, diff)


def _trace_tied(P, S, diff):
    return np.einsum("ab,kab->k", P, S) + np.einsum("ka,ab,kb->k", diff, P, diff)


def _trace_diag(P, S, diff):
    return (P * S).sum(axis=1) + (P * diff ** 2).sum(axis=1)


def _trace_spherical(P, S, diff):
    return P * S.sum(axis=1) + P * (diff ** 2).sum(axis=1)


def _gamma_eii(nk, xk, S, reg, beta, p):
    # one precision tau ~ Gamma(a, b) for every component and feature, in scikit-learn's
    # "spherical" units pooled over the components: nu = nu_0 + N and
    # nu sigma^2 = c_0 + (sum_k tr S_k + N d reg + beta_0 sum_k nk/beta_k |xbar_k - m_0|^2) / d,
    # i.e. a = d nu / 2, b = d nu sigma^2 / 2 (see "Shared spherical and diagonal precisions")
    d = xk.shape[1]
    k = len(nk)
    n = nk.sum()
    dof = p["dof"] + n
    diff = xk - p["mean"]
    total = p["cov"] + (S.sum() + n * d * reg
                        + p["beta"] * np.sum((nk / beta) * np.sum(diff ** 2, axis=1))) / d
    return np.full(k, dof), np.full(k, total / dof)


def _gamma_eei(nk, xk, S, reg, beta, p):
    # d precisions tau_j ~ Gamma(nu / 2, nu sigma_j^2 / 2) shared by the components: the
    # "diag" update with the statistics pooled over the components
    k = len(nk)
    n = nk.sum()
    dof = p["dof"] + n
    diff = xk - p["mean"]
    total = (p["cov"] + S.sum(axis=0) + n * reg
             + p["beta"] * np.sum((nk / beta)[:, None] * diff ** 2, axis=0))
    return np.full(k, dof), np.tile(total / dof, (k, 1))


def _gamma_shape_eii(dof, d):
    return 0.5 * d * dof


def _gamma_shape_eei(dof, d):
    return 0.5 * dof


_VB = {
    "full": (_wishart_full, _trace_full),
    "tied": (_wishart_tied, _trace_tied),
    "diag": (_wishart_diag, _trace_diag),
    "spherical": (_wishart_spherical, _trace_spherical),
    "EII": (_gamma_eii, _trace_spherical),
    "EEI": (_gamma_eei, _trace_diag),
}
#: The shared Gamma precisions: the shape ``a`` of each Gamma from ``nu`` (the stored
#: ``degrees_of_freedom_``); EII has one Gamma, EEI one per feature.
_GAMMA = {"EII": _gamma_shape_eii, "EEI": _gamma_shape_eei}
#: Accepted ``covariance_type`` values: scikit-learn's four, mclust's names of them (aliases
#: resolved by the covariance registry) and the shared spherical and diagonal structures.
#: the covariance types with a closed-form variational update (mclust's names for
#: scikit-learn's four are aliases)
BAYES_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical", "VVV", "EEE", "VVI", "VII", "EII",
                          "EEI")
#: The scikit-learn type whose fitted attributes have the same shapes (for its sampler).
_SKLEARN_STORAGE = {"full": "full", "tied": "tied", "diag": "diag", "spherical": "spherical",
                    "EII": "spherical", "EEI": "diag"}


def _canonical(covariance_type: str) -> str:
    """The registry's own name of ``covariance_type`` (``"VVV"`` -> ``"full"``)."""
    return covariance.get(str(covariance_type)).name


def _scaled(stats: SufficientStats, a: float) -> SufficientStats:
    """``stats`` of rows whose weights are multiplied by ``a``."""
    return SufficientStats(stats.nk * a, stats.means.copy(), stats.scatter * a,
                           stats.log_likelihood * a, stats.weight * a, stats.n_samples,
                           stats.worst_X, stats.worst_score)


def _log_wishart_norm(dof, log_det_prec_chol, d):
    # scikit-learn's, without the log(pi) term
    return -(dof * log_det_prec_chol + dof * d * 0.5 * math.log(2.0)
             + np.sum(gammaln(0.5 * (dof - np.arange(d)[:, None])), 0))


def _vb_resolved(stats: SufficientStats, shift: np.ndarray, prior_diag: np.ndarray,
                 data_dtype) -> bool:
    """Whether the fast pass's scatter is accurate enough for the *variational* M-step.

    The fast pass sums raw moments; the centred scatter of component ``k`` then carries an
    absolute error of about ``eps * nk (var + (xbar - shift)^2)`` per feature. Maximum
    likelihood needs it small against the component's own variance
    (:func:`gaussmix._fast.scatter_resolved`), which fails for every component of
    negligible mass, and a variational fit has many (the pruned ones). The Wishart update
    adds the scatter to ``covariance_prior``, so here the error is measured against
    ``diag(covariance_prior) + nk var``: components of negligible mass never force the slower
    reference pass.
    """
    nk = stats.nk[:, None]
    sc = stats.scatter
    var = (np.diagonal(sc, axis1=1, axis2=2) if sc.ndim == 3 else sc) / np.maximum(nk, 1e-300)
    off = (stats.means - shift) ** 2
    err = np.finfo(data_dtype).eps * nk * (np.abs(var) + off)
    base = prior_diag + nk * np.maximum(var, 0.0)
    return bool(np.all(err <= _fast.max_error(data_dtype) * base))


def _vb_pass(source, params: Params, model, shift: np.ndarray, dtype,
             prior_diag: np.ndarray) -> SufficientStats:
    """The engine's E-pass with the variational accuracy test (:func:`_vb_resolved`)."""
    if hasattr(source, "map_pass"):
        # dask blocks (gaussmix.dask.BlockSource): this pass on every block, merged. The
        # errors of the blocks add up, so each block is held to its share of the prior's
        # scale; the components' own variances scale with their mass in the block anyway.
        return source.map_pass(_vb_pass, params, model, shift, dtype,
                               prior_diag / source.n_blocks)
    pool = getattr(source, "workspace_pool", None)
    if pool is None:
        pool = _fast.WorkspacePool()
        try:
            source.workspace_pool = pool
        except AttributeError:
            pass
    # reg_covar=inf switches off the maximum-likelihood test; _vb_resolved replaces it
    stats = _fast.fast_pass(source.chunks(), params, model, shift, dtype, 0, pool=pool,
                            n_rows=getattr(source, "n_samples", None), reg_covar=np.inf)
    if stats is not None and _vb_resolved(stats, shift, prior_diag, np.dtype(dtype)):
        return stats
    return e_pass_reference(source, params, model, shift, dtype, 0)


class BayesianGaussianMixture(DensityMixin, BaseEstimator):
    """Variational Bayesian estimation of a Gaussian mixture, on gaussmix's fast E-pass.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture`: the same parameters,
    defaults, fitted attributes and lower bound, for the ``"full"``, ``"tied"``, ``"diag"``
    and ``"spherical"`` covariance types (or mclust's names of them). In addition: mclust's
    shared structures ``"EII"`` and ``"EEI"``, ``sample_weight`` (an integer weight
    acts like repeating the row, through the initialisation too), float32 input computed in
    float32, memory maps and re-iterables of chunks fitted out of core, :meth:`partial_fit` by
    stochastic variational inference, ``effective_n_components_``, and
    :meth:`to_sklearn`/:meth:`from_sklearn`.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components; the posterior prunes the superfluous ones.
    covariance_type : {"full", "tied", "diag", "spherical", "VVV", "EEE", "VVI", "VII", \
"EII", "EEI"}, default="full"
        scikit-learn's four types, or mclust's names of them ("VVV" is "full", "EEE"
        "tied", "VVI" "diag", "VII" "spherical": the same fits, bit for bit), or the shared
        structures "EII" (one variance ``sigma^2 I`` for every component) and "EEI" (one
        diagonal covariance for every component), whose precisions have Gamma posteriors
        shared by the components (see the module :mod:`gaussmix._bayesian`). Their fitted
        attributes have the shapes of "spherical" and "diag" (rows repeated) and
        ``covariance_prior`` the shapes of those types; :meth:`to_sklearn` refuses them.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (a total, as in scikit-learn).
    reg_covar : float, default=1e-6
        Added to the diagonal of every component's empirical covariance.
    max_iter : int, default=100
    n_init : int, default=1
        Initialisations; the one with the highest lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float or None, default=None
        ``gamma_0``; ``None`` means ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        ``beta_0``; ``None`` means 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        ``m_0``; ``None`` means the (weighted) data mean.
    degrees_of_freedom_prior : float or None, default=None
        ``nu_0 > n_features - 1``; ``None`` means ``n_features``.
    covariance_prior : float or array-like or None, default=None
        ``W_0^-1``, in the covariance type's shape; ``None`` means the (weighted) data
        covariance (``ddof=1``: divided by the total weight minus one).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or None, default=None
        Rows per chunk of the E-pass (``None``: from a memory budget).
    learning_offset : float, default=10.0
        ``tau >= 0`` of the step size ``rho_t = (t + tau) ** -kappa`` of :meth:`partial_fit`.
    learning_decay : float, default=0.7
        ``kappa`` in (0.5, 1] (Robbins-Monro conditions).
    total_samples : float or None, default=None
        ``N``, the (weighted) size of the data set :meth:`partial_fit` batches are drawn
        from: a batch's statistics are scaled by ``N / batch weight``. ``None``: the total
        weight of all batches seen so far (a data set that grows as it streams).
    weight_threshold : float, default=0.01
        Expected weight above which a component counts in ``effective_n_components_``.
    weights_init, means_init, precisions_init : array-like or None, default=None
        Values of the parts that ``params`` keeps known (shapes as in
        :class:`~gaussmix.GaussianMixture`). Given for a part that ``params`` estimates, they
        raise a ValueError (a variational fit has no use for a starting value).
    missing : {"error", "marginalize"}, default="error"
        What NaN in ``X`` means. "error": NaN (and inf) is an error. "marginalize": NaN marks
        an entry missing at random, inferred with the rest of the latent variables (mean-field
        ``q(z, x_m) q(mu, Lambda) q(pi)``; see the module :mod:`gaussmix._bayesian`): the
        responsibilities of a row come from the marginal of its observed features, the
        conjugate updates use the expectations of the missing entries and their conditional
        covariances, and ``lower_bound_`` includes the entropy of ``q(x_m)``. The
        initialisation and the default ``mean_prior`` and ``covariance_prior`` see the rows
        with each NaN replaced by its column's (weighted) observed mean. Scoring and
        prediction of rows with NaN use their observed features. Arrays in memory only
        (:meth:`fit` and :meth:`partial_fit`); inf and rows with every entry missing stay
        errors. Data without NaN gives exactly the fit of ``missing="error"``.
    params : str, default="wmc"
        Which parts the variational updates estimate (hmmlearn's convention): "w" the weights,
        "m" the means, "c" the covariances. A part left out is *known*: its posterior is a
        point mass at its ``*_init`` value, which must then be given, and it stays there
        exactly, in :meth:`fit` and :meth:`partial_fit`.

        - known weights: ``weights_ == weights_init`` and ``E[log pi_k] = log weights_init_k``
          in the E-step; ``weight_concentration_`` is the posterior the weights would have
          with the responsibilities (reported, not used);
        - known means: ``means_ == means_init``, ``mean_precision_`` is ``inf`` (no
          ``d / (2 beta)`` term), the prior on the means (``mean_prior``,
          ``mean_precision_prior``) drops out, and the Wishart posterior of the precisions is
          centred on the known means: ``W^-1 = W_0^-1 + sum_n r (x - mu)(x - mu)^T``. The
          fit starts from the known means (one unit of weight at each), not from
          ``init_params``, whose labelling would pair them with clusters arbitrarily;
        - known covariances: ``precisions_`` is ``precisions_init``, ``degrees_of_freedom_``
          is ``inf`` (``E[log |Lambda|] = log |Lambda|``, no ``reg_covar``); the means keep
          their Gaussian posterior ``N(m, (beta Lambda)^-1)`` with prior
          ``N(mean_prior, (mean_precision_prior Lambda)^-1)``.

        ``lower_bound_`` is then the ELBO of that model: the posterior normalisers of the
        known parts drop out and their expected log-likelihood terms stay (constants dropped
        as in scikit-learn), so it still never decreases over the iterations of :meth:`fit`.
        With the means estimated and the weights or covariances known, the initial clusters
        are paired with the known values by an exact assignment (component ``j`` owns
        ``weights_init[j]`` and ``precisions_init[j]``). :meth:`to_sklearn` needs
        ``params="wmc"``.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As in scikit-learn (``weights_`` the posterior expected weights).
    weight_concentration_ : ndarray or tuple of two ndarrays
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    mean_precision_, degrees_of_freedom_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The lower bound (ELBO, scikit-learn's constants) of the best fit.
    lower_bounds_ : list of float
        Its value at every iteration of the best fit.
    effective_n_components_ : int
        Components whose expected weight exceeds ``weight_threshold``.
    n_features_in_ : int

    See Also
    --------
    gaussmix.GaussianMixture : maximum-likelihood EM.

    References
    ----------
    Bishop, C. M. (2006). Pattern Recognition and Machine Learning, ch. 10.2.
    Blei, D. M., Jordan, M. I. (2006). Variational inference for Dirichlet process mixtures.
    Hoffman, M. D., Blei, D. M., Wang, C., Paisley, J. (2013). Stochastic variational
    inference. JMLR 14.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import BayesianGaussianMixture
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-4, 1, (200, 2)), rng.normal(4, 1, (200, 2))])
    >>> bgm = BayesianGaussianMixture(n_components=5, random_state=0, max_iter=500).fit(X)
    >>> bgm.effective_n_components_
    2
    """

    _parameter_table = {
        "n_components": [Interval(int, 1)],
        "covariance_type": [Options(*BAYES_COVARIANCE_TYPES)],
        "tol": [Interval(float, 0)],
        "reg_covar": [Interval(float, 0)],
        "max_iter": [Interval(int, 0)],
        "n_init": [Interval(int, 1)],
        "init_params": [Options(*INIT_PARAMS)],
        "weight_concentration_prior_type": [Options(*_PRIOR_TYPES)],
        "weight_concentration_prior": _POS_OR_NONE,
        "mean_precision_prior": _POS_OR_NONE,
        "mean_prior": [ArrayLike()],
        "degrees_of_freedom_prior": [Kinds(None, label="None"), Interval(float)],
        "covariance_prior": [ArrayLike(), Interval(float, 0, closed="neither")],
        "random_state": [_RANDOM_STATE],
        "warm_start": [Kinds(bool, np.bool_, label="a bool")],
        "verbose": [Interval(int, 0), Kinds(bool, np.bool_, label="a bool")],
        "verbose_interval": [Interval(int, 1)],
        "chunk_size": [Kinds(None, label="None"), Interval(int, 1)],
        "learning_offset": [Interval(float, 0)],
        "learning_decay": [Interval(float, 0.5, 1, closed="right")],
        "total_samples": _POS_OR_NONE,
        "weight_threshold": [Interval(float, 0, 1)],
        "weights_init": [ArrayLike()],
        "means_init": [ArrayLike()],
        "precisions_init": [ArrayLike()],
        "params": [Letters("wmc")],
        "missing": [Options("error", "marginalize")],
    }

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans",
                 weight_concentration_prior_type: str = "dirichlet_process",
                 weight_concentration_prior: float | None = None,
                 mean_precision_prior: float | None = None,
                 mean_prior: npt.ArrayLike | None = None,
                 degrees_of_freedom_prior: float | None = None,
                 covariance_prior: float | npt.ArrayLike | None = None,
                 random_state: int | np.random.RandomState | None = None,
                 warm_start: bool = False, verbose: int = 0, verbose_interval: int = 10,
                 chunk_size: int | None = None, learning_offset: float = 10.0,
                 learning_decay: float = 0.7, total_samples: float | None = None,
                 weight_threshold: float = 0.01, weights_init: npt.ArrayLike | None = None,
                 means_init: npt.ArrayLike | None = None,
                 precisions_init: npt.ArrayLike | None = None, params: str = "wmc",
                 missing: str = "error"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.total_samples = total_samples
        self.weight_threshold = weight_threshold
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.params = params
        self.missing = missing

    # ------------------------------------------------------------------ data
    def _source(self, X, sample_weight, *, reset: bool):
        """An :class:`ArraySource` (validated whole), a :class:`ChunkSource` (out of core) or
        a :class:`DaskSource` (row blocks on a scheduler, opened by :meth:`fit`)."""
        kind = data_kind(X)
        if kind == "dask":
            self._refuse_out_of_core("dask array")
            if isinstance(X, DaskSource):
                if sample_weight is not None:
                    raise ValueError("sample_weight cannot be given with a data source; give "
                                     "it to the source.")
                source = X
            else:
                source = DaskSource(X, sample_weight)
            if not reset and source.n_features != self.n_features_in_:
                raise ValueError(f"X has {source.n_features} features, but "
                                 f"{type(self).__name__} is expecting {self.n_features_in_} "
                                 "features as input.")
            return source
        if kind in ("memmap", "chunks"):
            self._refuse_out_of_core(kind)
            array = isinstance(X, np.ndarray) and X.ndim == 2
            d = X.shape[1] if array else 8
            cs = self.chunk_size or auto_chunk_size(d, self.n_components,
                                                    X.dtype.itemsize if array else 8)
            return ChunkSource(X, sample_weight, cs,
                               n_features=None if reset else self.n_features_in_)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          ensure_min_samples=2 if reset else 1, reset=reset)
        self._check_values(X)
        # not normalised: the weights' scale is the data's size, which the prior is weighed
        # against (an integer weight must act exactly like repeated rows)
        w = check_sample_weight(sample_weight, X.shape[0])
        cs = self.chunk_size or auto_chunk_size(X.shape[1], self.n_components, X.dtype.itemsize)
        return ArraySource(X, w, cs)

    def _marginalize(self) -> bool:
        return getattr(self, "missing", "error") == "marginalize"

    def _refuse_out_of_core(self, kind: str) -> None:
        if self._marginalize():
            _missing.refuse_out_of_core(kind)

    def _check_values(self, X: np.ndarray) -> None:
        """NaN/inf are errors; with ``missing="marginalize"`` only inf and all-NaN rows."""
        _missing.check_values(X, getattr(self, "missing", "error"))

    def _with_missing(self, source) -> tuple:
        """``(source the initialisation and default priors see, NaN mask or None)``: the
        rows mean-imputed when some entries are missing, else ``source`` itself."""
        if not (self._marginalize() and isinstance(source, ArraySource)):
            return source, None
        nan = np.isnan(source.X)
        if not nan.any():
            return source, None
        imputed = ArraySource(_missing.mean_imputed(source.X, source.w), source.w,
                              source.chunk_size)
        return imputed, nan

    def _pass_fn(self, source, nan, model, shift, dtype):
        """The E-pass ``params -> stats``: the fast pass, or with NaN the pass over missingness
        patterns whose complete rows take the fast pass (see the module docstring)."""
        prior_diag = self._prior_diag()
        if nan is None:
            return lambda p: _vb_pass(source, p, model, shift, dtype, prior_diag)
        return _missing.MissingPass(
            source.X, source.w, model, self.reg_covar, source.chunk_size, nan=nan,
            complete_pass=lambda src, p, sh: _vb_pass(src, p, model, sh, src.dtype,
                                                      prior_diag))

    def _scan(self, source, rng):
        """Shift, dtype, size and the rows the initialisation uses (a coreset out of core)."""
        if isinstance(source, ArraySource):
            n_pos = int(np.count_nonzero(source.w))
            if n_pos < self.n_components:
                raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                                 f"{self.n_components}, n_samples = {n_pos} (rows of positive "
                                 "weight).")
            return {"shift": source.weighted_mean(), "dtype": source.dtype,
                    "n_features": source.n_features, "init_source": source}
        if source.kind == "dask":
            if not hasattr(source, "scan"):
                raise TypeError("a dask array is read by fit (or gaussmix.dask.fit), which "
                                "opens its scheduler for the passes.")
            info = source.scan(self.n_components, rng)
        else:
            from ._outofcore import scan
            info = scan(source, self.n_components, rng)
        if info["n_positive"] < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {info['n_positive']}.")
        cs = self.chunk_size or auto_chunk_size(info["n_features"], self.n_components,
                                                info["dtype"].itemsize)
        info["init_source"] = coreset_source(info, cs)
        if source.kind == "dask":
            source.chunk_size = cs  # rows per chunk of the passes inside a block
        self.n_features_in_ = info["n_features"]
        self.__dict__.pop("feature_names_in_", None)
        return info

    def _moments(self, source, info) -> SufficientStats:
        """One-component statistics of all rows: weighted mean and centred scatter."""
        d = info["n_features"]
        p = Params(np.ones(1), info["shift"][None].copy(), np.eye(d)[None], np.eye(d)[None])
        args = (p, covariance.get("full"), info["shift"], info["dtype"], 0)
        if hasattr(source, "map_pass"):  # dask blocks: the same pass on each, merged
            return source.map_pass(e_pass, *args)
        return e_pass(source, *args)

    # ------------------------------------------------------------------ priors
    def _check_priors(self, source, info):
        d = info["n_features"]
        k = self.n_components
        self.weight_concentration_prior_ = (1.0 / k if self.weight_concentration_prior is None
                                            else float(self.weight_concentration_prior))
        self.mean_precision_prior_ = (1.0 if self.mean_precision_prior is None
                                      else float(self.mean_precision_prior))
        mom = None
        if self.mean_prior is None or self.covariance_prior is None:
            mom = self._moments(source, info)
        if self.mean_prior is None:
            self.mean_prior_ = mom.means[0].copy()
        else:
            m = np.asarray(self.mean_prior, dtype=np.float64)
            if m.shape != (d,):
                raise ValueError(f"The parameter 'means' should have the shape of ({d},), but "
                                 f"got {m.shape}")
            self.mean_prior_ = m
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = float(d)
        elif self.degrees_of_freedom_prior > d - 1.0:
            self.degrees_of_freedom_prior_ = float(self.degrees_of_freedom_prior)
        else:
            raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater than "
                             f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}.")
        ct = self._cov_name()
        # the shared structures take the prior of their per-component counterpart
        kind = {"EII": "spherical", "EEI": "diag"}.get(ct, ct)
        if self.covariance_prior is None:
            if not mom.weight > 1:
                raise ValueError("The default covariance_prior is the data covariance with "
                                 "ddof=1, which needs a total sample weight above 1; got "
                                 f"{mom.weight:g}. Pass covariance_prior.")
            cov = mom.scatter[0] / (mom.weight - 1.0)
            self.covariance_prior_ = {"full": cov, "tied": cov, "diag": np.diag(cov).copy(),
                                      "spherical": float(np.diag(cov).mean())}[kind]
        elif ct in ("full", "tied"):
            c = np.asarray(self.covariance_prior, dtype=np.float64)
            if c.shape != (d, d):
                raise ValueError(f"The parameter '{ct} covariance_prior' should have the shape "
                                 f"of ({d}, {d}), but got {c.shape}")
            if not (np.allclose(c, c.T) and np.all(np.linalg.eigvalsh(c) > 0)):
                raise ValueError(f"'{ct} covariance_prior' should be symmetric, "
                                 "positive-definite")
            self.covariance_prior_ = c
        elif kind == "diag":
            c = np.asarray(self.covariance_prior, dtype=np.float64)
            if c.shape != (d,):
                raise ValueError(f"The parameter '{ct} covariance_prior' should have the shape "
                                 f"of ({d},), but got {c.shape}")
            if np.any(c <= 0):
                raise ValueError(f"'{ct} covariance_prior' should be positive")
            self.covariance_prior_ = c
        else:
            if not isinstance(self.covariance_prior, numbers.Real):
                raise ValueError(f"'{ct} covariance_prior' must be a positive float, got "
                                 f"{self.covariance_prior!r}")
            self.covariance_prior_ = float(self.covariance_prior)

    def _cov_name(self) -> str:
        """``covariance_type`` under the registry's own name (aliases resolved)."""
        return _canonical(self.covariance_type)

    def _prior_diag(self) -> np.ndarray:
        """The prior's variances (d,) or a scalar: the scale the scatter is added to."""
        c = np.asarray(self.covariance_prior_, dtype=np.float64)
        return np.diag(c).copy() if c.ndim == 2 else c

    def _prior(self):
        return {"dof": self.degrees_of_freedom_prior_, "beta": self.mean_precision_prior_,
                "mean": self.mean_prior_, "cov": np.asarray(self.covariance_prior_)}

    # ------------------------------------------------------------------ M-step
    _FIXABLE = (("w", "weights", "weights_init"), ("m", "means", "means_init"),
                ("c", "covariances", "precisions_init"))

    def _check_fixed_inits(self) -> None:
        """Fail before reading data when a fixed part has no ``*_init``, or an ``*_init``
        is given for a part ``params`` estimates."""
        params = self.params
        for letter, what, name in self._FIXABLE:
            given = getattr(self, name) is not None
            if letter not in params and not given:
                raise ValueError(f"params={params!r} keeps the {what} fixed, so {name!r} "
                                 "must be given (it is None).")
            if letter in params and given:
                raise ValueError(f"{name!r} is used only when the {what} are fixed, but "
                                 f"params={params!r} estimates them: leave {letter!r} out of "
                                 f"params or set {name}=None.")

    def _known(self, d: int) -> dict:
        """The parts ``params`` keeps fixed, from the ``*_init`` arrays (checked): ``"w"``
        weights, ``"m"`` means, ``"c"`` (covariances, precision Cholesky factors, precisions).

        An ``*_init`` given for a part that ``params`` estimates is an error: the variational
        fit has no use for it, and a parameter must never be silently ignored.
        """
        self._check_fixed_inits()
        params = self.params
        k = self.n_components
        out = {}
        if "w" not in params:
            out["w"] = check_weights_init(self.weights_init, k)
        if "m" not in params:
            out["m"] = check_means_init(self.means_init, k, d)
        if "c" not in params:
            model = covariance.get(self.covariance_type)
            prec = np.array(model.validate(self.precisions_init, k, d, "precisions_init"),
                            dtype=np.float64)
            if self._cov_name() in _GAMMA and not np.all(prec == prec[:1]):
                raise ValueError(f"covariance_type={self.covariance_type!r} shares one "
                                 "precision among the components, but the rows of "
                                 "'precisions_init' differ.")
            pc = model.precision_cholesky_from_precisions(prec)
            out["c"] = (model.covariances_from_precision_cholesky(pc), pc, prec)
        return out

    def _m_step(self, stats: SufficientStats) -> dict:
        """The conjugate update: posterior parameters from (weighted) statistics."""
        d = stats.means.shape[1]
        known = self._known(d)
        if "m" in known:  # the scatter about the known means (the prior on them drops out)
            stats = Fixed(means=known["m"]).stats(stats)
        nk, xk, S = _data_sums(stats)
        wc0 = self.weight_concentration_prior_
        if self.weight_concentration_prior_type == "dirichlet_process":
            wc = (1.0 + nk, wc0 + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
        else:
            wc = wc0 + nk
        p = self._prior()
        if "m" in known:
            p["beta"] = 0.0
            beta = np.full(len(nk), np.inf)
            means = known["m"].copy()
        else:
            beta = p["beta"] + nk
            means = (p["beta"] * p["mean"] + nk[:, None] * xk) / beta[:, None]
        model = covariance.get(self.covariance_type)
        if "c" in known:
            cov, prec_chol = known["c"][0].copy(), known["c"][1].copy()
            dof = np.inf if getattr(model, "shared", False) else np.full(len(nk), np.inf)
            return {"weight_concentration_": wc, "mean_precision_": beta, "means_": means,
                    "degrees_of_freedom_": dof, "covariances_": cov,
                    "precisions_cholesky_": prec_chol}
        dof, cov = _VB[self._cov_name()][0](nk, xk, S, self.reg_covar, beta, p)
        prec_chol, bad = model.precision_cholesky(cov)
        if bad:
            raise ValueError(
                "Fitting the mixture model failed because some components have ill-defined "
                "empirical covariance (for instance caused by singleton or collapsed samples). "
                "Try to decrease the number of components, increase reg_covar, or scale the "
                "input data.")
        return {"weight_concentration_": wc, "mean_precision_": beta, "means_": means,
                "degrees_of_freedom_": dof, "covariances_": cov,
                "precisions_cholesky_": prec_chol}

    # ------------------------------------------------------------------ E-step pieces
    def _log_weights(self, st) -> np.ndarray:
        if "w" not in self.params:
            with np.errstate(divide="ignore"):
                return np.log(np.asarray(self.weights_init, dtype=np.float64))
        wc = st["weight_concentration_"]
        if self.weight_concentration_prior_type == "dirichlet_process":
            ds = digamma(wc[0] + wc[1])
            da, db = digamma(wc[0]), digamma(wc[1])
            return da - ds + np.hstack((0, np.cumsum(db - ds)[:-1]))
        return digamma(wc) - digamma(np.sum(wc))

    def _constants(self, st, d: int) -> np.ndarray:
        """``c_k`` of the module docstring: log rho = log N(x | m, (nu W)^-1) + c."""
        dof = st["degrees_of_freedom_"]
        if "c" not in self.params:  # known precisions: E[log|Lambda|] = log|Lambda|
            c = self._log_weights(st) - 0.5 * d / st["mean_precision_"]
            return np.broadcast_to(c, (self.n_components,)).astype(np.float64)
        ct = self._cov_name()
        if ct in _GAMMA:
            # shared Gamma precisions: E[log tau] - log E[tau] = digamma(a) - log a, for
            # each of the d features
            a = _GAMMA[ct](dof, d)
            c = (self._log_weights(st)
                 + 0.5 * (d * (digamma(a) - np.log(a)) - d / st["mean_precision_"]))
            return np.broadcast_to(c, (self.n_components,)).astype(np.float64)
        log_lambda = d * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(d)[:, None])), 0)
        c = (self._log_weights(st) - 0.5 * d * np.log(dof)
             + 0.5 * (log_lambda - d / st["mean_precision_"]))
        return np.broadcast_to(c, (self.n_components,)).astype(np.float64)

    def _engine_params(self, st, d: int):
        """Engine parameters whose weighted log-densities are ``log rho - max c``."""
        c = self._constants(st, d)
        c = c - c.max()
        with np.errstate(under="ignore"):
            w = np.exp(c)
        return Params(w, st["means_"], st["covariances_"], st["precisions_cholesky_"]), c

    def _entropy_term(self, stats: SufficientStats, st, c: np.ndarray, d: int) -> float:
        """``sum_n w_n sum_k r log r`` from the statistics of the E-step under ``st``."""
        model = covariance.get(self.covariance_type)
        P = model.precisions(st["precisions_cholesky_"])
        logdet = np.broadcast_to(model.log_det_cholesky(st["precisions_cholesky_"], d),
                                 (self.n_components,))
        # sqrt(nk) folds the nk of nk (xbar - m)^T P (xbar - m) into the difference
        diff = np.sqrt(stats.nk)[:, None] * (stats.means - st["means_"])
        quad = _VB[self._cov_name()][1](P, stats.scatter, diff)
        nk = stats.nk
        # a known weight of 0: c = -inf, and r = 0 (nk may carry round-off of 1e-30)
        with np.errstate(invalid="ignore"):
            rows = np.where(np.isneginf(c), 0.0, nk * (c + logdet - 0.5 * d * _LOG_2PI))
        e = float(np.sum(rows) - 0.5 * np.sum(quad))
        return e - stats.log_likelihood

    def _lower_bound(self, entropy_term: float, st, d: int, stats: SufficientStats,
                     scale: float = 1.0) -> float:
        """The ELBO after the M-step that produced ``st`` from the E-step's ``stats``.

        ``entropy_term`` is ``sum w r log r`` (already scaled by ``scale``, the factor that
        turns a batch's statistics into the data set's). An estimated part contributes the
        log-normaliser of its posterior (scikit-learn's bound: the other terms cancel at the
        M-step's optimum); a known part contributes its expected log-likelihood terms instead:

        - known weights: ``sum_k N_k log pi_k`` (no Dirichlet);
        - known precisions: ``sum_k N_k/2 log|Lambda_k| - 1/2 sum_n w r (x - m_k)^T Lambda_k
          (x - m_k)`` and, with estimated means, ``- N_k d/(2 beta_k)`` minus the
          Kullback-Leibler divergence of ``N(m_k, (beta_k Lambda_k)^-1)`` from the prior
          ``N(m_0, (beta_0 Lambda_k)^-1)`` (no Wishart);
        - known means: no ``d/2 log beta`` term (the Wishart's normaliser stays).

        Constants (``d/2 log 2 pi`` per unit weight, the priors' normalisers) are dropped.
        """
        model = covariance.get(self.covariance_type)
        k = self.n_components
        nk = stats.nk
        if "w" in self.params:
            wc = st["weight_concentration_"]
            if self.weight_concentration_prior_type == "dirichlet_process":
                log_norm_weight = -np.sum(betaln(wc[0], wc[1]))
            else:
                log_norm_weight = gammaln(np.sum(wc)) - np.sum(gammaln(wc))
        else:  # minus the expected log-prior of the assignments, sum_k N_k log pi_k
            log_w = self._log_weights(st)
            with np.errstate(invalid="ignore"):  # 0 log 0 = 0 (see _entropy_term)
                log_norm_weight = -scale * float(
                    np.sum(np.where(np.isneginf(log_w), 0.0, nk * log_w)))
        if "c" in self.params:
            dof = st["degrees_of_freedom_"]
            ldpc = (model.log_det_cholesky(st["precisions_cholesky_"], d)
                    - 0.5 * d * np.log(dof))
            ct = self._cov_name()
            if ct in _GAMMA:
                # minus the log-normaliser of the shared Gamma posteriors, counted once:
                # log Gamma(a) - a log b per Gamma, b = a sigma^2 (sigma^2 = 1 / E[tau])
                a = _GAMMA[ct](float(dof[0]), d)
                var = np.atleast_1d(st["covariances_"][0])
                log_wishart = -float(np.sum(gammaln(a) - a * np.log(a * var)))
            elif getattr(model, "shared", False):
                log_wishart = k * float(np.sum(_log_wishart_norm(dof, ldpc, d)))
            else:
                log_wishart = np.sum(_log_wishart_norm(dof, ldpc, d))
            log_beta = (0.5 * d * np.sum(np.log(st["mean_precision_"])) if "m" in self.params
                        else 0.0)
            return float(-entropy_term - log_wishart - log_norm_weight - log_beta)
        bound = -entropy_term - log_norm_weight
        # known precisions: the expected log-likelihood of the data, then the means' KL
        pc = st["precisions_cholesky_"]
        P = model.precisions(pc)
        logdet = np.broadcast_to(model.log_det_cholesky(pc, d), (k,))  # 1/2 log|Lambda_k|
        m = st["means_"]
        quad = _VB[self._cov_name()][1](P, stats.scatter,
                                            np.sqrt(nk)[:, None] * (stats.means - m))
        bound += scale * float(np.sum(nk * logdet) - 0.5 * np.sum(quad))
        if "m" in self.params:
            beta = st["mean_precision_"]
            beta0 = self.mean_precision_prior_
            dm = np.sqrt(beta0) * (m - self.mean_prior_)
            prior_quad = _VB[self._cov_name()][1](P, np.zeros_like(stats.scatter), dm)
            kl = 0.5 * np.sum(d * beta0 / beta - d + prior_quad + d * np.log(beta / beta0))
            bound -= scale * float(np.sum(nk * d / (2 * beta))) + kl
        return float(bound)

    # ------------------------------------------------------------------ fitting
    def _init_stats(self, info, rng, init_resp=None) -> SufficientStats:
        src = info["init_source"]
        k = self.n_components
        model = covariance.get(self.covariance_type)
        shift, dtype = info["shift"], info["dtype"]
        if init_resp is not None:
            return stats_from_resp(src, np.asarray(init_resp, dtype=np.float64), model, shift,
                                   np.float64)
        X, w = src.X, src.w
        if "m" not in self.params:
            # known means: one unit of weight at each (a k-means labelling would pair the
            # fixed means with clusters in an arbitrary order); the first E-step takes over
            d = X.shape[1]
            return SufficientStats(np.ones(k), self._known(d)["m"],
                                   np.zeros((k, d, d) if model.full_scatter else (k, d)),
                                   0.0, float(k), k, np.empty((0, d)), np.empty(0))
        ip = self.init_params
        if ip == "kmeans":
            _, labels = kmeans(np.asarray(X, dtype=dtype), k, w, rng)
            stats = stats_from_labels(src, labels, k, model, shift, dtype)
        elif ip == "k-means++":
            stats = _stats_from_points(X, w, kmeans_plusplus(np.asarray(X, dtype=dtype), k, w,
                                                             rng), model)
        elif ip == "random_from_data":
            stats = _stats_from_points(X, w, distinct_rows(np.asarray(X), w, k, rng), model)
        else:
            resp = row_uniforms(np.asarray(X), w, k, rng)
            resp /= resp.sum(axis=1)[:, None]
            stats = stats_from_resp(src, resp, model, shift, dtype)
        return self._pair_with_known(stats, X.shape[1])

    def _pair_with_known(self, stats: SufficientStats, d: int) -> SufficientStats:
        """The initial clusters reordered to suit the known weights or covariances.

        Component ``j`` owns the known ``pi_j`` and ``Lambda_j``, but the initialisation
        numbers its clusters arbitrarily; cluster ``i`` goes to the component ``j`` that
        maximises the total of its expected log-likelihood, ``n_i log pi_j + n_i/2 log
        |Lambda_j| - 1/2 tr(Lambda_j S_i)`` (an assignment problem, solved exactly).
        """
        known = self._known(d)
        if not known or "m" in known:
            return stats
        from scipy.optimize import linear_sum_assignment
        k = self.n_components
        nk = stats.nk
        gain = np.zeros((k, k))  # [cluster i, component j]
        if "w" in known:
            with np.errstate(divide="ignore"):
                gain += np.outer(nk, np.log(known["w"]))
        if "c" in known:
            model = covariance.get(self.covariance_type)
            pc = known["c"][1]
            P = model.precisions(pc)
            logdet = np.broadcast_to(model.log_det_cholesky(pc, d), (k,))
            zeros = np.zeros((k, d))
            shared = getattr(model, "shared", False)
            for j in range(k):
                Pj = P if shared else np.broadcast_to(P[j], P.shape)
                gain[:, j] += nk * logdet[j] - 0.5 * _VB[self._cov_name()][1](
                    Pj, stats.scatter, zeros)
        gain[~np.isfinite(gain)] = -1e300  # a known weight of 0 takes an empty cluster
        clusters, components = linear_sum_assignment(gain, maximize=True)
        order = np.empty(k, dtype=np.intp)
        order[components] = clusters
        return dataclasses.replace(stats, nk=stats.nk[order], means=stats.means[order],
                                   scatter=stats.scatter[order])

    def fit(self, X: npt.ArrayLike, y: None = None,
            sample_weight: npt.ArrayLike | None = None) -> "BayesianGaussianMixture":
        """Estimate the variational posterior by coordinate ascent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), numpy.memmap or re-iterable of chunks
            float32 input is computed in float32. A memory map or a re-iterable of 2-D
            arrays (or ``(X, sample_weight)`` pairs) is read chunk by chunk on every
            iteration; its initialisation is computed on a coreset built in the first pass.
            A :class:`dask.array.Array` is fitted on the active dask scheduler, each pass
            mapped over its row blocks and merged (:mod:`gaussmix.dask`; initialised on a
            coreset of the blocks as well).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (a dask array with a dask ``X``); an integer weight acts
            exactly like repeating the row (the data's total weight is weighed against the
            prior, so weights are not rescaled).

        Returns
        -------
        self : BayesianGaussianMixture
        """
        self._fit_data(X, sample_weight)
        return self

    def fit_predict(self, X: npt.ArrayLike, y: None = None,
                    sample_weight: npt.ArrayLike | None = None) -> np.ndarray:
        """Fit, then return the most likely component of each row (``fit(X).predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), numpy.memmap or re-iterable of chunks
            As in :meth:`fit`.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        self._fit_data(X, sample_weight)
        return self.predict(X)

    def _fit_data(self, X, sample_weight) -> None:
        """:meth:`_fit`; a dask array's scheduler is opened for the fit by
        :func:`gaussmix.dask.open_blocks`, whose blocks the passes are mapped over."""
        if data_kind(X) == "dask" and not hasattr(X, "map_pass"):
            from .dask import open_blocks
            with open_blocks(X, sample_weight) as blocks:
                self._fit(blocks, None)
            return
        self._fit(X, sample_weight)

    def _fit(self, X, sample_weight, init_resp=None):
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_table)
        self._check_fixed_inits()
        rng = check_random_state(self.random_state)
        source = self._source(X, sample_weight, reset=True)
        imputed, nan = self._with_missing(source)
        info = self._scan(imputed, rng)
        d = info["n_features"]
        self._known(d)  # the fixed parts' shapes, before any work
        self._check_priors(imputed, info)
        model = covariance.get(self.covariance_type)
        shift, dtype = info["shift"], info["dtype"]
        e_step = self._pass_fn(source, nan, model, shift, dtype)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        best = None
        for init in range(n_init):
            say(f"Initialization {init}", verbose=self.verbose, log=logger)
            if do_init:
                st = self._m_step(self._init_stats(info, rng, init_resp))
                lower_bound = -np.inf
            else:
                st = self._state()
                lower_bound = self.lower_bound_
            lower_bounds = []
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):
                prev = lower_bound
                params, c = self._engine_params(st, d)
                stats = e_step(params)
                ent = self._entropy_term(stats, st, c, d)
                st = self._m_step(stats)
                lower_bound = self._lower_bound(ent, st, d, stats)
                lower_bounds.append(lower_bound)
                if self.verbose and n_iter % self.verbose_interval == 0:
                    say(f"  Iteration {n_iter}", verbose=self.verbose, log=logger)
                if not math.isfinite(lower_bound):
                    raise ValueError("The lower bound became non-finite. Scale the input data "
                                     "or increase reg_covar.")
                if abs(lower_bound - prev) < self.tol:
                    converged = True
                    break
            if best is None or lower_bound > best[1] or best[1] == -np.inf:
                best = (st, lower_bound, n_iter, lower_bounds, converged)
        st, lower_bound, n_iter, lower_bounds, converged = best
        if not converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate data.",
                          ConvergenceWarning)
        self._set_state(st)
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(lower_bound)
        self.lower_bounds_ = [float(v) for v in lower_bounds]
        self.__dict__.pop("_svi", None)
        return source

    # scikit-learn's private two-step initialisation, kept under its names because
    # scikit-learn's own test suite drives it (test_compare_covar_type)
    def _check_parameters(self, X, sample_weight=None):
        """Validate the parameters and set the priors from ``X`` (no fit)."""
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_table)
        self._check_fixed_inits()
        source, _ = self._with_missing(self._source(X, sample_weight, reset=True))
        self._init_info = self._scan(source, check_random_state(self.random_state))
        self._known(self._init_info["n_features"])
        self._check_priors(source, self._init_info)

    def _initialize_parameters(self, X, random_state):
        """The posterior after the initial M-step (``_check_parameters`` first)."""
        self._set_state(self._m_step(self._init_stats(self._init_info,
                                                      check_random_state(random_state))))

    # ------------------------------------------------------------------ SVI
    def partial_fit(self, X: npt.ArrayLike, y: None = None,
                    sample_weight: npt.ArrayLike | None = None) -> "BayesianGaussianMixture":
        """One natural-gradient step of stochastic variational inference on a batch.

        The batch's statistics, scaled by ``total_samples / batch weight``, give the
        posterior ``lambda_hat``; the global parameters move to
        ``(1 - rho_t) lambda + rho_t lambda_hat`` with ``rho_t = (t + learning_offset) **
        -learning_decay`` (Hoffman et al. 2013). The first call initialises on its batch
        (``init_params``) and sets the priors from it. ``lower_bound_`` is the batch's
        estimate of the bound (its entropy term scaled like the statistics).

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : BayesianGaussianMixture
        """
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_table)
        self._check_fixed_inits()
        first = not hasattr(self, "_svi")
        source = self._source(X, sample_weight, reset=first)
        if not isinstance(source, ArraySource):
            raise TypeError("partial_fit takes in-memory batches (arrays).")
        d = source.n_features
        self._known(d)
        bw = float(source.w.sum())
        if not bw > 0:
            raise ValueError("the batch's sample weights are all zero.")
        model = covariance.get(self.covariance_type)
        imputed, nan = self._with_missing(source)
        if first:
            rng = check_random_state(self.random_state)
            info = self._scan(imputed, rng)
            self._check_priors(imputed, info)
            seen = bw
            n_total = self.total_samples or seen
            stats = _scaled(self._init_stats(info, rng), n_total / bw)
            self._svi = {"t": 0, "seen": seen, "stats": stats, "rng": rng}
            st = self._m_step(stats)
            self._set_state(st)
            self.n_iter_ = 0
            self.lower_bounds_ = []
        svi = self._svi
        if not first:
            svi["seen"] += bw
        n_total = self.total_samples or svi["seen"]
        st = self._state()
        params, c = self._engine_params(st, d)
        stats = self._pass_fn(source, nan, model, imputed.weighted_mean(), source.dtype)(params)
        scale = n_total / bw
        ent = self._entropy_term(stats, st, c, d) * scale
        svi["t"] += 1  # steps count from 1, so learning_offset=0 makes the first step whole
        rho = (svi["t"] + self.learning_offset) ** (-self.learning_decay)
        svi["stats"] = _scaled(svi["stats"], 1.0 - rho).merge(_scaled(stats, rho * scale))
        st = self._m_step(svi["stats"])
        self._set_state(st)
        self.lower_bound_ = self._lower_bound(ent, st, d, stats, scale)
        self.lower_bounds_.append(self.lower_bound_)
        self.n_iter_ += 1
        self.converged_ = False
        return self

    # ------------------------------------------------------------------ state
    _STATE = ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
              "covariances_", "precisions_cholesky_")

    def _state(self) -> dict:
        return {a: getattr(self, a) for a in self._STATE}

    def _set_state(self, st: dict) -> None:
        for a in self._STATE:
            setattr(self, a, st[a])
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            s = wc[0] + wc[1]
            tmp = wc[1] / s
            w = wc[0] / s * np.hstack((1, np.cumprod(tmp[:-1])))
            self.weights_ = w / np.sum(w)
        else:
            self.weights_ = wc / np.sum(wc)
        self.precisions_ = covariance.get(self.covariance_type).precisions(
            self.precisions_cholesky_)
        if "w" not in self.params or "c" not in self.params:  # known parts, exactly as given
            known = self._known(self.means_.shape[1])
            if "w" in known:
                self.weights_ = known["w"]
            if "c" in known:
                self.precisions_ = known["c"][2]
        self.effective_n_components_ = int(np.count_nonzero(self.weights_ > self.weight_threshold))

    # ------------------------------------------------------------------ inference
    def _weighted_log_prob(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          reset=False)
        self._check_values(X)
        d = X.shape[1]
        params, c = self._engine_params(self._state(), d)
        model = covariance.get(self.covariance_type)
        const = self._constants(self._state(), d)

        def complete(R):
            lp = model.log_prob(R.astype(np.float64), params.means, params.prec_chol)
            return lp + const

        if self._marginalize() and np.isnan(X).any():
            # the marginal of the E-step's Gaussian over the observed features, plus c_k
            return _missing.weighted_log_prob(X, params, model, complete, log_weights=const)
        return complete(X)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Variational responsibilities of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            from .dask import predict_proba
            return predict_proba(self, X)
        _, resp = logsumexp_rows(self._weighted_log_prob(X), out_resp=True)
        return resp

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The component of highest responsibility for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            from .dask import predict
            return predict(self, X)
        return self._weighted_log_prob(X).argmax(axis=1)

    def score_samples(self, X: npt.ArrayLike) -> np.ndarray:
        """scikit-learn's ``score_samples``: log-sum-exp of the variational log-weights
        and log-densities (not a normalised predictive density).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            from .dask import score_samples
            return score_samples(self, X)
        return logsumexp_rows(self._weighted_log_prob(X))

    def score(self, X: npt.ArrayLike, y: None = None,
              sample_weight: npt.ArrayLike | None = None) -> float:
        """Mean (weighted) of :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        s = self.score_samples(X)
        return float(np.average(s, weights=sample_weight))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw from the mixture with ``weights_``, ``means_`` and ``covariances_``, as
        scikit-learn does.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each draw.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError("Invalid value for 'n_samples': %d . The sampling requires at "
                             "least one sample." % n_samples)
        return self._sklearn_copy().sample(n_samples)

    @property
    def elbo_(self) -> float:
        """The lower bound (ELBO) of the fit, ``lower_bound_``."""
        check_is_fitted(self)
        return self.lower_bound_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "weights_")

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` in the portable gaussmix format.

        The file holds the variational posterior, the priors used and the fit's record, so
        :func:`gaussmix.load` gives back identical predictions, scores and attributes.

        Parameters
        ----------
        path : str or path-like
            Destination file, written atomically; read back with :func:`gaussmix.load`.
        """
        from ._io import save
        save(self, path)

    @classmethod
    def from_posterior(cls, posterior: dict, means: npt.ArrayLike, covariances: npt.ArrayLike,
                       precisions_cholesky: npt.ArrayLike, *,
                       feature_names_in: npt.ArrayLike | None = None, converged: bool = True,
                       n_iter: int = 0, lower_bound: float = -np.inf,
                       lower_bounds: list | None = None, **params: object) -> "BayesianGaussianMixture":
        """A fitted mixture from its variational posterior and priors.

        Parameters
        ----------
        posterior : dict
            ``weight_concentration`` (shape (2, k) for a Dirichlet process, else (k,)),
            ``mean_precision``, ``degrees_of_freedom`` and the priors ``mean_prior``,
            ``covariance_prior``, ``weight_concentration_prior``, ``mean_precision_prior``,
            ``degrees_of_freedom_prior`` (the fitted attributes without their ``_``).
        means : array-like of shape (n_components, n_features)
        covariances, precisions_cholesky : array-like
            In the covariance type's shape; ``covariances`` is ``E[Lambda]^-1``.
        feature_names_in : array-like of str or None, default=None
        converged, n_iter, lower_bound, lower_bounds
            The fit's record.
        **params
            Constructor arguments.

        Returns
        -------
        est : BayesianGaussianMixture
        """
        est = cls(**params)
        check_params(cls.__name__, est.get_params(deep=False), cls._parameter_table)
        means = np.array(means, dtype=np.float64)
        k, d = means.shape
        if k != est.n_components:
            raise ValueError(f"means has {k} rows but n_components = {est.n_components}.")
        wc = np.array(posterior["weight_concentration"], dtype=np.float64)
        if est.weight_concentration_prior_type == "dirichlet_process":
            wc = (wc[0].copy(), wc[1].copy())
        dof = np.array(posterior["degrees_of_freedom"], dtype=np.float64)
        est._set_state({
            "weight_concentration_": wc,
            "mean_precision_": np.array(posterior["mean_precision"], dtype=np.float64),
            "means_": means,
            "degrees_of_freedom_": np.float64(dof) if dof.ndim == 0 else dof,
            "covariances_": np.array(covariances, dtype=np.float64),
            "precisions_cholesky_": np.array(precisions_cholesky, dtype=np.float64)})
        for name in ("weight_concentration_prior", "mean_precision_prior",
                     "degrees_of_freedom_prior"):
            setattr(est, name + "_", float(posterior[name]))
        est.mean_prior_ = np.array(posterior["mean_prior"], dtype=np.float64)
        cp = np.array(posterior["covariance_prior"], dtype=np.float64)
        est.covariance_prior_ = float(cp) if cp.ndim == 0 else cp
        est.converged_ = bool(converged)
        est.n_iter_ = int(n_iter)
        est.lower_bound_ = float(lower_bound)
        est.lower_bounds_ = [float(v) for v in (lower_bounds or [])]
        est.n_features_in_ = d
        if feature_names_in is not None:
            est.feature_names_in_ = np.asarray(feature_names_in, dtype=object)
        return est

    # ------------------------------------------------------------------ conversion
    _PRIORS = ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
               "degrees_of_freedom_prior_", "covariance_prior_")
    _FITTED = ("weights_", "precisions_", "converged_", "n_iter_", "lower_bound_",
               "lower_bounds_", "n_features_in_")

    def to_sklearn(self) -> "sklearn.mixture.BayesianGaussianMixture":
        """An equivalent fitted scikit-learn mixture.

        Returns
        -------
        est : sklearn.mixture.BayesianGaussianMixture
            Same parameters (those scikit-learn has), priors and fitted state.

        Raises
        ------
        ValueError
            When ``params`` keeps parts known: scikit-learn's mixture has no known parts.
        """
        check_is_fitted(self)
        if self._cov_name() in _GAMMA:
            raise ValueError(f"to_sklearn: scikit-learn's BayesianGaussianMixture has no "
                             f"covariance_type={self.covariance_type!r} (a precision shared by "
                             "the components, with a Gamma posterior).")
        if any(c not in self.params for c in "wmc"):
            raise ValueError(f"to_sklearn needs every part estimated (params='wmc'), got "
                             f"params={self.params!r}: scikit-learn's mixture has no known "
                             "weights, means or covariances.")
        return self._sklearn_copy()

    def _sklearn_copy(self) -> "sklearn.mixture.BayesianGaussianMixture":
        """scikit-learn's mixture carrying this one's attributes (its sampler uses only
        ``weights_``, ``means_`` and ``covariances_``)."""
        from sklearn.mixture import BayesianGaussianMixture as SkBGM
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k in SkBGM().get_params()}
        params["covariance_type"] = _SKLEARN_STORAGE[self._cov_name()]
        sk = SkBGM(**params)
        for a in self._STATE + self._PRIORS + self._FITTED:
            if hasattr(self, a):
                setattr(sk, a, copy.deepcopy(getattr(self, a)))
        if hasattr(self, "feature_names_in_"):
            sk.feature_names_in_ = self.feature_names_in_
        return sk

    @classmethod
    def from_sklearn(cls, sk: "sklearn.mixture.BayesianGaussianMixture"
                     ) -> "BayesianGaussianMixture":
        """A gaussmix mixture with the parameters and fitted state of ``sk``.

        Parameters
        ----------
        sk : sklearn.mixture.BayesianGaussianMixture
            A fitted scikit-learn mixture.

        Returns
        -------
        est : BayesianGaussianMixture
        """
        check_is_fitted(sk)
        est = cls(**sk.get_params(deep=False))
        for a in cls._STATE + cls._PRIORS + cls._FITTED:
            if hasattr(sk, a):
                setattr(est, a, copy.deepcopy(getattr(sk, a)))
        if hasattr(sk, "feature_names_in_"):
            est.feature_names_in_ = sk.feature_names_in_
        est._set_state(est._state())
        return est


_io.register_estimator(BayesianGaussianMixture)  # model files naming it load into this class
