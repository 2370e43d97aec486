"""Fast E-pass: every component's log-density and statistics in two matrix products per block.

A Gaussian log-density is a linear function of the *quadratic features* of a row. With
precision ``P = L L^T`` and mean ``m``,

    log N(x | m, P^-1) = -1/2 x^T P x + x^T (P m) + [-1/2 m^T P m + log det L - d/2 log 2 pi],

so with ``q(x) = [x, upper-triangle of x x^T, 1]`` (``d + d(d+1)/2 + 1`` columns) the weighted
log-densities of all ``k`` components are one product ``Q @ W`` (W is (p, k)), and the
statistics the M-step needs (``sum r``, ``sum r x``, ``sum r x x^T`` per component) are the
transposed product ``R^T @ Q`` (k, p) with ``R = w * resp``. Symmetry halves the flops of the
textbook ``(x - m) L`` whitening, and the whole step runs in BLAS. Diagonal and spherical models
use ``q(x) = [x, x * x, 1]``.

Numerics
--------
* Rows arrive centred on the weighted data mean (the engine's ``shift``), so the expansion above
  does not cancel catastrophically. Each block's product is summed over blocks in float64 and
  centred on the component means once, at the end (:class:`_Acc`): the float64 sum adds nothing
  to the rounding of each block's product, which per-block centring could not undo either,
  and a merge is one addition instead of a parallel-variance update per block.
* float32 input is multiplied in float32 (twice the BLAS rate); sums over blocks, the
  centring and everything after are float64. The expansion cancels terms of size
  ``|m|_P^2``; when :func:`float32_error` estimates that this costs more than
  :data:`F32_MAX_ERROR` nats per row (a component far from the data centre and thin in some
  direction), the pass computes in float64 instead (the data stay float32).
* ``exp`` arguments are clamped at -80 below the row maximum (see :mod:`gaussmix._kernels`).

Memory
------
Per thread one :class:`Workspace` of ``block_rows * (p + k + d)`` numbers, reused across blocks
and EM iterations (fresh pages are expensive, and this keeps the footprint at the data plus a
fixed workspace). ``X.T @ X``-shaped products run on a single core in OpenBLAS, so the blocks are
processed by a small thread pool with single-threaded BLAS (numpy releases the GIL) and the
per-block statistics are merged in block order, so the result does not depend on the number of
threads beyond floating-point rounding.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._kernels import _EXP_CLAMP
from ._stats import SufficientStats

_TINY = np.finfo(np.float64).tiny

#: Bytes of workspace per thread (quadratic features, log-densities, centred rows of one block).
DEFAULT_BLOCK_BYTES = 6 * 2**20
#: Most rows per block (blocks must stay numerous enough to share out between threads).
MAX_BLOCK_ROWS = 16384


def n_features_out(d: int, full_scatter: bool) -> int:
    """Number of quadratic features ``p`` for ``d`` input features."""
    return d + d * (d + 1) // 2 + 1 if full_scatter else 2 * d + 1


def block_rows_for(d: int, k: int, itemsize: int, full_scatter: bool,
                   budget: int = DEFAULT_BLOCK_BYTES) -> int:
    """Rows per block so that one thread's workspace fits in ``budget`` bytes."""
    per_row = itemsize * (n_features_out(d, full_scatter) + k + d) + 16
    return int(max(64, min(MAX_BLOCK_ROWS, budget // per_row)))


def default_n_threads() -> int:
    """Threads for the E-pass: the usable CPU count, at most 2 unless ``GAUSSMIX_NUM_THREADS``."""
    env = os.environ.get("GAUSSMIX_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


# ---------------------------------------------------------------------------------------------
# the parameter matrix W


#: Largest estimated float32 rounding error of the expansion (nats per row) computed in float32.
F32_MAX_ERROR = 1e-3


#: Largest estimated error of the float64 expansion (nats per row), and the largest relative
#: rounding error of a variance summed from raw moments in float64. float64 data expect
#: float64 accuracy: beyond this, the reference kernel's centred arithmetic is used.
F64_MAX_ERROR = 1e-8


def max_error(dtype) -> float:
    """The accuracy asked of a fast pass computed in ``dtype`` (nats per row, relative variance)."""
    return F32_MAX_ERROR if np.dtype(dtype) == np.float32 else F64_MAX_ERROR


def expansion_error(quad: np.ndarray, means: np.ndarray, dtype=np.float32) -> float:
    """Estimated rounding error (nats) of ``-1/2 x^T P x + x^T P m`` near ``x = m`` in ``dtype``.

    The expansion cancels terms of size ``|m|^T |P| |m|`` (``m`` relative to the data centre);
    rounding errors of its ``~d^2`` terms add up like a random walk, hence the ``1/d``. Measured
    on the benchmark blobs and on a component 100 times thinner in one direction, this
    over-estimates the actual float32 error by 6-40 times.
    """
    a = np.abs(means)
    d = means.shape[1]
    if quad.ndim == 3:
        e = np.einsum("ka,kab,kb->k", a, np.abs(quad), a)
    else:
        e = np.einsum("ka,ka->k", a * a, np.abs(quad))
    return float(np.finfo(dtype).eps * e.max() / d)


def float32_error(quad: np.ndarray, means: np.ndarray) -> float:
    """:func:`expansion_error` in float32."""
    return expansion_error(quad, means, np.float32)


def compute_dtype(model, params, shift: np.ndarray, dtype) -> np.dtype | None:
    """The dtype the expansion is computed in, or ``None`` when even float64 is not accurate.

    float32 data compute in float32 unless :func:`expansion_error` exceeds
    :data:`F32_MAX_ERROR`, then in float64. When the float64 error exceeds the accuracy asked
    of the data's dtype (:func:`max_error`; a component
    far thinner than its distance from the data centre: tight clusters far apart, repeated
    values at a large offset), the expansion cannot resolve the component and the caller must
    use the reference kernel, which whitens ``x - m`` directly.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    try:
        quad, _, _ = model.expansion(params.means - shift, params.prec_chol)
    except (NotImplementedError, AttributeError):
        return dtype
    for dt in ((dtype,) if dtype == np.float64 else (dtype, np.dtype(np.float64))):
        if expansion_error(quad, params.means - shift, dt) <= max_error(dtype):
            return dt
    return None


def scatter_resolved(stats: SufficientStats, shift: np.ndarray, dtype,
                     reg_covar: float | None, data_dtype=None) -> bool:
    """Whether the variances of ``stats``, summed from raw moments in ``dtype``, are accurate
    enough for data of ``data_dtype`` (default ``dtype``).

    A raw second moment ``sum r x^2`` (``x`` centred on ``shift``) carries a rounding error of
    about ``eps * (var + (m - shift)^2)`` per unit weight; centring it on the component mean
    keeps that absolute error. Relative to the regularised variance ``var + reg_covar`` it must
    stay below :func:`max_error` of ``dtype``, or the statistics are recomputed centred (reference
    kernel). ``reg_covar=None`` (unknown) counts as zero.
    """
    pos = stats.nk > 0
    if not np.any(pos):
        return True
    nk = stats.nk[pos]
    sc = stats.scatter[pos]
    var = (np.diagonal(sc, axis1=1, axis2=2) if sc.ndim == 3 else sc) / nk[:, None]
    off = (stats.means[pos] - shift) ** 2
    err = np.finfo(dtype).eps * (np.abs(var) + off)
    base = np.maximum(var, 0.0) + (reg_covar or 0.0)
    tol = max_error(dtype if data_dtype is None else data_dtype)
    return bool(np.all(err <= tol * base))


def design_matrix(model, params, shift: np.ndarray, dtype) -> np.ndarray | None:
    """``W`` (p, k) with ``q(x - shift) @ W = log w_j + log N(x | mu_j, Sigma_j)``.

    Returns ``None`` for models that do not provide :meth:`expansion` (they use the reference
    kernel).
    """
    k, d = params.means.shape
    try:
        quad, lin, const = model.expansion(params.means - shift, params.prec_chol)
    except (NotImplementedError, AttributeError):
        return None
    p = n_features_out(d, model.full_scatter)
    W = np.empty((p, k))
    W[:d] = lin.T
    if model.full_scatter:
        iu, ju = np.triu_indices(d)
        # x^T P x = sum_a P_aa x_a^2 + sum_{a<b} (P_ab + P_ba) x_a x_b
        coef = -0.5 * (quad[:, iu, ju] + quad[:, ju, iu])
        coef[:, iu == ju] *= 0.5
        W[d:-1] = coef.T
    else:
        W[d:-1] = -0.5 * quad.T
    with np.errstate(divide="ignore"):
        W[-1] = const + np.log(params.weights)
    return np.ascontiguousarray(W, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# workspaces


class Workspace:
    """Buffers of one thread for blocks of up to ``rows`` rows, reused across iterations.

    Everything is stored transposed (features by rows) so that the elementwise work (building
    features, the log-sum-exp over components) runs along long contiguous rows.
    """

    def __init__(self, rows: int, d: int, k: int, full_scatter: bool, dtype):
        p = n_features_out(d, full_scatter)
        self.key = (rows, d, k, full_scatter, np.dtype(dtype))
        self.QT = np.empty((p, rows), dtype=dtype)
        self.QT[-1] = 1
        self.LPT = np.empty((k, rows), dtype=dtype)
        self.T = np.empty((k, p), dtype=dtype)
        self.amax = np.empty(rows, dtype=dtype)
        self.s = np.empty(rows, dtype=dtype)
        self.full_scatter = full_scatter


class WorkspacePool:
    """Workspaces kept between passes (attach one to a data source to reuse memory across EM)."""

    def __init__(self):
        self._free: list[Workspace] = []
        self._lock = threading.Lock()

    def take(self, rows, d, k, full_scatter, dtype) -> Workspace:
        key = (rows, d, k, full_scatter, np.dtype(dtype))
        with self._lock:
            for i, ws in enumerate(self._free):
                if ws.key == key:
                    return self._free.pop(i)
            # a workspace of another shape is of no further use: let it go
            self._free = [ws for ws in self._free if ws.key[1:] == key[1:]]
        return Workspace(rows, d, k, full_scatter, dtype)

    def give(self, ws: Workspace) -> None:
        with self._lock:
            self._free.append(ws)


# ---------------------------------------------------------------------------------------------
# one block


def build_features(XT: np.ndarray, QT: np.ndarray, full_scatter: bool) -> None:
    """Write ``q(x)`` of the columns of ``XT`` (d, n) into ``QT[:, :n]`` (p, n).

    ``XT`` must already be the first ``d`` rows of ``QT``; the last row of ``QT`` holds 1.
    """
    d, n = XT.shape
    if full_scatter:
        o = d
        for a in range(d):
            np.multiply(XT[a], XT[a:], out=QT[o:o + d - a, :n])
            o += d - a
    else:
        np.multiply(XT, XT, out=QT[d:2 * d, :n])


class _Acc:
    """Statistics of consecutive blocks: the raw product ``R^T Q`` (k, p) summed in float64.

    The rows are centred on the data's weighted mean before the product, so the raw moments
    are moments about that centre; they are centred on each component's mean once, when read
    (:attr:`nk`, :attr:`means`, :attr:`scatter`, packed upper triangles for full models).
    Summing in float64 adds no error beyond the rounding of each block's product, and a merge
    is one addition, so merging costs nothing next to the block products.
    """

    __slots__ = ("T", "d", "full", "ll", "weight", "n", "worst_X", "worst_score")

    def __init__(self, T, d, full, ll, weight, n, worst_X, worst_score):
        self.T, self.d, self.full = T, d, full
        self.ll, self.weight, self.n = ll, weight, n
        self.worst_X, self.worst_score = worst_X, worst_score

    def merge(self, o: "_Acc") -> None:
        self.T += o.T
        self.ll += o.ll
        self.weight += o.weight
        self.n += o.n
        self.worst_X.extend(o.worst_X)
        self.worst_score.extend(o.worst_score)

    @property
    def nk(self) -> np.ndarray:
        return self.T[:, -1].copy()

    @property
    def means(self) -> np.ndarray:
        nk = self.T[:, -1]
        means = self.T[:, :self.d] / np.maximum(nk, _TINY)[:, None]
        means[nk <= 0] = 0.0
        return means

    @property
    def scatter(self) -> np.ndarray:
        """Centred scatter ``sum r (x - m)(x - m)^T``: (k, d(d+1)/2) packed, or (k, d)."""
        d = self.d
        sx = self.T[:, :d]
        means = self.means
        if self.full:
            iu, ju = np.triu_indices(d)
            return self.T[:, d:-1] - sx[:, iu] * means[:, ju]
        return self.T[:, d:-1] - sx * means


def block_stats(X: np.ndarray, w: np.ndarray, W: np.ndarray, shift: np.ndarray,
                ws: Workspace, n_worst: int) -> _Acc:
    """E-step and centred statistics of one block of rows ``X`` (m, d), ``m <= ws`` rows."""
    m, d = X.shape
    full = ws.full_scatter
    dt = ws.QT.dtype
    QT = ws.QT[:, :m]
    XT = QT[:d]
    np.subtract(X.T, shift.astype(dt)[:, None], out=XT)
    build_features(XT, ws.QT, full)
    LPT = ws.LPT[:, :m]
    np.matmul(W.T, QT, out=LPT)
    # log-sum-exp over components (axis 0), in place; LPT becomes w_i * resp_ij
    amax = LPT.max(axis=0, out=ws.amax[:m])
    if not np.all(np.isfinite(amax)):
        amax[~np.isfinite(amax)] = 0.0
    np.subtract(LPT, amax, out=LPT)
    np.maximum(LPT, _EXP_CLAMP, out=LPT)
    np.exp(LPT, out=LPT)
    s = LPT.sum(axis=0, out=ws.s[:m])
    log_norm = np.log(s, dtype=np.float64)
    log_norm += amax
    np.divide(np.asarray(w, dtype=dt), s, out=s)
    np.multiply(LPT, s, out=LPT)
    T = ws.T
    np.matmul(LPT, QT.T, out=T)
    T = T.astype(np.float64)
    ll = float(np.dot(np.asarray(w, dtype=np.float64), log_norm))
    worst_X, worst_score = [], []
    if n_worst > 0:
        pos = w > 0
        score = np.where(pos, log_norm, np.inf)
        q = min(n_worst, int(np.count_nonzero(pos)))
        if q > 0:
            idx = np.argpartition(score, q - 1)[:q] if q < m else np.arange(m)
            idx = idx[score[idx] < np.inf][:q]
            worst_X = list(X[idx].astype(np.float64))
            worst_score = list(score[idx].astype(np.float64))
    return _Acc(T, d, full, ll, float(np.sum(w, dtype=np.float64)), m, worst_X, worst_score)


def _to_stats(acc: _Acc, d: int, full: bool, shift: np.ndarray, n_worst: int) -> SufficientStats:
    k = len(acc.nk)
    packed = acc.scatter
    if full:
        iu, ju = np.triu_indices(d)
        scatter = np.empty((k, d, d))
        scatter[:, iu, ju] = packed
        scatter[:, ju, iu] = packed
    else:
        scatter = packed
    if acc.worst_score:
        wsc = np.asarray(acc.worst_score)
        keep = np.argsort(wsc, kind="stable")[:n_worst]
        worst_X, worst_score = np.asarray(acc.worst_X)[keep], wsc[keep]
    else:
        worst_X, worst_score = np.empty((0, d)), np.empty(0)
    return SufficientStats(acc.nk, acc.means + shift, scatter, acc.ll, acc.weight, acc.n,
                           worst_X, worst_score)


# ---------------------------------------------------------------------------------------------
# a pass over many blocks


def _blocks(chunks, rows):
    for Xc, wc in chunks:
        n = Xc.shape[0]
        for s in range(0, n, rows):
            yield Xc[s:s + rows], wc[s:s + rows]


_blas_controller = None
_blas_lock = threading.Lock()


def _single_threaded_blas():
    """A context in which BLAS runs single-threaded (threads of our own do the sharing)."""
    global _blas_controller
    with _blas_lock:
        if _blas_controller is None:
            from threadpoolctl import ThreadpoolController
            _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def thread_map(fn, items, n_threads: int) -> None:
    """Call ``fn(item)`` for every item, on ``n_threads`` threads with single-threaded BLAS."""
    if n_threads <= 1:
        for it in items:
            fn(it)
        return
    with _single_threaded_blas(), ThreadPoolExecutor(n_threads) as ex:
        for f in [ex.submit(fn, it) for it in items]:
            f.result()


def fast_pass(chunks, params, model, shift: np.ndarray, dtype, n_worst: int, *,
              n_threads: int | None = None, block_rows: int | None = None,
              pool: WorkspacePool | None = None, n_rows: int | None = None,
              reg_covar: float | None = None) -> SufficientStats | None:
    """Sufficient statistics of all rows of ``chunks`` (an iterable of ``(X, w)`` pairs).

    ``n_rows``, when known, lets a small pass skip the thread pool. Returns ``None`` when
    ``model`` has no :meth:`expansion`, or when the expansion cannot resolve the components
    (:func:`compute_dtype`, :func:`scatter_resolved` with ``reg_covar``): use the reference
    kernel then, on a fresh iteration of the chunks.
    """
    in_dtype = np.dtype(dtype)
    dtype = compute_dtype(model, params, shift, in_dtype)
    if dtype is None:
        return None
    W = design_matrix(model, params, shift, dtype)
    if W is None:
        return None
    k, d = params.means.shape
    full = model.full_scatter
    rows = block_rows or block_rows_for(d, k, dtype.itemsize, full)
    n_threads = default_n_threads() if n_threads is None else max(1, int(n_threads))
    if n_rows is not None and n_rows <= rows:
        n_threads = 1
    pool = pool if pool is not None else WorkspacePool()
    blocks = _blocks(chunks, rows)

    def as_dtype(X):
        return np.asarray(X, dtype=in_dtype)

    acc = None
    if n_threads == 1:
        ws = pool.take(rows, d, k, full, dtype)
        try:
            for Xb, wb in blocks:
                b = block_stats(as_dtype(Xb), np.asarray(wb), W, shift, ws, n_worst)
                if acc is None:
                    acc = b
                else:
                    acc.merge(b)
        finally:
            pool.give(ws)
    else:
        # workers pull blocks from the shared iterator; finished blocks are merged in block
        # order as soon as their predecessors are in (so the sums do not depend on which
        # thread ran which block, and only blocks finished out of order wait in memory)
        lock = threading.Lock()
        pending: dict[int, _Acc] = {}
        state = {"next_block": 0, "next_merge": 0, "acc": None}

        def worker():
            ws = pool.take(rows, d, k, full, dtype)
            try:
                while True:
                    with lock:
                        nxt = next(blocks, None)
                        if nxt is None:
                            return
                        i = state["next_block"]
                        state["next_block"] += 1
                    Xb, wb = nxt
                    b = block_stats(as_dtype(Xb), np.asarray(wb), W, shift, ws, n_worst)
                    with lock:
                        pending[i] = b
                        while state["next_merge"] in pending:
                            b = pending.pop(state["next_merge"])
                            if state["acc"] is None:
                                state["acc"] = b
                            else:
                                state["acc"].merge(b)
                            state["next_merge"] += 1
            finally:
                pool.give(ws)

        with _single_threaded_blas(), ThreadPoolExecutor(n_threads) as ex:
            futures = [ex.submit(worker) for _ in range(n_threads)]
            for f in futures:
                f.result()
        acc = state["acc"]
    if acc is None:
        return SufficientStats.empty(k, d, full)
    stats = _to_stats(acc, d, full, shift, n_worst)
    if not scatter_resolved(stats, shift, dtype, reg_covar, in_dtype):
        return None
    return stats
