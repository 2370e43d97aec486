"""Diagonal covariance: each component has its own per-feature variances."""
from __future__ import annotations

import numpy as np

from .._kernels import LOG_2PI
from ._base import CovarianceModel, ElementwisePrecision, _check_shape
from ._torch import DiagTorch


class DiagCovariance(DiagTorch, ElementwisePrecision, CovarianceModel):
    name = "diag"
    full_scatter = False
    conjugate_prior = ("diagonal", False)

    def shape(self, k, d):
        return (k, d)

    def n_parameters(self, k, d):
        return k * d

    def from_stats(self, nk, scatter, reg_covar):
        return scatter / np.maximum(nk, np.finfo(np.float64).tiny)[:, None] + reg_covar

    def precision_cholesky(self, cov):
        bad = [int(j) for j in np.flatnonzero(~np.all(cov > 0, axis=1))]
        safe = np.where(cov > 0, cov, 1.0)
        return 1.0 / np.sqrt(safe), bad

    def log_det_cholesky(self, prec_chol, d):
        return np.log(prec_chol).sum(axis=1)

    def log_prob(self, X, means, prec_chol):
        d = X.shape[1]
        diff = X[:, None, :] - means[None, :, :]
        diff *= prec_chol[None, :, :]
        sq = np.einsum("nkd,nkd->nk", diff, diff)
        logdet = self.log_det_cholesky(prec_chol, d).astype(X.dtype, copy=False)
        return -0.5 * (d * LOG_2PI + sq) + logdet

    def expansion(self, means, prec_chol):
        d = means.shape[1]
        quad = prec_chol ** 2
        lin = quad * means
        const = (-0.5 * np.einsum("kd,kd->k", lin, means) + self.log_det_cholesky(prec_chol, d)
                 - 0.5 * d * LOG_2PI)
        return quad, lin, const

    def marginal(self, cov, idx):
        return np.asarray(cov)[:, idx].copy()

    def component_covariance(self, cov, j, d):
        return np.diag(cov[j])

    def validate(self, arr, k, d, name):
        arr = _check_shape(arr, (k, d), name)
        if np.any(arr <= 0):
            raise ValueError(f"'{name}' must be positive.")
        return arr

    def smallest_variances(self, cov, unit):
        return (cov / unit).min(axis=1)

    def reset_component(self, cov, j, value):
        cov[j] = np.diag(value)
