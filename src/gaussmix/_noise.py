"""A uniform noise component beside the Gaussians (Banfield & Raftery 1993; mclust's noise).

The mixture density becomes ``p(x) = sum_j pi_j N(x | mu_j, Sigma_j) + pi_0 / V``: one extra
component with constant density ``1 / V`` over the data's hypervolume ``V``. The Gaussian weights
``pi_j`` and the noise weight ``pi_0`` sum to 1; the engine's :class:`~gaussmix._params.Params`
keeps only the ``pi_j`` (so they sum to ``1 - pi_0``) and the noise weight is the remainder. The
E-step appends the column ``log pi_0 - log V`` to the Gaussians' weighted log-densities; the
responsibility mass of that column is :attr:`SufficientStats.noise`, which the M-step adds to
the total that normalises the weights (``pi_0 = noise / (noise + sum_j n_j)``); the Gaussian
means and covariances use the Gaussians' responsibilities only. The density ``1 / V`` applies
to every point, inside the hull of the data or not, as in mclust's E-step (``Vinv``).

``V`` is mclust's ``hypvol``: the smaller of the volume of the data's bounding box and of the
box bounding the data in its principal axes. A first guess of the noise rows comes from
:func:`nn_clutter` (Byers & Raftery 1998), mclust's ``NNclean`` default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

from ._data import ArraySource
from ._kernels import logsumexp_rows
from ._stats import chunk_stats

__all__ = ["hypvol", "nn_clutter"]


# ---------------------------------------------------------------------------------------------
# the hypervolume


@dataclass
class Volume:
    """The noise component's support: ``volume`` (mclust's ``hypvol``) and the bounding box."""

    volume: float
    box_volume: float
    pc_volume: float
    lower: np.ndarray
    upper: np.ndarray


def _log_prod_ranges(lo, hi) -> float:
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(np.asarray(hi, dtype=np.float64) - lo)))


def volume_of_chunks(chunks) -> Volume:
    """:class:`Volume` of the positive-weight rows, in two passes over ``chunks()``.

    ``chunks`` is a callable returning an iterable of ``(X, w)``. The principal axes are the
    eigenvectors of the weighted covariance (so an integer weight acts as a repeated row).
    """
    lo = hi = None
    wsum = 0.0
    mean = scatter = None
    for Xc, wc in chunks():
        Xc = np.asarray(Xc, dtype=np.float64)
        pos = np.asarray(wc) > 0
        if not pos.any():
            continue
        Xp, wp = Xc[pos], np.asarray(wc, dtype=np.float64)[pos]
        if lo is None:
            d = Xc.shape[1]
            lo, hi = np.full(d, np.inf), np.full(d, -np.inf)
            mean, scatter = np.zeros(d), np.zeros((d, d))
        lo, hi = np.minimum(lo, Xp.min(axis=0)), np.maximum(hi, Xp.max(axis=0))
        # parallel (Chan) update of the weighted mean and centred scatter
        wb = wp.sum()
        mb = wp @ Xp / wb
        diff = Xp - mb
        sb = (diff * wp[:, None]).T @ diff
        delta = mb - mean
        n = wsum + wb
        scatter += sb + (wsum * wb / n) * np.outer(delta, delta)
        mean = mean + delta * (wb / n)
        wsum = n
    if lo is None:
        raise ValueError("the noise volume needs at least one row with positive weight.")
    _, vecs = np.linalg.eigh(scatter / wsum)
    plo, phi = np.full(len(lo), np.inf), np.full(len(lo), -np.inf)
    for Xc, wc in chunks():
        pos = np.asarray(wc) > 0
        if pos.any():
            Z = (np.asarray(Xc, dtype=np.float64)[pos] - mean) @ vecs
            plo, phi = np.minimum(plo, Z.min(axis=0)), np.maximum(phi, Z.max(axis=0))
    box = math.exp(_log_prod_ranges(lo, hi))
    pc = math.exp(_log_prod_ranges(plo, phi))
    return Volume(min(box, pc), box, pc, lo, hi)


def hypvol(X: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> float:
    """mclust's ``hypvol``: the hypervolume a uniform noise component spreads over.

    The smaller of the volume of the bounding box of ``X`` (the product of the column ranges)
    and of the box bounding ``X`` along its principal axes (the column ranges of the
    principal-component scores).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), default=None
        Rows with zero weight are left out; the principal axes are those of the weighted
        covariance.

    Returns
    -------
    float
        ``0.0`` when the rows lie in a lower-dimensional box (a constant column).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import hypvol
    >>> float(hypvol(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [2.0, 3.0]])))
    6.0
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf.")
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if w.shape != (len(X),):
        raise ValueError(f"sample_weight must have shape ({len(X)},), got {w.shape}.")
    return volume_of_chunks(lambda: [(X, w)]).volume


