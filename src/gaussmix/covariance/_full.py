"""Full covariance: each component has its own (d, d) covariance."""
from __future__ import annotations

import numpy as np

from .._kernels import LOG_2PI, cov_from_prec_chol, prec_chol_from_cov
from ._base import (CovarianceModel, _check_shape, _check_spd, _standardised_min_eig,
                    _whitened_sq_norm)
from ._torch import FullTorch


class FullCovariance(FullTorch, CovarianceModel):
    name = "full"
    full_scatter = True
    conjugate_prior = ("matrix", False)

    def shape(self, k, d):
        return (k, d, d)

    def n_parameters(self, k, d):
        return k * d * (d + 1) // 2

    def from_stats(self, nk, scatter, reg_covar):
        d = scatter.shape[1]
        cov = scatter / np.maximum(nk, np.finfo(np.float64).tiny)[:, None, None]
        cov = 0.5 * (cov + cov.transpose(0, 2, 1))
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return cov

    def precision_cholesky(self, cov):
        k, d, _ = cov.shape
        out = np.empty_like(cov)
        bad = []
        for j in range(k):
            pc = prec_chol_from_cov(cov[j])
            if pc is None:
                bad.append(j)
                pc = np.eye(d, dtype=cov.dtype)
            out[j] = pc
        return out, bad

    def precisions(self, prec_chol):
        return np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))

    def covariances_from_precision_cholesky(self, prec_chol):
        return np.stack([cov_from_prec_chol(pc) for pc in prec_chol])

    def precision_cholesky_from_precisions(self, precisions):
        return np.stack([np.linalg.cholesky(p) for p in precisions])

    def log_det_cholesky(self, prec_chol, d):
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)

    def log_prob(self, X, means, prec_chol):
        n, d = X.shape
        k = means.shape[0]
        # one product for all components: column block j of L_all is L_j, so block j of
        # X @ L_all - mu_j L_j is the whitened (x - mu_j)
        L_all = prec_chol.transpose(1, 0, 2).reshape(d, k * d)
        Y = X @ L_all
        Y -= np.einsum("kd,kde->ke", means, prec_chol).reshape(1, k * d)
        sq = _whitened_sq_norm(Y, k, d)
        logdet = self.log_det_cholesky(prec_chol, d).astype(X.dtype, copy=False)
        return -0.5 * (d * LOG_2PI + sq) + logdet

    def expansion(self, means, prec_chol):
        d = means.shape[1]
        quad = np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))
        lin = np.einsum("kde,ke->kd", quad, means)
        const = (-0.5 * np.einsum("kd,kd->k", lin, means) + self.log_det_cholesky(prec_chol, d)
                 - 0.5 * d * LOG_2PI)
        return quad, lin, const

    def marginal(self, cov, idx):
        return np.asarray(cov)[:, idx][:, :, idx].copy()

    def component_covariance(self, cov, j, d):
        return cov[j]

    def validate(self, arr, k, d, name):
        arr = _check_shape(arr, (k, d, d), name)
        _check_spd(arr, name)
        return arr

    def smallest_variances(self, cov, unit):
        return _standardised_min_eig(cov, unit)

    def reset_component(self, cov, j, value):
        cov[j] = value
