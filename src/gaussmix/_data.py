"""Where rows come from: one :class:`DataSource` for every kind of input.

Every fit and every inference reads rows through a data source: an object that serves the rows
as ``(X, w)`` chunks (``X`` a 2-D float32/float64 array of at most ``chunk_size`` rows, ``w``
their float64 sample weights) and knows ``n_features``, ``dtype`` and, where it can without a
pass, ``n_samples``. The engine's E-pass (:func:`gaussmix._engine.e_pass`) and the estimator's
inference loop only ever call :meth:`DataSource.chunks`, so they do not care where the rows
live. The kinds (:func:`data_kind`):

``"array"``
    An in-memory array (:class:`ArraySource`), validated whole by the estimator.
``"memmap"``
    A :class:`numpy.memmap` (``np.load(path, mmap_mode="r")``): read chunk by chunk, never loaded
    whole; each chunk is checked for NaN/inf as it is read (:class:`ArraySource` with
    ``check_rows``), or, for fitting, through :class:`ChunkSource`.
``"chunks"``
    A *re-iterable* of 2-D arrays or ``(X, sample_weight)`` pairs whose ``__iter__`` starts again
    from the first chunk (a list of arrays, :class:`NpyChunks`): :class:`ChunkSource`, which
    validates each chunk (shape, dtype, NaN/inf, feature count, naming the chunk). A one-shot
    iterator is refused, because EM needs one pass per iteration.
``"dask"``
    A :class:`dask.array.Array` (:class:`DaskSource`): fits map the E-pass over its blocks on
    the active scheduler (:mod:`gaussmix.dask`); :meth:`DaskSource.chunks` computes one block at a
    time, for reductions (``score``, ``bic``) that need no lazy result.

A new kind of input is one new :class:`DataSource` subclass here and one branch of
:func:`data_kind`. This module imports neither the estimator nor :mod:`gaussmix.dask`.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from ._validation import check_finite, check_sample_weight

__all__ = ["DataSource", "ArraySource", "ChunkSource", "DaskSource", "NpyChunks", "data_kind",
           "auto_chunk_size", "DEFAULT_CHUNK_BYTES"]

#: Default bytes of per-chunk workspace (log-densities, responsibilities, whitened residuals).
DEFAULT_CHUNK_BYTES = 64 * 2**20


def auto_chunk_size(d: int, k: int, itemsize: int, budget: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that the (rows, k, d) workspace and (rows, k) arrays fit ``budget``."""
    per_row = itemsize * (k * d + 4 * k + 2 * d) + 16
    return int(max(256, min(2**20, budget // per_row)))


def as_float(X: np.ndarray) -> np.ndarray:
    """``X`` itself when float32/float64, else cast to float64."""
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


class DataSource:
    """Rows with sample weights, served in chunks.

    Attributes
    ----------
    kind : str
        ``"array"``, ``"memmap"``, ``"chunks"`` or ``"dask"`` (see the module docstring).
    n_features : int or None
        ``None`` until known (a chunk source before its first pass).
    n_samples : int or None
        ``None`` when it takes a pass to know.
    dtype : numpy.dtype or None
        float32 or float64, the dtype chunks are computed in; ``None`` until known.
    """

    kind = "abstract"
    n_features: int | None = None
    n_samples: int | None = None
    dtype: np.dtype | None = None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, w)`` pairs covering every row once, in order."""
        raise NotImplementedError

    def weighted_mean(self) -> np.ndarray:
        """The weighted mean row (n_features,), in float64, in one pass."""
        tot = None
        wsum = 0.0
        for Xc, wc in self.chunks():
            if tot is None:
                tot = np.zeros(Xc.shape[1])
            tot += wc.astype(np.float64) @ Xc.astype(np.float64, copy=False)
            wsum += float(wc.sum(dtype=np.float64))
        return tot / wsum


class ArraySource(DataSource):
    """Rows of an in-memory or memory-mapped 2-D array with weights, served in chunks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64 (validated by the caller, except for NaN/inf with ``check_rows``).
    w : ndarray of shape (n_samples,) or None
        Sample weights; ``None``: all ones (made one chunk at a time).
    chunk_size : int
    check_rows : bool, default=False
        Check each chunk for NaN/inf as it is served (for an ``X`` that was not checked whole,
        so that a memory map is read once); the error locates the first bad entry in ``X``.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray | None, chunk_size: int, *,
                 check_rows: bool = False):
        self.X = X
        self.w = w
        self.chunk_size = int(chunk_size)
        self.check_rows = check_rows
        self.kind = "memmap" if isinstance(X, np.memmap) else "array"
        self.n_features = X.shape[1]
        self.dtype = X.dtype

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, cs = self.X.shape[0], self.chunk_size
        for s in range(0, n, cs):
            Xc = self.X[s:s + cs]
            if self.check_rows and not np.isfinite(Xc).all():
                check_finite(self.X)  # raises, locating the first bad entry in X
            yield Xc, (np.ones(Xc.shape[0]) if self.w is None else self.w[s:s + cs])


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


class ChunkSource(DataSource):
    """Chunks ``(X, w)`` of a memory map or a re-iterable, re-split to at most ``chunk_size`` rows.

    Every chunk is validated (:func:`check_chunk`) until :attr:`validated` is set (a fit sets it
    after its first complete pass, :func:`gaussmix._outofcore.scan`); later passes trust them.
    Integer chunks are served as float64.

    Parameters
    ----------
    data : numpy.memmap, ndarray or re-iterable
        A 2-D array (split into chunks here) or a re-iterable of 2-D arrays or
        ``(X, sample_weight)`` pairs.
    sample_weight : array-like of shape (n_samples,) or None
        Only with an array; an iterable yields its weights with its chunks.
    chunk_size : int
    n_features : int or None, default=None
        The number of features every chunk must have (a fitted model's), or ``None``: that of
        the first chunk.
    """

    kind = "chunks"

    def __init__(self, data, sample_weight, chunk_size: int, *, n_features: int | None = None):
        self.data = data
        self.chunk_size = int(chunk_size)
        self.sample_weight = sample_weight
        self.validated = False
        self.expected_features = n_features
        self.n_features = n_features
        if isinstance(data, np.ndarray):
            self.kind = "memmap" if isinstance(data, np.memmap) else "array"
            self.sample_weight = check_sample_weight(sample_weight, data.shape[0])
            self.n_samples = data.shape[0]
            self.dtype = np.dtype(np.float32 if data.dtype == np.float32 else np.float64)
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
                X, w = check_chunk(i, X, w, self.n_features,
                                   expected=self.expected_features is not None)
                if self.n_features is None:
                    self.n_features = X.shape[1]
            elif w is None:
                w = np.ones(X.shape[0])
            X = as_float(X)
            for s in range(0, X.shape[0], self.chunk_size):
                yield X[s:s + self.chunk_size], np.asarray(w[s:s + self.chunk_size])


def check_chunk(i: int, X: np.ndarray, w, d: int | None, *, expected: bool = False):
    """Validate chunk ``i`` and its weights ``w`` (``None``: ones); errors name the chunk.

    ``d`` is the number of features the chunk must have: a fitted model's when ``expected``,
    else the first chunk's (``None`` for the first chunk itself).
    """
    where = f"chunk {i}"
    if X.ndim != 2:
        raise ValueError(f"{where} has shape {X.shape}; expected a 2-D array "
                         "(n_rows, n_features).")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{where} has dtype {X.dtype}; expected numbers.")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{where} has {X.shape[1]} features; "
                         + (f"the model expects {d}." if expected
                            else f"the first chunk had {d}."))
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


