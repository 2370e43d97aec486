"""The torch evaluation of the built-in covariance models (used by :mod:`gaussmix.torch`).

Each built-in model mixes in one class from here, so that ``gaussmix.torch`` asks the model
object, never its name, how to evaluate it; a model registered without these methods has
``supports_torch = False`` and ``gaussmix.torch`` refuses it with a clear error. torch is
imported inside the methods only: the covariance package itself never imports it.

The unconstrained torch parameterisation (see :class:`gaussmix.torch.GaussianMixture`): the
precision of a component is ``P = Lᵀ L`` with ``L`` lower triangular; ``log_diag`` holds
``log diag L`` and ``offdiag`` the strictly-lower entries of ``L`` packed row-wise (only for
models with a dense factor). ``chol`` is ``L`` itself (``None`` for elementwise models).
scikit-learn's ``precisions_cholesky_`` holds the upper factor ``U = Lᵀ`` (``P = U Uᵀ``), so
conversions transpose.

Every model provides:

- ``torch_shapes(k, d)``: shapes of ``log_diag`` and ``offdiag`` (``None`` when absent);
- ``torch_chol(log_diag, offdiag)``: ``L``, or ``None``;
- ``torch_log_prob(x, means, chol, log_diag)``: log-densities (n, k);
- ``torch_precisions_cholesky`` / ``torch_precisions`` / ``torch_covariances`` ``(chol,
  log_diag)``: scikit-learn's arrays as tensors;
- ``torch_sample_step(z, labels, chol, log_diag)``: ``L⁻¹ z`` for standard normal rows ``z``
  drawn from components ``labels`` (so that ``μ + L⁻¹ z`` has covariance ``P⁻¹``);
- ``torch_mstep(x, resp, nk, means, reg_covar)``: the differentiable M-step, ``(chol, log_diag)``;
- ``torch_params_from_prec_chol(prec_chol)`` / ``prec_chol_from_torch_params(log_diag, offdiag)``:
  NumPy conversions between scikit-learn's ``precisions_cholesky_`` and ``(log_diag, offdiag)``;
- ``torch_log_diag_from_scale(log_scale, k)``: ``log_diag`` of precisions ``exp(2 log_scale)``
  per feature (d,), for every component.
"""
from __future__ import annotations

import numpy as np

from .._kernels import LOG_2PI


def _tril(log_diag, offdiag):
    """Lower factor ``L`` (..., d, d) from its log-diagonal and packed strictly-lower entries."""
    import torch

    d = log_diag.shape[-1]
    rows, cols = torch.tril_indices(d, d, offset=-1, device=log_diag.device)
    L = torch.diag_embed(torch.exp(log_diag))
    if rows.numel():
        # out of place, so that autograd sees a pure function of the parameters
        flat = L.reshape(*L.shape[:-2], -1)
        idx = (rows * d + cols).expand(*flat.shape[:-1], -1)
        L = flat.scatter_add(-1, idx, offdiag).reshape(L.shape)
    return L


def _centred_scatter(x, resp, means):
    import torch

    diff = x[:, None, :] - means[None, :, :]  # (n, k, d), centred before squaring
    return torch.einsum("nk,nki,nkj->kij", resp, diff, diff)  # (k, d, d)


def _chol_params(cov):
    """``(L, log diag L)`` of the precision ``cov⁻¹``: with ``cov = C Cᵀ``, ``L = C⁻¹``."""
    import torch

    C = torch.linalg.cholesky(cov)
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    L = torch.linalg.solve_triangular(C, eye.expand_as(C), upper=False)
    return L, -torch.log(torch.diagonal(C, dim1=-2, dim2=-1))