# ---------------------------------------------------------------------------------------------
# nearest-neighbour clutter removal


def _gamma_log_pdf(y, shape, rate):
    return shape * np.log(rate) + (shape - 1) * np.log(y) - rate * y - gammaln(shape)


def nn_clutter(X: npt.ArrayLike, k: int = 5, *, max_iter: int = 500, tol: float = 1e-8,
               return_posterior: bool = False
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Which rows are clutter (noise): Byers & Raftery's (1998) nearest-neighbour cleaning.

    For points of a Poisson process of intensity ``lambda`` in ``d`` dimensions, ``Y = a_d D_k^d``
    (``D_k`` the distance to the ``k``-th nearest neighbour, ``a_d`` the volume of the unit
    ball) follows a Gamma(``k``, ``lambda``) distribution. Features and clutter are two
    processes of different intensities, so ``Y`` is a mixture of two gammas with shape ``k``;
    its EM has closed-form updates (``lambda_j = k n_j / sum_i z_ij y_i``). Rows whose
    posterior probability of the low-intensity (clutter) gamma exceeds 1/2 are clutter. This
    is mclust's recommended noise guess (``NNclean`` of the prabclus package).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int, default=5
        The neighbour whose distance is used (``k < n_samples``).
    max_iter : int, default=500
        EM iterations of the two-gamma mixture.
    tol : float, default=1e-8
        Convergence threshold on the change of the mean log-likelihood.
    return_posterior : bool, default=False
        Also return the posterior probability of clutter of each row.

    Returns
    -------
    mask : ndarray of bool of shape (n_samples,)
        True for clutter.
    posterior : ndarray of shape (n_samples,)
        Only with ``return_posterior``.

    References
    ----------
    Byers, S. and Raftery, A. E. (1998). Nearest-neighbor clutter removal for estimating
    features in spatial point processes. JASA 93, 577-584.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import nn_clutter
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (200, 2)), rng.uniform(-5, 5, (50, 2))])
    >>> mask = nn_clutter(X)
    >>> bool(mask[:200].mean() < 0.05 and mask[200:].mean() > 0.8)
    True
    """
    from scipy.spatial import cKDTree

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array, got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf.")
    n, d = X.shape
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"'k' must be an int >= 1, got {k!r}.")
    if n <= k:
        raise ValueError(f"nn_clutter needs more rows than k = {k}; got {n} rows.")
    dist, _ = cKDTree(X).query(X, k=k + 1)
    dk = dist[:, k]
    # Y = a_d D^d, computed after scaling D by its median: the classification does not depend
    # on the unit (the rates scale as 1 / c^d), and D^d would overflow in many dimensions
    scale = np.median(dk[dk > 0]) if np.any(dk > 0) else 1.0
    log_ad = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1)
    with np.errstate(divide="ignore"):
        log_y = log_ad + d * np.log(dk / scale)
    floor = log_y[np.isfinite(log_y)].min() if np.isfinite(log_y).any() else 0.0
    y = np.exp(np.maximum(log_y, floor - 1.0))  # duplicated rows: distance 0
    # start: the 10% largest distances as clutter
    z = (y >= np.quantile(y, 0.9)).astype(float)
    if z.all() or not z.any():
        z = np.zeros(n)
        z[np.argsort(y)[-max(1, n // 10):]] = 1.0
    prev = -np.inf
    for _ in range(max_iter):
        nc = np.clip(z.sum(), 1e-12, n - 1e-12)
        p = nc / n
        rate_c = k * nc / max(z @ y, 1e-300)
        rate_f = k * (n - nc) / max((1 - z) @ y, 1e-300)
        lc = math.log(p) + _gamma_log_pdf(y, k, rate_c)
        lf = math.log(1 - p) + _gamma_log_pdf(y, k, rate_f)
        a = np.stack([lf, lc], axis=1)
        log_norm, resp = logsumexp_rows(a, out_resp=True)
        z = resp[:, 1]
        if rate_c > rate_f:  # keep the clutter component the one of lower intensity
            z = 1.0 - z
        ll = float(log_norm.mean())
        if abs(ll - prev) < tol:
            break
        prev = ll
    mask = z > 0.5
    return (mask, z) if return_posterior else mask


# ---------------------------------------------------------------------------------------------
# the E-pass and the initialisation


def noise_weight(weights) -> float:
    """``pi_0``: what the Gaussian weights leave of 1 (never negative)."""
    return max(0.0, 1.0 - float(np.sum(weights)))


def log_noise_column(weights, log_volume: float) -> float:
    w0 = noise_weight(weights)
    return math.log(w0) - log_volume if w0 > 0 else -np.inf


def with_noise_column(lp: np.ndarray, weights, log_volume: float) -> np.ndarray:
    """``lp`` (n, k) with the noise column ``log pi_0 - log V`` appended: (n, k + 1)."""
    col = np.full((lp.shape[0], 1), log_noise_column(weights, log_volume), dtype=lp.dtype)
    return np.concatenate([lp, col], axis=1)


def noise_pass(source, params, model, shift, dtype, log_volume: float):
    """One E-pass over ``source`` with the noise column: the Gaussians' statistics, with the
    responsibility mass of the noise in ``stats.noise``."""
    from ._engine import _centred_log_prob
    from ._stats import SufficientStats

    k, d = params.means.shape
    stats = SufficientStats.empty(k, d, model.full_scatter)
    for Xc, wc in source.chunks():
        Xs = np.asarray(Xc, dtype=dtype) - shift.astype(dtype)
        wc = np.asarray(wc)
        lp = with_noise_column(_centred_log_prob(model, Xs, params, shift), params.weights,
                               log_volume)
        log_norm, resp = logsumexp_rows(lp, out_resp=True, finite=True)
        s = chunk_stats(Xs, wc, resp[:, :k], log_norm, model.full_scatter, k)
        s.means += shift
        if len(s.worst_X):
            s.worst_X += shift
        s.noise = float(np.dot(wc.astype(np.float64), resp[:, k].astype(np.float64)))
        stats = stats.merge(s)
    return stats


def clean_source(init_source: ArraySource, mask, chunk_size: int):
    """``(source of the non-noise rows, initial noise weight)`` for the initialisation."""
    X, w = init_source.X, init_source.w
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    total = w.sum()
    w0 = float(w[mask].sum() / total) if total > 0 else 0.0
    return ArraySource(X[~mask], w[~mask], chunk_size), w0


def check_mask(noise, n_samples: int) -> np.ndarray | None:
    """The user's initial noise mask as a bool array of shape (n_samples,), or None for True."""
    if noise is True or isinstance(noise, np.bool_) and bool(noise):
        return None
    mask = np.asarray(noise)
    if mask.dtype != bool or mask.ndim != 1:
        raise ValueError("'noise' must be False, True or a boolean mask of shape (n_samples,); "
                         f"got an array of dtype {mask.dtype} and shape {mask.shape}.")
    if mask.shape != (n_samples,):
        raise ValueError(f"the 'noise' mask has {mask.shape[0]} entries but X has "
                         f"{n_samples} rows.")
    return mask
