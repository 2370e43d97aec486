"""Plots of Gaussian mixtures (needs matplotlib: ``pip install gaussmix[plot]``).

Every function draws on the Axes given as ``ax`` (a new figure when ``None``) and returns it,
so plots compose::

    ax = plot_density(gm, X)
    plot_ellipses(gm, X, ax=ax)

For data with more than two features, the 2-D plots show the two features ``dims=(i, j)``:
ellipses and densities are those of the *marginal* mixture on those features (a Gaussian
mixture's marginal keeps the weights and takes the sub-vectors of the means and the
sub-blocks of the covariances), and :func:`pairplot` draws every pair.

matplotlib is imported inside the functions, so importing this module costs nothing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import covariance

if TYPE_CHECKING:  # matplotlib is optional and imported where it is used
    from matplotlib.axes import Axes

    from .image import Segmentation

__all__ = ["plot_ellipses", "plot_density", "pairplot", "plot_criteria", "plot_uncertainty",
           "plot_lower_bounds", "plot_segmentation", "plot_weights"]

_CRITERION_STYLES = {"bic": "-", "aic": "--", "icl": ":", "heldout": "-."}
# table column of each criterion where the names differ
_COLUMN = {"heldout": "heldout_log_likelihood"}


# ---------------------------------------------------------------------------------------------
# helpers


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots()
    return ax


def _check_fitted(model):
    for attr in ("weights_", "means_", "covariances_", "covariance_type"):
        if not hasattr(model, attr):
            raise TypeError("expected a fitted Gaussian mixture (with weights_, means_, "
                            f"covariances_ and covariance_type), got {type(model).__name__}.")


def _check_dims(dims, d):
    try:
        i, j = (int(v) for v in dims)
    except (TypeError, ValueError):
        raise ValueError(f"'dims' must be a pair of feature indices, got {dims!r}.") from None
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"'dims' must be two different feature indices in [0, {d}), got "
                         f"{dims!r}.")
    return i, j


def _name(model, i):
    names = getattr(model, "feature_names_in_", None)
    return str(names[i]) if names is not None and len(names) > i else f"feature {i}"


def _check_X(X, d, dims=None):
    if X is None:
        return None
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"X must have shape (n_samples, {d}) to match the model, got "
                         f"{X.shape}.")
    return X


def _marginal(model, dims=(0, 1)):
    """Parameters of the marginal mixture on the features ``dims``.

    Parameters
    ----------
    model : fitted GaussianMixture (gaussmix or scikit-learn)
    dims : pair of int, default=(0, 1)

    Returns
    -------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, 2)
    covariances : ndarray of shape (K, 2, 2)
    """
    _check_fitted(model)
    means = np.asarray(model.means_, dtype=np.float64)
    k, d = means.shape
    i, j = _check_dims(dims, d)
    cov_model = covariance.get(model.covariance_type)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    idx = np.array([i, j])
    covs = np.stack([cov_model.component_covariance(cov, c, d)[np.ix_(idx, idx)]
                     for c in range(k)])
    return np.asarray(model.weights_, dtype=np.float64), means[:, idx], covs


def _log_components(P, weights, means, covs):
    """``log w_k + log N(p | mu_k, Sigma_k)`` of 2-D points P (m, 2): shape (m, K)."""
    out = np.empty((len(P), len(weights)))
    for c, (w, mu, S) in enumerate(zip(weights, means, covs)):
        L = np.linalg.cholesky(S)
        z = np.linalg.solve(L, (P - mu).T)
        out[:, c] = (np.log(w) - 0.5 * np.sum(z ** 2, axis=0) - np.log(np.diag(L)).sum()
                     - np.log(2 * np.pi))
    return out


def _logsumexp(a):
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def _grid(means, covs, X, grid_size, extent):
    if extent is None:
        if X is not None:
            lo, hi = X.min(axis=0), X.max(axis=0)
        else:
            sd = np.sqrt(np.stack([np.diagonal(c) for c in covs]))
            lo, hi = (means - 3 * sd).min(axis=0), (means + 3 * sd).max(axis=0)
        pad = 0.08 * np.maximum(hi - lo, 1e-12)
        lo, hi = lo - pad, hi + pad
    else:
        x0, x1, y0, y1 = extent
        lo, hi = np.array([x0, y0], float), np.array([x1, y1], float)
    xs = np.linspace(lo[0], hi[0], grid_size)
    ys = np.linspace(lo[1], hi[1], grid_size)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])


def _colors(k, colors):
    if colors is not None:
        if len(colors) < k:
            raise ValueError(f"'colors' needs at least {k} entries, got {len(colors)}.")
        return list(colors)
    from .image import label_colors
    return [tuple(c / 255.0) for c in label_colors(k)]


_PRUNED_GREY = (0.72, 0.72, 0.72)


def _pruned(model, weights, threshold=None) -> np.ndarray:
    """Components at or below the weight threshold (``threshold``, else the model's
    ``weight_threshold``, as in ``effective_n_components_``; none for a model without one)."""
    if threshold is None:
        threshold = getattr(model, "weight_threshold", None)
    if threshold is None:
        return np.zeros(len(weights), dtype=bool)
    return np.asarray(weights) <= threshold


def _labels_of(X2, weights, means, covs):
    return _log_components(X2, weights, means, covs).argmax(axis=1)


# ---------------------------------------------------------------------------------------------
# mixtures in the plane


def plot_ellipses(model: Any, X: npt.ArrayLike | None = None, *, dims: Sequence[int] = (0, 1),
                  n_std: float | Sequence[float] = (1, 2, 3), ax: Axes | None = None,
                  colors: Sequence[Any] | None = None, scatter: bool = True, alpha: float = 0.5,
                  s: float = 6) -> Axes:
    """Component ellipses at ``n_std`` standard deviations, opacity following the weights.

    For a :class:`~gaussmix.BayesianGaussianMixture`, components the posterior prunes (expected
    weight at most ``weight_threshold``) are drawn grey.

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features), optional
        Data drawn as points coloured by their most likely component.
    dims : pair of int, default=(0, 1)
        Features on the x and y axes (the marginal mixture is drawn when there are more).
    n_std : sequence of float, default=(1, 2, 3)
        Mahalanobis radii of the ellipses.
    ax : matplotlib Axes, optional
    colors : sequence of colours, optional
        One per component.
    scatter : bool, default=True
        Draw ``X`` when given.
    alpha : float, default=0.5
        Opacity of the heaviest component's innermost ellipse; the others scale with their
        weight.
    s : float, default=6
        Marker size of the points.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> from gaussmix.plotting import plot_ellipses
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> ax = plot_ellipses(GaussianMixture(2, random_state=0).fit(X), X)
    >>> len(ax.patches)
    6
    """
    from matplotlib.patches import Ellipse

    weights, means, covs = _marginal(model, dims)
    X = _check_X(X, np.shape(model.means_)[1])
    ax = _axes(ax)
    k = len(weights)
    cols = _colors(k, colors)
    for c in np.flatnonzero(_pruned(model, weights)):
        cols[c] = _PRUNED_GREY
    i, j = _check_dims(dims, np.shape(model.means_)[1])
    if X is not None and scatter:
        X2 = X[:, [i, j]]
        lab = _labels_of(X2, weights, means, covs)
        ax.scatter(X2[:, 0], X2[:, 1], c=[cols[c] for c in lab], s=s, alpha=0.6,
                   linewidths=0)
    radii = sorted(float(r) for r in np.atleast_1d(n_std))
    if not radii or radii[0] <= 0:
        raise ValueError(f"'n_std' must hold positive numbers, got {n_std!r}.")
    for c in range(k):
        vals, vecs = np.linalg.eigh(covs[c])
        angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        op = alpha * weights[c] / weights.max()
        for r in radii:
            ax.add_patch(Ellipse(means[c], 2 * r * np.sqrt(vals[1]), 2 * r * np.sqrt(vals[0]),
                                 angle=angle, facecolor=cols[c], edgecolor=cols[c],
                                 alpha=float(min(1.0, op / r)), linewidth=1.2))
        ax.plot(*means[c], marker="x", color="k", markersize=6, alpha=0.8)
    ax.autoscale_view()
    ax.set_xlabel(_name(model, i))
    ax.set_ylabel(_name(model, j))
    return ax


def plot_density(model: Any, X: npt.ArrayLike | None = None, *, dims: Sequence[int] = (0, 1),
                 ax: Axes | None = None, levels: int | Sequence[float] = 12,
                 grid_size: int = 150, filled: bool = False,
                 extent: Sequence[float] | None = None, cmap: Any = "viridis",
                 s: float = 4) -> Axes:
    """Contours of the mixture's log-density (the marginal density when D > 2).

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features), optional
        Data drawn as grey points; also sets the plotted range.
    dims : pair of int, default=(0, 1)
    ax : matplotlib Axes, optional
    levels : int or sequence of float, default=12
        Contour levels of the log-density.
    grid_size : int, default=150
        Grid points per axis.
    filled : bool, default=False
        Filled contours instead of lines.
    extent : (xmin, xmax, ymin, ymax), optional
        Plotted range (default: the data's, else 3 standard deviations around the means).
    cmap : str, default="viridis"
    s : float, default=4
        Marker size of the points.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> from gaussmix.plotting import plot_density
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> ax = plot_density(GaussianMixture(2, random_state=0).fit(X), X, dims=(0, 2))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('feature 0', 'feature 2')
    """
    weights, means, covs = _marginal(model, dims)
    d = np.shape(model.means_)[1]
    i, j = _check_dims(dims, d)
    X = _check_X(X, d)
    X2 = None if X is None else X[:, [i, j]]
    gx, gy, P = _grid(means, covs, X2, int(grid_size), extent)
    logp = _logsumexp(_log_components(P, weights, means, covs)).reshape(gx.shape)
    ax = _axes(ax)
    if X2 is not None:
        ax.scatter(X2[:, 0], X2[:, 1], s=s, c="0.45", alpha=0.5, linewidths=0)
    draw = ax.contourf if filled else ax.contour
    draw(gx, gy, logp, levels=levels, cmap=cmap, alpha=0.8 if filled else 1.0)
    ax.set_xlabel(_name(model, i))
    ax.set_ylabel(_name(model, j))
    return ax


def pairplot(model: Any, X: npt.ArrayLike | None = None, *, dims: Sequence[int] | None = None,
             axes: np.ndarray | None = None, n_std: float | Sequence[float] = (1, 2, 3),
             colors: Sequence[Any] | None = None, s: float = 4) -> np.ndarray:
    """Ellipses of every pair of features, with the marginal densities on the diagonal.

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features), optional
    dims : sequence of int, optional
        Features to show (default all).
    axes : ndarray of matplotlib Axes of shape (m, m), optional
        ``m = len(dims)``.
    n_std, colors, s
        As in :func:`plot_ellipses`.

    Returns
    -------
    ndarray of matplotlib Axes, shape (m, m)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> from gaussmix.plotting import pairplot
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> pairplot(GaussianMixture(2, random_state=0).fit(X), X).shape
    (3, 3)
    """
    _check_fitted(model)
    d = np.shape(model.means_)[1]
    dims = list(range(d)) if dims is None else [int(v) for v in dims]
    if len(dims) < 2 or len(set(dims)) != len(dims) or not all(0 <= v < d for v in dims):
        raise ValueError(f"'dims' must be at least two different feature indices in [0, {d}),"
                         f" got {dims!r}.")
    X = _check_X(X, d)
    m = len(dims)
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(m, m, figsize=(2.4 * m, 2.4 * m), squeeze=False)
    axes = np.asarray(axes)
    if axes.shape != (m, m):
        raise ValueError(f"'axes' must have shape ({m}, {m}), got {axes.shape}.")
    cov_model = covariance.get(model.covariance_type)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    weights = np.asarray(model.weights_, dtype=np.float64)
    means = np.asarray(model.means_, dtype=np.float64)
    cols = _colors(len(weights), colors)
    for r, a in enumerate(dims):
        for c, b in enumerate(dims):
            ax = axes[r, c]
            if r == c:
                # marginal density of one feature: a 1-D mixture
                var = np.array([cov_model.component_covariance(cov, q, d)[a, a]
                                for q in range(len(weights))])
                lo = (means[:, a] - 3.5 * np.sqrt(var)).min()
                hi = (means[:, a] + 3.5 * np.sqrt(var)).max()
                if X is not None:
                    ax.hist(X[:, a], bins=30, density=True, color="0.8")
                    lo, hi = min(lo, X[:, a].min()), max(hi, X[:, a].max())
                t = np.linspace(lo, hi, 300)
                comp = weights * np.exp(-0.5 * (t[:, None] - means[:, a]) ** 2 / var) \
                    / np.sqrt(2 * np.pi * var)
                for q in range(len(weights)):
                    ax.plot(t, comp[:, q], color=cols[q], linewidth=1)
                ax.plot(t, comp.sum(axis=1), color="k", linewidth=1.2)
            else:
                plot_ellipses(model, X, dims=(b, a), n_std=n_std, ax=ax, colors=cols, s=s)
            ax.set_xlabel(_name(model, b) if r == m - 1 else "")
            ax.set_ylabel(_name(model, a) if c == 0 else "")
    return axes


def plot_uncertainty(model: Any, X: npt.ArrayLike | None = None, *,
                     dims: Sequence[int] = (0, 1), ax: Axes | None = None, grid_size: int = 150,
                     extent: Sequence[float] | None = None, cmap: Any = "magma",
                     s: float = 8) -> Axes:
    """Assignment uncertainty ``1 - max_k p(k | x)``.

    Parameters
    ----------
    model : fitted GaussianMixture, Segmentation, or ndarray of shape (H, W, K)
        A mixture: the uncertainty over the plane of features ``dims`` (of the marginal
        mixture when D > 2), with ``X`` drawn on top coloured by its own uncertainty.
        A :class:`gaussmix.image.Segmentation` or per-pixel probabilities: the uncertainty
        map of the image.
    X : array-like of shape (n_samples, n_features), optional
    dims : pair of int, default=(0, 1)
    ax : matplotlib Axes, optional
    grid_size : int, default=150
    extent : (xmin, xmax, ymin, ymax), optional
    cmap : str, default="magma"
    s : float, default=8
        Marker size of the points.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix.plotting import plot_uncertainty
    >>> proba = np.full((4, 5, 2), 0.5)
    >>> ax = plot_uncertainty(proba)
    >>> float(ax.images[0].get_array().max())
    0.5
    """
    from .image import Segmentation

    if isinstance(model, Segmentation) or (isinstance(model, np.ndarray) and model.ndim == 3):
        proba = model.probabilities if isinstance(model, Segmentation) else model
        ax = _axes(ax)
        im = ax.imshow(1.0 - np.asarray(proba).max(axis=-1), cmap=cmap, vmin=0,
                       vmax=1.0 - 1.0 / proba.shape[-1])
        ax.figure.colorbar(im, ax=ax, label="1 - max posterior")
        ax.set_axis_off()
        return ax
    weights, means, covs = _marginal(model, dims)
    d = np.shape(model.means_)[1]
    i, j = _check_dims(dims, d)
    X = _check_X(X, d)
    X2 = None if X is None else X[:, [i, j]]
    gx, gy, P = _grid(means, covs, X2, int(grid_size), extent)
    lp = _log_components(P, weights, means, covs)
    unc = 1.0 - np.exp(lp.max(axis=1) - _logsumexp(lp))
    ax = _axes(ax)
    vmax = 1.0 - 1.0 / len(weights)
    cs = ax.contourf(gx, gy, unc.reshape(gx.shape), levels=np.linspace(0, max(vmax, 1e-9), 11),
                     cmap=cmap, alpha=0.85)
    ax.figure.colorbar(cs, ax=ax, label="1 - max posterior")
    if X2 is not None:
        lp = _log_components(X2, weights, means, covs)
        ux = 1.0 - np.exp(lp.max(axis=1) - _logsumexp(lp))
        ax.scatter(X2[:, 0], X2[:, 1], c=ux, cmap=cmap, vmin=0, vmax=vmax, s=s,
                   edgecolors="w", linewidths=0.3)
    ax.set_xlabel(_name(model, i))
    ax.set_ylabel(_name(model, j))
    return ax


# ---------------------------------------------------------------------------------------------
# fitting diagnostics


def _rows(table):
    """Rows (dicts) of a model-selection table in any of the accepted forms."""
    for attr in ("table", "table_", "criteria"):
        if not isinstance(table, (list, tuple, Mapping, np.ndarray)) and hasattr(table, attr):
            table = getattr(table, attr)
            break
    if table is None:
        raise ValueError("no criteria table: the number of components was not selected.")
    if hasattr(table, "to_dict") and not isinstance(table, Mapping):  # a pandas DataFrame
        table = table.to_dict("records")
    elif isinstance(table, Mapping):  # columns
        keys = list(table)
        table = [dict(zip(keys, vals)) for vals in zip(*(table[k] for k in keys))]
    elif isinstance(table, np.ndarray) and table.dtype.names:  # a structured array
        table = [dict(zip(table.dtype.names, rec)) for rec in table.tolist()]
    rows = []
    for r in table:
        if isinstance(r, Mapping):
            rows.append(dict(r))
        elif dataclasses.is_dataclass(r):
            rows.append(dataclasses.asdict(r))
        elif hasattr(r, "_asdict"):
            rows.append(r._asdict())
        else:
            raise TypeError("a criteria table must be a list of dicts (or a DataFrame, a dict "
                            f"of columns, or an object with .table); got rows of {type(r)}.")
    return rows


def plot_criteria(table: Any, *, criterion: str | Sequence[str] = ("bic", "aic", "icl"),
                  ax: Axes | None = None, mark_best: bool = True) -> Axes:
    """Information criteria against the number of components, one line per covariance type.

    Parameters
    ----------
    table : model-selection result, DataFrame, dict of columns or list of dict
        Rows with keys ``n_components``, ``covariance_type`` (optional) and the criteria
        ``bic``, ``aic``, ``icl`` (lower is better) or ``heldout_log_likelihood`` (higher is
        better), as in :func:`gaussmix.select`'s table. A result object is used through its
        ``table`` (or ``criteria``) attribute. Rows whose criterion is missing or not finite
        (failed fits) are skipped.
    criterion : str or sequence of {"bic", "aic", "icl", "heldout"}, default=("bic", "aic", "icl")
        Criteria to draw (solid, dashed, dotted, dash-dotted lines); those absent from the
        table are skipped, but at least one must be present.
    ax : matplotlib Axes, optional
    mark_best : bool, default=True
        Mark the best value of each criterion with a star.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix.plotting import plot_criteria
    >>> rows = [{"n_components": k, "covariance_type": "full", "bic": (k - 3) ** 2}
    ...         for k in range(1, 6)]
    >>> ax = plot_criteria(rows, criterion="bic")
    >>> [line.get_label() for line in ax.get_lines()][:1]
    ['full BIC']
    """
    rows = _rows(table)
    crits = [criterion] if isinstance(criterion, str) else list(criterion)
    crits = [c.lower() for c in crits]
    if not rows:
        raise ValueError("the criteria table is empty.")
    if not all("n_components" in r for r in rows):
        raise ValueError("every row of the criteria table needs an 'n_components' entry.")
    present = [c for c in crits if any(_COLUMN.get(c, c) in r for r in rows)]
    if not present:
        raise ValueError(f"the criteria table has none of the columns {crits}; its columns "
                         f"are {sorted(rows[0])}.")
    ax = _axes(ax)
    types = list(dict.fromkeys(str(r.get("covariance_type", "")) for r in rows))
    from .image import label_colors
    cols = {t: tuple(c / 255.0) for t, c in zip(types, label_colors(len(types)))}
    for crit in present:
        style = _CRITERION_STYLES.get(crit, "-")
        col = _COLUMN.get(crit, crit)
        sign = -1.0 if crit == "heldout" else 1.0  # held-out likelihood: higher is better
        best = None
        for t in types:
            pts = sorted((int(r["n_components"]), float(r[col])) for r in rows
                         if str(r.get("covariance_type", "")) == t and r.get(col) is not None
                         and np.isfinite(float(r[col])))
            if not pts:
                continue
            ks, vals = zip(*pts)
            label = f"{t} {crit.upper()}".strip()
            ax.plot(ks, vals, linestyle=style, marker="o", markersize=4, color=cols[t],
                    label=label)
            j = int(np.argmin(sign * np.asarray(vals)))
            if best is None or sign * vals[j] < sign * best[1]:
                best = (ks[j], vals[j], cols[t])
        if mark_best and best is not None:
            ax.plot(best[0], best[1], marker="*", markersize=15, color=best[2],
                    markeredgecolor="k", linestyle="none")
    ax.set_xlabel("number of components")
    ax.set_ylabel(" / ".join(c.upper() for c in present)
                  + (" (lower is better)" if "heldout" not in present else ""))
    ax.legend(fontsize="small")
    return ax


def plot_lower_bounds(model: Any, *, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Mean log-likelihood at every EM iteration (``model.lower_bounds_``).

    Parameters
    ----------
    model : fitted GaussianMixture, sequence of them, or sequence of float
        Models are drawn one line each (labelled with their parameters).
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label of a single model or sequence.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gaussmix.plotting import plot_lower_bounds
    >>> ax = plot_lower_bounds([-3.0, -2.5, -2.4, -2.39])
    >>> ax.get_lines()[0].get_ydata().tolist()
    [-3.0, -2.5, -2.4, -2.39]
    """
    if hasattr(model, "lower_bounds_"):
        series = [(model, label)]
    elif isinstance(model, (list, tuple)) and model and all(hasattr(m, "lower_bounds_")
                                                           for m in model):
        series = [(m, None) for m in model]
    else:
        series = [(None, label)]
    ax = _axes(ax)
    for m, lab in series:
        if m is None:
            values = np.asarray(model, dtype=np.float64)
            if values.ndim != 1 or not values.size:
                raise ValueError("expected a fitted model with lower_bounds_, or a non-empty "
                                 "sequence of numbers.")
        else:
            values = np.asarray(m.lower_bounds_, dtype=np.float64)
            if not values.size:
                raise ValueError("the model has no lower_bounds_ recorded (fitted with "
                                 "max_iter=0?).")
            if lab is None:
                lab = f"K={m.n_components}, {m.covariance_type}"
                if not getattr(m, "converged_", True):
                    lab += " (not converged)"
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=lab)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood")
    if any(lab for _, lab in series) or len(series) > 1:
        ax.legend(fontsize="small")
    return ax


