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
    """Covariance ``(L L^T)^{-1}`` of one precision Cholesky factor (d, d)."""
    inv = _tri_inv(prec_chol, lower=False)
    # (L L^T)^{-1} = L^{-T} L^{-1}
    return inv.T @ inv
