"""MAP adaptation of a fitted mixture to new data (Reynolds, Quatieri & Dunn 2000).

Notation, per component ``k`` of the current model, for rows ``x_t`` with weights ``w_t``:
``resp`` the responsibilities, ``nk = sum_t w_t resp_tk`` (the soft count), ``m_k`` and ``v_k``
the data's weighted mean and centred second moment under ``resp``, ``r`` the relevance factor and
``alpha_k = nk / (nk + r)`` the data-dependent adaptation coefficient. The prior (the universal
background model, UBM) has weights ``w_k``, means ``mu_k`` and covariances ``S_k``; ``T`` is the
total weight of the rows.

The paper's updates are

    w'_k   = [alpha_k nk / T + (1 - alpha_k) w_k] gamma          (gamma: weights sum to 1)
    mu'_k  = alpha_k m_k + (1 - alpha_k) mu_k
    S'_k   = alpha_k E_k[x x^T] + (1 - alpha_k) (S_k + mu_k mu_k^T) - mu'_k mu'_k^T.

The variance update is written there with raw second moments. Substituting
``E_k[x x^T] = v_k + m_k m_k^T`` gives the same quantity in centred form,

    S'_k = alpha_k v_k + (1 - alpha_k) S_k + alpha_k (1 - alpha_k) d_k d_k^T,   d_k = m_k - mu_k,

a combination of positive semi-definite terms that cannot cancel; it is also the parallel-variance
merge of the data's statistics with ``r`` pseudo-observations at ``mu_k`` with covariance ``S_k``
(the conjugate-prior reading of the paper's update). That is how it is computed here, from the
engine's centred :class:`~gaussmix._stats.SufficientStats`. ``reg_covar`` of the UBM is added to
the data's second moment ``v_k`` (the term an EM M-step regularises), so a component that sees no
data keeps the UBM's covariance exactly and ``alpha_k = 1`` is exactly an EM M-step.

When only the covariances are adapted (``params`` without "m"), the component keeps the UBM's mean
and its covariance is the adapted second moment about that mean: ``S'_k`` above plus
``alpha_k^2 d_k d_k^T`` (= ``alpha_k (v_k + d_k d_k^T) + (1 - alpha_k) S_k``).

Covariance structures that pool or average (tied, spherical) are handled by the covariance model's
own M-step (``from_stats``) on the adapted statistics, with ``nk + r`` as each component's mass:
a tied covariance is the ``(nk + r)``-weighted mean of the per-component adapted covariances, a
spherical variance the mean over features of the diagonal update.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sklearn.utils.validation import check_array, check_is_fitted

from . import covariance
from ._stats import SufficientStats, chunk_stats
from ._validation import Interval, Kinds, check_finite, check_params, check_sample_weight

if TYPE_CHECKING:  # the estimator is imported lazily here: annotations name it through the package
    import gaussmix

__all__ = ["map_adapt"]

#: Letters of ``params``: weights, means, covariances.
PARAM_LETTERS = "wmc"
#: Most responsibilities held at once (rows times components) while accumulating statistics.
_RESP_BLOCK = 2**21

_TABLE = {
    "relevance_factor": [Interval(float, 0, None, closed="neither")],
    "params": [Kinds(str, label="a non-empty string of the letters 'w', 'm', 'c'")],
    "n_iter": [Interval(int, 1)],
}


def _check_letters(params: str) -> str:
    bad = sorted(set(params) - set(PARAM_LETTERS))
    if not params or bad:
        raise ValueError(
            f"The 'params' parameter of map_adapt must be a non-empty string of the letters "
            f"'w' (weights), 'm' (means), 'c' (covariances); got {params!r}"
            + (f", with unknown letter(s) {', '.join(map(repr, bad))}." if bad else "."))
    return params


def as_gaussmix(ubm, owner: str = "map_adapt"):
    """``ubm`` as a fitted :class:`gaussmix.GaussianMixture` (a scikit-learn one is converted)."""
    from ._estimator import GaussianMixture
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    if isinstance(ubm, SkGaussianMixture):
        check_is_fitted(ubm)
        return GaussianMixture.from_sklearn(ubm)
    if not isinstance(ubm, GaussianMixture):
        raise TypeError(f"{owner} needs a fitted gaussmix.GaussianMixture (or a scikit-learn "
                        f"GaussianMixture) as the background model, got {type(ubm).__name__}.")
    check_is_fitted(ubm)
    return ubm


def check_frames(ubm, X, name: str = "X") -> np.ndarray:
    """Frames ``X`` as a float64 (n, d) array matching the background model's features."""
    X = check_array(X, dtype=np.float64, ensure_all_finite=False, input_name=name)
    check_finite(X, name)
    d = int(ubm.n_features_in_)
    if X.shape[1] != d:
        raise ValueError(f"{name} has {X.shape[1]} features per frame, but the background model "
                         f"was fitted on {d}.")
    return X


