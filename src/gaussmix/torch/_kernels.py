"""Differentiable mixture kernels: per-component log-densities and the weighted M-step.

Notation as in :mod:`gaussmix.torch._mixture`: ``L`` (``chol``) is the lower precision factor
(``P = Lᵀ L``), ``log_diag`` the log of its diagonal, ``resp`` responsibilities (n, k). What a
covariance structure means in torch is asked of its covariance model (the ``torch_*`` methods,
see :mod:`gaussmix.covariance._torch`), never decided from its name.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import covariance


def torch_covariance(covariance_type):
    """The registered covariance model ``covariance_type`` (a name or a model), if torch can use it.

    Raises
    ------
    ValueError
        For an unknown name (listing the registered ones), or for a model that provides no
        torch evaluation (listing those that do).
    """
    model = covariance.get(covariance_type)
    if not getattr(model, "supports_torch", False):
        usable = [n for n in covariance.names() if covariance.get(n).supports_torch]
        raise ValueError(
            f"covariance model {model.name!r} is not supported in torch (it provides no torch "
            f"evaluation: the torch_* methods of gaussmix.covariance._torch); use one of "
            f"{usable}.")
    return model


def component_log_prob(x: torch.Tensor, means: torch.Tensor, covariance_type: str | Any, *,
                       chol: torch.Tensor | None = None,
                       log_diag: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian log-densities ``log N(x | μ_j, P_j⁻¹)`` of every sample under every component.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    means : Tensor of shape (k, d)
    covariance_type : str or CovarianceModel
        A registered covariance model with a torch evaluation ("full", "tied", "diag",
        "spherical" or one registered with :func:`gaussmix.covariance.register`).
    chol : Tensor, optional
        Lower precision factor ``L``: (k, d, d) for "full", (d, d) for "tied"; not used by
        elementwise models ("diag", "spherical").
    log_diag : Tensor
        Log of the diagonal of ``L``: (k, d) full, (d,) tied, (k, d) diag, (k,) spherical.

    Returns
    -------
    Tensor of shape (n, k)
    """
    return torch_covariance(covariance_type).torch_log_prob(x, means, chol, log_diag)


def weighted_mstep(x: torch.Tensor, resp: torch.Tensor, covariance_type: str | Any,
                   reg_covar: float = 1e-6) -> dict[str, torch.Tensor | None]:
    """Differentiable M-step: mixture parameters maximising the weighted complete-data likelihood.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    resp : Tensor of shape (n, k)
        Non-negative responsibilities (rows need not sum to one: they act as sample weights).
    covariance_type : str or CovarianceModel
        As in :func:`component_log_prob`.
    reg_covar : float
        Added to the diagonal of every covariance.

    Returns
    -------
    params : dict
        ``log_weights`` (k,), ``means`` (k, d), ``chol`` (lower precision factor, (k, d, d) full,
        (d, d) tied, None otherwise) and ``log_diag`` (log-diagonal of that factor; shapes as in
        :class:`GaussianMixture`). Feed them to :func:`component_log_prob`.
    """
    model = torch_covariance(covariance_type)
    tiny = 10 * torch.finfo(x.dtype).eps
    nk = resp.sum(0) + tiny  # (k,)
    means = (resp.T @ x) / nk[:, None]
    log_weights = torch.log(nk) - torch.log(nk.sum())
    chol, log_diag = model.torch_mstep(x, resp, nk, means, reg_covar)
    return {"log_weights": log_weights, "means": means, "chol": chol, "log_diag": log_diag}


def mixture_log_prob(x: torch.Tensor, params: dict[str, torch.Tensor | None],
                     covariance_type: str | Any,
                     log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """``log Σ_j w_j N(x | j)`` per sample for parameters from :func:`weighted_mstep`.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    params : dict
        As returned by :func:`weighted_mstep`.
    covariance_type : str or CovarianceModel
    log_weights : Tensor of shape (k,) or (n, k), optional
        Replaces ``params["log_weights"]``; per-sample weights give spatially variant mixtures.

    Returns
    -------
    Tensor of shape (n,)
    """
    lw = params["log_weights"] if log_weights is None else log_weights
    clp = component_log_prob(x, params["means"], covariance_type,
                             chol=params["chol"], log_diag=params["log_diag"])
    return torch.logsumexp(clp + lw, dim=1)
