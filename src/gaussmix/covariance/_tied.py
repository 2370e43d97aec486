"""Tied covariance: all components share one (d, d) covariance."""
from __future__ import annotations

import numpy as np

from .._kernels import LOG_2PI, cov_from_prec_chol, prec_chol_from_cov
from ._base import CovarianceModel, _check_shape, _check_spd, _standardised_min_eig
from ._torch import TiedTorch


class TiedCovariance(TiedTorch, CovarianceModel):
    name = "tied"
    full_scatter = True
    shared = True
    conjugate_prior = ("matrix", True)

    def shape(self, k, d):
        return (d, d)

    def n_parameters(self, k, d):
        return d * (d + 1) // 2

    def from_stats(self, nk, scatter, reg_covar):
        d = scatter.shape[1]
        # the pooled within-component scatter; equals sum_i x x^T - sum_k nk mu mu^T
        cov = scatter.sum(axis=0) / max(nk.sum(), np.finfo(np.float64).tiny)
        cov = 0.5 * (cov + cov.T)
        cov[np.arange(d), np.arange(d)] += reg_covar
        return cov

    def precision_cholesky(self, cov):
        pc = prec_chol_from_cov(cov)
        if pc is None:
            return np.eye(cov.shape[0], dtype=cov.dtype), [-1]
        return pc, []

    def precisions(self, prec_chol):
        return prec_chol @ prec_chol.T

    def covariances_from_precision_cholesky(self, prec_chol):
        return cov_from_prec_chol(prec_chol)

    def precision_cholesky_from_precisions(self, precisions):
        return np.linalg.cholesky(precisions)

    def log_det_cholesky(self, prec_chol, d):
        return np.log(np.diag(prec_chol)).sum()

    def log_prob(self, X, means, prec_chol):
        d = X.shape[1]
        XL = X @ prec_chol
        ML = means @ prec_chol
        diff = XL[:, None, :] - ML[None, :, :]
        sq = np.einsum("nkd,nkd->nk", diff, diff)
        logdet = X.dtype.type(self.log_det_cholesky(prec_chol, d))
        return -0.5 * (d * LOG_2PI + sq) + logdet

    def expansion(self, means, prec_chol):
        k, d = means.shape
        prec = prec_chol @ prec_chol.T
        lin = means @ prec
        const = (-0.5 * np.einsum("kd,kd->k", lin, means) + self.log_det_cholesky(prec_chol, d)
                 - 0.5 * d * LOG_2PI)
        return np.broadcast_to(prec, (k, d, d)), lin, const

    def marginal(self, cov, idx):
        return np.asarray(cov)[np.ix_(idx, idx)].copy()

    def component_covariance(self, cov, j, d):
        return cov

    def validate(self, arr, k, d, name):
        arr = _check_shape(arr, (d, d), name)
        _check_spd(arr[None], name)
        return arr

    def smallest_variances(self, cov, unit):
        return _standardised_min_eig(cov[None], unit)

    def reset_component(self, cov, j, value):
        pass  # shared covariance: nothing per component
