"""Spherical covariance: each component has one variance shared by all features."""
from __future__ import annotations

import numpy as np

from .._kernels import LOG_2PI
from ._base import CovarianceModel, ElementwisePrecision, _check_shape
from ._torch import SphericalTorch


class SphericalCovariance(SphericalTorch, ElementwisePrecision, CovarianceModel):
    name = "spherical"
    full_scatter = False
    conjugate_prior = ("scalar", False)

    def shape(self, k, d):
        return (k,)

    def n_parameters(self, k, d):
        return k

    def from_stats(self, nk, scatter, reg_covar):
        return scatter.mean(axis=1) / np.maximum(nk, np.finfo(np.float64).tiny) + reg_covar

    def precision_cholesky(self, cov):
        bad = [int(j) for j in np.flatnonzero(~(cov > 0))]
        return 1.0 / np.sqrt(np.where(cov > 0, cov, 1.0)), bad

    def log_det_cholesky(self, prec_chol, d):
        return d * np.log(prec_chol)

    def log_prob(self, X, means, prec_chol):
        d = X.shape[1]
        diff = X[:, None, :] - means[None, :, :]
        sq = np.einsum("nkd,nkd->nk", diff, diff) * (prec_chol ** 2)[None, :]
        logdet = self.log_det_cholesky(prec_chol, d).astype(X.dtype, copy=False)
        return -0.5 * (d * LOG_2PI + sq) + logdet

    def expansion(self, means, prec_chol):
        k, d = means.shape
        quad = np.repeat((prec_chol ** 2)[:, None], d, axis=1)
        lin = quad * means
        const = (-0.5 * np.einsum("kd,kd->k", lin, means) + self.log_det_cholesky(prec_chol, d)
                 - 0.5 * d * LOG_2PI)
        return quad, lin, const

    def marginal(self, cov, idx):
        # one variance for every feature: each subset of features keeps it
        return np.array(cov, copy=True)

    def component_covariance(self, cov, j, d):
        return cov[j] * np.eye(d)

    def validate(self, arr, k, d, name):
        arr = _check_shape(arr, (k,), name)
        if np.any(arr <= 0):
            raise ValueError(f"'{name}' must be positive.")
        return arr

    def smallest_variances(self, cov, unit):
        return cov / unit.max()

    def reset_component(self, cov, j, value):
        cov[j] = np.trace(value) / value.shape[0]
