"""Maximum likelihood by gradient descent, and a differentiable weighted M-step.

EM is not the only way to maximise a mixture's likelihood: with the unconstrained
parameterisation of :class:`~gaussmix.torch.GaussianMixture`, the negative mean
log-likelihood can be minimised directly with Adam or SGD on mini-batches. The weighted
M-step (:func:`weighted_mstep`, in ``_kernels.py``: the closed-form maximiser of the expected
complete-data log-likelihood for given responsibilities ``resp``) is written in torch so that
gradients flow through it; it initialises the gradient fit here, and the deep segmentation
model uses it to turn network outputs into mixture parameters. The training loop itself is
``_training.py``'s, shared with the deep classifier and the segmenter.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from .._validation import Interval, Options, check_params
from ._kernels import mixture_log_prob, torch_covariance, weighted_mstep
from ._mixture import GaussianMixture
from ._training import GRADIENT_FIT_TABLE, NON_NEGATIVE_FLOAT, train_mixture
from ._validation import as_2d_tensor, make_generator, seed_from

__all__ = ["fit_gradient", "init_from_resp", "weighted_mstep", "mixture_log_prob"]

_FIT_GRADIENT_TABLE = {"n_components": [Interval(int, 1, None)], "reg_covar": NON_NEGATIVE_FLOAT,
                       **GRADIENT_FIT_TABLE}


def _kmeans_resp(X, k, random_state):
    from sklearn.cluster import KMeans

    Xn = X.detach().cpu().double().numpy()
    labels = KMeans(n_clusters=k, n_init=1, random_state=seed_from(random_state)).fit(Xn).labels_
    resp = np.zeros((Xn.shape[0], k))
    resp[np.arange(Xn.shape[0]), labels] = 1.0
    return torch.as_tensor(resp, dtype=X.dtype, device=X.device)


def init_from_resp(X, resp, covariance_type, reg_covar=1e-6):
    """A :class:`GaussianMixture` module from responsibilities by one M-step (k-means style init)."""
    model = torch_covariance(covariance_type)
    with torch.no_grad():
        p = weighted_mstep(X, resp, model, reg_covar)
        pc = model.torch_precisions_cholesky(p["chol"], p["log_diag"])
    est = SimpleNamespace(covariance_type=model.name,
                          weights_=torch.exp(p["log_weights"]).cpu().double().numpy(),
                          means_=p["means"].cpu().double().numpy(),
                          precisions_cholesky_=pc.cpu().double().numpy())
    return GaussianMixture.from_estimator(est, dtype=X.dtype, device=X.device)


def fit_gradient(X: torch.Tensor | npt.ArrayLike, n_components: int = 1, *,
                 covariance_type: str | Any = "full", optimizer: str = "adam", lr: float = 0.01,
                 batch_size: int | None = 256, max_epochs: int = 200, patience: int = 10,
                 tol: float = 1e-5, init: str | Any = "kmeans", reg_covar: float = 1e-6,
                 random_state: int | torch.Generator | None = None, verbose: int = 0,
                 verbose_interval: int = 10,
                 callback: Callable[[GaussianMixture, dict], Any] | None = None
                 ) -> GaussianMixture:
    """Fit a Gaussian mixture by mini-batch gradient descent on the negative log-likelihood.

    An alternative to EM: the unconstrained parameters of :class:`GaussianMixture` are
    optimised with Adam or SGD on shuffled mini-batches. After every epoch the mean
    log-likelihood of the whole data set is evaluated; training stops when it has not improved
    by more than ``tol`` for ``patience`` epochs, and the best parameters are kept.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_samples, n_features)
        Tensors keep their device and dtype; NumPy arrays are used as float64 on the CPU.
    n_components : int, default=1
    covariance_type : str or CovarianceModel, default="full"
        "full", "tied", "diag", "spherical", or a registered model with a torch evaluation.
    optimizer : {"adam", "sgd"}, default="adam"
    lr : float, default=0.01
        Learning rate.
    batch_size : int or None, default=256
        Mini-batch size; None uses the whole data set every step.
    max_epochs : int, default=200
    patience : int, default=10
        Epochs without improvement of more than ``tol`` before stopping.
    tol : float, default=1e-5
        Improvement threshold on the mean log-likelihood (as ``tol`` in scikit-learn).
    init : {"kmeans", "random"}, fitted estimator or GaussianMixture module, default="kmeans"
        "kmeans": one M-step from k-means labels (scikit-learn's default init); "random":
        from random responsibilities; an estimator with scikit-learn attributes (e.g. an EM
        fit with ``max_iter=0``) or a module to start from the same point as EM.
    reg_covar : float, default=1e-6
        Diagonal regularisation of the initial M-step.
    random_state : int, Generator or None
        Seeds initialisation and batch order; runs are deterministic on the CPU.
    verbose : int, default=0
        If > 0, print epoch and loss on stderr every ``verbose_interval`` epochs.
    verbose_interval : int, default=10
    callback : callable, optional
        ``callback(module, record)`` after every epoch (``record`` as in ``history_``).

    Returns
    -------
    GaussianMixture
        The fitted module, with ``history_``, ``converged_``, ``n_iter_`` and ``lower_bound_``
        (best mean log-likelihood).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.torch import fit_gradient
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> gm = fit_gradient(X, 2, covariance_type="diag", lr=0.05, random_state=0)
    >>> sorted(np.round(gm.means.detach().numpy()[:, 0]).tolist())
    [-3.0, 3.0]
    """
    X = as_2d_tensor(X)
    values = {"n_components": n_components, "reg_covar": reg_covar, "optimizer": optimizer,
              "lr": lr, "batch_size": batch_size, "max_epochs": max_epochs, "patience": patience,
              "tol": tol, "verbose": verbose, "verbose_interval": verbose_interval,
              "callback": callback}
    check_params("fit_gradient", values, _FIT_GRADIENT_TABLE)
    covariance_type = torch_covariance(covariance_type).name
    k = int(n_components)
    if k > X.shape[0]:
        raise ValueError(f"n_components={k} must be <= n_samples={X.shape[0]}.")
    g = make_generator(random_state)
    if isinstance(init, GaussianMixture):
        module = copy.deepcopy(init).to(device=X.device, dtype=X.dtype)
    elif isinstance(init, str):
        check_params("fit_gradient", {"init": init}, {"init": [Options("kmeans", "random")]})
        if init == "kmeans":
            resp = _kmeans_resp(X, k, g)
        else:
            resp = torch.rand(X.shape[0], k, generator=g, dtype=torch.float64).to(X)
            resp = resp / resp.sum(1, keepdim=True)
        module = init_from_resp(X, resp, covariance_type, reg_covar)
    elif hasattr(init, "weights_"):
        module = GaussianMixture.from_estimator(init, dtype=X.dtype, device=X.device)
    else:
        raise TypeError(
            "init must be 'kmeans', 'random', a fitted estimator or a GaussianMixture module, "
            f"got {type(init).__name__}."
        )
    if module.covariance_type != covariance_type or module.n_components != k:
        raise ValueError(
            f"init has covariance_type={module.covariance_type!r} and "
            f"n_components={module.n_components}, but {covariance_type!r} and {k} were asked for."
        )
    return train_mixture(module, X, optimizer=optimizer, lr=lr, batch_size=batch_size,
                         max_epochs=max_epochs, patience=patience, tol=tol, random_state=g,
                         verbose=verbose, verbose_interval=verbose_interval, callback=callback)
