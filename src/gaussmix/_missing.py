"""EM with missing values (Ghahramani & Jordan 1994): statistics, densities and imputation.

NaN marks a missing entry. For a row ``x`` with observed features ``o`` and missing ``m``,
and a component ``j`` with mean ``mu`` and covariance ``S``:

* E-step: the row's density is its marginal over the observed features,
  ``N(x_o | mu_o, S_oo)``; responsibilities come from these marginals.
* the missing entries' conditional law is Gaussian, with mean
  ``xhat_m = mu_m + S_mo S_oo^{-1} (x_o - mu_o)`` and covariance
  ``C = S_mm - S_mo S_oo^{-1} S_om``.
* M-step: the expected complete-data sufficient statistics replace ``x`` by the completed row
  ``xhat`` (``x_o`` on the observed entries) and add ``C`` to the ``mm`` block of the second
  moments. These are the ordinary :class:`~gaussmix._stats.SufficientStats` (weight sums,
  means, centred scatter), so every covariance model's M-step runs unchanged.

Rows are grouped by missingness pattern; per pattern and component the Cholesky factor of
``S_oo`` (and from it ``S_mo L^{-T}`` and ``C``) is computed once per pass, vectorised over the
pattern's rows. Complete rows go through the ordinary fast E-pass (:func:`_engine.e_pass`), and
data without any NaN never comes here, so its fit is the complete-data fit bit for bit.

Out of core (a memory map or a re-iterable of chunks, :class:`MissingChunkSource`) a pass reads
the chunks once (:class:`ChunkMissingPass`): each chunk's complete rows stream to the fast
E-pass, its incomplete rows are grouped by pattern within the chunk, and a pattern's factors
are reused by later chunks of the same pass; the statistics merge, so the fit equals the
in-memory one up to summation order.

Names: ``o``/``m`` observed/missing index arrays, ``L`` the lower Cholesky factor of ``S_oo``,
``z = L^{-1}(x_o - mu_o)`` whitened residuals, ``B = S_mo L^{-T}`` so ``xhat_m = mu_m + B z``
and ``C = S_mm - B B^T``; ``rw`` responsibilities times sample weights.
"""
from __future__ import annotations

import numpy as np

from collections.abc import Iterator

from ._data import ArraySource, ChunkSource, as_float, check_chunk
from ._kernels import logsumexp_rows
from ._params import Params
from ._stats import SufficientStats, chunk_stats
from ._validation import check_finite

_LOG_2PI = np.log(2.0 * np.pi)
_BLOCK = 32768  # rows of one pattern processed at once: k * _BLOCK * d floats of workspace
_PATTERN_CACHE_BYTES = 64 * 2**20  # factors of the patterns met in a pass, kept across chunks


def check_missing(X: np.ndarray, name: str = "X", offset: int = 0, *,
                  chunk: int | None = None) -> np.ndarray:
    """The NaN mask of ``X`` after checking that it has no inf and no row that is all NaN.

    ``offset`` is the index of ``X``'s first row in the data; with ``chunk`` (the index of an
    out-of-core chunk) the errors name the chunk and give the rows both within the chunk and
    in the data.
    """
    nan = np.isnan(X)
    where = f"Input {name}" if chunk is None else f"chunk {chunk}"

    def rows_of(local: list[int]) -> str:
        data = [r + offset for r in local]
        if chunk is None:
            return f"{data}"
        return f"{local} of the chunk, {data} of the data"

    if np.isinf(X).any():
        loc = tuple(int(i) for i in np.argwhere(np.isinf(X))[0])
        row = (f"{loc[0] + offset}" if chunk is None
               else f"{loc[0]} of the chunk, row {loc[0] + offset} of the data")
        raise ValueError(
            f"{where} contains inf (first at row {row}, column {loc[1]}); NaN marks a missing "
            "entry with missing='marginalize', but inf is not allowed.")
    empty = np.flatnonzero(nan.all(axis=1))
    if empty.size:
        rows = rows_of(empty[:10].tolist())
        more = f" and {empty.size - 10} more" if empty.size > 10 else ""
        raise ValueError(
            f"{where} has {empty.size} row{'s' if empty.size > 1 else ''} with every "
            f"entry missing (rows {rows}{more}); such rows carry no information: drop them.")
    return nan


