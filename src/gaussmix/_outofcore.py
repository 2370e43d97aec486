"""Exact EM over data that does not fit in memory: chunks read again on every pass.

Out-of-core data is either a :class:`numpy.memmap` (``np.load(path, mmap_mode="r")``), an
:class:`~gaussmix._data.NpyChunks` reader, or any *re-iterable* of 2-D arrays (or
``(X, sample_weight)`` pairs) whose ``__iter__`` starts again from the first chunk each time,
such as a list of arrays, all served by a :class:`~gaussmix._data.ChunkSource`. Each EM
iteration is one pass over the chunks through the engine's :func:`~gaussmix._engine.run_em`, so
the iterations are exact: they produce the same parameters as in-memory EM from the same
initialisation, up to floating-point summation order.

The first pass (:func:`scan`) validates every chunk (shape, dtype, NaN/inf, naming the chunk),
computes the weighted mean and builds a :class:`~gaussmix.coreset.StreamingCoreset` on which the
initialisation (``init_params``) is computed; explicit ``weights_init``/``means_init``/
``precisions_init`` are honoured as in memory. This module computes; the estimator runs the EM
and stores what it returns (:meth:`gaussmix.GaussianMixture.fit`).
"""
from __future__ import annotations

import logging

import numpy as np

from ._data import ChunkSource
from ._engine import e_pass
from ._passfit import INIT_CORESET_SIZE
from .coreset import StreamingCoreset

logger = logging.getLogger("gaussmix")


def scan(source: ChunkSource, k: int, rng, coreset_size: int = INIT_CORESET_SIZE):
    """First pass: validate every chunk, weighted mean, counts, and a coreset for the init.

    Returns
    -------
    info : dict
        ``n_samples``, ``n_features``, ``dtype``, ``weight``, ``shift`` (weighted mean (d,)),
        ``n_positive`` and ``coreset`` (``(points, weights)``).
    """
    sc = StreamingCoreset(coreset_size, k, random_state=rng)
    tot = None
    wsum = 0.0
    n = 0
    n_pos = 0
    dtype = None
    for Xc, wc in source.chunks():
        if tot is None:
            tot = np.zeros(Xc.shape[1])
            dtype = Xc.dtype
        dtype = np.result_type(dtype, Xc.dtype)
        tot += np.asarray(wc, dtype=np.float64) @ Xc.astype(np.float64)
        wsum += float(wc.sum())
        n += Xc.shape[0]
        n_pos += int(np.count_nonzero(wc))
        if wc.any():
            sc.partial_fit(Xc, sample_weight=wc)
    if tot is None:
        raise ValueError("the data has no chunks; at least one row is required.")
    if not wsum > 0:
        raise ValueError("all sample weights are zero: at least one row needs a positive weight.")
    source.validated = True
    dtype = np.dtype(np.float32 if dtype == np.float32 else np.float64)
    return {"n_samples": n, "n_features": len(tot), "dtype": dtype, "weight": wsum,
            "shift": tot / wsum, "n_positive": n_pos, "coreset": sc.coreset()}


# ---------------------------------------------------------------------------------------------
# fitting


def chunk_passes(source: ChunkSource, model, k: int, rng, reg_covar: float):
    """The first pass over ``source`` and the E-pass of every later EM iteration.

    Returns
    -------
    pass_fn : callable
        ``pass_fn(params) -> SufficientStats`` over all the chunks.
    info : dict
        The summary of :func:`scan`.
    """
    info = scan(source, k, rng)
    dtype = info["dtype"]
    logger.info("out-of-core fit: %d rows, %d features, %s", info["n_samples"],
                info["n_features"], dtype)

    def pass_fn(params):
        return e_pass(source, params, model, info["shift"], dtype, reg_covar=reg_covar)

    return pass_fn, info


def chunk_coreset(source: ChunkSource, size: int, k: int, rng):
    """A streaming coreset of ``size`` weighted rows of ``source``, in one pass."""
    sc = StreamingCoreset(size, k, random_state=rng)
    for Xc, wc in source.chunks():
        if wc.any():
            sc.partial_fit(Xc, sample_weight=wc)
    return sc.coreset()


__all__ = ["scan", "chunk_passes", "chunk_coreset"]
