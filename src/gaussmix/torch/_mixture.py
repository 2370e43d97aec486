"""A differentiable Gaussian mixture as a ``torch.nn.Module``.

Notation used throughout this subpackage:

- ``k`` components, ``d`` features, ``n`` samples.
- ``prec_chol`` (lower factor ``L``): the precision matrix of a component is ``P = Lᵀ L`` with
  ``L`` lower triangular and a positive diagonal, so that the Mahalanobis term is
  ``‖L (x − μ)‖²`` and ``log det P = 2 Σ log diag L``. scikit-learn stores the transpose,
  the upper factor ``U = Lᵀ`` (``P = U Uᵀ``), in ``precisions_cholesky_``; conversions transpose.
- ``log_resp``: log-responsibilities ``log p(component | x)``, shape (n, k).

The unconstrained parameterisation: mixture weights are ``softmax(weight_logits)``; the
diagonal of ``L`` is ``exp(chol_log_diag)``; the strictly lower part of ``L`` is free
(``chol_offdiag``, packed row-wise). Any real values therefore describe a valid mixture, so
plain gradient descent never leaves the parameter space. What a covariance structure means
here (the parameter shapes, the log-density, sampling, the M-step, conversions) is asked of its
covariance model (the ``torch_*`` methods, :mod:`gaussmix.covariance._torch`), never of its name.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .._typing import CovarianceType
from .._validation import Interval, Options, check_params
from ._kernels import torch_covariance
from ._training import train_mixture
from ._validation import as_2d_tensor, make_generator

__all__ = ["GaussianMixture"]


# --------------------------------------------------------------------------- module
class GaussianMixture(nn.Module):
    """Gaussian mixture model as a differentiable PyTorch module.

    The parameters are unconstrained tensors (softmax logits for the weights, log-diagonal and
    free strictly-lower entries of the precision Cholesky factor), so any optimiser step gives
    a valid mixture. ``forward`` returns per-sample log-likelihoods and log-responsibilities
    and can be used inside any network or loss.

    Parameters
    ----------
    n_components : int
        Number of mixture components ``k``.
    n_features : int
        Dimension ``d`` of the data.
    covariance_type : str or CovarianceModel, default="full"
        Same meaning as in scikit-learn: "full", "tied", "diag", "spherical", or any model
        registered with :func:`gaussmix.covariance.register` that provides a torch evaluation.
    dtype : torch.dtype, optional
        Parameter dtype; defaults to ``torch.get_default_dtype()``.
    device : torch.device or str, optional
        Parameter device.
    random_state : int, Generator or None
        Seeds the initial means (standard normal); weights start uniform, precisions at identity.
    validate_args : bool or None, default=None
        Check that tensors given to :meth:`forward` (and the other evaluation methods) are
        finite, raising ``ValueError`` on NaN or infinity, as ``torch.distributions`` does.
        ``None`` follows the class default (``True``; see :meth:`set_default_validate_args`).
        The check reads one boolean back from the device per call; pass ``False`` to skip it
        in a hot loop. Skipped while tracing or compiling. Array-likes are always checked.

    Attributes
    ----------
    weight_logits : Parameter of shape (k,)
    means : Parameter of shape (k, d)
    chol_log_diag : Parameter
        Log-diagonal of the lower precision factor: (k, d) full/diag, (d,) tied, (k,) spherical.
    chol_offdiag : Parameter or None
        Packed strictly-lower entries: (k, d(d-1)/2) full, (d(d-1)/2,) tied, absent otherwise.
    converged_, n_iter_, lower_bound_ :
        Set by :meth:`fit` (or copied by :meth:`from_estimator`).
    history_ : list of dict
        Per-epoch records written by :meth:`fit` (``epoch``, ``seconds``, ``log_likelihood``).

    See Also
    --------
    fit_gradient : fit a mixture by mini-batch gradient descent.
    sklearn.mixture.GaussianMixture : the EM estimator with the same attributes.

    References
    ----------
    C. M. Bishop, *Pattern Recognition and Machine Learning*, §9.2, 2006.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.mixture import GaussianMixture as EM
    >>> from gaussmix.torch import GaussianMixture
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> em = EM(n_components=2, covariance_type="full", random_state=0).fit(X)
    >>> gm = GaussianMixture.from_estimator(em)
    >>> log_prob, log_resp = gm(torch.as_tensor(X))
    >>> bool(np.allclose(log_prob.detach().numpy(), em.score_samples(X)))
    True
    >>> tuple(log_resp.shape)
    (200, 2)
    """

    _validate_default = True
    _parameter_table = {
        "n_components": [Interval(int, 1, None)],
        "n_features": [Interval(int, 1, None)],
        "validate_args": [Options(None, True, False)],
    }

    @classmethod
    def set_default_validate_args(cls, value: bool) -> None:
        """Set the class-wide default of ``validate_args`` (as ``torch.distributions`` does).

        Parameters
        ----------
        value : bool
            The default for modules built with ``validate_args=None``.
        """
        if value not in (True, False):
            raise ValueError(f"validate_args must be True or False, got {value!r}.")
        GaussianMixture._validate_default = bool(value)

    def __init__(self, n_components: int, n_features: int,
                 covariance_type: CovarianceType | Any = "full", *,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None,
                 random_state: int | torch.Generator | None = None,
                 validate_args: bool | None = None) -> None:
        super().__init__()
        check_params(type(self).__name__, {"n_components": n_components, "n_features": n_features,
                                           "validate_args": validate_args}, self._parameter_table)
        self.validate_args = validate_args
        k, d = int(n_components), int(n_features)
        model = torch_covariance(covariance_type)
        self._covariance_model = model
        self.covariance_type = model.name
        self.n_components = k
        self.n_features = d
        dtype = dtype or torch.get_default_dtype()
        g = make_generator(random_state)
        means = torch.randn(k, d, generator=g, dtype=torch.float64)
        fk = {"dtype": dtype, "device": device}
        self.weight_logits = nn.Parameter(torch.zeros(k, **fk))
        self.means = nn.Parameter(means.to(**fk))
        diag_shape, off = model.torch_shapes(k, d)
        self.chol_log_diag = nn.Parameter(torch.zeros(diag_shape, **fk))
        if off is not None:
            self.chol_offdiag = nn.Parameter(torch.zeros(off, **fk))
        else:
            self.register_parameter("chol_offdiag", None)
        self.converged_ = False
        self.n_iter_ = 0
        self.lower_bound_ = -np.inf
        self.history_ = []

    # ------------------------------------------------------------------ derived tensors
    def extra_repr(self) -> str:
        """The module's settings, shown in its ``repr`` (``torch.nn.Module`` hook).

        Returns
        -------
        str
        """
        return (f"n_components={self.n_components}, n_features={self.n_features}, "
                f"covariance_type={self.covariance_type!r}")

    @property
    def weights(self) -> torch.Tensor:
        """Mixture weights, Tensor of shape (k,)."""
        return torch.softmax(self.weight_logits, dim=0)

    @property
    def covariance_model(self) -> Any:
        """The covariance model (from :mod:`gaussmix.covariance`) that gives the torch evaluation."""
        model = getattr(self, "_covariance_model", None)  # None in modules pickled before it
        return model if model is not None else torch_covariance(self.covariance_type)

    def _lower_factor(self):
        return self.covariance_model.torch_chol(self.chol_log_diag, self.chol_offdiag)

    @property
    def precisions_cholesky(self) -> torch.Tensor:
        """Precision Cholesky factor in scikit-learn's convention (upper ``U``, ``P = U Uᵀ``).

        Shapes: (k, d, d) full, (d, d) tied, (k, d) diag, (k,) spherical.
        """
        return self.covariance_model.torch_precisions_cholesky(self._lower_factor(),
                                                               self.chol_log_diag)

    @property
    def precisions(self) -> torch.Tensor:
        """Precision matrices (full/tied) or precisions (diag/spherical), scikit-learn shapes."""
        return self.covariance_model.torch_precisions(self._lower_factor(), self.chol_log_diag)

    @property
    def covariances(self) -> torch.Tensor:
        """Covariances in scikit-learn's shapes, computed from the precision factor."""
        return self.covariance_model.torch_covariances(self._lower_factor(), self.chol_log_diag)

    def n_parameters(self) -> int:
        """Number of free parameters of the mixture (as counted for BIC).

        Returns
        -------
        int
        """
        k, d = self.n_components, self.n_features
        return self.covariance_model.n_parameters(k, d) + k * d + k - 1

    # ------------------------------------------------------------------ evaluation
    def _check_input(self, x):
        ref = self.means
        if not isinstance(x, torch.Tensor):
            x = as_2d_tensor(x, dtype=ref.dtype, device=ref.device, n_features=self.n_features)
            return x
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"x must have shape (n_samples, {self.n_features}), got {tuple(x.shape)}."
            )
        if x.dtype != ref.dtype:
            x = x.to(ref.dtype)
        validate = getattr(self, "validate_args", None)  # None too in modules pickled before it
        validate = self._validate_default if validate is None else validate
        if validate and not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            finite = torch.isfinite(x)
            if not bool(finite.all()):
                n_bad = int((~finite).sum())
                row, col = (int(v) for v in torch.nonzero(~finite)[0])
                raise ValueError(
                    f"x contains {n_bad} NaN or inf value{'s' if n_bad > 1 else ''} (first "
                    f"at row {row}, column {col}: {x[row, col].item()!r}); remove or impute "
                    "them, or pass validate_args=False to skip this check.")
        return x

    def component_log_prob(self, x: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
        """Per-component Gaussian log-densities.

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        Tensor of shape (n, k)
        """
        x = self._check_input(x)
        return self.covariance_model.torch_log_prob(x, self.means, self._lower_factor(),
                                                    self.chol_log_diag)

    def weighted_log_prob(self, x: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
        """``log w_j + log N(x | component j)``.

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        Tensor of shape (n, k)
        """
        return self.component_log_prob(x) + torch.log_softmax(self.weight_logits, 0)[None, :]

    def forward(self, x: torch.Tensor | npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-likelihood of each sample and log-responsibilities.

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        log_prob : Tensor of shape (n,)
        log_resp : Tensor of shape (n, k)
        """
        wlp = self.weighted_log_prob(x)
        log_prob = torch.logsumexp(wlp, dim=1)
        return log_prob, wlp - log_prob[:, None]

    def score_samples(self, x: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
        """Per-sample log-likelihood (no gradient).

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        Tensor of shape (n,)
        """
        with torch.no_grad():
            return self(x)[0]

    def score(self, x: torch.Tensor | npt.ArrayLike) -> float:
        """Mean per-sample log-likelihood.

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        float
        """
        return float(self.score_samples(x).mean())

    def predict_proba(self, x: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
        """Responsibilities (no gradient).

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        Tensor of shape (n, k)
        """
        with torch.no_grad():
            return torch.exp(self(x)[1])

    def predict(self, x: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
        """Most responsible component of each sample.

        Parameters
        ----------
        x : Tensor or array-like of shape (n, d)
            Converted to the parameters' dtype; must be on the parameters' device.

        Returns
        -------
        LongTensor of shape (n,)
        """
        return self.predict_proba(x).argmax(dim=1)

    @torch.no_grad()
    def sample(self, n_samples: int = 1, *,
               generator: torch.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw samples from the mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        generator : torch.Generator, int or None
            Source of randomness (an int seeds a new generator on the parameters' device).

        Returns
        -------
        X : Tensor of shape (n_samples, d)
        labels : LongTensor of shape (n_samples,)
        """
        check_params("GaussianMixture.sample", {"n_samples": n_samples},
                     {"n_samples": [Interval(int, 1, None)]})
        n = int(n_samples)
        dev, dt = self.means.device, self.means.dtype
        g = make_generator(generator, device=dev) if generator is not None else None
        labels = torch.multinomial(self.weights, n, replacement=True, generator=g)
        z = torch.randn(n, self.n_features, generator=g, dtype=dt, device=dev)
        step = self.covariance_model.torch_sample_step(z, labels, self._lower_factor(),
                                                       self.chol_log_diag)
        mu = self.means[labels]
        return mu + step, labels

    # ------------------------------------------------------------------ conversion
    @classmethod
    def from_estimator(cls, estimator: Any, *, dtype: torch.dtype = torch.float64,
                       device: torch.device | str | None = None,
                       validate_args: bool | None = None) -> GaussianMixture:
        """Build the module from a fitted estimator with scikit-learn attributes.

        Parameters
        ----------
        estimator : object
            Anything with ``covariance_type``, ``weights_`` (k,), ``means_`` (k, d) and
            ``precisions_cholesky_`` (scikit-learn shapes and upper-factor convention), e.g. a
            fitted ``gaussmix.GaussianMixture`` or ``sklearn.mixture.GaussianMixture``.
        dtype, device : optional
            Of the new parameters (float64 by default, for exact parity).
        validate_args : bool or None, default=None
            As in the constructor.

        Returns
        -------
        GaussianMixture
        """
        for attr in ("covariance_type", "weights_", "means_"):
            if not hasattr(estimator, attr):
                raise TypeError(
                    f"from_estimator needs a fitted mixture with attribute {attr!r}; "
                    f"{type(estimator).__name__} has none (is it fitted?)."
                )
        model = torch_covariance(estimator.covariance_type)
        weights = np.asarray(estimator.weights_, dtype=np.float64)
        means = np.asarray(estimator.means_, dtype=np.float64)
        if means.ndim != 2 or weights.shape != (means.shape[0],):
            raise ValueError(
                f"weights_ {weights.shape} and means_ {means.shape} do not describe a mixture."
            )
        k, d = means.shape
        if hasattr(estimator, "precisions_cholesky_"):
            pc = np.asarray(estimator.precisions_cholesky_, dtype=np.float64)
        elif hasattr(estimator, "covariances_"):
            cov = model.validate(estimator.covariances_, k, d, "covariances_")
            pc, bad = model.precision_cholesky(cov)
            if bad:
                raise ValueError("covariances_ must be positive definite.")
        else:
            raise TypeError("from_estimator needs precisions_cholesky_ or covariances_.")
        expected = model.shape(k, d)
        if pc.shape != expected:
            raise ValueError(
                f"precisions_cholesky_ has shape {pc.shape}, expected {expected} for "
                f"covariance_type={model.name!r}."
            )
        if np.any(weights <= 0) or not np.all(np.isfinite(pc)) or not np.all(np.isfinite(means)):
            raise ValueError("weights_ must be positive and all parameters finite.")
        log_diag, offdiag = model.torch_params_from_prec_chol(pc)
        module = cls(k, d, model, dtype=dtype, device=device, random_state=0,
                     validate_args=validate_args)
        with torch.no_grad():
            fk = {"dtype": dtype, "device": module.means.device}
            module.weight_logits.copy_(torch.as_tensor(np.log(weights / weights.sum()), **fk))
            module.means.copy_(torch.as_tensor(means, **fk))
            module.chol_log_diag.copy_(torch.as_tensor(log_diag, **fk))
            if offdiag is not None:
                module.chol_offdiag.copy_(torch.as_tensor(offdiag, **fk))
        module.converged_ = bool(getattr(estimator, "converged_", False))
        module.n_iter_ = int(getattr(estimator, "n_iter_", 0))
        module.lower_bound_ = float(getattr(estimator, "lower_bound_", -np.inf))
        return module

    def to_estimator(self) -> Any:
        """A fitted ``gaussmix.GaussianMixture`` with this module's parameters (float64).

        Returns
        -------
        estimator : gaussmix.GaussianMixture
            Built through :meth:`gaussmix.GaussianMixture.from_params`, with this module's
            training history as its fit information.
        """
        from gaussmix import GaussianMixture as Estimator

        model = self.covariance_model
        with torch.no_grad():
            weights = self.weights.detach().cpu().double().numpy()
            means = self.means.detach().cpu().double().numpy()
            log_diag = self.chol_log_diag.detach().cpu().double().numpy()
            offdiag = (None if self.chol_offdiag is None
                       else self.chol_offdiag.detach().cpu().double().numpy())
        pc = model.prec_chol_from_torch_params(log_diag, offdiag)
        return Estimator.from_params(
            weights / weights.sum(), means, model.covariances_from_precision_cholesky(pc),
            covariance_type=model.name, precisions_cholesky=pc, n_components=self.n_components,
            converged=bool(self.converged_), n_iter=int(self.n_iter_),
            lower_bound=float(self.lower_bound_),
            lower_bounds=[h["log_likelihood"] for h in self.history_])

    # ------------------------------------------------------------------ training
    def fit(self, X: torch.Tensor | npt.ArrayLike, **kwargs: Any) -> GaussianMixture:
        """Maximum-likelihood training by mini-batch gradient descent, starting from the
        current parameters.

        Parameters
        ----------
        X : Tensor or array-like of shape (n, d)
            Training data.
        **kwargs
            As in :func:`gaussmix.torch.fit_gradient` (except ``n_components``,
            ``covariance_type`` and ``init``).

        Returns
        -------
        self : GaussianMixture
            The trained module.
        """
        return train_mixture(self, X, **kwargs)
