"""Pure numerical kernels: arrays in, arrays out.

Names used throughout the package:

``X``
    data, shape (n_samples, n_features); ``n``, ``d``.
``w``
    non-negative sample weights, shape (n,).
``k``
    number of mixture components.
``log_prob``
    per-component log-density ``log N(x_i | mu_j, Sigma_j)``, shape (n, k).
``log_resp``, ``resp``
    log-responsibilities and responsibilities ``p(j | x_i)``, shape (n, k); rows of ``resp`` sum to 1.
``nk``
    weighted responsibility mass per component ``sum_i w_i resp_ij``, shape (k,).
``prec_chol``
    Cholesky factor ``L`` of the precision, ``Sigma^{-1} = L L^T``; its log-determinant is
    ``sum(log(diag(L)))`` and ``(x - mu) L`` whitens a sample.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

LOG_2PI = float(np.log(2.0 * np.pi))

# exp(z) for z < -80 relative to the row maximum is below 2e-35: contributes nothing to a
# float64 sum of terms of which one equals 1, and clamping keeps np.exp on its fast path.
_EXP_CLAMP = -80.0


def logsumexp_rows(a: np.ndarray, out_resp: bool = False, finite: bool = False):
    """Row-wise log-sum-exp of ``a`` (n, k).

    Returns ``log_norm`` (n,) and, if ``out_resp``, the normalised ``exp(a - log_norm)``
    computed without a second full ``exp`` pass. A row that is ``-inf`` everywhere (zero
    density under every component) gets ``log_norm = -inf`` and uniform responsibilities;
    with ``finite=True`` it gets the clamped value ``log(k) - 80`` instead, which the EM
    passes use so that one such point cannot turn the log-likelihood into ``-inf``/NaN.
    """
    amax = a.max(axis=1, keepdims=True)
    dead = ~np.isfinite(amax[:, 0])
    # rows that are entirely -inf (zero density everywhere) keep amax finite
    amax[dead] = 0.0
    z = a - amax
    np.maximum(z, _EXP_CLAMP, out=z)
    np.exp(z, out=z)
    s = z.sum(axis=1)
    log_norm = np.log(s) + amax[:, 0]
    if not finite and dead.any():
        log_norm[dead] = -np.inf
    if not out_resp:
        return log_norm
    z /= s[:, None]
    return log_norm, z


def log_resp_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log_norm, log_resp)``: row log-sum-exp of ``a`` (n, k) and ``a - log_norm``.

    ``log_resp`` is formed as ``(a - max) - log(sum(exp(a - max)))``, not ``a - log_norm``:
    once ``|max|`` exceeds about ``log(k) / eps`` (log-densities near -1e16 in float64, -1e8 in
    float32), ``log_norm`` rounds to ``max`` and ``a - log_norm`` would give rows summing to
    more than 1. Rows that are not finite at their maximum get ``log_norm = -inf`` and
    undefined ``log_resp``, for the caller to fill.
    """
    amax = a.max(axis=1, keepdims=True)
    dead = ~np.isfinite(amax[:, 0])
    amax[dead] = 0.0
    log_resp = a - amax
    e = np.maximum(log_resp, _EXP_CLAMP)
    np.exp(e, out=e)
    log_s = np.log(e.sum(axis=1))
    log_resp -= log_s[:, None]
    log_norm = log_s + amax[:, 0]
    log_norm[dead] = -np.inf
    return log_norm, log_resp


