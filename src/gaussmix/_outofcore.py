"""Exact EM over data that does not fit in memory, and the dispatch of ``fit`` by data kind.

Out-of-core data is either a :class:`numpy.memmap` (``np.load(path, mmap_mode="r")``), an
:class:`NpyChunks` reader, or any *re-iterable* of 2-D arrays (or ``(X, sample_weight)``
pairs) whose ``__iter__`` starts again from the first chunk each time, such as a list of
arrays. Each EM iteration is one pass over the chunks through the engine's
:func:`~gaussmix._engine.run_em`, so the iterations are exact: they produce the same parameters
as in-memory EM from the same initialisation, up to floating-point summation order.

The first pass validates every chunk (shape, dtype, NaN/inf, naming the chunk), computes the
weighted mean and builds a :class:`~gaussmix.coreset.StreamingCoreset` on which the
initialisation (``init_params``) is computed; explicit ``weights_init``/``means_init``/
``precisions_init`` are honoured as in memory.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

import numpy as np
from sklearn.utils import check_random_state

from . import covariance
from ._engine import auto_chunk_size, e_pass
from ._passfit import INIT_CORESET_SIZE, fit_with_pass
from ._validation import check_sample_weight
from .coreset import StreamingCoreset, build

logger = logging.getLogger("gaussmix")


# ---------------------------------------------------------------------------------------------
# readers


class NpyChunks:
    """Re-iterable reader of a ``.npy`` file in chunks of rows, with bounded memory.

    Unlike a memory map, whose pages count towards the resident memory of the process, this
    reads each chunk with ordinary file reads into an array of its own, so resident memory stays
    at the chunks a consumer still holds (one, or one per worker thread of a parallel E-step)
    however large the file is. Each chunk is a fresh array: a consumer may keep it while it
    reads the next (a reused buffer would be overwritten under a parallel consumer's feet).

    Parameters
    ----------
    path : str or os.PathLike
        A 2-D, C-ordered ``.npy`` file of float32 or float64.
    chunk_size : int, default=262144
        Rows per chunk.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    """

    def __init__(self, path, chunk_size: int = 262144):
        self.path = os.fspath(path)
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise ValueError(f"'chunk_size' must be >= 1; got {chunk_size!r}.")
        m = np.load(self.path, mmap_mode="r")
        shape, dtype, self._offset = m.shape, m.dtype, int(m.offset)
        fortran = m.ndim == 2 and not m.flags.c_contiguous
        del m
        if len(shape) != 2:
            raise ValueError(f"{self.path} holds an array of shape {shape}; expected 2-D "
                             "(n_samples, n_features).")
        if fortran:
            raise ValueError(f"{self.path} is stored in Fortran order; chunks of rows need C "
                             "order (save it with np.save(path, np.ascontiguousarray(X))).")
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{self.path} has dtype {dtype}; expected float32 or float64.")
        self.shape = tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return -(-self.shape[0] // self.chunk_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        n, d = self.shape
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            for s in range(0, n, self.chunk_size):
                rows = min(self.chunk_size, n - s)
                view = np.empty((rows, d), dtype=self.dtype)
                got = f.readinto(memoryview(view).cast("B"))
                if got != view.nbytes:
                    raise ValueError(f"{self.path} is truncated: expected {n} rows, the file "
                                     f"ends after row {s + got // (d * self.dtype.itemsize)}.")
                yield view


class ChunkSource:
    """Chunks ``(X, w)`` of a memory map or a re-iterable, re-split to at most ``chunk_size`` rows.

    The first complete pass (:func:`scan`) validates the chunks; later passes trust them.
    """

    def __init__(self, data, sample_weight, chunk_size: int):
        self.data = data
        self.chunk_size = int(chunk_size)
        self.sample_weight = sample_weight
        self.validated = False
        if isinstance(data, np.ndarray):
            self.sample_weight = check_sample_weight(sample_weight, data.shape[0])
        elif sample_weight is not None:
            raise ValueError("sample_weight cannot be given with an iterable of chunks; yield "
                             "(X, sample_weight) pairs instead.")

    def raw_chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """``(chunk index, X, w or None)`` as provided (arrays are split into chunks here)."""
        if isinstance(self.data, np.ndarray):
            for i, s in enumerate(range(0, self.data.shape[0], self.chunk_size)):
                yield i, self.data[s:s + self.chunk_size], self.sample_weight[s:s + self.chunk_size]
            return
        it = iter(self.data)
        if it is self.data:
            raise TypeError("an iterator can be read only once, but EM needs one pass per "
                            "iteration: pass a re-iterable (a list of arrays, NpyChunks, or an "
                            "object whose __iter__ starts again) or a numpy.memmap.")
        for i, item in enumerate(it):
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise ValueError(f"chunk {i} is a tuple of {len(item)} items; expected X or "
                                     "(X, sample_weight).")
                yield i, item[0], item[1]
            else:
                yield i, item, None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i, X, w in self.raw_chunks():
            X = np.asarray(X)
            if not self.validated:
                X, w = _check_chunk(i, X, w, getattr(self, "n_features", None))
                if not hasattr(self, "n_features"):
                    self.n_features = X.shape[1]
            elif w is None:
                w = np.ones(X.shape[0])
            for s in range(0, X.shape[0], self.chunk_size):
                yield X[s:s + self.chunk_size], np.asarray(w[s:s + self.chunk_size])


def _check_chunk(i: int, X: np.ndarray, w, d: int | None):
    where = f"chunk {i}"
    if X.ndim != 2:
        raise ValueError(f"{where} has shape {X.shape}; expected a 2-D array "
                         "(n_rows, n_features).")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{where} has dtype {X.dtype}; expected numbers.")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{where} has {X.shape[1]} features; the first chunk had {d}.")
    if X.shape[0] == 0:
        raise ValueError(f"{where} is empty; every chunk needs at least one row.")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))
        raise ValueError(f"{where} contains {len(bad)} NaN or inf value(s) (first at row "
                         f"{int(bad[0][0])} of the chunk, column {int(bad[0][1])}); remove or "
                         "impute them before fitting.")
    try:
        w = np.ones(X.shape[0]) if w is None else check_sample_weight(w, X.shape[0])
    except ValueError as exc:
        if w is not None and np.all(np.asarray(w) == 0):
            w = np.zeros(X.shape[0])  # a zero-weight chunk is allowed; the total is checked
        else:
            raise ValueError(f"{where}: {exc}") from None
    return X, w


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


def fit_chunked(est, data, sample_weight=None) -> None:
    """Exact EM over a memory map or a re-iterable of chunks; sets the fitted attributes."""
    est._check_params()
    model = covariance.get(est.covariance_type)
    rng = check_random_state(est.random_state)
    first_d = data.shape[1] if isinstance(data, np.ndarray) and data.ndim == 2 else 8
    itemsize = data.dtype.itemsize if isinstance(data, np.ndarray) else 8
    cs = est.chunk_size or auto_chunk_size(first_d, est.n_components, itemsize)
    source = ChunkSource(data, sample_weight, cs)
    info = scan(source, est.n_components, rng)
    dtype = info["dtype"]
    logger.info("out-of-core fit: %d rows, %d features, %s", info["n_samples"],
                info["n_features"], dtype)
    fit_with_pass(est, lambda p: e_pass(source, p, model, info["shift"], dtype), info, rng)


# ---------------------------------------------------------------------------------------------
# dispatch


def data_kind(X) -> str:
    """``"dask"``, ``"memmap"``, ``"chunks"`` (re-iterable of arrays) or ``"array"``."""
    mod = type(X).__module__.split(".")[0]
    if mod == "dask":
        return "dask"
    if isinstance(X, np.memmap):
        return "memmap"
    if isinstance(X, NpyChunks):
        return "chunks"
    if isinstance(X, np.ndarray) or hasattr(X, "__array__") or hasattr(X, "shape"):
        return "array"
    if isinstance(X, (list, tuple)):
        if len(X) and all(_is_chunk(x) for x in X):
            return "chunks"
        return "array"
    if isinstance(X, Iterator):
        raise TypeError("X is an iterator, which can be read only once, but EM needs one pass "
                        "per iteration: pass a re-iterable (a list of arrays, "
                        "gaussmix._outofcore.NpyChunks, or an object whose __iter__ starts "
                        "again) or a numpy.memmap.")
    if isinstance(X, Iterable) and not isinstance(X, (str, bytes, dict)):
        return "chunks"
    return "array"


def _is_chunk(x) -> bool:
    """A 2-D ndarray, or an ``(X, sample_weight)`` pair with a 2-D ndarray ``X``."""
    if isinstance(x, tuple) and len(x) == 2:
        x = x[0]
    return isinstance(x, np.ndarray) and x.ndim == 2


def fit_dispatch(est, X, sample_weight, coreset_size) -> bool:
    """Fit ``est`` when ``X`` needs a scale path (or a coreset is asked for); else ``False``."""
    kind = data_kind(X)
    if coreset_size is not None:
        pts, wts = make_coreset(est, X, sample_weight, coreset_size, kind)
        logger.info("coreset fit on %d weighted rows", len(pts))
        est._fit(pts, wts)
        return True
    if kind == "dask":
        from .dask import fit
        fit(est, X, sample_weight=sample_weight)
        return True
    if kind in ("memmap", "chunks"):
        fit_chunked(est, X, sample_weight)
        return True
    return False


def make_coreset(est, X, sample_weight, size, kind: str):
    """The coreset ``fit(X, coreset_size=size)`` fits on, for any kind of data."""
    from .coreset import _check_int
    size = _check_int(size, "coreset_size")
    est._check_params()
    k = est.n_components
    rng = check_random_state(est.random_state)
    if kind == "dask":
        from .dask import coreset as dask_coreset
        return dask_coreset(X, size, n_clusters=k, sample_weight=sample_weight,
                            random_state=rng)
    if kind == "chunks":
        source = ChunkSource(X, sample_weight, 65536)
        sc = StreamingCoreset(size, k, random_state=rng)
        for Xc, wc in source.chunks():
            if wc.any():
                sc.partial_fit(Xc, sample_weight=wc)
        return sc.coreset()
    if kind != "memmap":
        X = est._validate_X(X, reset=True)
    return build(X, size, n_clusters=k, sample_weight=sample_weight, random_state=rng)


__all__ = ["NpyChunks", "fit_chunked", "fit_dispatch"]