def data_stats(gm, X: np.ndarray, w: np.ndarray, full_scatter: bool) -> SufficientStats:
    """Centred statistics of ``X`` under the responsibilities of the fitted mixture ``gm``."""
    k, d = gm.means_.shape
    rows = max(1, _RESP_BLOCK // k)
    stats = SufficientStats.empty(k, d, full_scatter)
    for s in range(0, X.shape[0], rows):
        Xc, wc = X[s:s + rows], w[s:s + rows]
        resp = gm.predict_proba(Xc)
        stats = stats.merge(chunk_stats(Xc, wc, resp, np.zeros(len(Xc)), full_scatter, 0))
    return stats


def _prior_second_moments(model, cov: np.ndarray, k: int, d: int) -> np.ndarray:
    """The UBM's covariances in the layout of the statistics: (k, d, d) or their diagonals (k, d)."""
    dense = np.stack([model.component_covariance(cov, j, d) for j in range(k)])
    return dense if model.full_scatter else np.diagonal(dense, axis1=1, axis2=2).copy()


def _outer(v: np.ndarray, full: bool) -> np.ndarray:
    return v[:, :, None] * v[:, None, :] if full else v * v


def map_adapt(ubm: object, X: npt.ArrayLike, *, relevance_factor: float = 16.0, params: str = "m",
              sample_weight: npt.ArrayLike | None = None,
              n_iter: int = 1) -> gaussmix.GaussianMixture:
    """A new mixture MAP-adapted from a background model to the rows ``X``.

    The adaptation of Reynolds, Quatieri & Dunn (2000): each component moves towards the data it
    is responsible for in proportion to how much data that is, ``alpha_k = n_k / (n_k + r)``
    with soft count ``n_k`` and relevance factor ``r``:
    ``mu'_k = alpha_k E_k[x] + (1 - alpha_k) mu_k``, and with "w" and "c" in ``params`` the
    paper's weight and covariance updates (see :mod:`gaussmix._map` for the formulas and the
    centred form in which the covariance update is computed). Components that see little data
    stay close to the background model, which is what makes a speaker model trained on seconds of
    speech usable, and what makes its likelihood ratio against the background model a good
    verification score.

    Parameters
    ----------
    ubm : gaussmix.GaussianMixture or sklearn.mixture.GaussianMixture
        The fitted background model (any covariance type). It is left untouched.
    X : array-like of shape (n_samples, n_features)
        Adaptation data (e.g. a speaker's feature frames).
    relevance_factor : float, default=16.0
        ``r > 0``: the soft count at which a component moves half-way to the data. The paper
        finds results insensitive to it in 8-20.
    params : str, default="m"
        Which parameters to adapt: any combination of "w" (weights), "m" (means) and
        "c" (covariances). The paper (and most systems since) adapt the means only.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the rows (``None``: all ones).
    n_iter : int, default=1
        Number of MAP steps. The paper uses one; further steps recompute the responsibilities
        under the adapted model and adapt the background model again (the prior does not move).

    Returns
    -------
    GaussianMixture
        A new fitted mixture with the background model's covariance type and constructor
        parameters; ``n_iter_`` is the number of MAP steps.

    See Also
    --------
    gaussmix.verification.GMMUBMVerifier : speaker enrolment and scoring with adapted models.

    References
    ----------
    D. A. Reynolds, T. F. Quatieri, R. B. Dunn (2000). Speaker verification using adapted
    Gaussian mixture models. Digital Signal Processing 10(1-3), 19-41.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture, map_adapt
    >>> rng = np.random.RandomState(0)
    >>> ubm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(
    ...     np.r_[rng.normal(-3, 1, (500, 1)), rng.normal(3, 1, (500, 1))])
    >>> spk = map_adapt(ubm, rng.normal(4, 1, (200, 1)), relevance_factor=16)
    >>> bool(abs(spk.means_.max() - 4) < abs(ubm.means_.max() - 4))  # moved towards the data
    True
    >>> bool(np.allclose(spk.means_.min(), ubm.means_.min(), atol=0.1))  # no data there: stays
    True
    """
    check_params("map_adapt", {"relevance_factor": relevance_factor, "params": params,
                               "n_iter": n_iter}, _TABLE)
    letters = set(_check_letters(params))
    ubm = as_gaussmix(ubm)
    X = check_frames(ubm, X)
    w = check_sample_weight(sample_weight, X.shape[0])
    r = float(relevance_factor)
    model = covariance.get(ubm.covariance_type)
    full = model.full_scatter
    w0 = np.array(ubm.weights_, dtype=np.float64)
    mu0 = np.array(ubm.means_, dtype=np.float64)
    cov0 = np.array(ubm.covariances_, dtype=np.float64)
    k, d = mu0.shape
    prior = _prior_second_moments(model, cov0, k, d)
    reg = float(ubm.reg_covar)
    eye = np.eye(d) if full else np.ones(d)
    current, result = ubm, None
    for _ in range(int(n_iter)):
        stats = data_stats(current, X, w, full)
        nk = stats.nk
        alpha = nk / (nk + r)
        a = alpha[:, None, None] if full else alpha[:, None]
        safe = np.maximum(nk, np.finfo(np.float64).tiny)
        # centred second moment of the data per unit mass, regularised as an M-step would be;
        # components without data have alpha == 0 and drop out
        v = stats.scatter / (safe[:, None, None] if full else safe[:, None]) + reg * eye
        delta = stats.means - mu0
        mean_map = alpha[:, None] * stats.means + (1 - alpha[:, None]) * mu0
        means = mean_map if "m" in letters else mu0
        if "c" in letters:
            spread = alpha * (1 - alpha) if "m" in letters else alpha
            second = a * v + (1 - a) * prior + (
                spread[:, None, None] if full else spread[:, None]) * _outer(delta, full)
            mass = nk + r
            covs = model.from_stats(mass, second * (mass[:, None, None] if full
                                                    else mass[:, None]), 0.0)
        else:
            covs = cov0
        if "w" in letters:
            weights = alpha * nk / max(stats.weight, np.finfo(np.float64).tiny) + (1 - alpha) * w0
            weights = weights / weights.sum()
        else:
            weights = w0
        result = _build(ubm, weights, means, covs, n_iter=_ + 1)
        current = result
    return result


def _build(ubm, weights, means, covs, *, n_iter: int):
    """A fitted GaussianMixture with the background model's settings and the given parameters."""
    from ._estimator import GaussianMixture

    settings = {key: val for key, val in ubm.get_params(deep=False).items()
                if key not in ("n_components", "covariance_type") and not key.endswith("_init")}
    names = getattr(ubm, "feature_names_in_", None)
    return GaussianMixture.from_params(
        weights, means, covs, covariance_type=ubm.covariance_type, feature_names_in=names,
        converged=True, n_iter=n_iter, **settings)
