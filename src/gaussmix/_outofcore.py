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

With ``missing="marginalize"`` the chunks may hold NaN (a
:class:`~gaussmix._missing.MissingChunkSource`): the first pass also takes the columns'
observed means, and when it meets a NaN a second pass builds the coreset on the mean-imputed
rows; every EM pass is then a :class:`~gaussmix._missing.ChunkMissingPass` (complete rows
through the ordinary fast pass, incomplete rows by pattern within their chunk). Data without
NaN is fitted as without ``missing``, bit for bit.
"""
from __future__ import annotations

import logging

import numpy as np

from ._data import ChunkSource
from ._engine import e_pass
from ._passfit import INIT_CORESET_SIZE
from .coreset import StreamingCoreset

logger = logging.getLogger("gaussmix")


def scan(source: ChunkSource, k: int, rng, coreset_size: int = INIT_CORESET_SIZE, *,
         missing: bool = False):
    """First pass: validate every chunk, weighted mean, counts, and a coreset for the init.

    With ``missing`` (``missing="marginalize"``; ``source`` a
    :class:`~gaussmix._missing.MissingChunkSource`) NaN marks a missing entry. The pass also
    sums each column's observed entries and the complete rows; when it meets a NaN, the coreset
    is built by a second pass over the rows mean-imputed with the column means of the first
    (as in memory, the initialisation sees mean-imputed rows). Data without NaN takes one pass
    and gets what it gets without ``missing``, bit for bit.

    Returns
    -------
    info : dict
        ``n_samples``, ``n_features``, ``dtype``, ``weight``, ``shift`` (weighted mean (d,);
        of the mean-imputed rows with NaN), ``n_positive`` and ``coreset``
        (``(points, weights)``); with NaN also ``missing``: ``n_complete`` (rows without NaN)
        and ``shift`` (the weighted mean of those, or of the observed entries when none is
        complete: the E-pass's centring, as in :class:`~gaussmix._missing.MissingPass`).
    """
    sc = StreamingCoreset(coreset_size, k, random_state=rng)
    tot = None
    wsum = 0.0
    n = 0
    n_pos = 0
    dtype = None
    any_nan = False
    for Xc, wc in source.chunks():
        if tot is None:
            tot = np.zeros(Xc.shape[1])
            dtype = Xc.dtype
            obs_tot, obs_w = np.zeros(Xc.shape[1]), np.zeros(Xc.shape[1])
            comp_tot, comp_w, n_complete = np.zeros(Xc.shape[1]), 0.0, 0
        dtype = np.result_type(dtype, Xc.dtype)
        chunk_tot = np.asarray(wc, dtype=np.float64) @ Xc.astype(np.float64)
        tot += chunk_tot
        wsum += float(wc.sum())
        n += Xc.shape[0]
        n_pos += int(np.count_nonzero(wc))
        nan = np.isnan(Xc) if missing else None
        if nan is not None and nan.any():
            any_nan = True
            w64 = np.asarray(wc, dtype=np.float64)
            X0 = np.where(nan, 0.0, Xc.astype(np.float64))
            obs_tot += w64 @ X0
            obs_w += w64 @ ~nan
            keep = ~nan.any(axis=1)
            comp_tot += w64[keep] @ X0[keep]
            comp_w += float(w64[keep].sum())
            n_complete += int(keep.sum())
        elif nan is not None:
            obs_tot += chunk_tot
            obs_w += float(wc.sum())
            comp_tot += chunk_tot
            comp_w += float(wc.sum())
            n_complete += Xc.shape[0]
        if wc.any() and not any_nan:  # with NaN, the coreset is built by a second pass
            sc.partial_fit(Xc, sample_weight=wc)
    if tot is None:
        raise ValueError("the data has no chunks; at least one row is required.")
    if not wsum > 0:
        raise ValueError("all sample weights are zero: at least one row needs a positive weight.")
    source.validated = True
    dtype = np.dtype(np.float32 if dtype == np.float32 else np.float64)
    info = {"n_samples": n, "n_features": len(tot), "dtype": dtype, "weight": wsum,
            "shift": tot / wsum, "n_positive": n_pos}
    if any_nan:
        col = obs_tot / np.maximum(obs_w, np.finfo(np.float64).tiny)
        sc = StreamingCoreset(coreset_size, k, random_state=rng)
        for Xc, wc in source.chunks():
            if wc.any():
                sc.partial_fit(_impute_with(Xc, col), sample_weight=wc)
        # the weighted mean of the mean-imputed rows is the columns' observed means
        info["shift"] = col
        info["missing"] = {"n_complete": n_complete,
                           "shift": comp_tot / comp_w if n_complete and comp_w > 0
                           else np.nan_to_num(col)}
    info["coreset"] = sc.coreset()
    return info


def _impute_with(X: np.ndarray, col: np.ndarray) -> np.ndarray:
    """A copy of the chunk ``X`` with each NaN replaced by its column's value in ``col``."""
    r, c = np.nonzero(np.isnan(X))
    if r.size == 0:
        return X
    out = np.array(X, copy=True)
    out[r, c] = col.astype(X.dtype)[c]
    return out


# ---------------------------------------------------------------------------------------------
# fitting


def chunk_passes(source: ChunkSource, model, k: int, rng, reg_covar: float, *,
                 missing: bool = False):
    """The first pass over ``source`` and the E-pass of every later EM iteration.

    With ``missing`` (``missing="marginalize"``) and NaN in the data, the E-pass is
    :class:`~gaussmix._missing.ChunkMissingPass`; without NaN it is the ordinary one.

    Returns
    -------
    pass_fn : callable
        ``pass_fn(params) -> SufficientStats`` over all the chunks.
    info : dict
        The summary of :func:`scan`.
    """
    info = scan(source, k, rng, missing=missing)
    dtype = info["dtype"]
    logger.info("out-of-core fit: %d rows, %d features, %s", info["n_samples"],
                info["n_features"], dtype)
    if "missing" in info:
        from ._missing import ChunkMissingPass
        logger.info("out-of-core fit: %d rows with missing entries",
                    info["n_samples"] - info["missing"]["n_complete"])
        return ChunkMissingPass(source, model, reg_covar, info["missing"]["shift"], dtype,
                                info["missing"]["n_complete"]), info

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
