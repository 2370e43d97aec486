"""The scikit-learn compatible :class:`GaussianMixture` estimator (thin: validate, run, store)."""
from __future__ import annotations

import logging
import math
import os
import numbers
import warnings
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _criteria, _io, _noise, covariance
from ._data import ArraySource, ChunkSource, DaskSource, DataSource, auto_chunk_size, data_kind
from ._engine import Fixed, e_pass, fit_em, params_from_precisions, weighted_log_prob
from ._prior import ConjugatePrior, InUnits, as_prior, check_model
from . import _missing
from ._init import initial_params
from ._params import EMResult, Params
from ._passfit import check_enough_rows, coreset_source
from ._kernels import far_log_resp, log_mahalanobis_sq, log_resp_rows, logsumexp_rows
from ._typing import INIT_PARAMS, CovarianceType, DataLike, InitParams, RandomStateLike
from ._validation import (ArrayLike, Interval, Kinds, Letters, Options, check_finite,
                          check_fit_range, check_means_init, check_params, check_sample_weight,
                          check_weights_init)

_RANDOM_STATE = Kinds(None, numbers.Integral, np.random.RandomState,
                      label="None, an int or a numpy.random.RandomState")
_ARRAY = ArrayLike()

logger = logging.getLogger("gaussmix")


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
    covariance_type : str, default="full"
        Covariance structure: "full", "tied", "diag", "spherical", or the name of any model
        added with :func:`gaussmix.covariance.register`.
    tol : float, default=1e-3
        Convergence threshold on the change of the weighted mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of every covariance.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hc", "hc-EII", \
            "hc-VARS", "hc-EII-VARS"}, default="kmeans"
        How the responsibilities that start EM are chosen. All honour sample weights. ``"hc"``
        is mclust's start: the cut at ``n_components`` of a model-based hierarchical
        clustering (VVV criterion on SVD-transformed data; "-EII": Ward's criterion; "-VARS":
        the raw variables), deterministic, on a subsample of 2000 rows for larger data
        (:mod:`gaussmix._hc`).
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
    params : str, default="wmc"
        Which parameters EM updates (hmmlearn's convention): "w" the weights, "m" the means,
        "c" the covariances. The others stay exactly at ``weights_init``, ``means_init`` and
        ``precisions_init``, which must then be given; with the means fixed the covariances
        are estimated around them. :meth:`partial_fit` honours it too.
    prior : None, "conjugate" or ConjugatePrior, default=None
        Maximum a posteriori EM with the conjugate prior of Fraley & Raftery (2007)
        (:class:`ConjugatePrior`; "conjugate" is mclust's default prior). Keeps small
        components and fits with few rows per feature positive definite without ``reg_covar``.
        ``lower_bound_`` is then the mean log posterior (log-likelihood plus log prior, without
        its normalising constant); :meth:`score`, :meth:`bic` and :meth:`aic` use the
        log-likelihood at the MAP estimate, as mclust does. Not for VEE, EVE, VVE, EVV, with
        fixed parameters (``params``) or in :meth:`partial_fit`.
    missing : {"error", "marginalize"}, default="error"
        What NaN in ``X`` means. "error": NaN (and inf) is an error. "marginalize": NaN marks a
        missing entry, and EM is that of Ghahramani & Jordan (1994): each row's density is the
        marginal over its observed features, the M-step uses the conditional expectations of
        the missing entries and their conditional covariances (:mod:`gaussmix._missing`). The
        initialisation sees the rows with NaN replaced by their column's mean. Scoring and
        prediction of rows with NaN use the same marginals; :meth:`impute` fills them. In
        memory, on memory maps and on re-iterables of chunks (each EM pass reads the chunks
        once; the first pass's coreset is then built on the mean-imputed rows), not on Dask
        arrays nor with ``coreset_size``; inf and rows with every entry missing stay errors.
    noise : bool or array-like of bool of shape (n_samples,), default=False
        Add a uniform noise component (mclust's noise, :mod:`gaussmix._noise`): density
        ``1 / V`` everywhere, ``V`` = ``noise_volume``. ``True`` starts from the rows
        :func:`gaussmix.nn_clutter` flags; a boolean mask gives the initial noise rows. The
        Gaussians are initialised on the other rows. Fitted in memory and out of core (chunks,
        memory maps); not with ``coreset_size``, Dask arrays, :meth:`partial_fit`,
        ``missing="marginalize"`` or fixed weights. A mask is saved as ``True``.
    noise_volume : float or None, default=None
        ``V``; ``None``: mclust's ``hypvol`` of the training rows (:func:`gaussmix.hypvol`).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        In the covariance model's shape (``covariance.get(covariance_type).shape``):
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
    noise_weight_ : float
        With ``noise``: the noise component's mixing weight; ``weights_`` then sum to
        ``1 - noise_weight_`` (mclust's ``pro`` with the noise last). :meth:`predict` gives -1
        for noise, :meth:`predict_proba` has a last "noise" column, :meth:`score_samples`
        includes ``noise_weight_ / noise_volume_`` and BIC/AIC count one more parameter.
    noise_volume_ : float
        With ``noise``: the volume ``V`` of the noise component.
    noise_bounds_ : ndarray of shape (2, n_features)
        With ``noise``: the lower and upper corners of the training rows' bounding box, from
        which :meth:`sample` draws noise rows.

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
        "covariance_type": [covariance.Registered()],
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
        "params": [Letters("wmc")],
        "prior": [Kinds(None, label="None"), Options("conjugate"),
                  Kinds(ConjugatePrior, label="a ConjugatePrior")],
        "noise": [Kinds(bool, np.bool_, label="a bool"), _ARRAY],
        "noise_volume": [Kinds(None, label="None"), Interval(float, 0, closed="neither")],
        "missing": [Options("error", "marginalize")],
    }

    def __init__(self, n_components: int = 1, *, covariance_type: CovarianceType = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: InitParams = "kmeans",
                 weights_init: npt.ArrayLike | None = None,
                 means_init: npt.ArrayLike | None = None,
                 precisions_init: npt.ArrayLike | None = None,
                 random_state: RandomStateLike = None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10, chunk_size: int | None = None,
                 prior: str | ConjugatePrior | None = None,
                 coreset_size: int | None = None, params: str = "wmc",
                 noise: bool | npt.ArrayLike = False, noise_volume: float | None = None,
                 missing: str = "error") -> None:
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
        self.params = params
        self.prior = prior
        self.noise = noise
        self.noise_volume = noise_volume
        self.missing = missing

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self):
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_table)

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          ensure_min_samples=2 if reset else 1, reset=reset)
        if getattr(self, "missing", "error") == "marginalize" and not np.isfinite(X).all():
            _missing.check_missing(X)  # inf and all-NaN rows are errors
        else:
            check_finite(X)
        return X

    def _check_init_arrays(self, d: int, model) -> dict:
        k = self.n_components
        out = {}
        if self.weights_init is not None:
            out["weights_init"] = check_weights_init(self.weights_init, k)
        if self.means_init is not None:
            out["means_init"] = check_means_init(self.means_init, k, d)
        if self.precisions_init is not None:
            out["precisions_init"] = model.validate(self.precisions_init, k, d, "precisions_init")
        return out

    _FIXABLE = (("w", "weights", "weights_init"), ("m", "means", "means_init"),
                ("c", "covariances", "precisions_init"))

    def _check_fixed_inits(self) -> None:
        """Fail before reading data when ``params`` fixes a part that has no ``*_init``."""
        for letter, what, name in self._FIXABLE:
            if letter not in self.params and getattr(self, name) is None:
                raise ValueError(f"params={self.params!r} keeps the {what} fixed, so {name!r} "
                                 f"must be given (it is None).")

    def _fixed(self, d: int, model) -> Fixed | None:
        """The parameters EM keeps (those missing from ``params``), from the ``*_init`` arrays."""
        if all(c in self.params for c in "wmc"):
            return None
        self._check_fixed_inits()
        inits = self._check_init_arrays(d, model)
        parts = {what: inits[name] for letter, what, name in self._FIXABLE
                 if letter not in self.params}
        if "covariances" in parts:
            p = params_from_precisions(np.ones(1), np.zeros((1, 1)), parts["covariances"], model)
            parts["covariances"], parts["prec_chol"] = p.covariances, p.prec_chol
        return Fixed(**parts)

    def _prior(self, model, fixed, unit: float) -> InUnits | None:
        """The ``prior`` parameter for a fit of ``model``; an error where it does not apply.

        ``unit``: the weight one row has in the fit (the weights are normalised by a power of
        two), so that the prior counts in rows and integer weights are repeated rows.
        """
        prior = as_prior(getattr(self, "prior", None))
        if prior is None:
            return None
        check_model(model)
        if fixed is not None:
            raise ValueError(f"prior is not supported with fixed parameters "
                             f"(params={self.params!r}); use params='wmc' or prior=None.")
        return InUnits(prior, unit)

    def _chunk_size(self, d: int, itemsize: int) -> int:
        return self.chunk_size or auto_chunk_size(d, self.n_components, itemsize)

    def _fit_source(self, X, sample_weight, *, fitted: bool = False) -> DataSource:
        """The :class:`~gaussmix._data.DataSource` a fit (or a ``partial_fit`` batch) reads.

        An in-memory array is validated whole here (``n_features_in_`` and feature names are
        recorded unless ``fitted``; the weights are normalised); a memory map or a re-iterable
        of chunks is validated chunk by chunk on the first pass; a dask array on its blocks.
        """
        marginalize = getattr(self, "missing", "error") == "marginalize"
        if isinstance(X, (DaskSource, ChunkSource)):
            if marginalize and isinstance(X, DaskSource):
                self._refuse_dask()
            if sample_weight is not None:
                raise ValueError("sample_weight cannot be given with a data source; give it to "
                                 "the source.")
            if fitted and X.n_features is not None and X.n_features != self.n_features_in_:
                raise ValueError(f"X has {X.n_features} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input.")
            if marginalize and not isinstance(X, _missing.MissingChunkSource):
                # the same chunks, read with NaN as missing entries
                return _missing.MissingChunkSource(
                    X.data, X.sample_weight if isinstance(X.data, np.ndarray) else None,
                    X.chunk_size, n_features=X.expected_features)
            return X
        if isinstance(X, ArraySource):
            X, sample_weight = X.X, (X.w if sample_weight is None else sample_weight)
        kind = data_kind(X)
        if kind == "dask":
            if marginalize:
                self._refuse_dask()
            return DaskSource(X, sample_weight)
        if kind in ("memmap", "chunks"):
            array = isinstance(X, np.ndarray) and X.ndim == 2
            cs = self._chunk_size(X.shape[1] if array else 8, X.dtype.itemsize if array else 8)
            # with missing="marginalize" the chunks may hold NaN (missing entries)
            cls = _missing.MissingChunkSource if marginalize else ChunkSource
            return cls(X, sample_weight, cs, n_features=self.n_features_in_ if fitted else None)
        X = self._validate_X(X, reset=not fitted)
        check_fit_range(X)
        w = check_sample_weight(sample_weight, X.shape[0], normalize=True)
        return ArraySource(X, w, self._chunk_size(X.shape[1], X.dtype.itemsize))

    @staticmethod
    def _refuse_dask() -> None:
        """``missing="marginalize"`` fits arrays, memory maps and chunks, not Dask arrays."""
        _missing.refuse_out_of_core(
            "dask array", "arrays in memory, memory maps and re-iterables of chunks")

    @contextmanager
    def _passes(self, source: DataSource, model, rng):
        """``(pass_fn, init_source, info)`` for ``source``: the E-pass of one EM iteration,
        the rows the initialisation is computed on, and the first pass's summary (see
        :mod:`gaussmix._passfit`). In memory the initialisation sees all rows; out of core and
        on Dask it sees the coreset built by the first pass."""
        k = self.n_components
        if (isinstance(source, ArraySource) and self.missing == "marginalize"
                and np.isnan(source.X).any()):
            # rows with NaN: Ghahramani-Jordan statistics; the initialisation sees the rows
            # mean-imputed (data without NaN keeps the branch below, bit for bit)
            pass_fn = _missing.MissingPass(source.X, source.w, model, self.reg_covar,
                                           source.chunk_size)
            init = ArraySource(_missing.mean_imputed(source.X, source.w), source.w,
                               source.chunk_size)
            info = {"n_samples": source.n_samples, "n_features": source.n_features,
                    "dtype": source.dtype, "shift": init.weighted_mean(),
                    "n_positive": int(np.count_nonzero(source.w))}
            yield pass_fn, init, info
            return
        if isinstance(source, ArraySource):
            shift = source.weighted_mean()
            info = {"n_samples": source.n_samples, "n_features": source.n_features,
                    "dtype": source.dtype, "shift": shift,
                    "n_positive": int(np.count_nonzero(source.w))}
            yield (lambda p: e_pass(source, p, model, shift, source.dtype,
                                    reg_covar=self.reg_covar)), source, info
            return

        def init_source(info):
            d, dtype = info["n_features"], info["dtype"]
            return coreset_source(info, self._chunk_size(d, dtype.itemsize))

        if source.kind == "dask":
            from .dask import passes
            with passes(source, model, k, rng,
                        lambda info: self._chunk_size(info["n_features"], info["dtype"].itemsize),
                        self.reg_covar) as (pass_fn, info):
                yield pass_fn, init_source(info), info
            return
        from ._outofcore import chunk_passes
        pass_fn, info = chunk_passes(source, model, k, rng, self.reg_covar,
                                     missing=getattr(self, "missing", "error") == "marginalize")
        yield pass_fn, init_source(info), info

    def _coreset(self, source: DataSource, size, rng):
        """The weighted coreset ``fit`` fits on when ``coreset_size`` is set, for any source."""
        from .coreset import _check_int, build
        size = _check_int(size, "coreset_size")
        k = self.n_components
        if source.kind == "dask":
            from .dask import coreset
            return coreset(source.X, size, n_clusters=k, sample_weight=source.sample_weight,
                           random_state=rng, scheduler=source.scheduler)
        if isinstance(source, ChunkSource) and source.kind == "chunks":
            from ._outofcore import chunk_coreset
            return chunk_coreset(ChunkSource(source.data, None, 65536), size, k, rng)
        data = source.X if isinstance(source, ArraySource) else source.data
        w = source.w if isinstance(source, ArraySource) else source.sample_weight
        return build(data, size, n_clusters=k, sample_weight=w, random_state=rng)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: DataLike, y: object = None, sample_weight: npt.ArrayLike | None = None, *,
            coreset_size: int | None | str = "deprecated") -> GaussianMixture:
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 input is fitted in float32. Also accepted, with exact EM:
            a :class:`numpy.memmap` (e.g. ``np.load(path, mmap_mode="r")``, read in chunks,
            never loaded whole), a re-iterable of 2-D arrays or ``(X, sample_weight)`` pairs,
            and a :class:`dask.array.Array` (distributed EM, see :mod:`gaussmix.dask`). For
            these the initialisation is computed on a coreset built in the first pass. Every
            kind is read through one data-source layer (:mod:`gaussmix._data`).
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
            The fitted estimator.
        """
        if isinstance(coreset_size, str) and coreset_size == "deprecated":
            coreset_size = self.coreset_size
        else:
            warnings.warn("The 'coreset_size' argument of fit is deprecated: pass "
                          "GaussianMixture(coreset_size=...) instead.", FutureWarning,
                          stacklevel=2)
        self._fit(X, sample_weight, coreset_size)
        return self

    def fit_predict(self, X: DataLike, y: object = None,
                    sample_weight: npt.ArrayLike | None = None) -> np.ndarray:
        """Fit, then return the most likely component of each row of ``X``.

        Accepts everything :meth:`fit` accepts and equals ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like, numpy.memmap, re-iterable of chunks or dask.array.Array
            As in :meth:`fit`.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            A lazy dask array when ``X`` is one (as :meth:`predict`); for an iterable of chunks
            the labels of all chunks, concatenated in order.
        """
        source = self._fit(X, sample_weight, self.coreset_size)
        if isinstance(source, ArraySource) and self.coreset_size is None:
            return self._gather(source, self._labels, (), np.intp)  # validated already
        return self.predict(X.X if isinstance(X, (DaskSource, ArraySource)) else X)

    def _fit(self, X, sample_weight, coreset_size=None) -> DataSource:
        """Fit on ``X`` (on its coreset when ``coreset_size``); returns the source fitted on."""
        self._check_params()
        self._check_fixed_inits()
        k = self.n_components
        source = self._fit_source(X, sample_weight)
        raw_w = sample_weight if sample_weight is not None else getattr(X, "w", None)
        unit = 1.0  # the weight of one row after the normalisation of the weights
        if (getattr(self, "prior", None) is not None and isinstance(source, ArraySource)
                and raw_w is not None):
            unit = float(source.w.max() / np.asarray(raw_w, dtype=np.float64).max())
        model = covariance.get(self.covariance_type)
        rng = check_random_state(self.random_state)
        if coreset_size is not None:
            if not (isinstance(self.noise, (bool, np.bool_)) and not self.noise):
                raise ValueError("noise is not supported with coreset_size: fit on all rows.")
            if self.missing == "marginalize":
                raise ValueError("missing='marginalize' is not supported with coreset_size (a "
                                 "coreset of rows with missing entries is not defined): fit on "
                                 "all rows, or use missing='error' for data without NaN.")
            pts, wts = self._coreset(source, coreset_size, rng)
            logger.info("coreset fit on %d weighted rows", len(pts))
            return self._fit(pts, wts)
        if isinstance(source, ArraySource):
            check_enough_rows(int(np.count_nonzero(source.w)), k, source.n_samples)
        noisy = self._noise_on(source)
        with self._passes(source, model, rng) as (pass_fn, init_source, info):
            check_enough_rows(info["n_positive"], k)
            inits = self._check_init_arrays(info["n_features"], model)
            fixed = self._fixed(info["n_features"], model)
            shift, dtype = info["shift"], info["dtype"]
            w0 = 0.0
            if noisy:
                pass_fn, init_source, w0, vol = self._noise_setup(source, init_source, info,
                                                                  model, k)

            def init_fn():
                p = initial_params(init_source, k, model, self.init_params, rng,
                                   self.reg_covar, shift, dtype, **inits)
                if w0 > 0:  # the noise takes its share of the weights
                    p.weights = p.weights * (1.0 - w0)
                return p

            warm = None
            if self.warm_start and hasattr(self, "converged_"):
                warm = (self._params(), self.lower_bound_)
            result: EMResult = fit_em(
                pass_fn, init_fn, model, n_init=self.n_init, reg_covar=self.reg_covar,
                tol=self.tol, max_iter=self.max_iter, warm=warm, verbose=self.verbose,
                verbose_interval=self.verbose_interval, dtype=dtype, fixed=fixed,
                prior=self._prior(model, fixed, unit))
        self._store_result(result, model,
                           None if isinstance(source, ArraySource) else info["n_features"])
        self._set_noise(*((_noise.noise_weight(self.weights_), vol.volume,
                           np.stack([vol.lower, vol.upper])) if noisy else (None,) * 3))
        return source

    def _noise_on(self, source) -> bool:
        """Whether this fit has a noise component; a clear error where it cannot."""
        if isinstance(self.noise, (bool, np.bool_)) and not self.noise:
            return False
        if source.kind == "dask":
            raise ValueError("noise is not supported on Dask arrays; fit in memory or out of "
                             "core (a memory map or chunks).")
        if "w" not in self.params:
            raise ValueError("noise needs the weights estimated: params must contain 'w'.")
        if getattr(self, "missing", "error") != "error":
            raise ValueError("noise is not supported with missing='marginalize'.")
        return True

    def _noise_setup(self, source, init_source, info, model, k):
        """``(pass_fn, init_source, initial noise weight, Volume)`` of a fit with noise."""
        vol = _noise.volume_of_chunks(source.chunks)
        if self.noise_volume is not None:
            vol.volume = float(self.noise_volume)
        if not vol.volume > 0:
            raise ValueError("the data's hypervolume is 0 (a constant column, or rows on a "
                             "lower-dimensional set): give noise_volume.")
        log_v = math.log(vol.volume)
        shift, dtype = info["shift"], info["dtype"]
        mask = _noise.check_mask(self.noise, info["n_samples"])
        if mask is not None and not isinstance(source, ArraySource):
            raise ValueError("a 'noise' mask needs X in memory; out of core give noise=True.")
        if mask is None:
            mask = _noise.nn_clutter(init_source.X)
        clean, w0 = _noise.clean_source(init_source, mask, init_source.chunk_size)
        check_enough_rows(int(np.count_nonzero(clean.w)), k)

        def pass_fn(p):
            return _noise.noise_pass(source, p, model, shift, dtype, log_v)
        return pass_fn, clean, w0, vol

    def _set_noise(self, weight, volume, bounds) -> None:
        if weight is None:
            for name in ("noise_weight_", "noise_volume_", "noise_bounds_"):
                self.__dict__.pop(name, None)
            return
        self.noise_weight_ = float(weight)
        self.noise_volume_ = float(volume)
        self.noise_bounds_ = np.asarray(bounds, dtype=np.float64)

    def _noise_log_volume(self):
        """``log V`` of a fitted noise component, or None."""
        v = self.__dict__.get("noise_volume_")
        return None if v is None else math.log(v)

    def _n_columns(self) -> int:
        return self.n_components + (self._noise_log_volume() is not None)

    def _store_result(self, result: EMResult, model, n_features: int | None = None, *,
                      online_state=None) -> None:
        """The one place a fit's outcome becomes fitted attributes.

        Parameters
        ----------
        result : EMResult
            What the engine (or a stepwise update) produced.
        model : CovarianceModel
        n_features : int or None
            Set ``n_features_in_`` (and drop ``feature_names_in_``) for data that was not
            validated as an in-memory array; ``None``: already set by the validation.
        online_state : gaussmix._online.OnlineState or None
            The running state of :meth:`partial_fit` (its private ``_online_state``); any
            other fit clears it.
        """
        if online_state is None and not result.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning)
        self._set_fitted(result.params, model)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.lower_bound)
        self.lower_bounds_ = [float(v) for v in result.lower_bounds]
        if n_features is not None:
            self.n_features_in_ = int(n_features)
            self.__dict__.pop("feature_names_in_", None)
        if online_state is None:
            self.__dict__.pop("_online_state", None)
        else:
            online_state.means = self.means_  # the state belongs to these parameters
            self._online_state = online_state

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
    def _inference_source(self, X, sample_weight=None) -> DataSource:
        """A source over the rows to score: an array (or memory map) checked for NaN/inf chunk by
        chunk as it is read (nothing of length n_samples is allocated), or a re-iterable of
        chunks validated against ``n_features_in_``."""
        check_is_fitted(self)
        if isinstance(X, ArraySource):
            X = X.X
        elif isinstance(X, ChunkSource):
            X = X.data
        if data_kind(X) == "chunks":
            # with missing="marginalize" rows with NaN get their marginal log-densities
            cls = (_missing.MissingChunkSource
                   if getattr(self, "missing", "error") == "marginalize" else ChunkSource)
            return cls(X, sample_weight, self._chunk_size(self.n_features_in_, 8),
                       n_features=self.n_features_in_)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          reset=False)
        w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        return ArraySource(X, w, self._chunk_size(X.shape[1], X.dtype.itemsize),
                           check_rows=getattr(self, "missing", "error") != "marginalize")

    def _log_prob_chunks(self, source: DataSource):
        """``(X chunk, w chunk, weighted log-probabilities of the chunk)`` over ``source``."""
        log_v = self._noise_log_volume()
        model = covariance.get(self.covariance_type)
        params = self._params()
        shift = params.weights @ params.means
        marginalize = getattr(self, "missing", "error") == "marginalize"
        start = 0
        for Xc, wc in source.chunks():
            if marginalize and not np.isfinite(Xc).all():  # marginals over observed features
                _missing.check_missing(Xc, offset=start)
                start += len(Xc)
                with np.errstate(over="ignore", invalid="ignore"):
                    lp = _missing.weighted_log_prob(
                        Xc, params, model, lambda R: weighted_log_prob(model, R, params, shift))
                yield Xc, wc, lp.astype(Xc.dtype, copy=False)
                continue
            start += len(Xc)
            # squared whitened residuals beyond float range overflow to inf (or inf - inf):
            # expected for far rows, which the callers handle
            with np.errstate(over="ignore", invalid="ignore"):
                lp = weighted_log_prob(model, Xc, params, shift)
            if log_v is not None:  # the uniform noise column, last
                lp = _noise.with_noise_column(lp, params.weights, log_v)
            yield Xc, wc, lp

    def _gather(self, source: DataSource, per_chunk, tail: tuple, dtype) -> np.ndarray:
        """``per_chunk(X chunk, log-probabilities)`` over ``source``, stacked in row order.

        Written into one preallocated array when the number of rows is known; the results of
        a re-iterable of chunks are concatenated.
        """
        n = source.n_samples
        if n is None:
            parts = [per_chunk(Xc, lp) for Xc, _, lp in self._log_prob_chunks(source)]
            return np.concatenate(parts) if parts else np.empty((0, *tail), dtype=dtype)
        out = np.empty((n, *tail), dtype=dtype)
        s = 0
        for Xc, _, lp in self._log_prob_chunks(source):
            r = per_chunk(Xc, lp)
            out[s:s + len(r)] = r
            s += len(r)
        return out

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

    def _chunk_log_resp(self, Xc, lp) -> np.ndarray:
        """Log-responsibilities of one chunk from its weighted log-probabilities."""
        with np.errstate(invalid="ignore"):  # -inf - -inf on far rows, replaced below
            log_norm, log_resp = log_resp_rows(lp)
        # no finite maximum: every log-density overflowed (-inf, or NaN from inf - inf in
        # the whitening product), so the components are compared in log space
        far = np.isneginf(log_norm)
        if far.any():
            fr = self._far_log_resp(Xc[far])
            log_resp[far] = np.pad(fr, ((0, 0), (0, log_resp.shape[1] - fr.shape[1])),
                                   constant_values=-np.inf)  # a noise column of weight 0
        return log_resp

    def _labels(self, Xc, lp) -> np.ndarray:
        """Most likely component of each row of one chunk."""
        lab = lp.argmax(axis=1)
        # a NaN or -inf winner means the densities overflowed: compare in log space
        far = ~np.isfinite(lp[np.arange(len(lab)), lab])
        if far.any():
            lab[far] = self._far_log_resp(Xc[far]).argmax(axis=1)
        lab[lab == self.n_components] = -1  # the noise column
        return lab

    def _log_resp(self, X) -> np.ndarray:
        source = self._inference_source(X)
        return self._gather(source, self._chunk_log_resp, (self._n_columns(),), source.dtype)

    def score_samples(self, X: DataLike) -> np.ndarray:
        """Log-density of each row under the mixture.

        A row so far from every component that its log-density is below float64's range
        (whitened squared distance above ~1e308) scores ``-inf``; :meth:`predict_proba` still
        gives it a finite, one-hot posterior.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), memmap, chunks or dask array
            A memory map is read chunk by chunk; a dask array gives a lazy result.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            float64; a lazy dask array for a dask ``X``; for a re-iterable of chunks, the
            values of all chunks concatenated in order.
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            return _dask_method(self, X, "score_samples")
        return self._gather(self._inference_source(X), lambda Xc, lp: self._log_norm(lp), (),
                            np.float64)

    def score(self, X: DataLike, y: object = None,
              sample_weight: npt.ArrayLike | None = None) -> float:
        """Weighted mean log-likelihood of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), memmap, chunks or dask array
            Read chunk by chunk: scoring a memory map allocates one chunk, not n_samples floats.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            (For a re-iterable of chunks, yield ``(X, sample_weight)`` pairs instead.)

        Returns
        -------
        float
        """
        total, wsum, _ = self._total_log_likelihood(X, sample_weight)
        return total / wsum

    def predict(self, X: DataLike) -> np.ndarray:
        """Most likely component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), memmap, chunks or dask array

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            A lazy dask array for a dask ``X``; for a re-iterable of chunks, the labels of all
            chunks concatenated in order.
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            return _dask_method(self, X, "predict")
        return self._gather(self._inference_source(X), self._labels, (), np.intp)

    def predict_proba(self, X: DataLike) -> np.ndarray:
        """Posterior probability of each component for each row.

        Rows far from every component (log-densities below float64's range) get the limit of
        the posterior, one-hot on the component with the smallest Mahalanobis distance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), memmap, chunks or dask array

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components) or (n_samples, n_components + 1)
            With a noise component, its posterior is the last column.
            In the dtype of ``X``; a lazy dask array for a dask ``X``; for a re-iterable of
            chunks, the rows of all chunks concatenated in order.
        """
        if data_kind(X) == "dask":  # a lazy dask array, block by block
            return _dask_method(self, X, "predict_proba")
        source = self._inference_source(X)
        return self._gather(source, lambda Xc, lp: np.exp(self._chunk_log_resp(Xc, lp)),
                            (self._n_columns(),), source.dtype)

    def impute(self, X: npt.ArrayLike, method: str = "mean",
               random_state: RandomStateLike = None) -> np.ndarray:
        """``X`` with its NaN entries filled from the fitted mixture, given each row's observed
        entries.

        The conditional law of a row's missing entries given its observed ones is a mixture of
        the components' conditional Gaussians, weighted by the posterior of the components
        under the observed entries' marginal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry (whatever ``missing`` is); inf and rows with every entry
            missing are errors.
        method : {"mean", "sample"}, default="mean"
            "mean": the conditional expectation (posterior-weighted conditional means);
            "sample": one draw from the conditional mixture.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws of ``method="sample"``.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            float64; the observed entries unchanged.
        """
        check_is_fitted(self)
        if method not in ("mean", "sample"):
            raise ValueError(f"'method' must be one of 'mean', 'sample'; got {method!r}.")
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                          reset=False)
        return _missing.impute(X, self._params(), covariance.get(self.covariance_type), method,
                               check_random_state(random_state))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw (at least 1).

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
        noisy = self._noise_log_volume() is not None
        pro = np.append(self.weights_, self.noise_weight_) if noisy else self.weights_
        counts = rng.multinomial(n_samples, pro)
        parts, labels = [], []
        for j, (mean, c) in enumerate(zip(self.means_, counts)):
            cov = model.component_covariance(self.covariances_, j, d)
            chol = np.linalg.cholesky(cov)
            parts.append(mean + rng.standard_normal(size=(c, d)) @ chol.T)
            labels.append(np.full(c, j, dtype=int))
        if noisy:  # the noise, uniform on the training rows' bounding box, label -1
            lo, hi = self.noise_bounds_
            parts.append(lo + (hi - lo) * rng.uniform(size=(counts[-1], d)))
            labels.append(np.full(counts[-1], -1, dtype=int))
        return np.vstack(parts), np.concatenate(labels)

    # ------------------------------------------------------------------ model selection
    def n_parameters(self) -> int:
        """Number of free parameters of the fitted mixture (the ``p`` of BIC and AIC).

        ``k - 1`` weights, ``k * d`` means, and the covariance model's own count
        (``covariance.get(covariance_type).n_parameters(k, d)``); one more (the noise
        weight) with a noise component, as mclust's ``nMclParams(..., noise = TRUE)``.

        Returns
        -------
        int
        """
        check_is_fitted(self)
        k, d = np.shape(self.means_)
        model = covariance.get(self.covariance_type)
        return int(model.n_parameters(k, d) + k * d + k - 1
                   + (self._noise_log_volume() is not None))

    def _n_parameters(self) -> int:
        # scikit-learn's private name, kept for code written against it
        return self.n_parameters()

    def _total_log_likelihood(self, X, sample_weight) -> tuple[float, float, int]:
        """``(sum_i v_i log p(x_i), sum_i v_i, e)`` with ``w = v * 2**e``, in float64 by chunks.

        The weights are scaled by a power of two (exact) so that neither sum overflows however
        large they are; the totals of the given weights are ``2**e`` times the sums returned
        (:meth:`_criterion_totals`). Nothing of length n_samples is allocated besides the
        validated weights, so scoring a memory-mapped ``X`` needs memory for one chunk only; a
        dask ``X`` is reduced by dask.
        """
        if data_kind(X) == "dask":
            ll = self.score_samples(X)
            if sample_weight is None:
                return float(ll.sum().compute()), float(ll.shape[0]), 0
            w = (sample_weight if data_kind(sample_weight) == "dask"
                 else check_sample_weight(sample_weight, ll.shape[0]))
            return float((ll * w).sum().compute()), float(w.sum()), 0
        exponent = 0
        if sample_weight is not None and data_kind(X) != "chunks":
            w = check_sample_weight(sample_weight, len(X))
            exponent = int(np.frexp(w.max())[1])
            sample_weight = np.ldexp(w, -exponent)
        source = self._inference_source(X, sample_weight)
        unweighted = sample_weight is None and not isinstance(source, ChunkSource)
        total = wsum = 0.0
        for _, wc, lp in self._log_prob_chunks(source):
            ll = self._log_norm(lp).astype(np.float64, copy=False)
            total += float(ll.sum() if unweighted else np.dot(wc, ll))
            wsum += len(ll) if unweighted else float(np.sum(wc, dtype=np.float64))
        return total, float(wsum), exponent

    def _criterion_totals(self, X, sample_weight, what: str) -> tuple[float, float]:
        """``(log L, n)`` for an information criterion, with a clear error where the weights
        make them exceed float64's range (weights count as repeated rows there)."""
        total, wsum, e = self._total_log_likelihood(X, sample_weight)
        try:
            total, wsum = math.ldexp(total, e), math.ldexp(wsum, e)
            if math.isfinite(total) and not math.isfinite(2.0 * total):
                raise OverflowError
        except OverflowError:
            tens = math.log10(wsum) + e * math.log10(2.0)
            raise ValueError(
                f"{what} is beyond float64's range: sample_weight sums to about "
                f"{10 ** (tens % 1):.2f}e+{int(tens)}, and in {what} weights count as repeated "
                "rows. Scale the weights down (a fit does not depend on their overall scale)."
            ) from None
        return total, wsum

    def bic(self, X: DataLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """Bayesian information criterion ``-2 log L + p log n`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            With weights, ``log L`` is the weighted log-likelihood and ``n`` their sum.

        Returns
        -------
        float
        """
        total, wsum = self._criterion_totals(X, sample_weight, "BIC")
        return _criteria.bic(total, wsum, self.n_parameters())

    def aic(self, X: DataLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        total, _ = self._criterion_totals(X, sample_weight, "AIC")
        return _criteria.aic(total, self.n_parameters())

    def icl(self, X: DataLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """Integrated completed likelihood, ``bic + 2 EN`` (lower is better).

        ``EN = -sum_i w_i sum_k z_ik log z_ik`` is the classification entropy of the
        responsibilities (:func:`gaussmix._criteria.classification_entropy`); ICL is never
        below BIC and penalises overlapping components (Biernacki, Celeux and Govaert 2000).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        total, wsum = self._criterion_totals(X, sample_weight, "ICL")
        resp = np.asarray(self.predict_proba(X))
        w = None if sample_weight is None else check_sample_weight(sample_weight, len(resp))
        return _criteria.icl(total, wsum, self.n_parameters(),
                             _criteria.classification_entropy(resp, w))

    # ------------------------------------------------------------------ interoperability
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` in the portable gaussmix format.

        Parameters
        ----------
        path : str or path-like
            Destination file, written atomically; read back with :func:`gaussmix.load`.
        """
        from ._io import save
        save(self, path)

    @classmethod
    def from_params(cls, weights: npt.ArrayLike, means: npt.ArrayLike,
                    covariances: npt.ArrayLike, *, covariance_type: CovarianceType = "full",
                    precisions_cholesky: npt.ArrayLike | None = None,
                    feature_names_in: npt.ArrayLike | None = None, converged: bool = True,
                    n_iter: int = 0, lower_bound: float = -np.inf,
                    lower_bounds: npt.ArrayLike = (), noise_component: tuple | None = None,
                    **params: object) -> GaussianMixture:
        """A fitted mixture with the given parameters, validated (no EM is run).

        Parameters
        ----------
        weights : array-like of shape (n_components,)
            Non-negative mixing weights summing to 1 (within 1e-6), stored as given.
        means : array-like of shape (n_components, n_features)
        covariances : array-like
            In the covariance model's shape (``covariance.get(covariance_type).shape(k, d)``),
            symmetric positive definite; checked by the model's ``validate``.
        covariance_type : str, default="full"
            A registered covariance model (see :mod:`gaussmix.covariance`).
        precisions_cholesky : array-like, default=None
            Precision Cholesky factors to store as they are (they must agree with
            ``covariances``); computed from ``covariances`` when omitted.
        feature_names_in : array-like of str of shape (n_features,), default=None
            Column names, stored as ``feature_names_in_``.
        converged, n_iter, lower_bound, lower_bounds : default=True, 0, -inf, ()
            Stored as ``converged_``, ``n_iter_``, ``lower_bound_`` and ``lower_bounds_``.
            By default the parameters count as a final estimate (``converged_`` is True) that
            no EM iteration produced (``n_iter_ == 0``, no lower bound: ``-inf``, as after a
            fit with ``max_iter=0``). With ``warm_start=True`` a later :meth:`fit` continues
            EM from these parameters.
        noise_component : tuple or None, default=None
            ``(noise_weight, noise_volume, noise_bounds)`` of a uniform noise component (see
            the class's ``noise``): its weight (``weights`` then sum to ``1 - noise_weight``),
            volume and bounding box of shape (2, n_features).
        **params
            Other constructor parameters (``reg_covar``, ``random_state``, ...).
            ``n_components`` is taken from ``weights``.

        Returns
        -------
        GaussianMixture
            Fitted: ``weights_``, ``means_``, ``covariances_``, ``precisions_``,
            ``precisions_cholesky_`` (float64) and ``n_features_in_`` are set.

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix import GaussianMixture
        >>> gm = GaussianMixture.from_params([0.5, 0.5], [[0.0], [4.0]], [1.0, 1.0],
        ...                                  covariance_type="spherical")
        >>> gm.predict([[0.5], [3.0]]).tolist()
        [0, 1]
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size < 1:
            raise ValueError(f"'weights' must be a non-empty 1-D array, got shape {w.shape}.")
        k = w.shape[0]
        if "n_components" in params and params.pop("n_components") != k:
            raise ValueError(f"'n_components' disagrees with the {k} weights given.")
        est = cls(n_components=k, covariance_type=covariance_type, **params)
        est._check_params()
        model = covariance.get(covariance_type)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("'weights' must be finite and non-negative.")
        if noise_component is not None and len(noise_component) != 3:
            raise ValueError("'noise_component' must be (noise_weight, noise_volume, "
                             "noise_bounds).")
        w0 = 0.0 if noise_component is None else float(noise_component[0])
        if not (math.isfinite(w0) and 0.0 <= w0 <= 1.0):
            raise ValueError(f"the noise weight must be in [0, 1], got {w0!r}.")
        if not np.isclose(w.sum() + w0, 1.0, rtol=0, atol=1e-6):
            raise ValueError(f"'weights' must sum to 1{' - noise_weight' if w0 else ''}; "
                             f"they sum to {w.sum():.9g}.")
        m = np.asarray(means, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != k or m.shape[1] < 1:
            raise ValueError(f"'means' must have shape ({k}, n_features) for {k} weights, "
                             f"got {m.shape}.")
        if not np.all(np.isfinite(m)):
            raise ValueError("'means' contains NaN or inf values.")
        d = m.shape[1]
        cov = model.validate(covariances, k, d, "covariances").copy()
        if precisions_cholesky is None:
            prec_chol, bad = model.precision_cholesky(cov)
            if bad:
                raise ValueError(f"'covariances' of components {bad} are not positive definite "
                                 "at float64 resolution.")
        else:
            prec_chol = np.array(precisions_cholesky, dtype=np.float64)
            if prec_chol.shape != tuple(model.shape(k, d)):
                raise ValueError(f"'precisions_cholesky' must have shape "
                                 f"{tuple(model.shape(k, d))}, got {prec_chol.shape}.")
            back = model.covariances_from_precision_cholesky(prec_chol)
            if not (np.all(np.isfinite(back)) and np.allclose(
                    back, cov, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(cov).max())))):
                raise ValueError("'precisions_cholesky' does not agree with 'covariances'.")
        est._set_fitted(Params(w, m, cov, prec_chol), model)
        est.n_features_in_ = d
        if noise_component is not None:
            vol = float(noise_component[1])
            bounds = np.asarray(noise_component[2], dtype=np.float64)
            if not (math.isfinite(vol) and vol > 0):
                raise ValueError(f"the noise volume must be positive and finite, got {vol!r}.")
            if bounds.shape != (2, d) or not np.all(np.isfinite(bounds)):
                raise ValueError(f"the noise bounds must be finite, of shape (2, {d}).")
            est._set_noise(w0, vol, bounds)
        if feature_names_in is not None:
            names = np.asarray(feature_names_in, dtype=object)
            if names.shape != (d,) or not all(isinstance(v, str) for v in names):
                raise ValueError(f"'feature_names_in' must be {d} strings, got {names!r}.")
            if len(set(names)) != d:
                raise ValueError("'feature_names_in' repeats a name.")
            est.feature_names_in_ = names
        est.converged_ = bool(converged)
        est.n_iter_ = int(n_iter)
        est.lower_bound_ = float(lower_bound)
        est.lower_bounds_ = [float(v) for v in lower_bounds]
        return est

    def _feature_indices(self, features) -> np.ndarray:
        """Distinct column indices (m,) from indices, a boolean mask or ``feature_names_in_``."""
        d = int(self.n_features_in_)
        arr = np.atleast_1d(np.asarray(features, dtype=object if isinstance(features, str)
                                       else None))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"'features' must be a non-empty sequence of feature indices or "
                             f"names, or a boolean mask; got {features!r}.")
        if arr.dtype == bool:
            if arr.shape != (d,):
                raise ValueError(f"a boolean mask of 'features' must have shape ({d},), "
                                 f"got {arr.shape}.")
            idx = np.flatnonzero(arr)
            if idx.size == 0:
                raise ValueError("the boolean mask 'features' selects no feature.")
            return idx
        if all(isinstance(v, str) for v in arr):
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError("'features' names columns, but the model has no "
                                 "feature_names_in_ (fit it on a DataFrame, or give indices).")
            where = {str(n): i for i, n in enumerate(names)}
            unknown = [str(v) for v in arr if v not in where]
            if unknown:
                raise ValueError(f"unknown feature names {unknown}; the model's features are "
                                 f"{[str(n) for n in names]}.")
            idx = np.array([where[v] for v in arr], dtype=np.intp)
        elif all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                 for v in arr):
            idx = arr.astype(np.intp)
            if idx.min() < -d or idx.max() >= d:
                raise ValueError(f"'features' has an index out of range for {d} features: "
                                 f"{idx.tolist()}.")
            idx = np.where(idx < 0, idx + d, idx)
        else:
            raise TypeError(f"'features' must hold feature indices (ints) or names (strings), "
                            f"or be a boolean mask; got {features!r}.")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"'features' repeats a feature: {list(features)}.")
        return idx

    def marginal(self, features: npt.ArrayLike) -> GaussianMixture:
        """The mixture of a subset of the features, as a new fitted :class:`GaussianMixture`.

        The marginal of a Gaussian mixture keeps the weights and takes the sub-vectors of the
        means and the sub-blocks of the covariances; the covariance model says how
        (``marginal(cov, idx)``), so a "tied", "diag" or "spherical" mixture has a marginal of
        the same type. It is exact: ``marginal(f).score_samples(X[:, f])`` is the marginal
        log-density of those columns.

        Parameters
        ----------
        features : int, str, sequence of int or str, or boolean mask of shape (n_features,)
            Feature indices (negative ones count from the end), or names from
            ``feature_names_in_``, in the order wanted for the new model's columns.

        Returns
        -------
        GaussianMixture
            Built with :meth:`from_params`: the same constructor parameters (initialisation
            arrays dropped), ``feature_names_in_`` restricted to ``features``, and no EM
            history (``n_iter_ == 0``).
        """
        check_is_fitted(self)
        idx = self._feature_indices(features)
        model = covariance.get(self.covariance_type)
        cov = model.marginal(np.asarray(self.covariances_, dtype=np.float64), idx)
        names = getattr(self, "feature_names_in_", None)
        params = {key: v for key, v in self.get_params(deep=False).items()
                  if key not in ("n_components", "covariance_type", "weights_init",
                                 "means_init", "precisions_init", "params",
                                 "prior")}
        return type(self).from_params(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64)[:, idx], cov,
            covariance_type=self.covariance_type,
            feature_names_in=None if names is None else names[idx], **params)

    @classmethod
    def from_sklearn(cls, gm: object) -> GaussianMixture:
        """A fitted gaussmix model with the parameters of a fitted scikit-learn one.

        Parameters
        ----------
        gm : sklearn.mixture.GaussianMixture
            A fitted model.

        Returns
        -------
        GaussianMixture
        """
        check_is_fitted(gm)
        keys = set(cls().get_params()) - {"n_components", "covariance_type"}
        params = {k: v for k, v in gm.get_params().items() if k in keys}
        model = covariance.get(gm.covariance_type)
        prec_chol = np.asarray(gm.precisions_cholesky_, dtype=np.float64)
        return cls.from_params(
            gm.weights_, gm.means_, model.covariances_from_precision_cholesky(prec_chol),
            covariance_type=gm.covariance_type, precisions_cholesky=prec_chol,
            feature_names_in=getattr(gm, "feature_names_in_", None),
            converged=getattr(gm, "converged_", True), n_iter=getattr(gm, "n_iter_", 0),
            lower_bound=getattr(gm, "lower_bound_", -np.inf),
            lower_bounds=getattr(gm, "lower_bounds_", ()), **params)

    def to_sklearn(self) -> object:
        """A fitted :class:`sklearn.mixture.GaussianMixture` with this model's parameters.

        Only for scikit-learn's own covariance types; a model registered in
        :mod:`gaussmix.covariance` under another name raises a ``ValueError``.

        Returns
        -------
        sklearn.mixture.GaussianMixture
            Fitted, with the same weights, means, covariances, precisions and fit record.
        """
        from sklearn.mixture import GaussianMixture as SkGaussianMixture

        from ._onnx import SKLEARN_COVARIANCE_TYPES
        check_is_fitted(self)
        if self._noise_log_volume() is not None:
            raise ValueError("this model has a noise component, which scikit-learn's "
                             "GaussianMixture cannot represent.")
        if self.covariance_type not in SKLEARN_COVARIANCE_TYPES:
            raise ValueError(f"covariance_type={self.covariance_type!r} has no scikit-learn "
                             f"counterpart; scikit-learn knows {list(SKLEARN_COVARIANCE_TYPES)}.")
        params = self.get_params()
        params.pop("chunk_size")
        params.pop("coreset_size")
        params.pop("params")
        params.pop("prior", None)
        params.pop("noise")
        params.pop("noise_volume")
        params.pop("missing", None)
        gm = SkGaussianMixture(**params)
        for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                     "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
                     "feature_names_in_"):
            if hasattr(self, attr):
                setattr(gm, attr, getattr(self, attr))
        return gm

    def to_onnx(self, *, target_opset: int | dict | None = None, options: dict | None = None,
                dtype: type = np.float64) -> object:
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
    def partial_fit(self, X: DataLike, y: object = None,
                    sample_weight: npt.ArrayLike | None = None) -> GaussianMixture:
        """Update the model with one batch by stepwise (online) EM.

        Not exact: each call moves running sufficient statistics towards the batch's with step
        size ``(t + 2) ** -0.6`` (Cappé & Moulines 2009), which on stationary batches converges
        to the batch EM solution; see :mod:`gaussmix._online`. The first call on an unfitted
        model initialises it from the batch; a model fitted by :meth:`fit` is continued. The
        running statistics live in the private attribute ``_online_state``
        (:class:`gaussmix._online.OnlineState`), set only here and cleared by every other fit.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features), memmap, chunks or dask array
            A non-empty batch; every kind :meth:`fit` accepts (out of core and on Dask the
            batch's statistics are one pass over it, and a first batch is initialised on its
            coreset).
        y : Ignored
        sample_weight : array-like of shape (n_batch,), default=None
            Non-negative weights, not all zero.

        Returns
        -------
        self : GaussianMixture
        """
        from . import _online

        self._check_params()
        self._check_fixed_inits()
        if not (isinstance(self.noise, (bool, np.bool_)) and not self.noise):
            raise ValueError("partial_fit does not support noise; use fit.")
        if getattr(self, "prior", None) is not None:
            raise ValueError("partial_fit does not support prior; use fit.")
        _online.check_batch(X, sample_weight)
        fitted = hasattr(self, "means_")
        source = self._fit_source(X, sample_weight, fitted=fitted)
        k = self.n_components
        model = covariance.get(self.covariance_type)
        rng = check_random_state(self.random_state)
        with self._passes(source, model, rng) as (pass_fn, init_source, info):
            fixed = self._fixed(info["n_features"], model)
            if fitted:
                params = self._params()
                if fixed is not None:
                    params = fixed.apply(params)
                prev = self.__dict__.get("_online_state")
                state = _online.resume(params, prev, self.means_, model, self.reg_covar)
                lower_bounds = list(self.lower_bounds_) if state is prev else []
            else:
                if info["n_positive"] < k:
                    raise ValueError(
                        f"The first batch given to partial_fit must have at least n_components "
                        f"= {k} rows with positive weight to initialise the mixture; it has "
                        f"{info['n_positive']}.")
                inits = self._check_init_arrays(info["n_features"], model)
                params = initial_params(init_source, k, model, self.init_params, rng,
                                        self.reg_covar, info["shift"], info["dtype"], **inits)
                state, lower_bounds = None, []
            batch = pass_fn(params)
        new, state = _online.step(batch, params, state, model, self.reg_covar, info["dtype"],
                                  fixed)
        lower_bound = float(batch.mean_log_likelihood)
        result = EMResult(new, lower_bound, lower_bounds + [lower_bound], state.t, False)
        n_features = None if fitted or isinstance(source, ArraySource) else info["n_features"]
        self._store_result(result, model, n_features, online_state=state)
        return self


def _dask_method(est, X, method):
    from .dask import _lazy
    return _lazy(est, X.X if isinstance(X, DaskSource) else X, method)


_io.register_estimator(GaussianMixture)  # model files load into this class
