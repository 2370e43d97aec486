"""A GMM output layer trained jointly with a feature network (Variani et al., 2015).

Each class ``c`` is modelled by a mixture of ``M`` Gaussians on the learned features ``z``:
``log p(z | c) = logsumexp_m [log w_cm + log N(z | μ_cm, Σ_cm)]``. Class posteriors are
``softmax_c(log p(z | c) + log π_c)``, so the whole network (features and mixture) is trained
end to end with the cross-entropy of those posteriors, exactly like a softmax layer.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from sklearn.base import BaseEstimator, ClassifierMixin

from .._validation import Interval, Options, check_params
from ._kernels import torch_covariance
from ._mixture import GaussianMixture
from ._training import (BOOL, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, VERBOSE,
                        Evaluation, Progress, minibatches, train_epochs)
from ._validation import as_2d_tensor, seed_from


class GMMClassifierHead(nn.Module):
    """Per-class Gaussian mixture log-likelihoods plus log-prior, as a network layer.

    Parameters
    ----------
    n_features : int
        Dimension of the input features.
    n_classes : int
        Number of classes ``C``.
    n_components_per_class : int, default=1
        Mixture components ``M`` per class.
    covariance_type : str or CovarianceModel, default="diag"
        A covariance model with a torch evaluation; a shared one ("tied") shares one
        covariance across all components of all classes.
    learn_prior : bool, default=True
        Train the class log-prior; otherwise it stays at its initial value.
    dtype, device : optional
    random_state : int or None
        Seeds the initial means.

    Attributes
    ----------
    mixture : GaussianMixture
        The ``C·M`` components; ``mixture.weight_logits`` holds the within-class weight
        logits (softmax per class), component ``c·M + m`` is component ``m`` of class ``c``.
    prior_logits : Parameter of shape (C,)

    References
    ----------
    E. Variani, E. McDermott, G. Heigold, "A Gaussian mixture model layer jointly optimized
    with discriminative features within a deep neural network architecture", ICASSP 2015.

    Examples
    --------
    >>> import torch
    >>> from gaussmix.torch import GMMClassifierHead
    >>> head = GMMClassifierHead(4, 3, 2, random_state=0)
    >>> log_post = head(torch.randn(5, 4))
    >>> tuple(log_post.shape), bool(torch.allclose(log_post.exp().sum(1), torch.ones(5)))
    ((5, 3), True)
    """

    _parameter_table = {
        "n_features": POSITIVE_INT,
        "n_classes": [Interval(int, 2, None)],
        "n_components_per_class": POSITIVE_INT,
        "learn_prior": BOOL,
    }

    def __init__(self, n_features: int, n_classes: int, n_components_per_class: int = 1,
                 covariance_type: str | Any = "diag", *, learn_prior: bool = True,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None,
                 random_state: int | torch.Generator | None = None) -> None:
        super().__init__()
        check_params(type(self).__name__,
                     {"n_features": n_features, "n_classes": n_classes,
                      "n_components_per_class": n_components_per_class,
                      "learn_prior": learn_prior}, self._parameter_table)
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.n_components_per_class = int(n_components_per_class)
        self.covariance_type = torch_covariance(covariance_type).name
        self.mixture = GaussianMixture(self.n_classes * self.n_components_per_class,
                                       self.n_features, covariance_type, dtype=dtype,
                                       device=device, random_state=random_state)
        self.prior_logits = nn.Parameter(torch.zeros(self.n_classes, dtype=self.mixture.means.dtype,
                                                     device=self.mixture.means.device),
                                         requires_grad=bool(learn_prior))

    def extra_repr(self) -> str:
        """The head's settings, shown in its ``repr`` (``torch.nn.Module`` hook).

        Returns
        -------
        str
        """
        return (f"n_features={self.n_features}, n_classes={self.n_classes}, "
                f"n_components_per_class={self.n_components_per_class}, "
                f"covariance_type={self.covariance_type!r}")

    def class_log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z | c)`` for every class.

        Parameters
        ----------
        z : Tensor of shape (n, n_features)
            Features.

        Returns
        -------
        Tensor of shape (n, n_classes)
        """
        C, M = self.n_classes, self.n_components_per_class
        clp = self.mixture.component_log_prob(z).view(z.shape[0], C, M)
        log_w = torch.log_softmax(self.mixture.weight_logits.view(C, M), dim=1)
        return torch.logsumexp(clp + log_w[None], dim=2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Log class posteriors ``log p(c | z)``.

        Parameters
        ----------
        z : Tensor of shape (n, n_features)
            Features.

        Returns
        -------
        Tensor of shape (n, n_classes)
        """
        joint = self.class_log_likelihood(z) + torch.log_softmax(self.prior_logits, 0)[None]
        return torch.log_softmax(joint, dim=1)

    @torch.no_grad()
    def init_from_features(self, Z: torch.Tensor | npt.ArrayLike, y: npt.ArrayLike, *,
                           reg_covar: float = 1e-3, max_iter: int = 100,
                           random_state: int | None = None) -> GMMClassifierHead:
        """Set the head by EM: one mixture of ``M`` components per class on features ``Z``.

        Parameters
        ----------
        Z : array-like or Tensor of shape (n, n_features)
        y : array-like of shape (n,)
            Integer class indices in ``[0, n_classes)``; every class needs at least
            ``n_components_per_class`` samples.
        reg_covar, max_iter : EM settings.
        random_state : int or None

        Returns
        -------
        self
        """
        try:
            from gaussmix import GaussianMixture as EM
        except ImportError:
            from sklearn.mixture import GaussianMixture as EM
        Zn = as_2d_tensor(Z, name="Z", n_features=self.n_features).cpu().double().numpy()
        y = np.asarray(y)
        if y.shape != (Zn.shape[0],):
            raise ValueError(f"y must have shape ({Zn.shape[0]},), got {y.shape}.")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"y must hold class indices in [0, {self.n_classes}).")
        C, M = self.n_classes, self.n_components_per_class
        model, ct = self.mixture.covariance_model, self.covariance_type
        seed = seed_from(random_state)
        fits, counts = [], np.bincount(y, minlength=C)
        for c in range(C):
            if counts[c] < max(M, 2):
                raise ValueError(
                    f"class {c} has {counts[c]} samples; at least {max(M, 2)} are needed to "
                    f"fit {M} component(s) per class."
                )
            fits.append(EM(M, covariance_type=ct, reg_covar=reg_covar, max_iter=max_iter,
                           random_state=seed).fit(Zn[y == c]))
        if model.shared:
            # One covariance for all classes: the count-weighted average of the class fits.
            cov = sum(n * f.covariances_ for n, f in zip(counts, fits)) / counts.sum()
            prec_chol, _ = model.precision_cholesky(cov)  # an average of PD matrices is PD
        else:
            prec_chol = np.concatenate([f.precisions_cholesky_ for f in fits])
        est = SimpleNamespace(covariance_type=ct,
                              weights_=np.concatenate([f.weights_ for f in fits]),
                              means_=np.concatenate([f.means_ for f in fits]),
                              precisions_cholesky_=prec_chol)
        src = GaussianMixture.from_estimator(est, dtype=self.mixture.means.dtype,
                                             device=self.mixture.means.device)
        # from_estimator normalises over all C·M weights; the within-class softmax ignores that shift.
        self.mixture.load_state_dict(src.state_dict())
        prior = torch.as_tensor(np.log(counts / counts.sum()), dtype=self.prior_logits.dtype,
                                device=self.prior_logits.device)
        self.prior_logits.copy_(prior)
        return self


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class _Net(nn.Module):
    def __init__(self, features, head):
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x):
        return self.head(self.features(x))


class DeepGMMClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron with a Gaussian-mixture output layer, scikit-learn API.

    The feature layers and the per-class mixtures (:class:`GMMClassifierHead`) are trained
    end to end by minimising the cross-entropy of the class posteriors with Adam on
    mini-batches, with early stopping on a stratified validation split. With
    ``head_init="em"`` the features are first trained with a softmax layer, the mixture head
    is then fitted by EM on those features, and (unless ``freeze_features``) everything is
    fine-tuned jointly. ``freeze_features=True`` with ``head_init="em"`` gives the separately
    optimised baseline (features fixed, head by EM). ``head="softmax"`` trains the same
    network with an ordinary softmax layer instead, for comparison.

    Inputs are standardised with the training mean and standard deviation.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Widths of the feature layers (each followed by ``activation``); ``()`` puts the head
        directly on the standardised inputs.
    n_components_per_class : int, default=1
    covariance_type : str or CovarianceModel, default="diag"
        A covariance model with a torch evaluation (see :class:`GMMClassifierHead`).
    head : {"gmm", "softmax"}, default="gmm"
    activation : {"tanh", "relu", "sigmoid", "elu"}, default="tanh"
        Bounded, smooth features suit Gaussian class models better than ReLU's exact zeros.
    head_init : {"data", "em"}, default="data"
        "data": means at randomly chosen training features of each class, unit precisions
        scaled to the feature spread; "em": EM on features pre-trained with a softmax layer.
    freeze_features : bool, default=False
        Keep the feature layers fixed after initialisation (only the head is trained, or
        nothing further when ``head_init="em"``).
    max_epochs : int, default=100
    batch_size : int, default=64
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified), stop when its
        loss has not improved for ``patience`` epochs and keep the best weights.
    validation_fraction : float, default=0.1
    patience : int, default=10
    reg_covar : float, default=1e-3
        Regularisation of the EM head initialisation.
    random_state : int or None
        Seeds weights, data split and batch order; CPU runs are deterministic.
    verbose : int, default=0
        Print epoch, loss and validation accuracy on stderr every 10 epochs when > 0.
    device : str or torch.device, optional
        Where to train; defaults to the device of a tensor ``X``, else the CPU.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    network_ : torch.nn.Module
        ``network_.features`` and ``network_.head``; maps standardised inputs to log posteriors.
    n_iter_ : int
        Epochs run in the last training phase.
    history_ : list of dict
        Per-epoch ``phase``, ``epoch``, ``loss`` and ``val_loss``/``val_accuracy``.
    n_parameters_ : int
        Trainable parameters of ``network_``.

    See Also
    --------
    GMMClassifierHead : the output layer.
    sklearn.neural_network.MLPClassifier : the same with a softmax layer only.

    References
    ----------
    E. Variani, E. McDermott, G. Heigold, "A Gaussian mixture model layer jointly optimized
    with discriminative features within a deep neural network architecture", ICASSP 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gaussmix.torch import DeepGMMClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DeepGMMClassifier(hidden_layer_sizes=(8,), max_epochs=60, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes: Sequence[int] = (64,), *,
                 n_components_per_class: int = 1, covariance_type: str | Any = "diag",
                 head: str = "gmm", activation: str = "tanh", head_init: str = "data",
                 freeze_features: bool = False, max_epochs: int = 100, batch_size: int = 64,
                 lr: float = 1e-3, weight_decay: float = 0.0, early_stopping: bool = True,
                 validation_fraction: float = 0.1, patience: int = 10, reg_covar: float = 1e-3,
                 random_state: int | None = None, verbose: int = 0,
                 device: torch.device | str | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_components_per_class = n_components_per_class
        self.covariance_type = covariance_type
        self.head = head
        self.activation = activation
        self.head_init = head_init
        self.freeze_features = freeze_features
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ helpers
    _parameter_table = {
        "n_components_per_class": POSITIVE_INT,
        "head": [Options("gmm", "softmax")],
        "activation": [Options(*_ACTIVATIONS)],
        "head_init": [Options("data", "em")],
        "freeze_features": BOOL,
        "max_epochs": POSITIVE_INT,
        "batch_size": POSITIVE_INT,
        "lr": POSITIVE_FLOAT,
        "weight_decay": NON_NEGATIVE_FLOAT,
        "early_stopping": BOOL,
        "validation_fraction": [Interval(float, 0, 1, closed="neither")],
        "patience": POSITIVE_INT,
        "reg_covar": POSITIVE_FLOAT,
        "verbose": VERBOSE,
    }

    def _validate_params(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        sizes = tuple(sizes)
        for s in sizes:
            check_params(type(self).__name__, {"hidden_layer_sizes": s},
                         {"hidden_layer_sizes": [Interval(int, 1, None)]})
        params = self.get_params(deep=False)
        check_params(type(self).__name__, {k: params[k] for k in self._parameter_table},
                     self._parameter_table)
        torch_covariance(self.covariance_type)
        if self.head == "softmax" and self.head_init == "em":
            raise ValueError("head_init='em' needs head='gmm'.")
        return sizes

    def _to_tensor(self, X, device):
        X = as_2d_tensor(X, dtype=torch.float32, device=device,
                         n_features=getattr(self, "n_features_in_", None))
        return X

    def _standardise(self, X):
        return (X - self._mean) / self._scale

    def _check_fitted(self):
        if not hasattr(self, "network_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This DeepGMMClassifier instance is not fitted yet; call fit(X, y) first.")

    # ------------------------------------------------------------------ training
    def fit(self, X: torch.Tensor | npt.ArrayLike, y: npt.ArrayLike) -> DeepGMMClassifier:
        """Train the network.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any hashable values); at least two classes.

        Returns
        -------
        self
        """
        sizes = self._validate_params()
        device = torch.device(self.device) if self.device is not None else (
            X.device if isinstance(X, torch.Tensor) else torch.device("cpu"))
        Xt = as_2d_tensor(X, dtype=torch.float32, device=device)
        y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
        if y.ndim != 1 or y.shape[0] != Xt.shape[0]:
            raise ValueError(
                f"y must have shape ({Xt.shape[0]},) to match X, got {y.shape}.")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity.")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        C = len(self.classes_)
        if C < 2:
            raise ValueError(f"y must contain at least 2 classes, got {C}.")
        self.n_features_in_ = Xt.shape[1]
        seed = seed_from(self.random_state)
        g = torch.Generator().manual_seed(seed)

        if self.early_stopping:
            from sklearn.model_selection import train_test_split

            try:
                tr, va = train_test_split(np.arange(len(y_idx)),
                                          test_size=self.validation_fraction,
                                          stratify=y_idx, random_state=seed % (2**31))
            except ValueError as exc:
                raise ValueError(
                    f"Cannot make a stratified validation split ({exc}); add samples, raise "
                    "validation_fraction or set early_stopping=False.") from None
        else:
            tr, va = np.arange(len(y_idx)), None
        self._mean = Xt[tr].mean(0)
        self._scale = Xt[tr].std(0).clamp_min(1e-8)
        Xs = self._standardise(Xt)
        yt = torch.as_tensor(y_idx, device=device)
        train = (Xs[tr], yt[tr])
        val = (Xs[va], yt[va]) if va is not None else None

        # Initialise on the CPU from a private copy of its RNG state: same weights on any device.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            layers, width = [], self.n_features_in_
            for h in sizes:
                layers += [nn.Linear(width, h), _ACTIVATIONS[self.activation]()]
                width = h
            features = nn.Sequential(*layers).to(device)
            softmax_head = nn.Sequential(nn.Linear(width, C), nn.LogSoftmax(dim=1)).to(device)
        self.history_ = []
        if self.head == "softmax":
            self.network_ = _Net(features, softmax_head)
            self._train_phase("softmax", self.network_, train, val, g, train_features=True)
        else:
            gmm_head = GMMClassifierHead(width, C, self.n_components_per_class,
                                         self.covariance_type, dtype=torch.float32,
                                         device=device, random_state=seed)
            if self.head_init == "em":
                pre = _Net(features, softmax_head)
                self._train_phase("pretrain", pre, train, val, g, train_features=True)
                with torch.no_grad():
                    Z = features(train[0])
                gmm_head.init_from_features(Z, train[1].cpu().numpy(),
                                            reg_covar=self.reg_covar, random_state=seed)
                self.network_ = _Net(features, gmm_head)
                if not self.freeze_features:
                    self._train_phase("joint", self.network_, train, val, g,
                                      train_features=True)
            else:
                with torch.no_grad():
                    Z = features(train[0])
                    _init_head_from_data(gmm_head, Z, train[1], g)
                self.network_ = _Net(features, gmm_head)
                self._train_phase("joint", self.network_, train, val, g,
                                  train_features=not self.freeze_features)
        self.network_.eval()
        self.n_parameters_ = sum(p.numel() for p in self.network_.parameters() if p.requires_grad)
        return self

    def _train_phase(self, phase, net, train, val, g, *, train_features):
        Xtr, ytr = train
        params = [p for name, p in net.named_parameters()
                  if p.requires_grad and (train_features or not name.startswith("features."))]
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.NLLLoss()
        n = Xtr.shape[0]
        bs = min(int(self.batch_size), n)
        total = 0.0

        def step(epoch):
            nonlocal total
            net.train()
            total = 0.0
            for idx in minibatches(n, bs, g, Xtr.device):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(Xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()

        def evaluate(epoch):
            if val is None:
                return Evaluation(loss=total / n)
            net.eval()
            with torch.no_grad():
                out = net(val[0])
                vloss = float(loss_fn(out, val[1]))
                vacc = float((out.argmax(1) == val[1]).float().mean())
            return Evaluation(loss=total / n, monitor=vloss,
                              extra={"val_loss": vloss, "val_accuracy": vacc})

        def on_epoch(epoch, ev):
            record = {"phase": phase, "epoch": epoch, "loss": ev.loss}
            if ev.monitor is not None:
                record.update(ev.extra)
            self.history_.append(record)

        result = train_epochs(
            step, evaluate, max_epochs=int(self.max_epochs), patience=int(self.patience),
            tol=1e-6, snapshot=lambda: copy.deepcopy(net.state_dict()),
            restore=net.load_state_dict, on_epoch=on_epoch,
            progress=Progress(f"DeepGMMClassifier:{phase}", self.verbose, 10, self.max_epochs))
        self.n_iter_ = result.n_epochs

    # ------------------------------------------------------------------ prediction
    def _log_proba(self, X):
        self._check_fitted()
        dev = next(self.network_.parameters()).device
        Xt = as_2d_tensor(X, dtype=torch.float32, device=dev, n_features=self.n_features_in_)
        with torch.no_grad():
            return self.network_(self._standardise(Xt))

    def predict_log_proba(self, X: torch.Tensor | npt.ArrayLike) -> np.ndarray:
        """Log class posteriors.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
            Inputs, in the units the network was trained on.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._log_proba(X).cpu().double().numpy()

    def predict_proba(self, X: torch.Tensor | npt.ArrayLike) -> np.ndarray:
        """Class posteriors.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
            Inputs, in the units the network was trained on.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to one.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: torch.Tensor | npt.ArrayLike) -> np.ndarray:
        """Most probable class.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
            Inputs, in the units the network was trained on.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        idx = self._log_proba(X).argmax(1).cpu().numpy()
        return self.classes_[idx]

    def transform(self, X: torch.Tensor | npt.ArrayLike) -> np.ndarray:
        """Learned features (output of the last hidden layer).

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
            Inputs, in the units the network was trained on.

        Returns
        -------
        ndarray of shape (n_samples, width)
        """
        self._check_fitted()
        dev = next(self.network_.parameters()).device
        Xt = as_2d_tensor(X, dtype=torch.float32, device=dev, n_features=self.n_features_in_)
        with torch.no_grad():
            return self.network_.features(self._standardise(Xt)).cpu().double().numpy()


def _init_head_from_data(head, Z, y, g):
    """Means at random features of each class, precisions from the feature spread."""
    C, M = head.n_classes, head.n_components_per_class
    means = []
    for c in range(C):
        idx = torch.nonzero(y == c).flatten()
        if idx.numel() == 0:
            raise ValueError(f"class {c} has no training samples.")
        pick = idx[torch.randint(idx.numel(), (M,), generator=g).to(idx.device)]
        means.append(Z[pick])
    mix = head.mixture
    mix.means.copy_(torch.cat(means).to(mix.means.dtype))
    log_scale = -torch.log(Z.std(0).clamp_min(1e-3)).to(mix.means.dtype)  # (d,)
    mix.chol_log_diag.copy_(mix.covariance_model.torch_log_diag_from_scale(log_scale, C * M))
    counts = torch.bincount(y, minlength=C).to(head.prior_logits.dtype)
    head.prior_logits.copy_(torch.log(counts / counts.sum()))
