"""EM whose E-steps are passes over data held elsewhere (chunks on disk, blocks on Dask).

The out-of-core and the Dask fits differ only in *where* the sufficient statistics of a pass
are accumulated: each hands :func:`fit_with_pass` a ``pass_fn(params) -> SufficientStats`` and
the summary of a first validating pass (``info``), and this module runs the initialisation on
that pass's coreset, the engine's EM loop, and stores the fitted attributes. It imports
neither of its two callers, so neither imports the other.
"""
from __future__ import annotations

import numpy as np

from . import covariance
from ._engine import ArraySource, EMResult, auto_chunk_size, fit_em, initial_params

#: Rows of the streaming coreset on which an out-of-core fit is initialised.
INIT_CORESET_SIZE = 16384


def store_result(est, result: EMResult, model, n_features: int) -> None:
    """Set the fitted attributes of ``est`` from an engine result (as ``GaussianMixture._fit``)."""
    est._store_result(result, model)
    est.n_features_in_ = int(n_features)
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.__dict__.pop("_online", None)


def fit_with_pass(est, pass_fn, info: dict, rng) -> None:
    """EM with ``pass_fn`` for the E-steps and an init computed on ``info["coreset"]``.

    Parameters
    ----------
    est : GaussianMixture
        Validated (``_check_params`` has run); fitted in place.
    pass_fn : callable
        ``pass_fn(params) -> SufficientStats`` over all the data.
    info : dict
        From the first pass: ``n_samples``, ``n_features``, ``dtype``, ``weight``, ``shift``
        (weighted mean), ``n_positive`` (rows with positive weight) and ``coreset``
        (``(points, weights)``).
    rng : numpy.random.RandomState
    """
    k = est.n_components
    if info["n_positive"] < k:
        raise ValueError(
            "Expected n_samples >= n_components but got "
            f"n_components = {k}, n_samples = {info['n_positive']} (samples with positive "
            "weight)")
    model = covariance.get(est.covariance_type)
    d = info["n_features"]
    inits = est._check_init_arrays(d, model)
    shift, dtype = info["shift"], info["dtype"]
    pts, wts = info["coreset"]
    init_source = ArraySource(np.asarray(pts, dtype=dtype), wts,
                              est.chunk_size or auto_chunk_size(d, k, dtype.itemsize))

    def init_fn():
        return initial_params(init_source, k, model, est.init_params, rng, est.reg_covar,
                              shift, dtype, **inits)

    warm = None
    if est.warm_start and hasattr(est, "converged_"):
        warm = (est._params(), est.lower_bound_)
    result = fit_em(pass_fn, init_fn, model, n_init=est.n_init, reg_covar=est.reg_covar,
                    tol=est.tol, max_iter=est.max_iter, warm=warm, verbose=est.verbose,
                    verbose_interval=est.verbose_interval)
    store_result(est, result, model, d)
