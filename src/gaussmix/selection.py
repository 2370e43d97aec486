"""Model selection: fit a grid of (number of components, covariance type) and rank it.

:func:`select` fits every cell of the grid, records log-likelihood, number of free parameters,
BIC, AIC, ICL, held-out log-likelihood and convergence in a ranked table, and returns a
:class:`SelectionResult` holding the best model. :class:`GaussianMixtureSelector` wraps the same
search as a scikit-learn estimator that can sit inside a :class:`~sklearn.pipeline.Pipeline`.

Criteria, computed by :mod:`gaussmix._criteria` (``n`` is the sum of the sample weights, ``p``
the number of free parameters (:meth:`GaussianMixture.n_parameters`), ``log L`` the weighted
log-likelihood of the training data and ``z_ik`` the responsibilities):

* ``bic = -2 log L + p log n`` (lower is better),
* ``aic = -2 log L + 2 p`` (lower is better),
* ``icl = bic - 2 sum_i w_i sum_k z_ik log z_ik`` (lower is better). This is the integrated
  completed likelihood of Biernacki, Celeux and Govaert (2000) in its BIC approximation: BIC
  plus twice the (weighted) classification entropy. The entropy is non-negative, so ICL is never
  lower than BIC; it penalises overlapping components. mclust reports ``-icl`` (higher is
  better), with the same magnitude.
* ``heldout``: mean log-likelihood of a validation split (``validation_fraction`` of the rows,
  drawn with ``random_state``) under a model fitted on the remaining rows (higher is better).

Work is shared across the grid: for each number of components the k-means initialisation is
computed once (per restart) and reused for every covariance type; the reported estimator is
exactly what ``GaussianMixture(n_components=K, covariance_type=..., n_init=..., random_state=seed)``
would fit, with ``seed`` stored in its parameters.

Missing values (``missing="marginalize"``): NaN marks a missing entry and every cell is
``GaussianMixture(missing="marginalize")`` (EM of Ghahramani & Jordan, :mod:`gaussmix._missing`).
``log L`` (in BIC, AIC and ICL) and the held-out score are then the marginal log-likelihoods of
the observed entries, and ``n`` is still the sum of the row weights. As in the estimator, every
initialisation (the shared k-means labels, the hierarchical-clustering tree of
``init_params="hc"``) is computed on the rows with each NaN replaced by its column's weighted
observed mean; the EM that follows sees the NaN. Columns of the grid run in parallel with joblib
(``n_jobs``). A fit that raises is recorded with its error message and does not stop the search.
"""
from __future__ import annotations

import logging
import math
import numbers
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _criteria, covariance
from ._data import ArraySource
from ._engine import m_step
from ._hc import HC_INITS, hc_tree
from ._init import _repair_initial_covariances, hc_stats, stats_from_labels
from ._progress import progress_bar
from ._typing import InitParams, RandomStateLike
from ._repair import DegenerateComponentWarning
from ._estimator import GaussianMixture
from ._prior import ConjugatePrior, as_prior, check_model
from ._missing import check_values, mean_imputed
from ._kmeans import kmeans
from ._validation import check_estimator_params, check_sample_weight

logger = logging.getLogger("gaussmix")

# the variational mixture's selection (ELBO, effective number of components) has its own module
from ._bayes_select import BayesianSelectionResult, select_bayesian  # noqa: E402

__all__ = ["select", "SelectionResult", "GaussianMixtureSelector", "CRITERIA",
           "select_bayesian", "BayesianSelectionResult"]

#: Selection criteria; all but ``"heldout"`` are lower-is-better.
CRITERIA = ("bic", "aic", "icl", "heldout")
_COV_TYPES = covariance.BUILTIN_NAMES
_COLUMNS = ("rank", "n_components", "covariance_type", "log_likelihood", "n_parameters", "bic",
            "aic", "icl", "heldout_log_likelihood", "converged", "n_iter", "fit_time", "error")


# ---------------------------------------------------------------------------------------------
# argument checks


#: mclust's default grid of numbers of components, ``n_components="mclust"``.
MCLUST_COMPONENTS = range(1, 10)


