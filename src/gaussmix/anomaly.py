"""Anomaly detection by the log-density of a fitted Gaussian mixture.

A row is an outlier when its log-density under the mixture falls below a threshold
(``offset_``). The threshold is either given (``threshold``), set so that a fraction
``contamination`` of the (weighted) training rows falls below it, or, with
``contamination="auto"``, set to the log-density level whose super-level set holds
``auto_coverage`` (default 99%) of the fitted mixture's own probability mass: the boundary of its
99% highest-density region, estimated by Monte Carlo from ``n_auto_samples`` draws. The last
choice needs no guess of the outlier rate: on data that follow the model about 1% of the rows are
flagged.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._estimator import GaussianMixture
from ._validation import check_finite, check_sample_weight

__all__ = ["GaussianMixtureOutlierDetector", "weighted_quantile"]

_CRITERIA = ("bic", "aic", "icl", "heldout")


def weighted_quantile(values, q, sample_weight=None) -> float:
    """Weighted ``q``-quantile of ``values``: the first sorted value where the weighted CDF exceeds ``q``.

    With unit weights and distinct values, exactly ``floor(q * n)`` values lie strictly below
    the result, so thresholding at it flags a fraction ``q`` of the rows (up to ``1 / n``).

    Parameters
    ----------
    values : array-like of shape (n,)
    q : float in [0, 1]
    sample_weight : array-like of shape (n,), default=None

    Returns
    -------
    float
    """
    v = np.asarray(values, dtype=np.float64)
    w = check_sample_weight(sample_weight, len(v))
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    idx = int(np.searchsorted(cum, q * cum[-1], side="right"))
    return float(v[order][min(idx, len(v) - 1)])


def _drop_light_components(gm: GaussianMixture, min_weight: float):
    """``gm`` without the components lighter than ``min_weight``, weights renormalised."""
    keep = gm.weights_ >= min_weight
    if keep.all() or not keep.any():
        return gm, np.empty(0, dtype=int)
    from . import covariance
    idx = np.flatnonzero(keep)
    w = np.asarray(gm.weights_, dtype=np.float64)[idx]
    # the covariance model knows how its array is indexed by component (a shared one is not)
    cov = covariance.get(gm.covariance_type).subset_components(
        np.asarray(gm.covariances_, dtype=np.float64), idx)
    sub = GaussianMixture.from_params(
        w / w.sum(), np.asarray(gm.means_, dtype=np.float64)[idx], cov,
        covariance_type=gm.covariance_type, random_state=gm.random_state,
        feature_names_in=getattr(gm, "feature_names_in_", None), converged=gm.converged_,
        n_iter=gm.n_iter_, lower_bound=gm.lower_bound_,
        lower_bounds=getattr(gm, "lower_bounds_", ()))
    return sub, np.flatnonzero(~keep)


class GaussianMixtureOutlierDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection with a Gaussian mixture density.

    Follows scikit-learn's outlier-detector conventions: :meth:`predict` returns +1 for
    inliers and -1 for outliers, :meth:`score_samples` is the log-density (the lower, the
    more abnormal) and :meth:`decision_function` is ``score_samples - offset_`` (negative for
    outliers).

    Parameters
    ----------
    n_components : int, iterable of int or {"bic", "aic", "icl", "heldout"}, default="bic"
        Number of mixture components. A criterion name selects it among 1..10 (at most the
        number of rows of positive weight) with :func:`gaussmix.select`; an iterable selects it
        among those values by BIC. The default chooses by BIC because a density that is too
        coarse (one Gaussian over several clusters) spreads its mass over the gaps, so that
        ``contamination="auto"`` then finds no training row outside its high-density region.
    covariance_type : str or tuple of str, default="full"
        Covariance type; a tuple is searched together with ``n_components`` when selecting.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers in the training data; the threshold is that weighted
        quantile of the training log-densities. ``"auto"`` uses the boundary of the model's
        ``auto_coverage`` highest-density region instead. Ignored when ``threshold`` is given.
    threshold : float, default=None
        Explicit log-density threshold: rows with a lower log-density are outliers.
    auto_coverage : float in (0, 1), default=0.99
        Probability mass of the highest-density region used by ``contamination="auto"``.
    n_auto_samples : int, default=20000
        Monte Carlo draws used to estimate that region's boundary.
    min_weight : float in [0, 0.5), default=0.0
        Components whose mixing weight is below ``min_weight`` are treated as clusters of
        anomalies: scoring uses the mixture of the remaining components (weights renormalised),
        so rows explained only by a small component get a low density. Useful when anomalies
        may be similar to each other; set it above the expected outlier fraction (for example
        0.1). ``0`` scores with the full mixture.
    n_init, tol, reg_covar, max_iter, init_params
        As in :class:`~gaussmix.GaussianMixture`.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted density model.
    density_ : GaussianMixture
        The model used for scoring: ``mixture_`` without the components lighter than
        ``min_weight`` (``mixture_`` itself when none is dropped).
    dropped_components_ : ndarray of int
        Indices (into ``mixture_``) of the components left out of ``density_``.
    selection_ : SelectionResult or None
        The model-selection table when ``n_components`` asked for a search.
    offset_ : float
        Log-density threshold; ``decision_function = score_samples - offset_``.
    n_iter_ : int
        EM iterations of the fitted mixture.
    n_features_in_ : int

    See Also
    --------
    sklearn.ensemble.IsolationForest, sklearn.covariance.EllipticEnvelope

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.anomaly import GaussianMixtureOutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
    >>> det = GaussianMixtureOutlierDetector(n_components=2, contamination=0.05,
    ...                                      random_state=0).fit(X)
    >>> det.predict([[0, 0], [8, 8], [4, 4]]).tolist()
    [1, 1, -1]
    >>> float((det.predict(X) == -1).mean())
    0.05
    """

    def __init__(self, n_components="bic", *, covariance_type="full", contamination="auto",
                 threshold=None, auto_coverage=0.99, n_auto_samples=20000, min_weight=0.0,
                 n_init=1,
                 tol=1e-3, reg_covar=1e-6, max_iter=100, init_params="kmeans",
                 random_state=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.contamination = contamination
        self.threshold = threshold
        self.auto_coverage = auto_coverage
        self.n_auto_samples = n_auto_samples
        self.min_weight = min_weight
        self.n_init = n_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.random_state = random_state

    def _check_params(self):
        c = self.contamination
        if not (c == "auto" if isinstance(c, str) else
                isinstance(c, numbers.Real) and not isinstance(c, bool) and 0 < c <= 0.5):
            raise ValueError("The 'contamination' parameter must be 'auto' or a float in "
                             f"(0, 0.5]. Got {c!r} instead.")
        t = self.threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, numbers.Real)
                              or not np.isfinite(t)):
            raise ValueError(f"The 'threshold' parameter must be None or a finite float. "
                             f"Got {t!r} instead.")
        a = self.auto_coverage
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not 0 < a < 1:
            raise ValueError(f"The 'auto_coverage' parameter must be a float in (0, 1). "
                             f"Got {a!r} instead.")
        m = self.n_auto_samples
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 100:
            raise ValueError(f"The 'n_auto_samples' parameter must be an int >= 100. "
                             f"Got {m!r} instead.")
        mw = self.min_weight
        if isinstance(mw, bool) or not isinstance(mw, numbers.Real) or not 0 <= mw < 0.5:
            raise ValueError(f"The 'min_weight' parameter must be a float in [0, 0.5). "
                             f"Got {mw!r} instead.")
        k = self.n_components
        if isinstance(k, str):
            if k not in _CRITERIA:
                raise ValueError(f"The 'n_components' parameter must be an int, an iterable of "
                                 f"ints or one of {list(_CRITERIA)}. Got {k!r} instead.")
        elif isinstance(k, bool) or not (isinstance(k, numbers.Integral) or
                                         hasattr(k, "__iter__")):
            raise ValueError(f"The 'n_components' parameter must be an int, an iterable of "
                             f"ints or one of {list(_CRITERIA)}. Got {k!r} instead.")

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture to ``X`` (n_samples, n_features) and set the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GaussianMixtureOutlierDetector
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          ensure_min_samples=2)
        check_finite(X)
        w = check_sample_weight(sample_weight, X.shape[0])
        kw = dict(n_init=self.n_init, tol=self.tol, reg_covar=self.reg_covar,
                  max_iter=self.max_iter, init_params=self.init_params)
        k = self.n_components
        cov = self.covariance_type
        self.selection_ = None
        if isinstance(k, numbers.Integral) and isinstance(cov, str):
            self.mixture_ = GaussianMixture(k, covariance_type=cov, random_state=self.random_state,
                                            **kw).fit(X, sample_weight=w)
        else:
            from .selection import select
            if isinstance(k, str):
                crit, ks = k, range(1, min(10, int(np.count_nonzero(w))) + 1)
            else:
                crit, ks = "bic", ([k] if isinstance(k, numbers.Integral) else k)
            self.selection_ = select(
                X, ks, cov, crit, sample_weight=w, random_state=self.random_state,
                validation_fraction=0.2 if crit == "heldout" else None, **kw)
            self.mixture_ = self.selection_.best_estimator_
        self._finish(X, w)
        return self

    def _finish(self, X, w) -> None:
        self.n_iter_ = self.mixture_.n_iter_
        self.density_, self.dropped_components_ = _drop_light_components(self.mixture_,
                                                                         self.min_weight)
        scores = self.density_.score_samples(X) if X is not None else None
        self.offset_ = self._threshold(scores, w)

    @classmethod
    def from_mixture(cls, mixture, X=None, *, sample_weight=None, **params):
        """A detector around an already fitted mixture (no refitting).

        Parameters
        ----------
        mixture : GaussianMixture
            A fitted model.
        X : array-like of shape (n_samples, n_features), default=None
            Reference rows for a ``contamination`` threshold; not needed with ``threshold`` or
            ``contamination="auto"``.
        sample_weight : array-like of shape (n_samples,), default=None
        **params
            Detector parameters (``contamination``, ``threshold``, ``min_weight``, ...).

        Returns
        -------
        GaussianMixtureOutlierDetector
        """
        check_is_fitted(mixture)
        det = cls(n_components=int(mixture.n_components),
                  covariance_type=mixture.covariance_type, **params)
        det._check_params()
        det.mixture_ = mixture
        det.selection_ = None
        det.n_features_in_ = int(mixture.means_.shape[1])
        w = None
        if X is not None:
            X = det._check(X)
            w = check_sample_weight(sample_weight, X.shape[0])
        elif det.threshold is None and det.contamination != "auto":
            raise ValueError("a 'contamination' threshold needs reference rows X; pass X, a "
                             "'threshold', or contamination='auto'.")
        det._finish(X, w)
        return det

    def _threshold(self, scores, w) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        if self.contamination != "auto":
            return weighted_quantile(scores, float(self.contamination), w)
        # boundary of the highest-density region holding ``auto_coverage`` of the model's mass:
        # the (1 - coverage)-quantile of log p(Y) for Y drawn from the model itself
        rng = check_random_state(self.random_state)
        gm = self.density_
        # draws from a copy carrying this detector's generator: the (possibly user-owned)
        # mixture is not touched
        sampler = GaussianMixture.from_params(gm.weights_, gm.means_, gm.covariances_,
                                              covariance_type=gm.covariance_type,
                                              random_state=rng)
        Y, _ = sampler.sample(int(self.n_auto_samples))
        return float(np.quantile(gm.score_samples(Y.astype(gm.means_.dtype)),
                                 1.0 - float(self.auto_coverage)))

    def _check(self, X):
        check_is_fitted(self, "mixture_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          reset=False)
        check_finite(X)
        return X

    def score_samples(self, X):
        """Log-density of each row under ``density_`` (the lower, the more abnormal), shape (n_samples,)."""
        X = self._check(X)
        return self.density_.score_samples(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, shape (n_samples,)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers, shape (n_samples,)."""
        dec = self.decision_function(X)
        out = np.ones(dec.shape[0], dtype=int)
        out[dec < 0] = -1
        return out

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then +1/-1 for every training row, shape (n_samples,)."""
        return self.fit(X, sample_weight=sample_weight).predict(X)
