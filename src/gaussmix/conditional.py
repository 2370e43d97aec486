"""Conditioning a Gaussian mixture on some features: conditional mixtures, sampling, regression.

For a mixture ``p(x) = sum_k pi_k N(x | mu_k, S_k)`` and a split of the features into given
``g`` and target ``t`` ones, the conditional ``p(x_t | x_g)`` is again a Gaussian mixture with

* weights ``pi_k(x_g) = pi_k N(x_g | mu_kg, S_kgg) / sum_j pi_j N(x_g | mu_jg, S_jgg)``,
* means ``mu_kt + S_ktg S_kgg^{-1} (x_g - mu_kg)`` (linear in ``x_g``),
* covariances ``S_ktt - S_ktg S_kgg^{-1} S_kgt`` (Schur complements, independent of ``x_g``).

Its mean ``sum_k pi_k(x_g) mu_k(x_g)`` is Gaussian mixture regression (GMR; Ghahramani and Jordan
1994, Sung 2004). Features in neither set are marginalised out (their rows and columns of the
covariances are dropped). Every covariance type is supported through the dense per-component
covariance; for "diag" and "spherical" mixtures the cross-covariances are zero, so only the
weights depend on ``x_g``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import cho_solve, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import covariance
from ._estimator import GaussianMixture
from ._kernels import far_log_resp, log_mahalanobis_sq, log_resp_rows, logsumexp_rows
from ._typing import CovarianceType, InitParams, RandomStateLike

__all__ = ["ConditionalMixture", "condition", "conditional_sample", "GaussianMixtureRegressor"]

_LOG_2PI = float(np.log(2 * np.pi))


def _feature_index(spec, d: int, name: str) -> np.ndarray:
    arr = np.asarray(spec)
    if arr.dtype == bool:
        if arr.shape != (d,):
            raise ValueError(f"boolean mask '{name}' must have shape ({d},), got {arr.shape}.")
        return np.flatnonzero(arr)
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        return np.empty(0, dtype=np.intp)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"'{name}' must be a sequence of feature indices or a boolean mask; "
                        f"got {spec!r}.")
    if arr.min() < -d or arr.max() >= d:
        raise ValueError(f"'{name}' has a feature index out of range for {d} features: "
                         f"{arr.tolist()}.")
    idx = np.where(arr < 0, arr + d, arr)
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"'{name}' repeats a feature: {arr.tolist()}.")
    return idx.astype(np.intp)


@dataclass
class ConditionalMixture:
    """The Gaussian mixture ``p(x_t | x_g)`` for each of ``n`` conditioning rows.

    Attributes
    ----------
    weights : ndarray of shape (n, n_components)
        Posterior component weights given each conditioning row (rows sum to 1).
    means : ndarray of shape (n, n_components, n_targets)
        Conditional component means.
    covariances : ndarray of shape (n_components, n_targets, n_targets)
        Conditional component covariances (the same for every conditioning row).
    log_evidence : ndarray of shape (n,)
        Marginal log-density ``log p(x_g)`` of each conditioning row; ``-inf`` for a row so
        far from every component that it is below float64's range (its ``weights`` are then
        the limit, one-hot on the component with the smallest Mahalanobis distance).
    given : ndarray of int
        Indices of the conditioning features.
    targets : ndarray of int
        Indices of the target features, in the order of the last axis of ``means``.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_evidence: np.ndarray
    given: np.ndarray
    targets: np.ndarray

    @property
    def n_targets(self) -> int:
        """Number of target features (the last axis of ``means``)."""
        return self.means.shape[2]

    def mean(self) -> np.ndarray:
        """Conditional mean ``E[x_t | x_g]`` (the GMR prediction).

        Returns
        -------
        ndarray of shape (n, n_targets)
        """
        return np.einsum("nk,nkt->nt", self.weights, self.means)

    def covariance(self) -> np.ndarray:
        """Conditional covariance ``Cov[x_t | x_g]`` (law of total covariance).

        Returns
        -------
        ndarray of shape (n, n_targets, n_targets)
        """
        # centred: sum_k w_k (S_k + (mu_k - m)(mu_k - m)^T), not E[x x^T] - m m^T, which
        # cancels catastrophically once |m| is large against the spread (and overflows first);
        # components without weight are left out, so their far means cannot give 0 * inf
        dev = self.means - self.mean()[:, None, :]
        dev = np.where(self.weights[:, :, None] > 0, dev, 0.0)
        return (np.einsum("nk,kst->nst", self.weights, self.covariances)
                + np.einsum("nk,nks,nkt->nst", self.weights, dev, dev))

    def log_prob(self, Y: npt.ArrayLike) -> np.ndarray:
        """``log p(y_i | x_g,i)`` for one target row per conditioning row.

        Parameters
        ----------
        Y : array-like of shape (n, n_targets)
            One target row per conditioning row (1-D when there is one target).

        Returns
        -------
        ndarray of shape (n,)
        """
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1 and self.n_targets == 1:
            Y = Y[:, None]
        if Y.shape != (self.weights.shape[0], self.n_targets):
            raise ValueError(f"Y must have shape {(self.weights.shape[0], self.n_targets)}, "
                             f"got {Y.shape}.")
        k = self.weights.shape[1]
        lp = np.empty_like(self.weights)
        for j in range(k):
            L = np.linalg.cholesky(self.covariances[j])
            z = solve_triangular(L, (Y - self.means[:, j]).T, lower=True)
            lp[:, j] = (-0.5 * (self.n_targets * _LOG_2PI + (z * z).sum(axis=0))
                        - np.log(np.diag(L)).sum())
        with np.errstate(divide="ignore"):
            lp += np.log(self.weights)
        return logsumexp_rows(lp)

    def sample(self, n_samples: int = 1, random_state: RandomStateLike = None) -> np.ndarray:
        """Draw from the conditional mixture of every conditioning row.

        Parameters
        ----------
        n_samples : int, default=1
            Draws per conditioning row.
        random_state : int, RandomState instance or None, default=None
            Seed or generator of the draws.

        Returns
        -------
        ndarray of shape (n, n_samples, n_targets)
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
                or n_samples < 1:
            raise ValueError(f"'n_samples' must be an int >= 1; got {n_samples!r}.")
        rng = check_random_state(random_state)
        n, k = self.weights.shape
        t = self.n_targets
        # inverse-CDF choice of a component per draw, then one Gaussian draw from it
        cum = np.cumsum(self.weights, axis=1)
        u = rng.uniform(size=(n, n_samples)) * cum[:, -1:]
        comp = np.minimum((u[:, :, None] >= cum[:, None, :]).sum(axis=2), k - 1)
        chols = np.stack([np.linalg.cholesky(c) for c in self.covariances])
        eps = rng.standard_normal(size=(n, n_samples, t))
        rows = np.arange(n)[:, None]
        return self.means[rows, comp] + np.einsum("nsij,nsj->nsi", chols[comp], eps)

    def mixture(self, i: int = 0) -> GaussianMixture:
        """The conditional distribution of row ``i`` as a fitted full-covariance GaussianMixture.

        Built with :meth:`GaussianMixture.from_params` (no EM history: ``n_iter_ == 0``).

        Parameters
        ----------
        i : int, default=0
            Index of the conditioning row.

        Returns
        -------
        GaussianMixture
            Fitted, with ``n_targets`` features.
        """
        try:
            return GaussianMixture.from_params(self.weights[i], self.means[i], self.covariances,
                                               covariance_type="full")
        except ValueError as exc:
            if "positive definite" not in str(exc):
                raise
            raise ValueError(f"conditional covariances are not positive definite ({exc}); "
                             "refit with a larger reg_covar.") from None


def _check_mixture(gm):
    check_is_fitted(gm, ["weights_", "means_", "covariances_"])
    return (np.asarray(gm.weights_, dtype=np.float64), np.asarray(gm.means_, dtype=np.float64),
            covariance.get(gm.covariance_type))


def condition(gm: object, X_given: npt.ArrayLike, given: npt.ArrayLike,
              targets: npt.ArrayLike | None = None) -> ConditionalMixture:
    """Condition a fitted Gaussian mixture on the values of some of its features.

    Parameters
    ----------
    gm : GaussianMixture
        A fitted mixture (gaussmix or scikit-learn; any covariance type).
    X_given : array-like of shape (n, n_given) or (n_given,)
        Values of the conditioning features, one row per query.
    given : sequence of int or boolean mask of shape (n_features,)
        Which features ``X_given`` holds, in its column order.
    targets : sequence of int or boolean mask, default=None
        Features to describe; default: every feature not in ``given``, in increasing order.
        Features in neither set are marginalised out.

    Returns
    -------
    ConditionalMixture

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> from gaussmix.conditional import condition
    >>> rng = np.random.RandomState(0)
    >>> x = rng.uniform(-3, 3, 2000)
    >>> X = np.column_stack([x, np.sin(x) + 0.1 * rng.standard_normal(2000)])
    >>> gm = GaussianMixture(8, random_state=0).fit(X)
    >>> cm = condition(gm, [[-1.5], [0.0], [1.5]], given=[0])
    >>> np.round(cm.mean()[:, 0], 1).tolist()
    [-1.0, 0.0, 1.0]
    """
    weights, means, model = _check_mixture(gm)
    k, d = means.shape
    g = _feature_index(given, d, "given")
    if targets is None:
        t = np.setdiff1d(np.arange(d), g)
    else:
        t = _feature_index(targets, d, "targets")
        if np.intersect1d(g, t).size:
            raise ValueError("'given' and 'targets' share features "
                             f"{np.intersect1d(g, t).tolist()}.")
    if t.size == 0:
        raise ValueError("no target features left: 'given' covers every feature.")
    Xg = np.asarray(X_given, dtype=np.float64)
    if Xg.ndim == 0 or (Xg.ndim == 1 and g.size != 1):
        Xg = Xg.reshape(1, -1)          # one query row
    elif Xg.ndim == 1:
        Xg = Xg.reshape(-1, 1)          # one given feature: a value per query row
    if Xg.ndim != 2 or Xg.shape[1] != g.size:
        raise ValueError(f"X_given must have {g.size} columns (one per given feature), got "
                         f"shape {np.shape(X_given)}.")
    if not np.all(np.isfinite(Xg)):
        raise ValueError("X_given contains NaN or inf values.")
    n = Xg.shape[0]
    m = t.size
    log_w = np.empty((n, k))
    cmeans = np.empty((n, k, m))
    ccov = np.empty((k, m, m))
    chols = []
    dense = model.dense(np.asarray(gm.covariances_, dtype=np.float64), k, d)
    for j in range(k):
        S = dense[j]
        S_tt = S[np.ix_(t, t)]
        if g.size == 0:
            cmeans[:, j] = means[j, t]
            ccov[j] = S_tt
            log_w[:, j] = 0.0
            continue
        S_gg = S[np.ix_(g, g)]
        S_gt = S[np.ix_(g, t)]
        L = np.linalg.cholesky(S_gg)
        chols.append(L)
        R = Xg - means[j, g]
        A = cho_solve((L, True), S_gt)                      # S_gg^{-1} S_gt, (g, t)
        cmeans[:, j] = means[j, t] + R @ A
        C = S_tt - S_gt.T @ A
        ccov[j] = 0.5 * (C + C.T)
        z = solve_triangular(L, R.T, lower=True)
        with np.errstate(over="ignore"):  # far rows: handled below
            log_w[:, j] = -0.5 * (g.size * _LOG_2PI + (z * z).sum(axis=0)) \
                - np.log(np.diag(L)).sum()
    with np.errstate(divide="ignore"):
        log_w += np.log(weights)
    with np.errstate(invalid="ignore"):
        log_ev, log_cw = log_resp_rows(log_w)
    far = np.isneginf(log_ev)
    if far.any():
        # x_g so far from every component that all log-densities overflowed: the weights'
        # limit is one-hot on the smallest Mahalanobis distance (gaussmix._kernels.far_log_resp);
        # log_evidence stays -inf, below float64's range
        log_q = np.column_stack([log_mahalanobis_sq(Xg[far], means[j, g], chols[j])
                                 for j in range(k)])
        with np.errstate(divide="ignore"):
            log_cw[far] = far_log_resp(log_q, np.log(weights))
    cw = np.exp(log_cw)
    if g.size == 0:
        log_ev = np.zeros(n)
    return ConditionalMixture(cw, cmeans, ccov, log_ev, g, t)


def conditional_sample(gm: object, X_given: npt.ArrayLike, given: npt.ArrayLike,
                       n_samples: int = 1, *, targets: npt.ArrayLike | None = None,
                       random_state: RandomStateLike = None) -> np.ndarray:
    """Draw target features from ``p(x_t | x_g)`` for each conditioning row.

    Parameters
    ----------
    gm, X_given, given, targets
        As in :func:`condition`.
    n_samples : int, default=1
        Draws per conditioning row.
    random_state : int, RandomState instance or None, default=None
        Seed or generator of the draws.

    Returns
    -------
    ndarray of shape (n, n_samples, n_targets)
    """
    return condition(gm, X_given, given, targets).sample(n_samples, random_state)


class GaussianMixtureRegressor(RegressorMixin, BaseEstimator):
    """Gaussian mixture regression: fit a mixture to ``[X, y]``, predict ``E[y | X]``.

    The joint density of inputs and targets is a Gaussian mixture; predictions are the mean
    of the conditional mixture (see :func:`condition`), which is a smooth, locally linear
    function of ``X``; :meth:`predict` can also return the conditional standard deviation, and
    :meth:`sample_y` draws from the full (possibly multi-modal) conditional distribution.
    Features and targets enter one density model, so put them on comparable scales.

    Parameters
    ----------
    n_components : int, default=5
        Number of components of the joint mixture.
    covariance_type : str, default="full"
        Any registered covariance model (see :mod:`gaussmix.covariance`). Models with
        cross-covariances between inputs and targets ("full", "tied") are needed for the
        component means to depend on ``X``.
    n_init, tol, reg_covar, max_iter, init_params, random_state
        As in :class:`~gaussmix.GaussianMixture`.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The joint model over ``n_features_in_ + n_targets_`` columns (inputs first).
    n_features_in_ : int
    n_targets_ : int
    n_iter_ : int
        EM iterations of the joint fit.

    References
    ----------
    Sung, H. G. (2004). Gaussian mixture regression and classification. PhD thesis, Rice
    University.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.conditional import GaussianMixtureRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, (1000, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(1000)
    >>> reg = GaussianMixtureRegressor(n_components=6, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9)
    True
    >>> reg.predict(X[:4]).shape
    (4,)
    """

    def __init__(self, n_components: int = 5, *, covariance_type: CovarianceType = "full",
                 n_init: int = 1, tol: float = 1e-3, reg_covar: float = 1e-6,
                 max_iter: int = 100, init_params: InitParams = "kmeans",
                 random_state: RandomStateLike = None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> GaussianMixtureRegressor:
        """Fit the joint mixture of ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights of the joint fit.

        Returns
        -------
        self : GaussianMixtureRegressor
            The fitted regressor.
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=np.float64, ensure_min_samples=2)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_targets_ = Y.shape[1]
        self.mixture_ = GaussianMixture(
            self.n_components, covariance_type=self.covariance_type, n_init=self.n_init,
            tol=self.tol, reg_covar=self.reg_covar, max_iter=self.max_iter,
            init_params=self.init_params, random_state=self.random_state,
        ).fit(np.hstack([X, Y]), sample_weight=sample_weight)
        self.n_iter_ = self.mixture_.n_iter_
        return self

    def condition(self, X: npt.ArrayLike) -> ConditionalMixture:
        """The conditional mixture ``p(y | x)`` of every row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ConditionalMixture
            One conditional mixture over the targets per row of ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        d = self.n_features_in_
        return condition(self.mixture_, X, given=np.arange(d),
                         targets=np.arange(d, d + self.n_targets_))

    def predict(self, X: npt.ArrayLike,
                return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Conditional mean ``E[y | x]``; with ``return_std``, also the conditional std.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the conditional standard deviation of each target.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of the same shape, only when ``return_std`` is True
        """
        cm = self.condition(X)
        mean = cm.mean()
        if self._y_1d:
            mean = mean[:, 0]
        if not return_std:
            return mean
        std = np.sqrt(np.maximum(np.diagonal(cm.covariance(), axis1=1, axis2=2), 0.0))
        return mean, (std[:, 0] if self._y_1d else std)

    def sample_y(self, X: npt.ArrayLike, n_samples: int = 1,
                 random_state: RandomStateLike = None) -> np.ndarray:
        """Draws from the conditional distribution ``p(y | x)`` of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per row of ``X``.
        random_state : int, RandomState instance or None, default=None
            Seed or generator of the draws.

        Returns
        -------
        ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_samples, n_targets)
            The second form when the model was fitted on a 2-D ``y``.
        """
        out = self.condition(X).sample(n_samples, random_state)
        return out[:, :, 0] if self._y_1d else out