class DaskSource(DataSource):
    """A :class:`dask.array.Array` of rows, its sample weights, and where to compute them.

    Fits hand it to :mod:`gaussmix.dask`, which maps the E-pass over its blocks on
    ``scheduler``; :meth:`chunks` computes one row block at a time (with dask's configured
    scheduler), so a reduction over it (a score) holds one block in memory.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : array-like or dask.array.Array of shape (n_samples,), or None
    scheduler : None, str or distributed.Client, default=None
        As in :func:`gaussmix.dask.fit`.
    """

    kind = "dask"

    def __init__(self, X, sample_weight=None, *, scheduler=None):
        if getattr(X, "ndim", None) != 2:
            raise ValueError("X must be 2-D (n_samples, n_features); got shape "
                             f"{getattr(X, 'shape', None)}.")
        self.X = X
        self.sample_weight = sample_weight
        self.scheduler = scheduler
        self.n_features = int(X.shape[1])
        n = X.shape[0]
        self.n_samples = None if n is None or n != n else int(n)
        self.dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        X = self.X.rechunk({1: -1}) if len(self.X.chunks[1]) > 1 else self.X
        w = self.sample_weight
        if w is not None and not hasattr(w, "blocks"):
            w = check_sample_weight(w, X.shape[0])
        start = 0
        for i in range(X.numblocks[0]):
            Xc = np.asarray(X.blocks[i].compute())
            if not np.isfinite(Xc).all():
                bad = np.argwhere(~np.isfinite(Xc))
                raise ValueError(f"block {i} (rows {start}..{start + len(Xc) - 1}) contains "
                                 f"{len(bad)} NaN or inf value(s) (first at row "
                                 f"{start + int(bad[0][0])}, column {int(bad[0][1])}); remove "
                                 "or impute them.")
            if w is None:
                wc = np.ones(len(Xc))
            elif hasattr(w, "blocks"):
                wc = np.asarray(w[start:start + len(Xc)].compute(), dtype=np.float64)
            else:
                wc = w[start:start + len(Xc)]
            start += len(Xc)
            yield as_float(Xc), wc


def data_kind(X) -> str:
    """``"dask"``, ``"memmap"``, ``"chunks"`` (re-iterable of arrays) or ``"array"``.

    A :class:`DataSource` answers its own :attr:`~DataSource.kind`. Raises ``TypeError`` for a
    one-shot iterator.
    """
    if isinstance(X, DataSource):
        return X.kind
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
                        "gaussmix._data.NpyChunks, or an object whose __iter__ starts "
                        "again) or a numpy.memmap.")
    if isinstance(X, Iterable) and not isinstance(X, (str, bytes, dict)):
        return "chunks"
    return "array"


def _is_chunk(x) -> bool:
    """A 2-D ndarray, or an ``(X, sample_weight)`` pair with a 2-D ndarray ``X``."""
    if isinstance(x, tuple) and len(x) == 2:
        x = x[0]
    return isinstance(x, np.ndarray) and x.ndim == 2