def plot_segmentation(image: npt.ArrayLike, segmentation: Segmentation | npt.ArrayLike, *,
                      ax: Axes | None = None, alpha: float = 0.45, boundaries: bool = True,
                      legend: bool = True) -> Axes:
    """An image with its segmentation painted over it.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
    segmentation : Segmentation or array-like of shape (H, W), int
    ax : matplotlib Axes, optional
    alpha : float, default=0.45
        Opacity of the label colours.
    boundaries : bool, default=True
        Draw segment boundaries.
    legend : bool, default=True
        A legend with each segment's share of the pixels.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix.plotting import plot_segmentation
    >>> img = np.zeros((8, 8)); lab = np.zeros((8, 8), int); lab[:, 4:] = 1
    >>> ax = plot_segmentation(img, lab)
    >>> ax.images[0].get_array().shape
    (8, 8, 3)
    """
    from matplotlib.patches import Patch

    from .image import Segmentation, label_colors, overlay

    labels = segmentation.labels if isinstance(segmentation, Segmentation) else segmentation
    rgb = overlay(image, labels, alpha=alpha, boundaries=boundaries)
    ax = _axes(ax)
    ax.imshow(rgb)
    ax.set_axis_off()
    if legend:
        labels = np.asarray(labels)
        k = int(labels.max()) + 1
        share = np.bincount(labels.ravel(), minlength=k) / labels.size
        cols = label_colors(k) / 255.0
        ax.legend(handles=[Patch(color=cols[c], label=f"segment {c} ({100 * share[c]:.0f}%)")
                           for c in range(k) if share[c] > 0],
                  fontsize="small", loc="upper right", framealpha=0.8)
    return ax


