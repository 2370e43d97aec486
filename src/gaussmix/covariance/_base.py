"""The interface every covariance model implements."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt


class CovarianceModel(ABC):
    """Strategy object for one covariance structure.

    A model knows the shapes of its parameters, how to turn centred sufficient statistics into
    covariances (the M-step), how to factor them into precision Cholesky factors, and how to
    evaluate per-component Gaussian log-densities. Parameter arrays have scikit-learn's shapes.

    ``full_scatter`` tells the statistics whether this model needs full (k, d, d) centred
    second moments or only their diagonals (k, d).
    """

    name: str
    full_scatter: bool
    #: One covariance shared by all components (tied): repairs act on it as a whole.
    shared: bool = False
    #: Whether the model evaluates in torch (the ``torch_*`` methods that the built-in models
    #: mix in from :mod:`gaussmix.covariance._torch`); ``gaussmix.torch`` refuses it otherwise.
    supports_torch: bool = False
    #: Whether :meth:`from_stats` takes ``previous`` (the covariances of the last iteration),
    #: for M-steps that iterate and start from them; the engine passes it only then.
    warm_start_m_step: bool = False
    #: How the conjugate prior of :class:`gaussmix.ConjugatePrior` applies, as
    #: ``(kind, shared)``: ``kind`` is "matrix" (inverse Wishart on the covariance), "diagonal"
    #: (inverse gamma on each variance) or "scalar" (inverse gamma on the one variance);
    #: ``shared`` tells that the prior is counted once for the mixture rather than per
    #: component (the structures with one volume). ``None``: no MAP M-step (see
    #: :mod:`gaussmix._prior`). The MAP M-step is then :meth:`from_stats` of posterior
    #: statistics, so a model whose :meth:`from_stats` is an exact ML M-step needs nothing else.
    conjugate_prior: tuple[str, bool] | None = None

    # -- shapes -------------------------------------------------------------------------
    @abstractmethod
    def shape(self, k: int, d: int) -> tuple[int, ...]:
        """Shape of ``covariances_`` / ``precisions_`` / ``precisions_cholesky_``.

        Parameters
        ----------
        k : int
            Number of components.
        d : int
            Number of features.

        Returns
        -------
        tuple of int
        """

    @abstractmethod
    def n_parameters(self, k: int, d: int) -> int:
        """Number of free covariance parameters.

        Parameters
        ----------
        k : int
            Number of components.
        d : int
            Number of features.

        Returns
        -------
        int
        """

    # -- M-step -------------------------------------------------------------------------
    @abstractmethod
    def from_stats(self, nk: np.ndarray, scatter: np.ndarray, reg_covar: float) -> np.ndarray:
        """Covariances from responsibility mass and centred scatter, plus ``reg_covar`` (M-step).

        Models with :attr:`warm_start_m_step` also accept ``previous=None``: the covariances of
        the last iteration (this model's shape), from which an iterative M-step starts.

        Parameters
        ----------
        nk : ndarray of shape (k,)
            Responsibility mass of each component.
        scatter : ndarray of shape (k, d, d) if ``full_scatter`` else (k, d)
            Weighted centred second moments (sums, not means) of each component.
        reg_covar : float
            Added to the diagonal of every covariance.

        Returns
        -------
        ndarray
            Covariances in this model's shape.
        """

    # -- factorisations -----------------------------------------------------------------
    @abstractmethod
    def precision_cholesky(self, cov: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Precision Cholesky factors of ``cov`` and the components whose covariance is not PD.

        Failed components get an identity factor so the result is always usable.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape.

        Returns
        -------
        prec_chol : ndarray
            Upper precision Cholesky factors (scikit-learn's convention), this model's shape.
        failed : list of int
            Components whose covariance is not positive definite.
        """

    @abstractmethod
    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        """Precision matrices ``L L^T`` in this model's shape.

        Parameters
        ----------
        prec_chol : ndarray
            Precision Cholesky factors in this model's shape.

        Returns
        -------
        ndarray
        """

    @abstractmethod
    def covariances_from_precision_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        """Covariances ``(L L^T)^{-1}`` in this model's shape.

        Parameters
        ----------
        prec_chol : ndarray
            Precision Cholesky factors in this model's shape.

        Returns
        -------
        ndarray
        """

    @abstractmethod
    def precision_cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Precision Cholesky factors from precision matrices (as scikit-learn's ``precisions_init``).

        Parameters
        ----------
        precisions : ndarray
            Precisions in this model's shape.

        Returns
        -------
        ndarray
            Precision Cholesky factors in this model's shape.
        """

    @abstractmethod
    def log_det_cholesky(self, prec_chol: np.ndarray, d: int) -> np.ndarray:
        """``log det L`` per component (broadcast for a shared covariance).

        Parameters
        ----------
        prec_chol : ndarray
            Precision Cholesky factors in this model's shape.
        d : int
            Number of features.

        Returns
        -------
        ndarray of shape (k,) or (1,)
        """

    # -- densities ----------------------------------------------------------------------
    @abstractmethod
    def log_prob(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Per-component log-densities ``log N(x_i | mu_j, Sigma_j)``.

        ``X``, ``means`` and ``prec_chol`` share one floating dtype, which the result keeps.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            The rows.
        means : ndarray of shape (k, d)
            Component means.
        prec_chol : ndarray
            Precision Cholesky factors in this model's shape.

        Returns
        -------
        ndarray of shape (n, k)
        """

    def expansion(self, means: np.ndarray,
                  prec_chol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coefficients of the log-density as a quadratic form in ``x``.

        ``log N(x | mu_j, Sigma_j) = -1/2 x^T P_j x + x^T b_j + c_j`` for every component.

        Parameters
        ----------
        means : ndarray of shape (k, d)
            Component means.
        prec_chol : ndarray
            Precision Cholesky factors in this model's shape.

        Returns
        -------
        quad : ndarray of shape (k, d, d) if ``full_scatter`` else (k, d)
            The precisions ``P_j`` (their diagonals for models without full scatter).
        lin : ndarray of shape (k, d)
            ``b_j = P_j mu_j``.
        const : ndarray of shape (k,)
            ``c_j = -1/2 mu_j^T P_j mu_j + log det L_j - d/2 log(2 pi)``.

        Models that do not override this are evaluated with :meth:`log_prob` instead of the
        fast kernels of :mod:`gaussmix._fast`.
        """
        raise NotImplementedError

    @abstractmethod
    def component_covariance(self, cov: np.ndarray, j: int, d: int) -> np.ndarray:
        """Dense covariance of component ``j``.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape.
        j : int
            Component index.
        d : int
            Number of features.

        Returns
        -------
        ndarray of shape (d, d)
        """

    def dense(self, cov: np.ndarray, k: int, d: int) -> np.ndarray:
        """Dense covariances of all ``k`` components.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape.
        k : int
            Number of components.
        d : int
            Number of features.

        Returns
        -------
        ndarray of shape (k, d, d)
        """
        return np.stack([self.component_covariance(cov, j, d) for j in range(k)])

    # -- model algebra ----------------------------------------------------------------
    def subset_components(self, cov: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Covariances of the components ``idx`` (an index array), in this model's shape.

        Per-component models index the first axis; a :attr:`shared` covariance belongs to
        every subset of components unchanged.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape.
        idx : ndarray of int
            Component indices.

        Returns
        -------
        ndarray
            Covariances in this model's shape for ``len(idx)`` components.
        """
        return np.array(cov, copy=True) if self.shared else np.asarray(cov)[np.asarray(idx)]

    def marginal(self, cov: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Covariances of the marginal distribution of the features ``idx``, in this model's shape.

        The marginal of a Gaussian keeps the rows and columns ``idx`` of its covariance, so
        every structure that is closed under taking sub-blocks (full, tied, diagonal,
        spherical) stays in its own family. A model that is not closed under marginalisation
        leaves this unimplemented, and :meth:`gaussmix.GaussianMixture.marginal` then says so.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape for ``d`` features.
        idx : ndarray of int of shape (m,)
            Distinct feature indices in ``[0, d)``, in the order wanted.

        Returns
        -------
        ndarray
            Covariances in this model's shape for ``m`` features.
        """
        raise NotImplementedError(
            f"covariance model {self.name!r} does not implement marginal(cov, idx).")

    # -- validation and recovery -------------------------------------------------------
    @abstractmethod
    def validate(self, arr: npt.ArrayLike, k: int, d: int, name: str) -> np.ndarray:
        """Check a user-supplied covariance or precision array: shape, finiteness, symmetry, PD.

        Parameters
        ----------
        arr : array-like
            The array, expected in this model's shape.
        k : int
            Number of components.
        d : int
            Number of features.
        name : str
            The parameter's name, for error messages.

        Returns
        -------
        ndarray
            ``arr`` as a float64 array, checked.
        """

    @abstractmethod
    def smallest_variances(self, cov: np.ndarray, unit: np.ndarray) -> np.ndarray:
        """Smallest eigenvalue of each covariance matrix in units of the data's variances.

        ``unit`` (d,) holds the data's per-feature variances (positive); the result is the
        smallest eigenvalue of ``D^-1/2 Sigma D^-1/2`` with ``D = diag(unit)``, one entry per
        covariance matrix: shape (k,), or (1,) for a :attr:`shared` model. Compared with the
        dtype's resolution it tells a covariance that is numerically not positive definite
        from a legitimately tight one, whatever the features' scales.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape.
        unit : ndarray of shape (d,)
            The data's per-feature variances.

        Returns
        -------
        ndarray of shape (k,) or (1,)
        """

    @abstractmethod
    def reset_component(self, cov: np.ndarray, j: int, value: np.ndarray) -> None:
        """Replace component ``j``'s covariance in place by a dense one.

        Parameters
        ----------
        cov : ndarray
            Covariances in this model's shape, modified in place.
        j : int
            Component index.
        value : ndarray of shape (d, d)
            The new covariance (projected onto this model's structure).
        """

    def __repr__(self) -> str:
        return f"<covariance model {self.name!r}>"


def _whitened_sq_norm(Y: np.ndarray, k: int, d: int) -> np.ndarray:
    """Sum of squares over each of the ``k`` consecutive blocks of ``d`` columns of ``Y`` (n, k*d)."""
    Y = Y.reshape(Y.shape[0], k, d)
    return np.einsum("nkd,nkd->nk", Y, Y)


def _standardised_min_eig(mats: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Smallest eigenvalue of each ``D^-1/2 M D^-1/2`` for ``mats`` (m, d, d), ``D = diag(unit)``."""
    s = 1.0 / np.sqrt(unit)
    return np.linalg.eigvalsh(mats * s[None, :, None] * s[None, None, :])[:, 0]


def _check_shape(arr, shape, name):
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise ValueError(f"'{name}' must have shape {tuple(shape)}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"'{name}' contains NaN or inf values.")
    return arr


def _check_spd(mats: np.ndarray, name: str) -> None:
    """Every (d, d) matrix in ``mats`` (m, d, d) is symmetric and positive definite."""
    for j, m in enumerate(mats):
        if not np.allclose(m, m.T, rtol=1e-7, atol=1e-10 * max(1.0, np.abs(m).max())):
            raise ValueError(f"'{name}' must be symmetric; matrix {j} is not.")
        if np.linalg.eigvalsh(m).min() <= 0.0:
            raise ValueError(f"'{name}' must be positive definite; matrix {j} is not.")


class ElementwisePrecision:
    """Models whose precision Cholesky is stored as standard-deviation reciprocals (diag, spherical).

    The precision is then the square of the stored factor, elementwise, and the covariance its
    reciprocal.
    """

    def precisions(self, prec_chol):
        return prec_chol ** 2

    def covariances_from_precision_cholesky(self, prec_chol):
        return 1.0 / prec_chol ** 2

    def precision_cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

