"""Bootstrap inference for Gaussian mixtures (mclust's ``mclustBootstrapLRT`` and ``MclustBootstrap``).

:func:`bootstrap_lrt` chooses the number of components by sequential parametric-bootstrap
likelihood-ratio tests (McLachlan 1987): for ``G = 1, 2, ...`` the statistic
``LRTS = 2 (log L_{G+1} - log L_G)`` of the data is compared with its distribution under the
fitted ``G``-component model, obtained by simulating data sets from that model and refitting
``G`` and ``G + 1`` components to each. The p-value is ``(1 + #{LRTS_b >= LRTS}) / (B + 1)``;
testing stops at the first test that is not significant at ``level``, whose ``G`` is chosen.

:func:`bootstrap` gives standard errors and percentile intervals of the weights, means and
covariances of a fitted model from ``B`` refits on resampled data: ``"nonparametric"``
(rows drawn with replacement), ``"parametric"`` (data simulated from the model) or
``"weighted"`` (the Bayesian bootstrap of Rubin 1981: random Dirichlet(1, ..., 1) weights).
Each replicate is refitted from the model's own parameters and its components are matched to
the model's (label switching) by the Hungarian assignment minimising the sum of Mahalanobis
distances between matched means, so that replicate ``j`` estimates component ``j``.

Sample weights are frequency weights, as everywhere in gaussmix (an integer weight acts like
repeated rows): resampling draws ``n = round(sum(w))`` rows with probabilities ``w / sum(w)``,
simulation draws ``n`` rows, and the Bayesian bootstrap gives row ``i`` a Gamma(``w_i``)
weight (the sum of the Exp(1) weights of its ``w_i`` copies).

Every replicate gets its own seed, drawn from ``random_state`` before any work starts, so
results do not depend on ``n_jobs`` (joblib).

References
----------
McLachlan, G. J. (1987). On bootstrapping the likelihood ratio test statistic for the number of
components in a normal mixture. Applied Statistics 36, 318-324.
Basford, Greenway, McLachlan, Peel (1997). Standard errors of fitted component means of normal
mixtures. Computational Statistics 12, 1-17.
Rubin, D. B. (1981). The Bayesian bootstrap. Annals of Statistics 9, 130-134.
"""
from __future__ import annotations

import copy
import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from . import covariance
from ._estimator import GaussianMixture
from ._progress import progress_bar
from ._repair import DegenerateComponentWarning
from ._validation import (Interval, Kinds, Options, check_estimator_params, check_finite,
                          check_params, check_sample_weight)

__all__ = ["bootstrap_lrt", "BootstrapLRTResult", "bootstrap", "BootstrapResult", "METHODS"]

RandomStateLike = Union[int, np.random.RandomState, None]
#: Resampling schemes of :func:`bootstrap`.
METHODS = ("nonparametric", "parametric", "weighted")
_SEED_MAX = np.iinfo(np.int32).max
_N_JOBS = [Kinds(None, label="None"), Interval(int, 1), Interval(int, None, -1)]
_RANDOM_STATE = [Kinds(None, numbers.Integral, np.random.RandomState,
                       label="None, an int or a RandomState")]


# ---------------------------------------------------------------------------------------------
# shared helpers


def _validate_X(X):
    X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                    ensure_min_samples=2)
    check_finite(X)
    return X


def _frequency_total(w: np.ndarray) -> int:
    n = int(round(float(w.sum())))
    if n < 2:
        raise ValueError("sample_weight are frequency weights (an integer weight acts like "
                         f"repeated rows); they sum to {float(w.sum())!r}, which is fewer than "
                         "2 rows to resample. Scale them to counts.")
    return n


def _seeds(random_state, shape) -> np.ndarray:
    """Per-replicate seeds drawn up front, so parallel and serial runs agree."""
    rng = check_random_state(random_state)
    return rng.randint(_SEED_MAX, size=shape)


def _run(fn, args, n_jobs, desc, verbose):
    """``[fn(*a) for a in args]``, in parallel through joblib when ``n_jobs`` asks for it."""
    if n_jobs in (None, 1):
        out = []
        with progress_bar(len(args), desc, verbose) as bar:
            for a in args:
                out.append(fn(*a))
                bar.update()
        return out
    from joblib import Parallel, delayed
    return Parallel(n_jobs=n_jobs, verbose=10 if verbose else 0)(delayed(fn)(*a) for a in args)