def plot_weights(model: Any, *, threshold: float | None = None, ax: Axes | None = None,
                 colors: Sequence[Any] | None = None) -> Axes:
    """Bar plot of the (posterior expected) weights, pruned components grey.

    Parameters
    ----------
    model : fitted BayesianGaussianMixture or GaussianMixture
    threshold : float, optional
        Weight at or below which a component counts as pruned, drawn grey and as a dashed
        line; default the model's ``weight_threshold`` (the one of
        ``effective_n_components_``), none for a model without one.
    ax : matplotlib Axes, optional
    colors : sequence of colours, optional
        One per component (the colours of :func:`plot_ellipses`).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gaussmix import BayesianGaussianMixture
    >>> from gaussmix.plotting import plot_weights
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-4, 1, (200, 2)), rng.normal(4, 1, (200, 2))])
    >>> bgm = BayesianGaussianMixture(n_components=5, random_state=0, max_iter=500).fit(X)
    >>> len(plot_weights(bgm).patches)
    5
    """
    _check_fitted(model)
    weights = np.asarray(model.weights_, dtype=np.float64)
    k = len(weights)
    if threshold is not None and not (np.isscalar(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"'threshold' must be a number in [0, 1], got {threshold!r}.")
    pruned = _pruned(model, weights, threshold)
    cols = _colors(k, colors)
    cols = [_PRUNED_GREY if pruned[c] else cols[c] for c in range(k)]
    ax = _axes(ax)
    ax.bar(np.arange(k), weights, color=cols, edgecolor="k", linewidth=0.5)
    thr = threshold if threshold is not None else getattr(model, "weight_threshold", None)
    if thr is not None:
        ax.axhline(thr, color="0.4", linestyle="--", linewidth=1)
    ax.set_xticks(np.arange(k))
    ax.set_xlabel("component")
    ax.set_ylabel("expected weight" if hasattr(model, "weight_concentration_") else "weight")
    ax.set_title(f"{int(np.count_nonzero(~pruned))} of {k} components above the threshold"
                 if thr is not None else f"{k} components")
    return ax
