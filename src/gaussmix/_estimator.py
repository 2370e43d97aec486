"""The scikit-learn compatible :class:`GaussianMixture` estimator (thin: validate, run, store)."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import covariance
from ._engine import (ArraySource, EMResult, Params, auto_chunk_size, e_pass, fit_em,
                      initial_params, weighted_log_prob)
from ._kernels import far_log_resp, log_mahalanobis_sq, log_resp_rows, logsumexp_rows
from ._typing import INIT_PARAMS
from ._validation import (ArrayLike, Interval, Kinds, Options, check_finite, check_fit_range,
                          check_params, check_sample_weight)

_RANDOM_STATE = Kinds(None, numbers.Integral, np.random.RandomState,
                      label="None, an int or a numpy.random.RandomState")
_ARRAY = ArrayLike()


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same parameters,
    defaults, fitted attributes and meanings, plus sample weights, float32 fitting, bounded
    memory (rows are processed in chunks), recovery from degenerate components, and safe
    persistence (:meth:`save`, :func:`gaussmix.load`).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance structure (see :mod:`gaussmix.covariance`).
    tol : float, default=1e-3
        Convergence threshold on the change of the weighted mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every covariance.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the responsibilities that start EM are chosen. All four honour sample weights.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights (must be non-negative and sum to 1).
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped as ``precisions_``.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    warm_start : bool, default=False
        Continue from the previous fit's parameters (``n_init`` is then ignored).
    verbose : int, default=0
        Progress messages (1: per initialisation, 2: with timings and changes), sent to the
        ``gaussmix`` logger when logging is configured to show INFO, otherwise to stderr.
    verbose_interval : int, default=10
        Iterations between progress messages.
    chunk_size : int or None, default=None
        Rows processed at once. ``None`` picks a size whose workspace is about 64 MiB, so peak
        memory is the data plus O(n_samples) regardless of ``n_components`` and ``n_features``.
        Results do not depend on it beyond floating-point summation order.
    coreset_size : int or None, default=None
        Fit on a sensitivity coreset of this many weighted rows (:func:`gaussmix.coreset.build`)
        instead of on all rows: approximate, much faster for large ``n_samples``. The fitted
        attributes (``lower_bound_`` included) then refer to the coreset.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (n_components, n_features, n_features) if "full", (n_features, n_features) if "tied",
        (n_components, n_features) if "diag", (n_components,) if "spherical".
    precisions_ : ndarray
        Inverses of the covariances, same shape.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions, same shape.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Weighted mean log-likelihood of the best initialisation at its last iteration.
    lower_bounds_ : list of float
        The lower bound at every iteration of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` had string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : the estimator this one replaces.

    References
    ----------
    Dempster, Laird, Rubin (1977). Maximum likelihood from incomplete data via the EM algorithm.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(1).tolist()
    [1.0, 10.0]
    >>> bool(gm.predict([[0, 0]])[0] != gm.predict([[12, 3]])[0])
    True
    """

    _parameter_table = {
        "n_components": [Interval(int, 1)],
        "covariance_type": [Options("full", "tied", "diag", "spherical")],
        "tol": [Interval(float, 0)],
        "reg_covar": [Interval(float, 0)],
        "max_iter": [Interval(int, 0)],
        "n_init": [Interval(int, 1)],
        "init_params": [Options(*INIT_PARAMS)],
        "weights_init": [_ARRAY],
        "means_init": [_ARRAY],
        "precisions_init": [_ARRAY],
        "random_state": [_RANDOM_STATE],
        "warm_start": [Kinds(bool, np.bool_, label="a bool")],
        "verbose": [Interval(int, 0), Kinds(bool, np.bool_, label="a bool")],
        "verbose_interval": [Interval(int, 1)],
        "chunk_size": [Kinds(None, label="None"), Interval(int, 1)],
        "coreset_size": [Kinds(None, label="None"), Interval(int, 1)],
    }

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, chunk_size=None, coreset_size=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.coreset_size = coreset_size

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self):
        if self.covariance_type not in covariance.names():
            covariance.get(self.covariance_type)  # raises, listing the valid names
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_table)

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          ensure_min_samples=2 if reset else 1, reset=reset)
        check_finite(X)
        return X

    def _check_init_arrays(self, d: int, model) -> dict:
        k = self.n_components
        out = {}
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            if w.shape != (k,):
                raise ValueError(f"'weights_init' must have shape ({k},), got {w.shape}.")
            if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > 1):
                raise ValueError("'weights_init' must be finite and in the range [0, 1].")
            if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"'weights_init' must sum to 1; it sums to {w.sum():.6f}.")
            out["weights_init"] = w
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=np.float64)
            if m.shape != (k, d):
                raise ValueError(f"'means_init' must have shape ({k}, {d}), got {m.shape}.")
            if not np.all(np.isfinite(m)):
                raise ValueError("'means_init' contains NaN or inf values.")
            out["means_init"] = m
        if self.precisions_init is not None:
            out["precisions_init"] = model.validate(self.precisions_init, k, d, "precisions_init")
        return out

    def _source(self, X, w):
        k, d = self.n_components, X.shape[1]
        cs = self.chunk_size or auto_chunk_size(d, k, X.dtype.itemsize)
        return ArraySource(X, w, cs)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None, *, coreset_size="deprecated"):
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 input is fitted in float32. Also accepted, with exact EM:
            a :class:`numpy.memmap` (e.g. ``np.load(path, mmap_mode="r")``, read in chunks,
            never loaded whole), a re-iterable of 2-D arrays or ``(X, sample_weight)`` pairs,
            and a :class:`dask.array.Array` (distributed EM, see :mod:`gaussmix.dask`). For
            these the initialisation is computed on a coreset built in the first pass.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: an integer weight acts like repeating the row, a zero
            weight like removing it, and scaling all weights changes nothing.
        coreset_size : int or None
            Deprecated: set the constructor parameter ``coreset_size`` instead (it can be
            grid-searched and is saved with the model). When given, it overrides that parameter
            for this fit, with a :class:`FutureWarning`.

        Returns
        -------
        self : GaussianMixture
        """
        from ._outofcore import fit_dispatch
        if isinstance(coreset_size, str) and coreset_size == "deprecated":
            coreset_size = self.coreset_size
        else:
            warnings.warn("The 'coreset_size' argument of fit is deprecated: pass "
                          "GaussianMixture(coreset_size=...) instead.", FutureWarning,
                          stacklevel=2)
        if coreset_size is not None:
            self._check_params()
        if not fit_dispatch(self, X, sample_weight, coreset_size):
            self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most likely component of each row of ``X``, shape (n_samples,)."""
        if self.coreset_size is not None:
            return self.fit(X, sample_weight=sample_weight).predict(X)
        X = self._fit(X, sample_weight)
        return self._log_resp(X).argmax(axis=1)

    def _fit(self, X, sample_weight):
        self._check_params()
        X = self._validate_X(X, reset=True)
        check_fit_range(X)
        n, d = X.shape
        w = check_sample_weight(sample_weight, n, normalize=True)
        n_pos = int(np.count_nonzero(w))
        if n_pos < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {n_pos}"
                + (" (samples with positive weight)" if n_pos < n else ""))
        model = covariance.get(self.covariance_type)
        inits = self._check_init_arrays(d, model)
        source = self._source(X, w)
        shift = source.weighted_mean()
        dtype = X.dtype
        rng = check_random_state(self.random_state)

        def init_fn():
            return initial_params(source, self.n_components, model, self.init_params, rng,
                                  self.reg_covar, shift, dtype, **inits)

        warm = None
        if self.warm_start and hasattr(self, "converged_"):
            warm = (self._params(), self.lower_bound_)
        result: EMResult = fit_em(
            lambda p: e_pass(source, p, model, shift, dtype, reg_covar=self.reg_covar),
            init_fn, model,
            n_init=self.n_init, reg_covar=self.reg_covar, tol=self.tol, max_iter=self.max_iter,
            warm=warm, verbose=self.verbose, verbose_interval=self.verbose_interval, dtype=dtype)
        self._store_result(result, model)
        return X

    def _store_result(self, result: EMResult, model) -> None:
        """Fitted attributes from an engine result, warning when it did not converge."""
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning)
        self._set_fitted(result.params, model)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.lower_bound)
        self.lower_bounds_ = [float(v) for v in result.lower_bounds]

    def _set_fitted(self, params: Params, model) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.prec_chol
        self.precisions_ = model.precisions(params.prec_chol)

    def _params(self) -> Params:
        return Params(np.asarray(self.weights_, dtype=np.float64),
                      np.asarray(self.means_, dtype=np.float64),
                      np.asarray(self.covariances_, dtype=np.float64),
                      np.asarray(self.precisions_cholesky_, dtype=np.float64))

    # ------------------------------------------------------------------ inference
    def _weighted_log_prob_chunks(self, X, *, check_finite_rows=False):
        """``(start, X chunk, weighted log-probabilities of the chunk)`` over row chunks.

        With ``check_finite_rows`` each chunk is checked for NaN/inf (for callers that did not
        check ``X`` whole, so that a memory-mapped ``X`` is read once).
        """
        model = covariance.get(self.covariance_type)
        params = self._params()
        cs = self.chunk_size or auto_chunk_size(X.shape[1], len(params.weights), X.dtype.itemsize)
        shift = params.weights @ params.means
        for s in range(0, X.shape[0], cs):
            Xc = X[s:s + cs]
            if check_finite_rows and not np.isfinite(Xc).all():
                check_finite(X)  # raises, locating the first bad entry in X
            # squared whitened residuals beyond float range overflow to inf (or inf - inf):
            # expected for far rows, which the callers handle
            with np.errstate(over="ignore", invalid="ignore"):
                lp = weighted_log_prob(model, Xc, params, shift)
            yield s, Xc, lp

    def _far_log_resp(self, Xr) -> np.ndarray:
        """Log-responsibilities (m, k) of rows ``Xr`` whose log-densities all overflowed.

        One-hot on the component with the smallest Mahalanobis distance, computed in log space
        (see :func:`gaussmix._kernels.far_log_resp`); float64.
        """
        model = covariance.get(self.covariance_type)
        means = np.asarray(self.means_, dtype=np.float64)
        cov = np.asarray(self.covariances_, dtype=np.float64)
        k, d = means.shape
        log_q = np.empty((Xr.shape[0], k))
        for j in range(k):
            chol = np.linalg.cholesky(model.component_covariance(cov, j, d))
            log_q[:, j] = log_mahalanobis_sq(Xr, means[j], chol)
        with np.errstate(divide="ignore"):
            return far_log_resp(log_q, np.log(np.asarray(self.weights_, dtype=np.float64)))

    @staticmethod
    def _log_norm(lp) -> np.ndarray:
        """Row log-sum-exp of ``lp``; a row whose largest term overflowed to NaN (``inf - inf``
        inside a whitening product) is summed over its finite terms, NaN counting as ``-inf``."""
        log_norm = logsumexp_rows(lp)
        bad = np.isneginf(log_norm)
        if bad.any():
            log_norm[bad] = logsumexp_rows(np.where(np.isnan(lp[bad]), -np.inf, lp[bad]))
        return log_norm

    def _log_resp(self, X) -> np.ndarray:
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        for s, Xc, lp in self._weighted_log_prob_chunks(X):
            with np.errstate(invalid="ignore"):  # -inf - -inf on far rows, replaced below
                log_norm, log_resp = log_resp_rows(lp)
            out[s:s + lp.shape[0]] = log_resp
            # no finite maximum: every log-density overflowed (-inf, or NaN from inf - inf in
            # the whitening product), so the components are compared in log space
            far = np.isneginf(log_norm)
            if far.any():
                out[s:s + lp.shape[0]][far] = self._far_log_resp(Xc[far])
        return out

    def score_samples(self, X):
        """Log-density of each row under the mixture, shape (n_samples,).

        A row so far from every component that its log-density is below float64's range
        (whitened squared distance above ~1e308) scores ``-inf``; :meth:`predict_proba` still
        gives it a finite, one-hot posterior.
        """
        if _is_dask(X):  # a lazy dask array, block by block
            return _dask_method(self, X, "score_samples")
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        out = np.empty(X.shape[0], dtype=np.float64)
        for s, _, lp in self._weighted_log_prob_chunks(X):
            out[s:s + lp.shape[0]] = self._log_norm(lp)
        return out

    def _weighted_log_likelihood(self, X, sample_weight) -> tuple[float, float]:
        """``(sum_i w_i log p(x_i), sum_i w_i)``, accumulated in float64 chunk by chunk.

        Nothing of length n_samples is allocated besides the validated weights, so scoring a
        memory-mapped ``X`` needs memory for one chunk only.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          reset=False)
        w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        total = 0.0
        for s, _, lp in self._weighted_log_prob_chunks(X, check_finite_rows=True):
            ll = self._log_norm(lp).astype(np.float64, copy=False)
            total += float(ll.sum() if w is None else np.dot(w[s:s + len(ll)], ll))
        return total, float(X.shape[0] if w is None else w.sum())

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean log-likelihood of ``X`` (higher is better)."""
        total, wsum = self._total_log_likelihood(X, sample_weight)
        return total / wsum

    def predict(self, X):
        """Most likely component of each row, shape (n_samples,)."""
        if _is_dask(X):  # a lazy dask array, block by block
            return _dask_method(self, X, "predict")
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        labels = np.empty(X.shape[0], dtype=np.intp)
        for s, Xc, lp in self._weighted_log_prob_chunks(X):
            lab = lp.argmax(axis=1)
            # a NaN or -inf winner means the densities overflowed: compare in log space
            far = ~np.isfinite(lp[np.arange(len(lab)), lab])
            if far.any():
                lab[far] = self._far_log_resp(Xc[far]).argmax(axis=1)
            labels[s:s + lp.shape[0]] = lab
        return labels

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, n_components).

        Rows far from every component (log-densities below float64's range) get the limit of
        the posterior, one-hot on the component with the smallest Mahalanobis distance.
        """
        if _is_dask(X):  # a lazy dask array, block by block
            return _dask_method(self, X, "predict_proba")
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        out = np.exp(self._log_resp(X))
        return out

    def sample(self, n_samples=1):
        """Draw ``n_samples`` rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each row (rows are grouped by component, as in scikit-learn).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                "least one sample.")
        model = covariance.get(self.covariance_type)
        d = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        parts, labels = [], []
        for j, (mean, c) in enumerate(zip(self.means_, counts)):
            cov = model.component_covariance(self.covariances_, j, d)
            chol = np.linalg.cholesky(cov)
            parts.append(mean + rng.standard_normal(size=(c, d)) @ chol.T)
            labels.append(np.full(c, j, dtype=int))
        return np.vstack(parts), np.concatenate(labels)

    # ------------------------------------------------------------------ model selection
    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        model = covariance.get(self.covariance_type)
        return int(model.n_parameters(k, d) + k * d + k - 1)

    def _total_log_likelihood(self, X, sample_weight) -> tuple[float, float]:
        if _is_dask(X):
            ll = self.score_samples(X)
            w = check_sample_weight(sample_weight, len(ll))
            return float(np.dot(w, ll)), float(w.sum())
        return self._weighted_log_likelihood(X, sample_weight)

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion (lower is better); with weights, n is their sum."""
        total, wsum = self._total_log_likelihood(X, sample_weight)
        return float(-2 * total + self._n_parameters() * np.log(wsum))

    def aic(self, X, sample_weight=None):
        """Akaike information criterion (lower is better)."""
        total, _ = self._total_log_likelihood(X, sample_weight)
        return float(-2 * total + 2 * self._n_parameters())

    # ------------------------------------------------------------------ interoperability
    def save(self, path) -> None:
        """Write the fitted model to ``path`` in the portable gaussmix format (see :mod:`gaussmix.io`)."""
        from ._io import save
        save(self, path)

    @classmethod
    def from_sklearn(cls, gm) -> "GaussianMixture":
        """A fitted gaussmix model with the parameters of a fitted scikit-learn one."""
        check_is_fitted(gm)
        keys = cls().get_params().keys()
        params = {k: v for k, v in gm.get_params().items() if k in keys}
        est = cls(**params)
        model = covariance.get(gm.covariance_type)
        prec_chol = np.asarray(gm.precisions_cholesky_, dtype=np.float64)
        est._set_fitted(Params(np.asarray(gm.weights_, dtype=np.float64),
                               np.asarray(gm.means_, dtype=np.float64),
                               model.covariances_from_precision_cholesky(prec_chol), prec_chol),
                        model)
        for attr in ("converged_", "n_iter_", "lower_bound_", "n_features_in_",
                     "feature_names_in_"):
            if hasattr(gm, attr):
                setattr(est, attr, getattr(gm, attr))
        est.lower_bounds_ = list(getattr(gm, "lower_bounds_", []))
        return est

    def to_sklearn(self):
        """A fitted :class:`sklearn.mixture.GaussianMixture` with this model's parameters."""
        from sklearn.mixture import GaussianMixture as SkGaussianMixture
        check_is_fitted(self)
        params = self.get_params()
        params.pop("chunk_size")
        params.pop("coreset_size")
        gm = SkGaussianMixture(**params)
        for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                     "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
                     "feature_names_in_"):
            if hasattr(self, attr):
                setattr(gm, attr, getattr(self, attr))
        return gm

    def to_onnx(self, *, target_opset=None, options=None, dtype=np.float64):
        """An ONNX model of this fitted mixture, through :meth:`to_sklearn` and skl2onnx.

        Needs the ``onnx`` extra (``pip install "gaussmix[onnx]"``).

        Parameters
        ----------
        target_opset : int, dict or None, default=None
            ONNX opset (or ``{domain: opset}``) to target; ``None`` is skl2onnx's latest.
        options : dict or None, default=None
            skl2onnx converter options for the mixture; the default ``{"score_samples": True}``
            adds the log-density output.
        dtype : {numpy.float64, numpy.float32}, default=numpy.float64
            Type of the input ``X`` and of the float outputs.

        Returns
        -------
        onnx.ModelProto
            Input ``X`` of shape (n_samples, n_features); outputs ``label`` (n_samples, 1),
            ``probabilities`` (n_samples, n_components) and ``score_samples`` (n_samples, 1),
            as :meth:`predict`, :meth:`predict_proba` and :meth:`score_samples`. A row with zero
            density under every component gives NaN probabilities where :meth:`predict_proba`
            gives their limit, one-hot on the smallest Mahalanobis distance.
        """
        from ._onnx import to_onnx
        return to_onnx(self, target_opset=target_opset, options=options, dtype=dtype)

    # ------------------------------------------------------------------ online EM
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch by stepwise (online) EM.

        Not exact: each call moves running sufficient statistics towards the batch's with step
        size ``(t + 2) ** -0.6`` (Cappé & Moulines 2009), which on stationary batches converges
        to the batch EM solution; see :mod:`gaussmix._online`. The first call on an unfitted
        model initialises it from the batch; a model fitted by :meth:`fit` is continued.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
            A non-empty batch.
        y : Ignored
        sample_weight : array-like of shape (n_batch,), default=None
            Non-negative weights, not all zero.

        Returns
        -------
        self : GaussianMixture
        """
        from ._online import partial_fit
        partial_fit(self, X, sample_weight)
        return self


def _is_dask(X) -> bool:
    return type(X).__module__.split(".")[0] == "dask"


def _dask_method(est, X, method):
    from .dask import _lazy
    return _lazy(est, X, method)
