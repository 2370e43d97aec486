"""Merge and reduce: coresets of unions, of streams (:class:`StreamingCoreset`) and of
distributed data (public through :mod:`gaussmix.coreset`).

The union of coresets of disjoint data is a coreset of their union; reducing it again with
:func:`~gaussmix._coreset_build.build` keeps its size bounded (Har-Peled & Mazumdar 2004;
Feldman et al. 2011).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.utils import check_random_state

from ._coreset_build import _check_finite_chunk, _check_int, _check_X, _exact, build
from ._typing import RandomStateLike
from ._validation import check_sample_weight


def reduce(parts, size: int, n_clusters: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A coreset of the union of weighted sets ``parts = [(points, weights), ...]``.

    The union of coresets of disjoint data is a coreset of their union; :func:`build` on it
    compresses it back to ``size`` (Har-Peled & Mazumdar 2004; Feldman et al. 2011).
    """
    pts = np.concatenate([p for p, _ in parts])
    wts = np.concatenate([u for _, u in parts])
    if len(pts) <= size:
        return pts, wts
    return build(pts, size, n_clusters=n_clusters, sample_weight=wts, random_state=rng)


class StreamingCoreset:
    """Coreset of a stream of batches by merge and reduce.

    Rows are buffered until ``leaf_size`` have arrived; the buffer is compressed to a coreset of
    ``size`` rows at level 0. Whenever two coresets sit at the same level they are merged and
    reduced to one coreset at the next level (a binary counter), so after ``n`` rows at most
    ``log2(n / leaf_size) + 1`` coresets are held: memory is
    O(``size`` log(n / ``size``) + ``leaf_size``) rows, independent of ``n``.
    :meth:`coreset` can be called at any time and does not disturb the stream.

    Each level of reduction adds a sampling error, so a streaming coreset of a given size is
    somewhat less accurate than :func:`build` on all the data at once (the usual price of
    merge and reduce); it is not exact.

    Parameters
    ----------
    size : int
        Rows per coreset (each reduction keeps at most ``size`` distinct rows).
    n_clusters : int
        Number of mixture components the coreset is meant for.
    leaf_size : int or None, default=None
        Raw rows compressed at once; ``None`` uses ``max(4 * size, 262144)``. Larger leaves
        mean fewer levels (less error) and higher throughput, at ``leaf_size`` rows of memory.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    n_samples_seen_ : int
        Rows received so far.
    total_weight_ : float
        Sum of the weights received so far (the coreset's weights sum to about this).
    n_features_in_ : int
        Number of columns, fixed by the first batch.

    See Also
    --------
    build : coreset of data held in memory or memory-mapped.

    References
    ----------
    Har-Peled, Mazumdar (2004). On coresets for k-means and k-median clustering. STOC.
    Lucic, Faulkner, Krause, Feldman (2018). Training Gaussian mixture models at scale via
    coresets. JMLR 18(160).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.coreset import StreamingCoreset
    >>> rng = np.random.default_rng(0)
    >>> sc = StreamingCoreset(size=200, n_clusters=3, leaf_size=1000, random_state=0)
    >>> for _ in range(20):
    ...     _ = sc.partial_fit(rng.normal(size=(500, 2)))
    >>> points, weights = sc.coreset()
    >>> len(points) <= 200, bool(abs(weights.sum() / sc.n_samples_seen_ - 1) < 0.1)
    (True, True)
    """

    def __init__(self, size: int, n_clusters: int, *, leaf_size: int | None = None,
                 random_state: RandomStateLike = None) -> None:
        self.size = size
        self.n_clusters = n_clusters
        self.leaf_size = leaf_size
        self.random_state = random_state

    def _start(self, d: int, dtype) -> None:
        self._size = _check_int(self.size, "size")
        self._k = _check_int(self.n_clusters, "n_clusters")
        self._leaf = (max(4 * self._size, 1 << 18) if self.leaf_size is None
                      else _check_int(self.leaf_size, "leaf_size"))
        if self._leaf < self._size:
            raise ValueError(f"'leaf_size' ({self._leaf}) must be at least 'size' ({self._size}).")
        self._rng = check_random_state(self.random_state)
        self._buf: list[tuple[np.ndarray, np.ndarray]] = []
        self._buf_rows = 0
        self._levels: list[tuple[np.ndarray, np.ndarray] | None] = []
        self._dtype = dtype
        self.n_features_in_ = d
        self.n_samples_seen_ = 0
        self.total_weight_ = 0.0
        self._n_batches = 0

    def partial_fit(self, X: npt.ArrayLike,
                    sample_weight: npt.ArrayLike | None = None) -> StreamingCoreset:
        """Add a batch of rows.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
            The rows.
        sample_weight : array-like of shape (n_batch,), default=None
            Non-negative row weights.

        Returns
        -------
        self : StreamingCoreset
            With the batch merged in.
        """
        X = _check_X(X, "batch")
        if not hasattr(self, "_levels"):
            self._start(X.shape[1], X.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"batch has {X.shape[1]} features, but the stream has "
                             f"{self.n_features_in_}.")
        n = X.shape[0]
        if n == 0:
            self._n_batches += 1
            return self
        w = check_sample_weight(sample_weight, n)
        _check_finite_chunk(np.asarray(X), self.n_samples_seen_,
                            f"batch {self._n_batches}")
        X = np.array(X, dtype=np.result_type(X.dtype, self._dtype), copy=True)
        self._buf.append((X, w))
        self._buf_rows += n
        self.n_samples_seen_ += n
        self.total_weight_ += float(w.sum())
        self._n_batches += 1
        if self._buf_rows >= self._leaf:
            Xb = np.concatenate([b for b, _ in self._buf])
            wb = np.concatenate([u for _, u in self._buf])
            n_full = (len(Xb) // self._leaf) * self._leaf
            for s in range(0, n_full, self._leaf):
                self._push(self._compress(Xb[s:s + self._leaf], wb[s:s + self._leaf]))
            rest = (Xb[n_full:], wb[n_full:])
            self._buf = [rest] if len(rest[0]) else []
            self._buf_rows = len(rest[0])
        return self

    def _compress(self, X, w):
        if not np.any(w > 0):
            return X[:0], w[:0]
        return build(X, self._size, n_clusters=self._k, sample_weight=w,
                     random_state=self._rng) if np.count_nonzero(w) > self._size \
            else _exact(X, w)

    def _push(self, part) -> None:
        level = 0
        while True:
            if level == len(self._levels):
                self._levels.append(None)
            if self._levels[level] is None:
                self._levels[level] = part
                return
            part = reduce([self._levels[level], part], self._size, self._k, self._rng)
            self._levels[level] = None
            level += 1

    @property
    def n_stored_(self) -> int:
        """Rows currently held (buffer plus all levels)."""
        if not hasattr(self, "_levels"):
            return 0
        return self._buf_rows + sum(len(p[0]) for p in self._levels if p is not None)

    def coreset(self, *, reduce_to_size: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The coreset of everything seen so far.

        Parameters
        ----------
        reduce_to_size : bool, default=True
            Compress the union of the levels and the buffer to at most ``size`` rows. With
            ``False`` the union itself is returned (larger, slightly more accurate).

        Returns
        -------
        points : ndarray of shape (m, n_features)
        weights : ndarray of shape (m,)
        """
        if not hasattr(self, "_levels") or self.total_weight_ <= 0:
            raise ValueError("StreamingCoreset has not received any rows with positive weight; "
                             "call partial_fit first.")
        parts = [p for p in self._levels if p is not None]
        if self._buf_rows:
            Xb = np.concatenate([b for b, _ in self._buf])
            wb = np.concatenate([u for _, u in self._buf])
            keep = wb > 0
            parts.append((Xb[keep], wb[keep]))
        if reduce_to_size:
            # draws use a copy of the generator so that coreset() does not change the stream
            rng = check_random_state(None)
            rng.set_state(self._rng.get_state())
            return reduce(parts, self._size, self._k, rng)
        return np.concatenate([p for p, _ in parts]), np.concatenate([u for _, u in parts])
