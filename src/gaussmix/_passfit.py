"""EM whose E-steps are passes over data held elsewhere (chunks on disk, blocks on Dask).

The out-of-core and the Dask fits differ only in *where* the sufficient statistics of a pass
are accumulated: each gives the estimator a ``pass_fn(params) -> SufficientStats`` and the
summary of a first validating pass, ``info`` (``n_samples``, ``n_features``, ``dtype``,
``weight``, ``shift`` (the weighted mean), ``n_positive`` (rows with positive weight) and
``coreset`` (``(points, weights)``)). The estimator initialises on that coreset
(:func:`coreset_source`), runs the engine's EM loop with ``pass_fn`` and stores the result. This
module imports neither of the two producers, so neither imports the other.
"""
from __future__ import annotations

import numpy as np

from ._data import ArraySource

#: Rows of the streaming coreset on which an out-of-core fit is initialised.
INIT_CORESET_SIZE = 16384


def check_enough_rows(n_positive: int, k: int, n_samples: int | None = None) -> None:
    """Raise scikit-learn's error when fewer than ``k`` rows have a positive weight."""
    if n_positive < k:
        raise ValueError(
            "Expected n_samples >= n_components but got "
            f"n_components = {k}, n_samples = {n_positive}"
            + (" (samples with positive weight)" if n_samples is None or n_positive < n_samples
               else ""))


def coreset_source(info: dict, chunk_size: int) -> ArraySource:
    """The first pass's coreset as an in-memory source for the initialisation."""
    pts, wts = info["coreset"]
    return ArraySource(np.asarray(pts, dtype=info["dtype"]), np.asarray(wts, dtype=np.float64),
                       chunk_size)