def patterns(nan: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(observed feature indices, row indices)]`` per distinct missingness pattern of the
    incomplete rows (rows with at least one NaN)."""
    rows = np.flatnonzero(nan.any(axis=1))
    if rows.size == 0:
        return []
    keys = np.packbits(nan[rows], axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    out = []
    for grp in np.split(order, bounds):
        r = rows[grp]
        out.append((np.flatnonzero(~nan[r[0]]), r))
    return out


class _Pattern:
    """Per-component factors of one missingness pattern under parameters (dense ``cov``)."""

    def __init__(self, o: np.ndarray, d: int, means: np.ndarray, cov: np.ndarray,
                 log_weights: np.ndarray):
        self.o = o
        self.m = np.setdiff1d(np.arange(d), o)
        S_oo = cov[:, o[:, None], o[None, :]]
        L = np.linalg.cholesky(S_oo)
        eye = np.broadcast_to(np.eye(len(o)), S_oo.shape)
        self.Linv = np.linalg.solve(L, eye)  # (k, |o|, |o|), lower triangular
        self.mu_o = means[:, o]
        self.mu_m = means[:, self.m]
        self.const = (log_weights - 0.5 * len(o) * _LOG_2PI
                      - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1))
        S_mo = cov[:, self.m[:, None], o[None, :]]
        self.B = S_mo @ np.swapaxes(self.Linv, 1, 2)  # (k, |m|, |o|)
        self.C = cov[:, self.m[:, None], self.m[None, :]] - self.B @ np.swapaxes(self.B, 1, 2)

    def whiten(self, Xo: np.ndarray) -> np.ndarray:
        """``z`` (k, n, |o|) of observed parts ``Xo`` (n, |o|)."""
        diff = Xo[None, :, :] - self.mu_o[:, None, :]
        return np.einsum("kab,knb->kna", self.Linv, diff, optimize=True)

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        """Weighted marginal log-densities (n, k) from ``z``."""
        return self.const[None, :] - 0.5 * np.einsum("kna,kna->nk", z, z, optimize=True)

    def cond_means(self, z: np.ndarray) -> np.ndarray:
        """Conditional means of the missing entries (k, n, |m|)."""
        return self.mu_m[:, None, :] + np.einsum("kmo,kno->knm", self.B, z, optimize=True)


def _dense(params: Params, model) -> np.ndarray:
    k, d = params.means.shape
    return model.dense(np.asarray(params.covariances, dtype=np.float64), k, d)


def _pattern_stats(X: np.ndarray, w: np.ndarray, pat: _Pattern, full: bool,
                   n_worst: int) -> SufficientStats:
    """Expected complete-data statistics of rows ``X`` (n, d) sharing the pattern ``pat``."""
    n, d = X.shape
    o, m = pat.o, pat.m
    z = pat.whiten(X[:, o])
    lp = pat.log_prob(z)
    log_norm, resp = logsumexp_rows(lp, out_resp=True, finite=True)
    xhat_m = pat.cond_means(z)  # (k, n, |m|)
    k = resp.shape[1]
    rw = resp * w[:, None]
    nk = rw.sum(axis=0)
    safe = np.maximum(nk, np.finfo(np.float64).tiny)
    means = np.empty((k, d))
    scatter = np.zeros((k, d, d) if full else (k, d))
    Xc = X.copy()
    for j in range(k):
        Xc[:, m] = xhat_m[j]
        means[j] = rw[:, j] @ Xc / safe[j]
        diff = Xc - means[j]
        if full:
            scatter[j] = (diff * rw[:, j:j + 1]).T @ diff
            scatter[j][np.ix_(m, m)] += nk[j] * pat.C[j]
        else:
            scatter[j] = rw[:, j] @ (diff * diff)
            scatter[j][m] += nk[j] * np.diagonal(pat.C[j])
    means[nk <= 0] = 0.0
    ll = float(np.dot(w, log_norm))
    score = np.where(w > 0, log_norm, np.inf)
    nw = min(n_worst, int(np.count_nonzero(w > 0)))
    if nw > 0:
        idx = np.argsort(score, kind="stable")[:nw]
        worst = X[idx].copy()
        # a re-seeded component starts at the row's conditional expectation under the mixture
        worst[:, m] = np.einsum("nk,knm->nm", resp[idx], xhat_m[:, idx])
        worst_score = score[idx]
    else:
        worst, worst_score = np.empty((0, d)), np.empty(0)
    return SufficientStats(nk, means, scatter, ll, float(w.sum()), n, worst, worst_score)


class MissingPass:
    """The E-pass of EM over an in-memory ``X`` with NaN: ``pass_fn(params) -> stats``.

    Complete rows are one :class:`~gaussmix._data.ArraySource` served to
    :func:`gaussmix._engine.e_pass` (the fast kernels), or to ``complete_pass(source, params,
    shift)`` when given (the variational fit's pass with its own accuracy test); incomplete
    rows are grouped by pattern once, here, and their statistics computed in float64 per
    pattern.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray, model, reg_covar: float, chunk_size: int,
                 nan: np.ndarray | None = None, complete_pass=None):
        nan = np.isnan(X) if nan is None else nan
        incomplete = nan.any(axis=1)
        self.model = model
        self.reg_covar = reg_covar
        self.d = X.shape[1]
        self.dtype = X.dtype
        self.complete_pass = complete_pass
        self.complete = ArraySource(np.ascontiguousarray(X[~incomplete]), w[~incomplete],
                                    chunk_size)
        self.groups = [(o, np.asarray(X[r], dtype=np.float64), np.asarray(w[r], np.float64))
                       for o, r in patterns(nan)]
        n_c = self.complete.n_samples
        self.shift = (self.complete.weighted_mean() if n_c and self.complete.w.sum() > 0
                      else np.nan_to_num(_nan_weighted_mean(X, w)))

    def __call__(self, params: Params) -> SufficientStats:
        from ._engine import e_pass
        k = params.means.shape[0]
        full = self.model.full_scatter
        stats = SufficientStats.empty(k, self.d, full)
        if self.complete.n_samples and self.complete_pass is not None:
            stats = self.complete_pass(self.complete, params, self.shift)
        elif self.complete.n_samples:
            stats = e_pass(self.complete, params, self.model, self.shift, self.dtype,
                           reg_covar=self.reg_covar)
        cov = _dense(params, self.model)
        with np.errstate(divide="ignore"):
            log_w = np.log(params.weights)
        for o, Xp, wp in self.groups:
            pat = _Pattern(o, self.d, params.means, cov, log_w)
            for s in range(0, len(Xp), _BLOCK):
                stats = stats.merge(_pattern_stats(Xp[s:s + _BLOCK], wp[s:s + _BLOCK], pat,
                                                   full, k))
        return stats


