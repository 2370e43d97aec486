"""Maximum likelihood by gradient descent, and a differentiable weighted M-step.

EM is not the only way to maximise a mixture's likelihood: with the unconstrained
parameterisation of :class:`~gaussmix.torch.GaussianMixture`, the negative mean
log-likelihood can be minimised directly with Adam or SGD on mini-batches. The weighted
M-step below (the closed-form maximiser of the expected complete-data log-likelihood for
given responsibilities ``resp``) is written in torch so that gradients flow through it; the
deep segmentation model uses it to turn network outputs into mixture parameters.
"""
from __future__ import annotations

import copy
import time
from types import SimpleNamespace

import numpy as np
import torch

from ._mixture import GaussianMixture, component_log_prob
from ._validation import (
    Progress,
    as_2d_tensor,
    check_choice,
    check_covariance_type,
    check_positive_float,
    check_positive_int,
    make_generator,
    seed_from,
)


def weighted_mstep(x, resp, covariance_type, reg_covar=1e-6):
    """Differentiable M-step: mixture parameters maximising the weighted complete-data likelihood.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    resp : Tensor of shape (n, k)
        Non-negative responsibilities (rows need not sum to one: they act as sample weights).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance.

    Returns
    -------
    params : dict
        ``log_weights`` (k,), ``means`` (k, d), ``chol`` (lower precision factor, (k, d, d) full,
        (d, d) tied, None otherwise) and ``log_diag`` (log-diagonal of that factor; shapes as in
        :class:`GaussianMixture`). Feed them to :func:`component_log_prob`.
    """
    check_covariance_type(covariance_type)
    n, d = x.shape
    tiny = 10 * torch.finfo(x.dtype).eps
    nk = resp.sum(0) + tiny  # (k,)
    means = (resp.T @ x) / nk[:, None]
    log_weights = torch.log(nk) - torch.log(nk.sum())
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    if covariance_type in ("full", "tied"):
        diff = x[:, None, :] - means[None, :, :]  # (n, k, d), centred before squaring
        scatter = torch.einsum("nk,nki,nkj->kij", resp, diff, diff)  # (k, d, d)
        if covariance_type == "full":
            cov = scatter / nk[:, None, None] + reg_covar * eye
        else:
            cov = scatter.sum(0) / nk.sum() + reg_covar * eye
        C = torch.linalg.cholesky(cov)
        # P = Σ⁻¹ = C⁻ᵀ C⁻¹, so the lower precision factor is L = C⁻¹.
        L = torch.linalg.solve_triangular(C, eye.expand_as(C), upper=False)
        log_diag = -torch.log(torch.diagonal(C, dim1=-2, dim2=-1))
        return {"log_weights": log_weights, "means": means, "chol": L, "log_diag": log_diag}
    sq = torch.einsum("nk,nkd->kd", resp, (x[:, None, :] - means[None, :, :]) ** 2)
    var = sq / nk[:, None] + reg_covar  # (k, d)
    if covariance_type == "spherical":
        var = var.mean(1)
    return {"log_weights": log_weights, "means": means, "chol": None,
            "log_diag": -0.5 * torch.log(var)}


def mixture_log_prob(x, params, covariance_type, log_weights=None):
    """``log Σ_j w_j N(x | j)`` per sample for parameters from :func:`weighted_mstep`.

    ``log_weights`` may be (k,) or per-sample (n, k) (spatially variant mixtures).
    """
    lw = params["log_weights"] if log_weights is None else log_weights
    clp = component_log_prob(x, params["means"], covariance_type,
                             chol=params["chol"], log_diag=params["log_diag"])
    return torch.logsumexp(clp + lw, dim=1)


def _kmeans_resp(X, k, random_state):
    from sklearn.cluster import KMeans

    Xn = X.detach().cpu().double().numpy()
    labels = KMeans(n_clusters=k, n_init=1, random_state=seed_from(random_state)).fit(Xn).labels_
    resp = np.zeros((Xn.shape[0], k))
    resp[np.arange(Xn.shape[0]), labels] = 1.0
    return torch.as_tensor(resp, dtype=X.dtype, device=X.device)


