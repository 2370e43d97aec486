"""Choosing a variational Bayesian mixture: a grid of truncation levels ranked by the ELBO.

For :class:`~gaussmix.BayesianGaussianMixture` the number of components is an upper bound (the
truncation level) and the posterior prunes the superfluous ones, so the question "how many
components" has two answers that :func:`select_bayesian` reports side by side:

* the **ELBO** (``lower_bound_``, scikit-learn's constants, higher is better) of each
  ``(n_components, covariance_type)`` fit, which ranks the grid: it is a lower bound on the log
  marginal likelihood, the variational analogue of BIC's approximation of it. Fits of one data
  set under the same priors are comparable; changing ``weight_concentration_prior`` changes the
  model. Note that the default ``weight_concentration_prior`` is ``1 / n_components``, so the
  prior changes with the truncation level unless it is given;
* the **effective number of components**: components whose posterior expected weight exceeds
  ``weight_threshold`` (``effective_n_components_``), with the posterior expected weights
  themselves (``weights_``) in the table.

Every cell is exactly ``BayesianGaussianMixture(n_components=K, covariance_type=...,
random_state=seed, **params)`` fitted on all rows, with ``seed`` drawn per K from
``random_state`` (as in :func:`gaussmix.selection.select`) and stored in the model. A fit that
raises is recorded with its error message and does not stop the search.
"""
from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._bayesian import BAYES_COVARIANCE_TYPES, BayesianGaussianMixture
from ._progress import progress_bar
from ._validation import check_estimator_params

__all__ = ["select_bayesian", "BayesianSelectionResult"]

#: the default grid: scikit-learn's four types
_BAYES_COV_TYPES = ("full", "tied", "diag", "spherical")
#: Columns of :attr:`BayesianSelectionResult.table`.
BAYES_COLUMNS = ("rank", "n_components", "covariance_type", "elbo", "effective_n_components",
                 "weights", "converged", "n_iter", "fit_time", "error")


@dataclass
class BayesianSelectionResult:
    """Outcome of :func:`select_bayesian`.

    Attributes
    ----------
    best_estimator_ : BayesianGaussianMixture
        The fit of highest ELBO.
    best_params_ : dict
        ``{"n_components": K, "covariance_type": name}`` of the best fit.
    effective_n_components_ : int
        The best fit's number of components above its ``weight_threshold``.
    criterion : str
        ``"elbo"``.
    table : list of dict
        One row per grid cell, highest ELBO first (failed fits last), with the keys
        ``rank, n_components, covariance_type, elbo, effective_n_components, weights`` (the
        posterior expected weights, a list), ``converged, n_iter, fit_time`` (seconds) and
        ``error`` (``None`` or the message of a failed fit).
    estimators_ : dict
        Every successfully fitted model, keyed by ``(n_components, covariance_type)``.
    """

    best_estimator_: BayesianGaussianMixture
    best_params_: dict
    effective_n_components_: int
    table: list
    criterion: str = "elbo"
    estimators_: dict = field(repr=False, default_factory=dict)

    def __repr__(self) -> str:
        p = self.best_params_
        return (f"BayesianSelectionResult(best n_components={p['n_components']}, "
                f"covariance_type={p['covariance_type']!r}, effective_n_components="
                f"{self.effective_n_components_}, {len(self.table)} fits)")

    def to_markdown(self, floatfmt: str = ".2f") -> str:
        """The ranked table as a GitHub-flavoured markdown table (weights to 3 decimals).

        Parameters
        ----------
        floatfmt : str, default=".2f"
            Format of the float cells other than the weights.

        Returns
        -------
        str
        """
        lines = ["| " + " | ".join(BAYES_COLUMNS) + " |",
                 "|" + "|".join("---" if c in ("covariance_type", "weights", "error")
                                else "---:" for c in BAYES_COLUMNS) + "|"]
        for row in self.table:
            cells = []
            for c in BAYES_COLUMNS:
                v = row[c]
                if v is None:
                    cells.append("")
                elif isinstance(v, bool):
                    cells.append("yes" if v else "no")
                elif c == "weights":
                    cells.append(" ".join(format(x, ".3f") for x in v))
                elif isinstance(v, float):
                    cells.append("" if math.isnan(v) else format(v, floatfmt))
                else:
                    cells.append(str(v).replace("|", "\\|"))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def _check_grid(n_components, covariance_types):
    ks = [n_components] if isinstance(n_components, numbers.Integral) else list(n_components)
    if not ks or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1
                     for k in ks):
        raise ValueError(f"'n_components' must be an int >= 1 or an iterable of them; got "
                         f"{n_components!r}.")
    cts = [covariance_types] if isinstance(covariance_types, str) else list(covariance_types)
    bad = [c for c in cts if c not in BAYES_COVARIANCE_TYPES]
    if not cts or bad:
        raise ValueError(f"'covariance_types' must name some of {list(BAYES_COVARIANCE_TYPES)} "
                         f"(the types with a closed-form variational update); got "
                         f"{covariance_types!r}.")
    return sorted(set(int(k) for k in ks)), list(dict.fromkeys(cts))