def _nan_weighted_mean(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-column weighted mean of the observed entries (float64)."""
    obs = ~np.isnan(X)
    wo = obs * w[:, None]
    tot = np.nansum(np.asarray(X, dtype=np.float64) * w[:, None], axis=0)
    return tot / np.maximum(wo.sum(axis=0), np.finfo(np.float64).tiny)


def mean_imputed(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X`` with each NaN replaced by its column's weighted observed mean (the data the
    initialisation sees: k-means, k-means++, random rows or hc on mean-imputed rows)."""
    col = _nan_weighted_mean(X, w).astype(X.dtype)
    out = np.array(X, copy=True)
    r, c = np.nonzero(np.isnan(out))
    out[r, c] = col[c]
    return out


def weighted_log_prob(X: np.ndarray, params: Params, model, complete_fn,
                      log_weights: np.ndarray | None = None) -> np.ndarray:
    """``log w_j + log N(x_o | mu_jo, S_jo)`` (n, k) of rows with NaN, in float64;
    ``complete_fn(rows)`` gives the same for complete rows. ``log_weights`` replaces
    ``log params.weights`` (per-component constants that need not be log-probabilities)."""
    nan = np.isnan(X)
    incomplete = nan.any(axis=1)
    out = np.empty((X.shape[0], params.means.shape[0]))
    if not incomplete.all():
        out[~incomplete] = complete_fn(X[~incomplete])
    cov = _dense(params, model)
    if log_weights is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
    for o, r in patterns(nan):
        pat = _Pattern(o, X.shape[1], params.means, cov, log_weights)
        out[r] = pat.log_prob(pat.whiten(np.asarray(X[np.ix_(r, o)], dtype=np.float64)))
    return out


def impute(X: np.ndarray, params: Params, model, method: str, rng) -> np.ndarray:
    """``X`` (float64 copy) with its NaN filled from the mixture's conditional given the
    observed entries: the posterior-weighted conditional mean (``"mean"``), or one draw of the
    conditional mixture (``"sample"``: a component from the posterior, then its conditional
    Gaussian)."""
    X = np.array(X, dtype=np.float64, copy=True)
    nan = check_missing(X)
    d = X.shape[1]
    cov = _dense(params, model)
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    for o, r in patterns(nan):
        pat = _Pattern(o, d, params.means, cov, log_w)
        for s in range(0, len(r), _BLOCK):
            rows = r[s:s + _BLOCK]
            z = pat.whiten(X[np.ix_(rows, o)])
            _, resp = logsumexp_rows(pat.log_prob(z), out_resp=True, finite=True)
            xm = pat.cond_means(z)  # (k, n, |m|)
            if method == "mean":
                fill = np.einsum("nk,knm->nm", resp, xm)
            else:
                u = rng.random_sample(len(rows))
                comp = np.minimum((np.cumsum(resp, axis=1) < u[:, None]).sum(axis=1),
                                  resp.shape[1] - 1)
                fill = xm[comp, np.arange(len(rows))]
                for j in np.unique(comp):
                    sel = comp == j
                    # conditional covariance may be semi-definite (reg_covar = 0): eigh factor
                    vals, vecs = np.linalg.eigh(pat.C[j])
                    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
                    fill[sel] += rng.standard_normal((int(sel.sum()), len(pat.m))) @ root.T
            X[np.ix_(rows, pat.m)] = fill
    return X


class MissingChunkSource(ChunkSource):
    """A :class:`~gaussmix._data.ChunkSource` whose chunks may hold NaN (missing entries).

    Until :attr:`validated` is set each chunk is checked as an ordinary chunk on its observed
    entries (shape, dtype, feature count, weights), and for inf and rows with every entry
    missing by :func:`check_missing`, whose errors name the chunk and the row. Chunks are
    served with their NaN.
    """

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.validated:
            yield from super().chunks()
            return
        start = 0
        for i, X, w in self.raw_chunks():
            X = np.asarray(X)
            expected = self.expected_features is not None
            if X.ndim == 2 and X.dtype.kind == "f" and not np.isfinite(X).all():
                nan = check_missing(X, offset=start, chunk=i)
                # the other checks see the observed entries (NaN stands for any number)
                _, w = check_chunk(i, np.where(nan, 0.0, X), w, self.n_features,
                                   expected=expected)
            else:
                X, w = check_chunk(i, X, w, self.n_features, expected=expected)
            if self.n_features is None:
                self.n_features = X.shape[1]
            start += X.shape[0]
            X = as_float(X)
            for s in range(0, X.shape[0], self.chunk_size):
                yield X[s:s + self.chunk_size], np.asarray(w[s:s + self.chunk_size])


class _CompleteRows:
    """The complete rows of every chunk of ``source``, as a data source for
    :func:`gaussmix._engine.e_pass`; while serving them it accumulates, in :attr:`stats`, the
    Ghahramani-Jordan statistics of the chunks' incomplete rows under :attr:`params`.

    Each iteration of :meth:`chunks` starts :attr:`stats` afresh (the engine iterates again
    when its fast kernels decline a pass). Rows are grouped by pattern within a chunk; the
    factors of a pattern are computed once per pass and kept across chunks (a bounded cache).
    """

    def __init__(self, source: ChunkSource, n_complete: int, model):
        self.source = source
        self.n_samples = n_complete
        self.model = model
        self.params: Params | None = None
        self.stats: SufficientStats | None = None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        params = self.params
        k, d = params.means.shape
        full = self.model.full_scatter
        cov = _dense(params, self.model)
        with np.errstate(divide="ignore"):
            log_w = np.log(params.weights)
        cache: dict[bytes, _Pattern] = {}
        max_cached = max(1, _PATTERN_CACHE_BYTES // (8 * k * (3 * d * d + 2 * d)))
        self.stats = SufficientStats.empty(k, d, full)
        for Xc, wc in self.source.chunks():
            nan = np.isnan(Xc)
            incomplete = nan.any(axis=1)
            if not incomplete.any():
                yield Xc, wc
                continue
            for o, r in patterns(nan):
                key = o.tobytes()
                pat = cache.get(key)
                if pat is None:
                    if len(cache) >= max_cached:
                        cache.clear()
                    pat = cache[key] = _Pattern(o, d, params.means, cov, log_w)
                for s in range(0, len(r), _BLOCK):
                    rows = r[s:s + _BLOCK]
                    self.stats = self.stats.merge(_pattern_stats(
                        np.asarray(Xc[rows], dtype=np.float64),
                        np.asarray(wc[rows], dtype=np.float64), pat, full, k))
            if not incomplete.all():
                yield Xc[~incomplete], wc[~incomplete]


class ChunkMissingPass:
    """The E-pass of EM over chunks with NaN (a memory map or a re-iterable of chunks):
    ``pass_fn(params) -> stats``, one read of the chunks per call.

    As :class:`MissingPass`, but chunk by chunk: the complete rows of each chunk go to the
    ordinary fast E-pass (:func:`gaussmix._engine.e_pass`), the incomplete rows are grouped by
    pattern within their chunk and their statistics merged; nothing of length n_samples is
    held. ``shift`` is the weighted mean of the complete rows (of the observed entries when
    every row has a NaN), as in memory.
    """

    def __init__(self, source: ChunkSource, model, reg_covar: float, shift: np.ndarray,
                 dtype, n_complete: int):
        self.rows = _CompleteRows(source, n_complete, model)
        self.model = model
        self.reg_covar = reg_covar
        self.shift = shift
        self.dtype = dtype

    def __call__(self, params: Params) -> SufficientStats:
        from ._engine import e_pass
        self.rows.params = params
        stats = e_pass(self.rows, params, self.model, self.shift, self.dtype,
                       reg_covar=self.reg_covar)
        return stats.merge(self.rows.stats)


def refuse_out_of_core(kind: str, supported: str | None = None) -> None:
    """The error for ``missing="marginalize"`` with input an estimator cannot fit with it
    (``kind``: a memory map, a re-iterable of chunks, a dask array); ``supported`` names what it
    does fit (default: arrays in memory)."""
    if supported is None:
        raise ValueError(f"missing='marginalize' fits arrays in memory; got a {kind} "
                         "(out-of-core input). Load the data as an array, or use "
                         "missing='error' for data without NaN.")
    raise ValueError(f"missing='marginalize' fits {supported}; got a {kind}. Load the data "
                     "as an array or a memory map, or use missing='error' for data without "
                     "NaN.")


def check_values(X: np.ndarray, missing: str, hint: str | None = None) -> None:
    """NaN and inf are errors, except with ``missing="marginalize"``, where only inf and rows
    with every entry missing are (:func:`check_missing`). ``hint`` ends the NaN error (how to
    treat NaN as missing entries)."""
    if missing == "marginalize" and not np.isfinite(X).all():
        check_missing(X)
        return
    try:
        check_finite(X)
    except ValueError as exc:
        if hint is None or not np.isnan(X).any():
            raise
        raise ValueError(f"{exc} {hint}") from None