class FullTorch:
    """One dense lower precision factor per component."""

    supports_torch = True

    def torch_shapes(self, k, d):
        return (k, d), (k, d * (d - 1) // 2)

    def torch_chol(self, log_diag, offdiag):
        return _tril(log_diag, offdiag)

    def torch_log_prob(self, x, means, chol, log_diag):
        d = x.shape[1]
        # y_kn = L_k (x_n − μ_k) = L_k x_n − L_k μ_k: one batched product, no (n, k, d) difference
        Lt = chol.transpose(-1, -2)  # (k, d, d)
        y = x[None] @ Lt - means[:, None, :] @ Lt  # (k, n, d)
        return -0.5 * (d * LOG_2PI + (y * y).sum(-1).T) + log_diag.sum(-1)

    def torch_precisions_cholesky(self, chol, log_diag):
        return chol.transpose(-1, -2)

    def torch_precisions(self, chol, log_diag):
        return chol.transpose(-1, -2) @ chol

    def torch_covariances(self, chol, log_diag):
        import torch

        eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device).expand_as(chol)
        Linv = torch.linalg.solve_triangular(chol, eye, upper=False)
        return Linv @ Linv.transpose(-1, -2)

    def torch_sample_step(self, z, labels, chol, log_diag):
        import torch

        # x = μ + L⁻¹ z has covariance L⁻¹ L⁻ᵀ = (Lᵀ L)⁻¹ = P⁻¹
        Ls = self._factor_per_sample(chol, labels, z.shape[0])
        return torch.linalg.solve_triangular(Ls, z[:, :, None], upper=False)[..., 0]

    def _factor_per_sample(self, chol, labels, n):
        return chol[labels]

    def torch_mstep(self, x, resp, nk, means, reg_covar):
        import torch

        eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        cov = _centred_scatter(x, resp, means) / nk[:, None, None] + reg_covar * eye
        return _chol_params(cov)

    def torch_params_from_prec_chol(self, prec_chol):
        L = np.swapaxes(prec_chol, -1, -2)  # scikit-learn stores the upper factor
        if np.abs(np.triu(L, 1)).max(initial=0.0) > 0:
            raise ValueError(
                "precisions_cholesky_ must be upper triangular (scikit-learn's convention).")
        diag = np.diagonal(L, axis1=-2, axis2=-1)
        if np.any(diag <= 0):
            raise ValueError("precisions_cholesky_ must have a positive diagonal.")
        r, c = np.tril_indices(L.shape[-1], -1)
        return np.log(diag), L[..., r, c]

    def prec_chol_from_torch_params(self, log_diag, offdiag):
        d = log_diag.shape[-1]
        L = np.zeros(log_diag.shape + (d,))
        idx = np.arange(d)
        L[..., idx, idx] = np.exp(log_diag)
        r, c = np.tril_indices(d, -1)
        L[..., r, c] = offdiag
        return np.swapaxes(L, -1, -2).copy()

    def torch_log_diag_from_scale(self, log_scale, k):
        return log_scale.expand(k, -1)


class TiedTorch(FullTorch):
    """One dense lower precision factor shared by all components."""

    def torch_shapes(self, k, d):
        return (d,), (d * (d - 1) // 2,)

    def torch_log_prob(self, x, means, chol, log_diag):
        d = x.shape[1]
        y = (x @ chol.T)[:, None, :] - (means @ chol.T)[None, :, :]
        return -0.5 * (d * LOG_2PI + (y * y).sum(-1)) + log_diag.sum()

    def _factor_per_sample(self, chol, labels, n):
        return chol.expand(n, -1, -1)

    def torch_mstep(self, x, resp, nk, means, reg_covar):
        import torch

        eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        cov = _centred_scatter(x, resp, means).sum(0) / nk.sum() + reg_covar * eye
        return _chol_params(cov)

    def torch_log_diag_from_scale(self, log_scale, k):
        return log_scale


class DiagTorch:
    """Per-component, per-feature precisions: the factor is its diagonal ``exp(log_diag)``."""

    supports_torch = True

    def torch_shapes(self, k, d):
        return (k, d), None

    def torch_chol(self, log_diag, offdiag):
        return None

    def torch_log_prob(self, x, means, chol, log_diag):
        import torch

        d = x.shape[1]
        y = (x[:, None, :] - means[None, :, :]) * torch.exp(log_diag)[None]
        return -0.5 * (d * LOG_2PI + (y * y).sum(-1)) + log_diag.sum(-1)

    def torch_precisions_cholesky(self, chol, log_diag):
        import torch

        return torch.exp(log_diag)

    def torch_precisions(self, chol, log_diag):
        import torch

        return torch.exp(2 * log_diag)

    def torch_covariances(self, chol, log_diag):
        import torch

        return torch.exp(-2 * log_diag)

    def torch_sample_step(self, z, labels, chol, log_diag):
        import torch

        return z * torch.exp(-log_diag)[labels]

    def _variances(self, x, resp, nk, means, reg_covar):
        import torch

        sq = torch.einsum("nk,nkd->kd", resp, (x[:, None, :] - means[None, :, :]) ** 2)
        return sq / nk[:, None] + reg_covar  # (k, d)

    def torch_mstep(self, x, resp, nk, means, reg_covar):
        import torch

        return None, -0.5 * torch.log(self._variances(x, resp, nk, means, reg_covar))

    def torch_params_from_prec_chol(self, prec_chol):
        if np.any(prec_chol <= 0):
            raise ValueError("precisions_cholesky_ must have a positive diagonal.")
        return np.log(prec_chol), None

    def prec_chol_from_torch_params(self, log_diag, offdiag):
        return np.exp(log_diag)

    def torch_log_diag_from_scale(self, log_scale, k):
        return log_scale.expand(k, -1)


class SphericalTorch(DiagTorch):
    """One precision per component, shared by the features."""

    def torch_shapes(self, k, d):
        return (k,), None

    def torch_log_prob(self, x, means, chol, log_diag):
        import torch

        d = x.shape[1]
        prec = torch.exp(log_diag)  # (k,)
        sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)
        return -0.5 * (d * LOG_2PI + sq * (prec * prec)[None, :]) + d * log_diag

    def torch_sample_step(self, z, labels, chol, log_diag):
        import torch

        return z * torch.exp(-log_diag)[labels][:, None]

    def torch_mstep(self, x, resp, nk, means, reg_covar):
        import torch

        return None, -0.5 * torch.log(self._variances(x, resp, nk, means, reg_covar).mean(1))

    def torch_log_diag_from_scale(self, log_scale, k):
        return log_scale.mean().expand(k)