def init_from_resp(X, resp, covariance_type, reg_covar=1e-6):
    """A :class:`GaussianMixture` module from responsibilities by one M-step (k-means style init)."""
    with torch.no_grad():
        p = weighted_mstep(X, resp, covariance_type, reg_covar)
    k, d = p["means"].shape
    est = SimpleNamespace(covariance_type=covariance_type,
                          weights_=torch.exp(p["log_weights"]).cpu().double().numpy(),
                          means_=p["means"].cpu().double().numpy())
    if covariance_type in ("full", "tied"):
        est.precisions_cholesky_ = p["chol"].transpose(-1, -2).cpu().double().numpy()
    else:
        est.precisions_cholesky_ = torch.exp(p["log_diag"]).cpu().double().numpy()
    return GaussianMixture.from_estimator(est, dtype=X.dtype, device=X.device)


def fit_gradient(X, n_components=1, *, covariance_type="full", optimizer="adam", lr=0.01,
                 batch_size=256, max_epochs=200, patience=10, tol=1e-5, init="kmeans",
                 reg_covar=1e-6, random_state=None, verbose=0, verbose_interval=10,
                 callback=None):
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
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
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
    k = check_positive_int(n_components, "n_components")
    covariance_type = check_covariance_type(covariance_type)
    if k > X.shape[0]:
        raise ValueError(f"n_components={k} must be <= n_samples={X.shape[0]}.")
    g = make_generator(random_state)
    if isinstance(init, GaussianMixture):
        module = copy.deepcopy(init).to(device=X.device, dtype=X.dtype)
    elif isinstance(init, str):
        check_choice(init, "init", ("kmeans", "random"))
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
    return _train(module, X, optimizer=optimizer, lr=lr, batch_size=batch_size,
                  max_epochs=max_epochs, patience=patience, tol=tol, random_state=g,
                  verbose=verbose, verbose_interval=verbose_interval, callback=callback)


def _train(module, X, *, optimizer="adam", lr=0.01, batch_size=256, max_epochs=200,
           patience=10, tol=1e-5, random_state=None, verbose=0, verbose_interval=10,
           callback=None):
    ref = module.means
    X = as_2d_tensor(X, dtype=ref.dtype, device=ref.device, n_features=module.n_features)
    check_choice(optimizer, "optimizer", ("adam", "sgd"))
    lr = check_positive_float(lr, "lr")
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    patience = check_positive_int(patience, "patience")
    tol = check_positive_float(tol, "tol", allow_zero=True)
    n = X.shape[0]
    bs = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
    g = make_generator(random_state)
    opt = (torch.optim.Adam(module.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9))
    progress = Progress("fit_gradient", verbose, verbose_interval, max_epochs)

    def full_score():
        with torch.no_grad():
            return float(module(X)[0].mean())

    best = full_score()
    best_state = copy.deepcopy(module.state_dict())
    module.history_ = [{"epoch": 0, "seconds": 0.0, "log_likelihood": best}]
    start = time.perf_counter()
    stale = 0
    converged = False
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        perm = torch.randperm(n, generator=g).to(X.device)
        for i in range(0, n, bs):
            xb = X[perm[i:i + bs]]
            opt.zero_grad(set_to_none=True)
            loss = -module(xb)[0].mean()
            loss.backward()
            opt.step()
        ll = full_score()
        progress(epoch, -ll, log_likelihood=ll)
        record = {"epoch": epoch, "seconds": time.perf_counter() - start, "log_likelihood": ll}
        module.history_.append(record)
        if callback is not None:
            callback(module, record)
        if ll > best + tol:
            best, stale = ll, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            stale += 1
            if stale >= patience:
                converged = True
                break
    module.load_state_dict(best_state)
    module.converged_ = converged
    module.n_iter_ = epoch
    module.lower_bound_ = best
    progress.done(epoch, "no improvement" if converged else "max_epochs reached")
    return module