def cholesky_lower(a: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a symmetric matrix, or ``None`` if it is not positive definite."""
    # LAPACK potrf directly: scipy.linalg.cholesky's wrapper costs ~50 us even at d=2
    potrf, = linalg.get_lapack_funcs(("potrf",), (a,))
    c, info = potrf(a, lower=True, clean=True, overwrite_a=False)
    if info != 0 or not np.all(np.isfinite(c)) or np.any(np.diag(c) <= 0):
        return None
    return c


def _tri_inv(c: np.ndarray, lower: bool) -> np.ndarray:
    """Inverse of a non-singular triangular matrix (LAPACK trtri; far cheaper per call than
    ``solve_triangular`` against an identity on small matrices)."""
    trtri, = linalg.get_lapack_funcs(("trtri",), (c,))
    inv, info = trtri(c, lower=lower)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular matrix")
    return np.tril(inv) if lower else np.triu(inv)


def prec_chol_from_cov(cov: np.ndarray) -> np.ndarray | None:
    """Cholesky factor of the precision of one (d, d) covariance, or ``None`` if not PD.

    With ``cov = C C^T`` (C lower), ``cov^{-1} = C^{-T} C^{-1}``, so ``L = C^{-T}`` is an
    upper-triangular factor with ``L L^T = cov^{-1}``; scikit-learn stores the same matrix.
    """
    c = cholesky_lower(cov)
    if c is None:
        return None
    return _tri_inv(c, lower=True).T


def cov_from_prec_chol(prec_chol: np.ndarray) -> np.ndarray:
    """Covariance ``(L L^T)^{-1}`` of one precision Cholesky factor (d, d).

    ``L`` is upper triangular when derived from a covariance (scikit-learn's convention) and
    lower triangular when it is the Cholesky factor of a given precision (``precisions_init``).
    """
    lower = not np.any(np.triu(prec_chol, 1))
    inv = _tri_inv(prec_chol, lower=lower)
    # (L L^T)^{-1} = L^{-T} L^{-1}
    return inv.T @ inv


# ---------------------------------------------------------------------------------------------
# rows far from every component
#
# When ``||z_j||^2`` (``z_j`` the whitened residual of a row under component ``j``) overflows,
# every ``log_prob`` of the row is ``-inf`` and log-sum-exp has nothing to compare. The
# quadratic forms themselves still compare in log space: with ``s = max |z_j|``,
# ``log ||z_j||^2 = 2 log s + log ||z_j / s||^2``, all terms finite. At such magnitudes
# (``||z||^2 > 1e308``) the log-weight and log-determinant terms (a few hundred at most) cannot
# change which component has the smallest ``0.5 ||z_j||^2``, and a relative difference of the
# quadratic forms as small as 1e-300 already makes the posterior one-hot, so it is one-hot on
# the component with the smallest quadratic form. Forms equal to rounding are split equally:
# their difference is not resolved in float64.

#: Relative difference below which two log quadratic forms count as equal (rounding of a few
#: float64 operations on numbers near ``log 1e308 ~ 709``).
_FAR_TIE_RTOL = 1e-13


def log_mahalanobis_sq(X: np.ndarray, mean: np.ndarray, cov_chol: np.ndarray) -> np.ndarray:
    """``log(r_i^T S^{-1} r_i)`` with ``r_i = x_i - mean`` for each row of ``X`` (m, d).

    ``cov_chol`` is the lower Cholesky factor ``C`` of the covariance ``S = C C^T``; the
    whitened residual is ``z = C^{-1} r``. ``x_i`` and ``mean`` are divided by the largest of
    their entries before subtracting, and ``z`` by its largest entry before squaring, so the
    result is finite for any finite input (``-inf`` where ``x_i = mean``). Float64 throughout.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    s = np.maximum(np.abs(X).max(axis=1), np.abs(mean).max())
    s = np.where(s > 0, s, 1.0)
    R = X / s[:, None] - mean / s[:, None]
    Z = linalg.solve_triangular(np.asarray(cov_chol, dtype=np.float64), R.T, lower=True)
    t = np.abs(Z).max(axis=0)
    t = np.where(t > 0, t, 1.0)
    q = ((Z / t) ** 2).sum(axis=0)
    with np.errstate(divide="ignore"):
        return 2.0 * (np.log(s) + np.log(t)) + np.log(q)


def far_log_resp(log_q: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    """Log-responsibilities (m, k) of rows far from every component.

    ``log_q`` (m, k) holds ``log ||z_ij||^2`` (:func:`log_mahalanobis_sq`); ``log_weights`` (k,)
    the log mixture weights, ``-inf`` excluding a component. Each row is one-hot on its
    smallest quadratic form among the components with weight; forms equal to within
    ``_FAR_TIE_RTOL`` share the row equally (see the comment above).
    """
    alive = np.isfinite(np.asarray(log_weights))[None, :]
    log_q = np.where(alive, log_q, np.inf)
    best = log_q.min(axis=1, keepdims=True)
    win = alive & (log_q <= best + _FAR_TIE_RTOL * np.maximum(np.abs(best), 1.0))
    n_win = win.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.where(win, -np.log(np.maximum(n_win, 1)), -np.inf)