def _quiet_fit(gm, X, w=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        return gm.fit(X, sample_weight=w)


def _total_log_likelihood(gm, X, w=None) -> float:
    ll = gm.score_samples(X)
    return float(ll.sum() if w is None else np.dot(w, ll))


def _simulate(gm, n: int, seed: int) -> np.ndarray:
    """``n`` rows drawn from fitted ``gm`` with its own sampler, seeded by ``seed``."""
    g = copy.copy(gm)
    g.random_state = int(seed)
    return g.sample(n)[0]


def _warm(gm, **changes):
    """An unfitted copy of ``gm`` that starts EM from ``gm``'s fitted parameters."""
    return clone(gm).set_params(weights_init=gm.weights_, means_init=gm.means_,
                                precisions_init=gm.precisions_, n_init=1, **changes)


# ---------------------------------------------------------------------------------------------
# bootstrap likelihood-ratio test


@dataclass
class BootstrapLRTResult:
    """Outcome of :func:`bootstrap_lrt`.

    Attributes
    ----------
    covariance_type : str
    n_components : int
        The chosen number of components: the ``G`` of the first non-significant test, or the
        largest number tested when every test was significant.
    null_components : ndarray of shape (n_tests,)
        ``G`` of each test (``G`` against ``G + 1`` components).
    statistic : ndarray of shape (n_tests,)
        Observed ``LRTS = 2 (log L_{G+1} - log L_G)`` of each test.
    pvalue : ndarray of shape (n_tests,)
        Bootstrap p-values, ``(1 + #{boot >= statistic}) / (n_boot + 1)``.
    boot : list of ndarray of shape (n_boot,)
        Bootstrap statistics of each test (NaN where a replicate's fit failed).
    level : float
    n_boot : int
    """

    covariance_type: str
    n_components: int
    null_components: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    boot: list = field(repr=False)
    level: float = 0.05
    n_boot: int = 0

    def rows(self) -> list:
        """One dict per test: ``test, statistic, pvalue, significant``.

        Returns
        -------
        rows : list of dict
        """
        return [{"test": f"{g} vs {g + 1}", "statistic": float(s), "pvalue": float(p),
                 "significant": bool(p < self.level)}
                for g, s, p in zip(self.null_components, self.statistic, self.pvalue)]

    def table(self) -> str:
        """The tests as text, like mclust's print of ``mclustBootstrapLRT``.

        Returns
        -------
        table : str
        """
        lines = ["Bootstrap sequential LRT for the number of mixture components",
                 f"Model        = {self.covariance_type}",
                 f"Replicates   = {self.n_boot}",
                 f"{'':10}{'LRTS':>12}{'bootstrap p-value':>20}"]
        for r in self.rows():
            lines.append(f"{r['test']:10}{r['statistic']:12.4f}{r['pvalue']:20.4f}")
        lines.append(f"Selected number of components: {self.n_components} (level {self.level})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, ax: Any = None) -> np.ndarray:
        """Histograms of the bootstrap statistics with the observed one, one panel per test.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            One Axes per test; a new figure is made when omitted.

        Returns
        -------
        axes : ndarray of matplotlib Axes
        """
        m = len(self.statistic)
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(1, m, figsize=(3.2 * m, 3), squeeze=False)
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if len(axes) != m:
            raise ValueError(f"plot needs one Axes per test ({m}); got {len(axes)}.")
        for a, g, s, p, b in zip(axes, self.null_components, self.statistic, self.pvalue,
                                 self.boot):
            b = b[np.isfinite(b)]
            a.hist(b, bins=max(10, min(50, len(b) // 10)), color="0.75", edgecolor="0.4")
            a.axvline(s, color="crimson", lw=2, ls="--", label=f"observed, p = {p:.3g}")
            a.set_title(f"{self.covariance_type}: {g} vs {g + 1}")
            a.set_xlabel("LRTS")
            a.legend(fontsize="small")
        return axes


def _lrt_replicate(null, alt, n, seed):
    Xb = _simulate(null, n, seed)
    try:
        g0 = _quiet_fit(_warm(null, random_state=int(seed)), Xb)
        g1 = _quiet_fit(_warm(alt, random_state=int(seed)), Xb)
        return 2.0 * (_total_log_likelihood(g1, Xb) - _total_log_likelihood(g0, Xb))
    except (ValueError, np.linalg.LinAlgError):
        return math.nan


def bootstrap_lrt(X: ArrayLike, covariance_type: str = "full", max_components: int = 9, *,
                  n_boot: int = 999, level: float = 0.05, random_state: RandomStateLike = None,
                  n_jobs: int | None = None, sample_weight: ArrayLike | None = None,
                  n_init: int = 1, init_params: str = "kmeans", tol: float = 1e-3,
                  reg_covar: float = 1e-6, max_iter: int = 100,
                  verbose: int | bool = 0) -> BootstrapLRTResult:
    """Sequential bootstrap likelihood-ratio tests for the number of components.

    Tests ``G`` against ``G + 1`` components for ``G = 1, 2, ...`` by parametric bootstrap
    (McLachlan 1987; mclust's ``mclustBootstrapLRT``) and stops at the first test that is not
    significant.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    covariance_type : str, default="full"
        Any registered covariance structure.
    max_components : int, default=9
        Largest number of components considered: the last test is ``max_components - 1``
        against ``max_components`` (mclust's ``maxG`` is the last ``G`` under the null, so
        ``maxG = max_components - 1``).
    n_boot : int, default=999
        Bootstrap replicates per test.
    level : float in (0, 1), default=0.05
        Significance level.
    random_state : int, RandomState instance or None, default=None
        Seeds the fits of the data and every replicate; results do not depend on ``n_jobs``.
    n_jobs : int, default=None
        Replicates run in parallel through joblib; ``None`` means 1.
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights of the rows; simulated data sets have ``round(sum(w))`` rows.
    n_init, init_params, tol, reg_covar, max_iter
        As in :class:`~gaussmix.GaussianMixture`, for the fits of the data. Replicates are
        refitted from the fitted parameters.
    verbose : int, default=0
        Progress bar over the replicates (serial runs) or joblib's messages.

    Returns
    -------
    result : BootstrapLRTResult

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import bootstrap_lrt
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    >>> res = bootstrap_lrt(X, "full", max_components=4, n_boot=39, random_state=0)
    >>> res.n_components
    2
    """
    check_params("bootstrap_lrt", dict(
        covariance_type=covariance_type, max_components=max_components, n_boot=n_boot,
        level=level, n_jobs=n_jobs, random_state=random_state), {
        "covariance_type": [covariance.Registered()],
        "max_components": [Interval(int, 2)],
        "n_boot": [Interval(int, 1)],
        "level": [Interval(float, 0, 1, closed="neither")],
        "n_jobs": _N_JOBS,
        "random_state": _RANDOM_STATE,
    })
    X = _validate_X(X)
    w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
    n_sim = X.shape[0] if w is None else _frequency_total(w)
    rng = check_random_state(random_state)
    fit_seed = int(rng.randint(_SEED_MAX))
    seeds = _seeds(rng, (max_components - 1, n_boot))
    base = GaussianMixture(covariance_type=covariance_type, n_init=n_init,
                           init_params=init_params, tol=tol, reg_covar=reg_covar,
                           max_iter=max_iter, random_state=fit_seed)
    check_estimator_params(base)

    fits = {}

    def fitted(g):
        if g not in fits:
            fits[g] = _quiet_fit(clone(base).set_params(n_components=g), X, w)
        return fits[g]

    gs, stats, pvals, boots = [], [], [], []
    chosen = max_components
    for g in range(1, max_components):
        null, alt = fitted(g), fitted(g + 1)
        obs = 2.0 * (_total_log_likelihood(alt, X, w) - _total_log_likelihood(null, X, w))
        boot = np.asarray(_run(_lrt_replicate,
                               [(null, alt, n_sim, s) for s in seeds[g - 1]],
                               n_jobs, f"LRT {g} vs {g + 1}", verbose), dtype=float)
        ok = np.isfinite(boot)
        p = (1.0 + np.count_nonzero(boot[ok] >= obs)) / (np.count_nonzero(ok) + 1.0)
        gs.append(g)
        stats.append(obs)
        pvals.append(p)
        boots.append(boot)
        if p >= level:
            chosen = g
            break
    return BootstrapLRTResult(covariance.get(covariance_type).name, chosen, np.asarray(gs),
                              np.asarray(stats), np.asarray(pvals), boots, float(level),
                              int(n_boot))


# ---------------------------------------------------------------------------------------------
# bootstrap standard errors


def match_components(means: np.ndarray, precisions_full: np.ndarray,
                     other_means: np.ndarray) -> np.ndarray:
    """Permutation ``perm`` with ``other_means[perm[j]]`` matched to component ``j``.

    Parameters
    ----------
    means : ndarray of shape (k, n_features)
        Reference means.
    precisions_full : ndarray of shape (k, n_features, n_features)
        Reference precision matrices.
    other_means : ndarray of shape (k, n_features)
        Means to match (e.g. of a bootstrap refit).

    Returns
    -------
    perm : ndarray of shape (k,)

    Hungarian assignment (:func:`scipy.optimize.linear_sum_assignment`) minimising the sum of
    squared Mahalanobis distances ``(m_j - o_i)^T P_j (m_j - o_i)``, ``P_j`` the precision of
    reference component ``j``.
    """
    diff = means[:, None, :] - other_means[None, :, :]
    cost = np.einsum("jid,jde,jie->ji", diff, precisions_full, diff)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=np.intp)
    perm[rows] = cols
    return perm


@dataclass
class BootstrapResult:
    """Outcome of :func:`bootstrap`.

    Attributes
    ----------
    method : str
    n_boot : int
        Replicates requested; ``n_failed`` of them failed to fit and are left out.
    level : float
        Coverage of the percentile intervals.
    estimates : dict
        The model's ``weights``, ``means`` and ``covariances`` (in its covariance shape).
    replicates : dict
        The same keys, stacked over successful replicates (first axis), components matched.
    se : dict
        Bootstrap standard errors (standard deviation over replicates), shaped as the estimates.
    ci : dict
        ``(lower, upper)`` percentile intervals, each shaped as the estimates.
    n_failed : int
    """

    method: str
    n_boot: int
    level: float
    estimates: dict
    replicates: dict = field(repr=False)
    se: dict = field(repr=False)
    ci: dict = field(repr=False)
    n_failed: int = 0

    def summary(self) -> str:
        """Estimates with standard errors and intervals of the weights and means, as text.

        Returns
        -------
        summary : str
        """
        lo, hi = (1 - self.level) / 2, (1 + self.level) / 2
        lines = [f"Bootstrap ({self.method}, {self.n_boot - self.n_failed} replicates) "
                 f"standard errors and {100 * self.level:g}% percentile intervals"]
        for key in ("weights", "means"):
            est, se = self.estimates[key], self.se[key]
            low, up = self.ci[key]
            lines.append(f"{key}:")
            for j in range(est.shape[0]):
                vals = ", ".join(f"{e:.4g} (se {s:.2g}, [{a:.4g}, {b:.4g}])"
                                 for e, s, a, b in zip(np.atleast_1d(est[j]),
                                                       np.atleast_1d(se[j]),
                                                       np.atleast_1d(low[j]),
                                                       np.atleast_1d(up[j])))
                lines.append(f"  component {j}: {vals}")
        lines.append(f"(intervals: {lo:.3g} and {hi:.3g} quantiles)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _boot_replicate(model, X, w, method, n_draws, seed, prec_full, shared):
    rng = np.random.RandomState(int(seed))
    if method == "parametric":
        Xb, wb = _simulate(model, n_draws, seed), None
    elif method == "nonparametric":
        p = np.full(X.shape[0], 1.0 / X.shape[0]) if w is None else w / w.sum()
        counts = rng.multinomial(n_draws, p).astype(np.float64)
        keep = counts > 0
        Xb, wb = X[keep], counts[keep]
    else:  # Bayesian bootstrap: Dirichlet(1, ..., 1) x n, Gamma(w_i) for frequency weights
        g = rng.standard_gamma(np.ones(X.shape[0]) if w is None else w)
        keep = g > 0
        Xb, wb = X[keep], g[keep] * (n_draws / g.sum())
    try:
        fit = _quiet_fit(_warm(model, random_state=int(seed)), Xb, wb)
    except (ValueError, np.linalg.LinAlgError):
        return None
    perm = match_components(model.means_, prec_full, fit.means_)
    cov_model = covariance.get(fit.covariance_type)
    cov = fit.covariances_ if shared else cov_model.subset_components(fit.covariances_, perm)
    return fit.weights_[perm], fit.means_[perm], np.asarray(cov)


def bootstrap(model: GaussianMixture, X: ArrayLike, n_boot: int = 999, *,
              method: str = "nonparametric", sample_weight: ArrayLike | None = None,
              n_jobs: int | None = None, random_state: RandomStateLike = None,
              level: float = 0.95, verbose: int | bool = 0) -> BootstrapResult:
    """Bootstrap standard errors and percentile intervals of a fitted mixture's parameters.

    mclust's ``MclustBootstrap``: each replicate refits ``model`` (from its own fitted
    parameters) to resampled data and its components are matched to ``model``'s.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model (its settings are reused for every refit).
    X : array-like of shape (n_samples, n_features)
        The data ``model`` was fitted on.
    n_boot : int, default=999
        Replicates.
    method : {"nonparametric", "parametric", "weighted"}, default="nonparametric"
        Rows drawn with replacement; data simulated from ``model``; or random Dirichlet
        weights (the Bayesian bootstrap).
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights the model was fitted with.
    n_jobs : int, default=None
        Replicates in parallel through joblib; ``None`` means 1.
    random_state : int, RandomState instance or None, default=None
        Seeds every replicate; results do not depend on ``n_jobs``.
    level : float in (0, 1), default=0.95
        Coverage of the percentile intervals.
    verbose : int, default=0
        Progress bar (serial runs) or joblib's messages.

    Returns
    -------
    result : BootstrapResult

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture, bootstrap
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(0, 2, (400, 1))
    >>> gm = GaussianMixture(1).fit(X)
    >>> res = bootstrap(gm, X, n_boot=99, random_state=0)
    >>> bool(abs(res.se["means"][0, 0] - 2 / np.sqrt(400)) < 0.03)
    True
    """
    check_params("bootstrap", dict(n_boot=n_boot, method=method, n_jobs=n_jobs,
                                   random_state=random_state, level=level), {
        "n_boot": [Interval(int, 2)],
        "method": [Options(*METHODS)],
        "n_jobs": _N_JOBS,
        "random_state": _RANDOM_STATE,
        "level": [Interval(float, 0, 1, closed="neither")],
    })
    if not isinstance(model, GaussianMixture):
        raise TypeError(f"bootstrap needs a fitted gaussmix.GaussianMixture, got "
                        f"{type(model).__name__}.")
    check_is_fitted(model)
    X = _validate_X(X)
    if X.shape[1] != model.means_.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but the model was fitted on "
                         f"{model.means_.shape[1]}.")
    w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
    n_draws = X.shape[0] if w is None else _frequency_total(w)
    cov_model = covariance.get(model.covariance_type)
    k, d = model.means_.shape
    prec_full = np.linalg.inv(cov_model.dense(model.covariances_, k, d))
    seeds = _seeds(random_state, n_boot)
    out = _run(_boot_replicate,
               [(model, X, w, method, n_draws, s, prec_full, cov_model.shared) for s in seeds],
               n_jobs, f"bootstrap ({method})", verbose)
    good = [o for o in out if o is not None]
    if len(good) < 2:
        raise ValueError(f"only {len(good)} of {n_boot} bootstrap refits succeeded; "
                         "increase reg_covar of the model or n_boot.")
    estimates = {"weights": model.weights_.copy(), "means": model.means_.copy(),
                 "covariances": np.asarray(model.covariances_).copy()}
    reps = {key: np.stack([o[i] for o in good]) for i, key in enumerate(estimates)}
    q = [(1 - level) / 2, (1 + level) / 2]
    se = {key: r.std(axis=0, ddof=1) for key, r in reps.items()}
    ci = {key: tuple(np.quantile(r, q, axis=0)) for key, r in reps.items()}
    return BootstrapResult(method, int(n_boot), float(level), estimates, reps, se, ci,
                           n_failed=n_boot - len(good))