def _check_components(n_components) -> list[int]:
    if isinstance(n_components, str):
        if n_components != "mclust":
            raise ValueError("'n_components' must contain integers >= 1, or be 'mclust' "
                             f"(K = 1..9); got {n_components!r}.")
        n_components = MCLUST_COMPONENTS
    if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
        ks = [int(n_components)]
    else:
        try:
            ks = list(n_components)
        except TypeError:
            raise TypeError("'n_components' must be an int or an iterable of ints, got "
                            f"{n_components!r}.") from None
    if not ks:
        raise ValueError("'n_components' is empty: give at least one number of components.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"'n_components' must contain integers >= 1; got {k!r}.")
    return sorted(set(int(k) for k in ks))


def _check_cov_types(covariance_types) -> list[str]:
    if isinstance(covariance_types, str) and covariance_types == "all":
        # every registered structure once (a name registered as an alias of another is skipped)
        seen = {}
        for name in covariance.names():
            seen.setdefault(id(covariance.get(name)), name)
        covariance_types = tuple(seen.values())
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    try:
        cts = list(covariance_types)
    except TypeError:
        raise TypeError("'covariance_types' must be a string or an iterable of strings, got "
                        f"{covariance_types!r}.") from None
    if not cts:
        raise ValueError("'covariance_types' is empty: give at least one covariance type.")
    for ct in cts:
        covariance.get(ct)  # raises, listing the valid names
    return list(dict.fromkeys(cts))


def _check_criterion(criterion, validation_fraction):
    if criterion not in CRITERIA:
        raise ValueError(f"'criterion' must be one of {list(CRITERIA)}; got {criterion!r}.")
    if validation_fraction is not None:
        if (isinstance(validation_fraction, bool) or not isinstance(validation_fraction, numbers.Real)
                or not 0 < validation_fraction < 1):
            raise ValueError("'validation_fraction' must be None or a float in (0, 1); got "
                             f"{validation_fraction!r}.")
    if criterion == "heldout" and validation_fraction is None:
        raise ValueError("criterion='heldout' needs a validation split: set "
                         "'validation_fraction' to a float in (0, 1).")


# ---------------------------------------------------------------------------------------------
# one column of the grid: one K, every covariance type


def _fit_shared(X, w, k, cov_types, seed, gm_kwargs, tree=None):
    """Fit ``k`` components for every covariance type from shared initialisations.

    ``tree``: the hierarchical-clustering tree of ``X`` (``init_params="hc"``), cut at ``k``.
    With NaN in ``X`` (``missing="marginalize"``) the initialisation sees the mean-imputed rows,
    as :class:`GaussianMixture` does.
    Returns ``{cov_type: (estimator or None, error or None, seconds)}``.
    """
    X_init = mean_imputed(X, w) if np.isnan(X).any() else X
    n_init = gm_kwargs["n_init"]
    init_params = gm_kwargs["init_params"]
    reg_covar = gm_kwargs["reg_covar"]
    out = {}
    n_pos = int(np.count_nonzero(w))
    if n_pos < k:
        msg = (f"n_components={k} exceeds the number of samples with positive weight "
               f"({n_pos})")
        return {ct: (None, msg, 0.0) for ct in cov_types}
    labels_per_init = None
    t_init = 0.0
    if gm_kwargs.get("noise", False) is not False:
        pass  # a noise component: each fit starts from the noise guess (GaussianMixture(noise))
    elif tree is not None:
        # the tree is deterministic: every restart would repeat the same start
        labels_per_init = [tree]
    elif init_params == "kmeans":
        # replicate GaussianMixture's own initialisation: one RandomState seeded by ``seed``,
        # advanced by one k-means run per restart; the labels do not depend on the covariance
        t0 = time.perf_counter()
        try:
            rng = check_random_state(seed)
            labels_per_init = [kmeans(X_init, k, w, rng)[1] for _ in range(n_init)]
        except Exception as exc:  # noqa: BLE001 - reported in the table
            return {ct: (None, f"{type(exc).__name__}: {exc}", 0.0) for ct in cov_types}
        t_init = (time.perf_counter() - t0) / max(1, len(cov_types))
    for ct in cov_types:
        t0 = time.perf_counter()
        params = dict(gm_kwargs, n_components=k, covariance_type=ct, random_state=seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", DegenerateComponentWarning)
                if labels_per_init is None:
                    gm = GaussianMixture(**params).fit(X, sample_weight=w)
                else:
                    gm = _fit_from_labels(X, X_init, w, k, ct, labels_per_init, params,
                                          reg_covar)
            out[ct] = (gm, None, time.perf_counter() - t0 + t_init)
        except Exception as exc:  # noqa: BLE001 - a failed cell never aborts the search
            logger.debug("fit of K=%d %s failed: %s", k, ct, exc)
            out[ct] = (None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0 + t_init)
    return out


def _fit_from_labels(X, X_init, w, k, ct, labels_per_init, params, reg_covar):
    """Best of EM runs started from the given k-means labels (one per restart), or from the
    cut at ``k`` of a shared hierarchical-clustering tree; the starting statistics are those
    of ``X_init`` (``X``, or ``X`` mean-imputed when it has NaN)."""
    model = covariance.get(ct)
    source = ArraySource(X_init, w, max(256, min(X.shape[0], 2**16)))
    shift = source.weighted_mean()
    best = None
    for labels in labels_per_init:
        if isinstance(labels, np.ndarray):
            stats = stats_from_labels(source, labels, k, model, shift, X.dtype)
        else:
            stats = hc_stats(labels, k, model, shift, X.dtype)
        init, bad = m_step(stats, model, reg_covar)
        if bad:  # as GaussianMixture's own initialisation does (warns, or raises if hopeless)
            init.prec_chol = _repair_initial_covariances(init, stats, model, reg_covar, bad)
        gm = GaussianMixture(**dict(params, n_init=1, init_params="random_from_data",
                                    weights_init=init.weights, means_init=init.means,
                                    precisions_init=model.precisions(init.prec_chol)))
        gm.fit(X, sample_weight=w)
        if best is None or gm.lower_bound_ > best.lower_bound_:
            best = gm
    # the fitted model is what the plain estimator (k-means or hc start) would produce
    best.set_params(init_params=params["init_params"], weights_init=None, means_init=None,
                    precisions_init=None, n_init=params["n_init"])
    return best


def _grid_column(X, w, Xtr, wtr, Xva, wva, k, cov_types, seed, gm_kwargs, trees=(None, None),
                 held_kwargs=None):
    rows = []
    fitted = {}
    full = _fit_shared(X, w, k, cov_types, seed, gm_kwargs, trees[0])
    held = (_fit_shared(Xtr, wtr, k, cov_types, seed, held_kwargs or gm_kwargs, trees[1])
            if Xtr is not None else {})
    for ct in cov_types:
        gm, err, secs = full[ct]
        row = dict(n_components=k, covariance_type=ct, log_likelihood=math.nan,
                   n_parameters=math.nan, bic=math.nan, aic=math.nan, icl=math.nan,
                   heldout_log_likelihood=math.nan, converged=False, n_iter=0,
                   fit_time=secs, error=err)
        if gm is not None:
            try:
                ll = gm.score_samples(X)
                total = float(np.dot(w, ll))
                p = gm.n_parameters()
                n_eff = float(w.sum())
                entropy = _criteria.classification_entropy(gm.predict_proba(X), w)
                row.update(log_likelihood=total, n_parameters=p,
                           bic=_criteria.bic(total, n_eff, p), aic=_criteria.aic(total, p),
                           icl=_criteria.icl(total, n_eff, p, entropy),
                           converged=bool(gm.converged_), n_iter=int(gm.n_iter_))
                if not math.isfinite(total):
                    raise ValueError("the log-likelihood of the training data is not finite")
                fitted[ct] = gm
            except Exception as exc:  # noqa: BLE001
                row["error"] = f"{type(exc).__name__}: {exc}"
        if ct in held:
            hgm, herr, hsecs = held[ct]
            row["fit_time"] += hsecs
            if hgm is not None:
                try:
                    row["heldout_log_likelihood"] = float(hgm.score(Xva, sample_weight=wva))
                except Exception as exc:  # noqa: BLE001
                    herr = f"{type(exc).__name__}: {exc}"
            if herr and not row["error"]:
                row["error"] = f"held-out fit: {herr}"
        rows.append(row)
    return rows, fitted


# ---------------------------------------------------------------------------------------------
# result


@dataclass
class SelectionResult:
    """Outcome of :func:`select`.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The fitted model of the best (n_components, covariance_type), trained on all rows.
    best_params_ : dict
        ``{"n_components": K, "covariance_type": name}`` of the best model.
    criterion : str
        The criterion used for ranking.
    table : list of dict
        One row per grid cell, ranked best first (failed fits last), with the keys
        ``rank, n_components, covariance_type, log_likelihood`` (weighted sum over the
        training rows), ``n_parameters, bic, aic, icl, heldout_log_likelihood`` (weighted mean
        over the validation rows), ``converged, n_iter, fit_time`` (seconds) and ``error``
        (``None`` or the message of a failed fit).
    estimators_ : dict
        Every successfully fitted model, keyed by ``(n_components, covariance_type)``.
    """

    best_estimator_: GaussianMixture
    best_params_: dict
    criterion: str
    table: list
    estimators_: dict = field(repr=False, default_factory=dict)

    def __repr__(self) -> str:
        p = self.best_params_
        return (f"SelectionResult(criterion={self.criterion!r}, best n_components="
                f"{p['n_components']}, covariance_type={p['covariance_type']!r}, "
                f"{len(self.table)} fits)")

    def to_frame(self) -> Any:
        """The ranked table as a :class:`pandas.DataFrame` (pandas is imported lazily).

        Returns
        -------
        pandas.DataFrame
            One row per fit, in rank order.
        """
        import pandas as pd
        return pd.DataFrame(self.table, columns=list(_COLUMNS))

    def to_markdown(self, floatfmt: str = ".2f") -> str:
        """The ranked table as a GitHub-flavoured markdown table.

        Parameters
        ----------
        floatfmt : str, default=".2f"
            Format of the float cells.

        Returns
        -------
        str
        """
        head = "| " + " | ".join(_COLUMNS) + " |"
        sep = "|" + "|".join("---:" if c not in ("covariance_type", "error") else "---"
                             for c in _COLUMNS) + "|"
        lines = [head, sep]
        for row in self.table:
            cells = []
            for c in _COLUMNS:
                v = row[c]
                if v is None:
                    cells.append("")
                elif isinstance(v, bool):
                    cells.append("yes" if v else "no")
                elif isinstance(v, float):
                    cells.append("" if math.isnan(v) else format(v, floatfmt))
                else:
                    cells.append(str(v).replace("|", "\\|"))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def summary(self, top: int = 3) -> str:
        """The best ``top`` models in mclust's layout ("Top 3 models based on the BIC criterion").

        Values of BIC, AIC and ICL are printed with mclust's sign, ``2 log L - p log n`` (the
        negative of gaussmix's ``bic``; higher is better); ``heldout`` as it is.

        Parameters
        ----------
        top : int, default=3
            Number of models shown.

        Returns
        -------
        summary : str
        """
        if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
            raise ValueError(f"'top' must be an int >= 1; got {top!r}.")
        key = "heldout_log_likelihood" if self.criterion == "heldout" else self.criterion
        sign = 1.0 if self.criterion == "heldout" else -1.0
        rows = [r for r in self.table if r["error"] is None and math.isfinite(r[key])][:top]
        names = [f"{r['covariance_type']},{r['n_components']}" for r in rows]
        values = [format(sign * r[key], ".3f") for r in rows]
        width = max(len(x) for x in names + values) + 1
        crit = "held-out log-likelihood" if self.criterion == "heldout" else self.criterion.upper()
        lines = [f"Top {len(rows)} models based on the {crit} criterion:",
                 "".join(x.rjust(width) for x in names),
                 "".join(x.rjust(width) for x in values)]
        if sign < 0:
            lines.append(f"(mclust's sign: {crit} = 2 log L - penalty, higher is better; "
                         f"gaussmix's {self.criterion} is its negative)")
        return "\n".join(lines)

    def criterion_values(self, criterion: str | None = None) -> dict:
        """The values of a criterion per covariance type, sorted by the number of components.

        Parameters
        ----------
        criterion : {"bic", "aic", "icl", "heldout"}, default=None
            The criterion; defaults to the one used for the ranking.

        Returns
        -------
        dict
            ``{covariance_type: (Ks, values)}``, two arrays of shape (m,) each.
        """
        crit = self.criterion if criterion is None else criterion
        key = "heldout_log_likelihood" if crit == "heldout" else crit
        if key not in _COLUMNS or key in ("rank", "error"):
            raise ValueError(f"unknown criterion {criterion!r}; use one of {list(CRITERIA)}.")
        out: dict = {}
        for row in sorted(self.table, key=lambda r: r["n_components"]):
            out.setdefault(row["covariance_type"], ([], []))
            out[row["covariance_type"]][0].append(row["n_components"])
            out[row["covariance_type"]][1].append(row[key])
        return {ct: (np.asarray(ks), np.asarray(vs, dtype=float)) for ct, (ks, vs) in out.items()}

    def plot(self, ax: Any = None, criterion: str | None = None) -> Any:
        """Criterion against the number of components, one line per covariance type.

        Failed fits are gaps; the best model is circled. matplotlib is imported lazily.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure is created when omitted.
        criterion : {"bic", "aic", "icl", "heldout"}, default=None
            Which column to plot; defaults to the criterion used for the ranking.

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(figsize=(6, 4))
        crit = self.criterion if criterion is None else criterion
        for ct, (ks, vs) in self.criterion_values(crit).items():
            ax.plot(ks, vs, marker="o", ms=4, label=ct)
        best = self.best_params_
        for row in self.table:
            if (row["n_components"], row["covariance_type"]) == (best["n_components"],
                                                                   best["covariance_type"]):
                key = "heldout_log_likelihood" if crit == "heldout" else crit
                ax.plot([row["n_components"]], [row[key]], "o", ms=14, mfc="none", mec="k",
                        label=f"best: K={best['n_components']}, {best['covariance_type']}")
        ax.set_xlabel("number of components")
        ax.set_ylabel(("held-out mean log-likelihood (higher is better)" if crit == "heldout"
                       else f"{crit.upper()} (lower is better)"))
        ax.legend(fontsize="small")
        return ax


# ---------------------------------------------------------------------------------------------
# the search


def _validate_X(X, missing="error"):
    from sklearn.utils import check_array
    X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                    ensure_min_samples=2)
    check_values(X, missing, "To fit with NaN as missing entries (marginal likelihood of the "
                 "observed ones), pass missing='marginalize'.")
    return X


def select(X: npt.ArrayLike, n_components: int | Iterable[int] = range(1, 11),
           covariance_types: str | Iterable[str] = _COV_TYPES, criterion: str = "bic", *,
           n_init: int = 1, sample_weight: npt.ArrayLike | None = None,
           n_jobs: int | None = None, random_state: RandomStateLike = None,
           validation_fraction: float = 0.2, init_params: InitParams = "kmeans",
           tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
           prior: str | ConjugatePrior | None = None, verbose: int = 0,
           noise: bool | npt.ArrayLike = False, missing: str = "error") -> SelectionResult:
    """Fit Gaussian mixtures over a grid of sizes and covariance types; rank them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data.
    n_components : int, iterable of int or "mclust", default=range(1, 11)
        Numbers of components to try; ``"mclust"`` is mclust's default grid, K = 1..9.
    covariance_types : str or iterable of str, default=("full", "tied", "diag", "spherical")
        Covariance types to try: the built-in ones by default, any registered names
        (:func:`gaussmix.covariance.register`), or ``"all"`` for every registered structure
        (:func:`gaussmix.covariance.names`).
    criterion : {"bic", "aic", "icl", "heldout"}, default="bic"
        How the grid is ranked (see the module docstring for the formulas).
    n_init : int, default=1
        EM restarts per cell; the k-means initialisations are shared across covariance types.
        ``init_params="hc"`` (and its variants) builds one hierarchical-clustering tree and
        cuts it at every K, as mclust does; it is deterministic, so restarts repeat it.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights; ``n`` in BIC is their sum.
    n_jobs : int, default=None
        Parallel jobs (one per number of components) through joblib; ``None`` means 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and the per-K seeds stored in the fitted models.
    validation_fraction : float in (0, 1) or None, default=0.2
        Fraction of rows held out to fill the ``heldout_log_likelihood`` column (each cell is
        also fitted on the other rows). ``None`` skips it (required for ``"heldout"``).
    init_params, tol, reg_covar, max_iter
        As in :class:`~gaussmix.GaussianMixture`.
    prior : None, "conjugate" or ConjugatePrior, default=None
        MAP EM with a conjugate prior in every cell (``GaussianMixture(prior=...)``); the
        data-dependent defaults are resolved per cell (the scale depends on K, as in mclust).
        BIC and AIC use the log-likelihood at the MAP estimate. Every covariance type of the
        grid must admit the prior.
    verbose : int or bool, default=0
        Progress bar over the grid on standard error (serial runs).
    noise : bool or array-like of bool of shape (n_samples,), default=False
        Fit every cell with a uniform noise component (``GaussianMixture(noise=...)``). As in
        mclust, one noise guess serves the whole grid: ``True`` computes it once with
        :func:`gaussmix.nn_clutter` (on the rows, whatever their weights); a mask gives it.
        Every fit then starts from k-means on the other rows (``init_params="kmeans"``).
    missing : {"error", "marginalize"}, default="error"
        What NaN in ``X`` means. "error": NaN is an error. "marginalize": NaN marks a missing
        entry; every cell is fitted with ``GaussianMixture(missing="marginalize")`` and BIC,
        AIC, ICL and the held-out score use the marginal log-likelihood of the observed entries
        (see the module docstring). The initialisations (k-means, ``"hc"``) see the rows with
        NaN replaced by their column's mean. Not with ``noise``.

    Returns
    -------
    result : SelectionResult

    Raises
    ------
    ValueError
        For invalid arguments, or when every fit in the grid failed (the message lists why).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.selection import select
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
    >>> res = select(X, n_components=range(1, 5), random_state=0)
    >>> res.best_params_["n_components"]
    2
    >>> res.table[0]["bic"] <= res.table[1]["bic"]
    True
    """
    ks = _check_components(n_components)
    cov_types = _check_cov_types(covariance_types)
    _check_criterion(criterion, validation_fraction)
    if isinstance(n_init, bool) or not isinstance(n_init, numbers.Integral) or n_init < 1:
        raise ValueError(f"'n_init' must be an int >= 1; got {n_init!r}.")
    if missing not in ("error", "marginalize"):
        raise ValueError("'missing' must be one of ['error', 'marginalize']; got "
                         f"{missing!r}.")
    X = _validate_X(X, missing)
    n = X.shape[0]
    w = check_sample_weight(sample_weight, n)
    rng = check_random_state(random_state)
    seeds = {k: int(s) for k, s in zip(ks, rng.randint(np.iinfo(np.int32).max, size=len(ks)))}
    Xtr = wtr = Xva = wva = None
    if validation_fraction is not None:
        perm = rng.permutation(n)
        n_va = int(round(validation_fraction * n))
        n_va = min(max(n_va, 1), n - 1)
        va, tr = np.sort(perm[:n_va]), np.sort(perm[n_va:])
        if w[va].sum() > 0 and w[tr].sum() > 0:
            Xtr, wtr, Xva, wva = X[tr], w[tr], X[va], w[va]
        elif criterion == "heldout":
            raise ValueError("the validation split has zero total weight; change "
                             "'random_state' or 'validation_fraction'.")
    gm_kwargs = dict(n_init=n_init, init_params=init_params, tol=tol, reg_covar=reg_covar,
                     max_iter=max_iter)
    if missing != "error":
        if not (isinstance(noise, (bool, np.bool_)) and not noise):
            raise ValueError("select with noise is not supported with missing='marginalize' "
                             "(GaussianMixture fits a noise component on complete rows only).")
        gm_kwargs["missing"] = missing
    if prior is not None:  # refused up front rather than cell by cell
        as_prior(prior)
        for ct in cov_types:
            check_model(covariance.get(ct))
        gm_kwargs["prior"] = prior
    check_estimator_params(GaussianMixture(**gm_kwargs, noise=noise))  # fail fast
    held_kwargs = None
    if not (isinstance(noise, (bool, np.bool_)) and not noise):
        from ._noise import check_mask, nn_clutter
        if init_params != "kmeans":
            raise ValueError("select with noise starts every fit from k-means on the non-noise "
                             f"rows: init_params must be 'kmeans', got {init_params!r}.")
        mask = check_mask(noise, n)
        mask = nn_clutter(X) if mask is None else mask
        gm_kwargs["noise"] = mask
        if Xtr is not None:
            held_kwargs = dict(gm_kwargs, noise=mask[tr])

    trees = (None, None)
    if init_params in HC_INITS:  # one tree for every K (and one for the training split)
        crit, use = HC_INITS[init_params]
        # with NaN, on the mean-imputed rows, as GaussianMixture(init_params="hc") does
        def _tree(A, wa):
            return hc_tree(mean_imputed(A, wa) if np.isnan(A).any() else A, wa,
                           criterion=crit, use=use)
        trees = (_tree(X, w), None if Xtr is None else _tree(Xtr, wtr))
    args = [(X, w, Xtr, wtr, Xva, wva, k, cov_types, seeds[k], gm_kwargs, trees, held_kwargs)
            for k in ks]
    if n_jobs in (None, 1) or len(ks) == 1:
        columns = []
        with progress_bar(len(ks) * len(cov_types), "select", verbose, unit="fit") as bar:
            for a in args:
                bar.set_postfix_str(f"K={a[6]}")
                columns.append(_grid_column(*a))
                bar.update(len(cov_types))
    else:
        from joblib import Parallel, delayed
        columns = Parallel(n_jobs=n_jobs)(delayed(_grid_column)(*a) for a in args)

    rows, estimators = [], {}
    for col_rows, fitted in columns:
        rows.extend(col_rows)
        for ct, gm in fitted.items():
            estimators[(gm.n_components, ct)] = gm
    return _rank(rows, estimators, criterion)


def _rank(rows, estimators, criterion) -> SelectionResult:
    key = "heldout_log_likelihood" if criterion == "heldout" else criterion
    sign = -1.0 if criterion == "heldout" else 1.0

    def order(row):
        ok = (n_key := (row["n_components"], row["covariance_type"])) in estimators \
            and math.isfinite(row[key])
        # ties broken towards fewer parameters, then fewer components
        return (not ok, sign * row[key] if ok else 0.0,
                row["n_parameters"] if ok else 0, n_key[0])

    rows = sorted(rows, key=order)
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    best = rows[0]
    if (best["n_components"], best["covariance_type"]) not in estimators or \
            not math.isfinite(best[key]):
        reasons = "; ".join(f"K={r['n_components']} {r['covariance_type']}: {r['error']}"
                            for r in rows[:5])
        raise ValueError(f"every fit in the grid failed (or has no finite {criterion}): "
                         f"{reasons}")
    rows = [{c: r[c] for c in _COLUMNS} for r in rows]
    bk = (best["n_components"], best["covariance_type"])
    logger.info("selected n_components=%d covariance_type=%s by %s", *bk, criterion)
    return SelectionResult(estimators[bk], {"n_components": bk[0], "covariance_type": bk[1]},
                           criterion, rows, estimators)


# ---------------------------------------------------------------------------------------------
# estimator


class GaussianMixtureSelector(DensityMixin, BaseEstimator):
    """A Gaussian mixture whose size and covariance type are chosen at ``fit`` by a criterion.

    Runs :func:`select` and then behaves as the selected
    :class:`~gaussmix.GaussianMixture`, so it can be used inside scikit-learn pipelines and
    grid searches.

    Parameters
    ----------
    n_components : int or tuple of int, default=(1, 2, ..., 10)
        Numbers of components to try.
    covariance_types : str or tuple of str, default=("full", "tied", "diag", "spherical")
        Covariance types to try (any registered names).
    criterion : {"bic", "aic", "icl", "heldout"}, default="bic"
        Selection criterion.
    n_init : int, default=1
    validation_fraction : float or None, default=0.2
        See :func:`select`.
    init_params : str, default="kmeans"
    tol : float, default=1e-3
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_jobs : int, default=None
    random_state : int, RandomState instance or None, default=None
    missing : {"error", "marginalize"}, default="error"
        What NaN in ``X`` means, in fitting and in every method: "marginalize" treats it as a
        missing entry (see :func:`select` and :class:`~gaussmix.GaussianMixture`).
    prior : {"conjugate"}, ConjugatePrior or None, default=None
        MAP EM with mclust's conjugate prior in every cell (see :func:`select`).
    noise : bool, default=False
        A uniform noise component in every cell, one :func:`gaussmix.nn_clutter` guess for the
        whole grid (see :func:`select`); the selected model then predicts -1 for noise.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The selected, fitted model.
    selection_ : SelectionResult
        The full ranked table.
    n_components_ : int
    covariance_type_ : str
    n_iter_ : int
        EM iterations of the selected model.
    n_features_in_ : int

    See Also
    --------
    select : the function behind this estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.selection import GaussianMixtureSelector
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (150, 2))])
    >>> sel = GaussianMixtureSelector(n_components=(1, 2, 3), random_state=0).fit(X)
    >>> sel.n_components_
    2
    >>> sel.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, n_components: int | Iterable[int] = tuple(range(1, 11)), *,
                 covariance_types: str | Iterable[str] = _COV_TYPES, criterion: str = "bic",
                 n_init: int = 1, validation_fraction: float = 0.2,
                 init_params: InitParams = "kmeans", tol: float = 1e-3, reg_covar: float = 1e-6,
                 max_iter: int = 100, n_jobs: int | None = None,
                 random_state: RandomStateLike = None, missing: str = "error",
                 prior: str | ConjugatePrior | None = None, noise: bool = False) -> None:
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.n_init = n_init
        self.validation_fraction = validation_fraction
        self.init_params = init_params
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.missing = missing
        self.prior = prior
        self.noise = noise

    def fit(self, X: npt.ArrayLike, y: object = None,
            sample_weight: npt.ArrayLike | None = None) -> GaussianMixtureSelector:
        """Run the search on ``X`` and keep the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : GaussianMixtureSelector
            The fitted selector.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2,
                          ensure_all_finite=self._nan_allowed())
        self.selection_ = select(
            X, self.n_components, self.covariance_types, self.criterion, n_init=self.n_init,
            sample_weight=sample_weight, n_jobs=self.n_jobs, random_state=self.random_state,
            validation_fraction=self.validation_fraction, init_params=self.init_params,
            tol=self.tol, reg_covar=self.reg_covar, max_iter=self.max_iter,
            missing=self.missing, prior=self.prior, noise=self.noise)
        self.best_estimator_ = self.selection_.best_estimator_
        self.n_components_ = self.selection_.best_params_["n_components"]
        self.covariance_type_ = self.selection_.best_params_["covariance_type"]
        self.n_iter_ = self.best_estimator_.n_iter_
        return self

    def _nan_allowed(self):
        # scikit-learn's ensure_all_finite: "allow-nan" lets NaN through (the estimator checks
        # it), True rejects NaN and inf
        return "allow-nan" if self.missing == "marginalize" else True

    def _check(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False,
                             ensure_all_finite=self._nan_allowed())

    def fit_predict(self, X: npt.ArrayLike, y: object = None,
                    sample_weight: npt.ArrayLike | None = None) -> np.ndarray:
        """Fit, then the most likely component of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Most likely component of each row under the selected model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._check(X)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Responsibilities under the selected model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        ndarray of shape (n_samples, n_components_)
        """
        X = self._check(X)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X: npt.ArrayLike) -> np.ndarray:
        """Log-density of each row under the selected model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._check(X)
        return self.best_estimator_.score_samples(X)

    def score(self, X: npt.ArrayLike, y: object = None,
              sample_weight: npt.ArrayLike | None = None) -> float:
        """Weighted mean log-likelihood of ``X`` under the selected model (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        float
        """
        X = self._check(X)
        return self.best_estimator_.score(X, sample_weight=sample_weight)

    def bic(self, X: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """BIC of the selected model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        float
        """
        X = self._check(X)
        return self.best_estimator_.bic(X, sample_weight=sample_weight)

    def aic(self, X: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> float:
        """AIC of the selected model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        float
        """
        X = self._check(X)
        return self.best_estimator_.aic(X, sample_weight=sample_weight)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the selected model, as :meth:`GaussianMixture.sample`.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each row.
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)