def select_bayesian(X: npt.ArrayLike, n_components: int | Iterable[int] = (1, 2, 4, 8, 16),
                    covariance_types: str | Iterable[str] = _BAYES_COV_TYPES, *,
                    sample_weight: npt.ArrayLike | None = None, random_state: Any = None,
                    verbose: int = 0, **params: object) -> BayesianSelectionResult:
    """Fit variational Bayesian mixtures over truncation levels and covariance types; rank
    them by the ELBO and report each one's effective number of components.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data (anything :meth:`BayesianGaussianMixture.fit` accepts).
    n_components : int or iterable of int, default=(1, 2, 4, 8, 16)
        Truncation levels (upper bounds on the number of components) to try.
    covariance_types : str or iterable of str, default=("full", "tied", "diag", "spherical")
        Any of the types with a closed-form variational update: scikit-learn's four, their
        mclust names (VVV, EEE, VVI, VII), EII and EEI.
    sample_weight : array-like of shape (n_samples,), default=None
    random_state : int, RandomState instance or None, default=None
        Seeds the per-K seeds stored in the fitted models.
    verbose : int or bool, default=0
        Progress bar over the grid on standard error.
    **params
        Further :class:`~gaussmix.BayesianGaussianMixture` parameters (priors, ``max_iter``,
        ``n_init``, ``weight_threshold``, ...), the same for every cell.

    Returns
    -------
    result : BayesianSelectionResult

    Raises
    ------
    ValueError
        For invalid arguments, or when every fit in the grid failed (the message lists why).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.selection import select_bayesian
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
    >>> res = select_bayesian(X, n_components=[2, 6], covariance_types="full",
    ...                       random_state=0, max_iter=500)
    >>> res.effective_n_components_
    2
    """
    ks, cts = _check_grid(n_components, covariance_types)
    for reserved in ("n_components", "covariance_type", "random_state"):
        if reserved in params:
            raise TypeError(f"select_bayesian sets {reserved!r} per cell; pass the grid as "
                            "n_components / covariance_types and the seed as random_state.")
    try:
        check_estimator_params(BayesianGaussianMixture(**params))  # fail fast
    except TypeError as exc:
        raise TypeError(f"select_bayesian: {exc}") from None
    rng = check_random_state(random_state)
    seeds = {k: int(s) for k, s in zip(ks, rng.randint(np.iinfo(np.int32).max, size=len(ks)))}
    rows, estimators = [], {}
    with progress_bar(len(ks) * len(cts), "select_bayesian", verbose, unit="fit") as bar:
        for k in ks:
            for ct in cts:
                est = BayesianGaussianMixture(k, covariance_type=ct, random_state=seeds[k],
                                              **params)
                t0 = time.perf_counter()
                row = {"n_components": k, "covariance_type": ct, "elbo": math.nan,
                       "effective_n_components": None, "weights": None, "converged": None,
                       "n_iter": None, "error": None}
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)  # in the table
                        est.fit(X, sample_weight=sample_weight)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"
                else:
                    row.update(elbo=float(est.lower_bound_),
                               effective_n_components=int(est.effective_n_components_),
                               weights=[float(x) for x in est.weights_],
                               converged=bool(est.converged_), n_iter=int(est.n_iter_))
                    estimators[(k, ct)] = est
                row["fit_time"] = time.perf_counter() - t0
                rows.append(row)
                bar.update(1)

    def order(row):
        ok = (row["n_components"], row["covariance_type"]) in estimators \
            and math.isfinite(row["elbo"])
        # ties broken towards fewer effective components, then a smaller truncation
        return (not ok, -row["elbo"] if ok else 0.0,
                row["effective_n_components"] if ok else 0, row["n_components"])

    rows.sort(key=order)
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    rows = [{c: r[c] for c in BAYES_COLUMNS} for r in rows]
    best = rows[0]
    bk = (best["n_components"], best["covariance_type"])
    if bk not in estimators or not math.isfinite(best["elbo"]):
        reasons = "; ".join(f"K={r['n_components']} {r['covariance_type']}: {r['error']}"
                            for r in rows[:5])
        raise ValueError(f"every fit in the grid failed (or has no finite ELBO): {reasons}")
    est = estimators[bk]
    return BayesianSelectionResult(est, {"n_components": bk[0], "covariance_type": bk[1]},
                                   int(est.effective_n_components_), rows,
                                   estimators_=estimators)
