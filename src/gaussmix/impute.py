"""Imputation of missing values by a Gaussian mixture, as a scikit-learn transformer."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._estimator import GaussianMixture
from ._typing import RandomStateLike
from ._validation import Kinds, Options, check_params


class GaussianMixtureImputer(TransformerMixin, BaseEstimator):
    """Fill missing values from a Gaussian mixture fitted to the incomplete data.

    ``fit`` runs :class:`gaussmix.GaussianMixture` with ``missing="marginalize"`` (EM of
    Ghahramani & Jordan 1994 on the rows as they are, no prior imputation); ``transform``
    replaces each missing entry by its conditional expectation under the fitted mixture given
    the row's observed entries (``method="mean"``), or by a draw of that conditional
    (``method="sample"``), through :meth:`gaussmix.GaussianMixture.impute`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default="full"
        Any covariance structure of :class:`gaussmix.GaussianMixture`.
    missing_values : float, default=np.nan
        The placeholder of a missing entry (NaN, or a number such as -1).
    method : {"mean", "sample"}, default="mean"
        Conditional expectation, or one draw from the conditional mixture.
    random_state : int, RandomState instance or None, default=None
        Seed of the mixture's initialisation and of the draws.
    **gmm_params : dict
        Other parameters of :class:`gaussmix.GaussianMixture` (``max_iter``, ``tol``,
        ``reg_covar``, ``n_init``, ``init_params``...).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture.
    n_features_in_ : int

    See Also
    --------
    sklearn.impute.IterativeImputer, sklearn.impute.KNNImputer

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixtureImputer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=200)
    >>> X[0, 1] = np.nan
    >>> imp = GaussianMixtureImputer(random_state=0).fit(X)
    >>> bool(abs(imp.transform(X)[0, 1] - 0.9 * X[0, 0]) < 0.2)
    True
    """

    _parameter_table = {
        "method": [Options("mean", "sample")],
        "missing_values": [Kinds(numbers.Real, label="a number or NaN")],
    }

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 missing_values: float = np.nan, method: str = "mean",
                 random_state: RandomStateLike = None, **gmm_params: Any) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.missing_values = missing_values
        self.method = method
        self.random_state = random_state
        self.gmm_params = dict(gmm_params)
        for key, v in gmm_params.items():
            setattr(self, key, v)

    def get_params(self, deep: bool = True) -> dict:
        """Parameters of this imputer (the mixture's extra parameters included).

        Parameters
        ----------
        deep : bool, default=True
            Ignored (no sub-estimators).

        Returns
        -------
        dict
        """
        out = {"n_components": self.n_components, "covariance_type": self.covariance_type,
               "missing_values": self.missing_values, "method": self.method,
               "random_state": self.random_state}
        out.update({key: getattr(self, key) for key in self.gmm_params})
        return out

    def set_params(self, **params: Any) -> GaussianMixtureImputer:
        """Set parameters (the mixture's included).

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : GaussianMixtureImputer
        """
        for key, v in params.items():
            if key not in self.get_params() and key not in GaussianMixture().get_params():
                raise ValueError(f"Invalid parameter {key!r} for GaussianMixtureImputer.")
            if key not in ("n_components", "covariance_type", "missing_values", "method",
                           "random_state"):
                self.gmm_params[key] = v
            setattr(self, key, v)
        return self

    def _mask(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        mv = self.missing_values
        if not (isinstance(mv, float) and np.isnan(mv)):
            if np.isnan(X).any():
                raise ValueError(f"X contains NaN, but missing_values={mv!r}.")
            X[X == mv] = np.nan
        return X

    def fit(self, X: npt.ArrayLike, y: object = None) -> GaussianMixtureImputer:
        """Fit the mixture to the incomplete rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : GaussianMixtureImputer
        """
        check_params(type(self).__name__, {k: getattr(self, k) for k in self._parameter_table},
                     self._parameter_table)
        bad = set(self.gmm_params) - set(GaussianMixture().get_params()) | (
            {"missing"} & set(self.gmm_params))
        if bad:
            raise ValueError(f"GaussianMixtureImputer got parameters {sorted(bad)} that "
                             "GaussianMixture does not take (or that the imputer sets).")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=True)
        Xm = self._mask(X)
        self.mixture_ = GaussianMixture(
            self.n_components, covariance_type=self.covariance_type, missing="marginalize",
            random_state=self.random_state, **self.gmm_params).fit(Xm)
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``X`` with its missing entries imputed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "mixture_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        rng = check_random_state(self.random_state)
        return self.mixture_.impute(self._mask(X), method=self.method, random_state=rng)
