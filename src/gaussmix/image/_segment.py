"""Segmentation: fit a Gaussian mixture over pixel features and label every pixel.

How the pixels are summarised for fitting (at most ``fit_size`` points):

- *8-bit colour features*: an image has at most 2**24 distinct colours and usually far fewer,
  so when they are few enough the mixture is fitted on the distinct colours weighted by
  their pixel counts (each spread over its quantisation step, see
  :func:`~gaussmix.image._features._sigma_points`): the same fit as on every pixel, at a
  fraction of the cost. Classification then happens once per distinct colour, not once per
  pixel.
- *Otherwise* (many distinct colours, float images, position features): a uniform random
  subsample of ``fit_size`` pixels, integer intensities dithered over their quantisation
  step. Every pixel is then classified, chunk by chunk.

When several ``K`` are given (or a criterion), ``K`` is chosen by :func:`gaussmix.select`
on the fitting summary (weighted). With position features every candidate is started from
its colour-only fit instead (see :func:`_fit_one`), which ``select`` cannot express, so those
candidates are fitted here and ranked by the same criteria.

Notation: ``H, W`` image height and width, ``C`` colour channels, ``K`` components,
``n = H * W`` pixels, ``d`` features per pixel, ``w`` the weights of the fitting points.
"""
from __future__ import annotations

import logging
import numbers

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import covariance
from .._estimator import GaussianMixture
from .._progress import progress_bar
from .._typing import CovarianceType, RandomStateLike
from .._validation import Interval, Kinds, Options, check_params
from ..selection import select
from ._features import (COLORSPACES, FeatureNames, _as_image, _distinct_colours, _Features,
                        _lower, _normalise_features, _sigma_points, _unit_scale)
from ._overlay import _paint, _segment_sums
from ._result import Segmentation

logger = logging.getLogger("gaussmix.image")

__all__ = ["segment"]

_METHODS = ("em", "deep")
_CRITERIA = ("bic", "aic", "icl")
_DEFAULT_K_RANGE = range(2, 9)
# Pixels whose features are built and classified at once when predicting chunk by chunk.
_PREDICT_CHUNK = 1 << 18
# The columns of a criteria row (a subset of gaussmix.select's table).
_ROW_KEYS = ("n_components", "covariance_type", "log_likelihood", "n_parameters", "bic", "aic",
             "icl")


class ComponentCounts:
    """Constraint of the parameter table: a non-empty collection of ints >= 1."""

    def accepts(self, v) -> bool:
        if isinstance(v, np.ndarray):
            if v.ndim != 1:
                return False
            v = v.tolist()
        if not isinstance(v, (list, tuple, range, set, frozenset)) or not v:
            return False
        return all(isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_))
                   and k >= 1 for k in v)

    def __str__(self):
        return "a non-empty sequence of ints >= 1"


_NONE = Kinds(None, label="None")
#: Constraints of :func:`segment`'s parameters (registered covariance names are looked up when
#: a value is checked, so models registered later are accepted).
_PARAMETERS = {
    "n_components": [Interval(int, 1), Options(*_CRITERIA), ComponentCounts()],
    "features": [FeatureNames()],
    "colorspace": [Options(*COLORSPACES)],
    "covariance_type": [covariance.Registered()],
    "method": [Options(*_METHODS)],
    "fit_size": [_NONE, Interval(int, 1)],
    "reg_covar": [Options("auto"), Interval(float, 0)],
    "n_init": [Interval(int, 1)],
    "max_iter": [Interval(int, 0)],
    "tol": [Interval(float, 0)],
    "random_state": [Kinds(None, numbers.Integral, np.random.RandomState,
                           label="None, an int or a numpy.random.RandomState")],
    "chunk_size": [_NONE, Interval(int, 1)],
    "verbose": [Interval(int, 0), Kinds(bool, np.bool_, label="a bool")],
}


def _candidates(n_components):
    """Return (candidate Ks, criterion or None) of a validated ``n_components``."""
    if isinstance(n_components, str):
        return list(_DEFAULT_K_RANGE), n_components
    if isinstance(n_components, numbers.Integral):
        return [int(n_components)], None
    return sorted(set(int(k) for k in np.asarray(list(n_components)).ravel())), "bic"


def _criteria_row(gm, X, w) -> dict:
    """A criteria row of a fitted mixture on weighted points, as :func:`gaussmix.select`'s."""
    return {"n_components": gm.n_components, "covariance_type": gm.covariance_type,
            "log_likelihood": float(np.dot(w, gm.score_samples(X))),
            "n_parameters": gm.n_parameters(), "bic": gm.bic(X, sample_weight=w),
            "aic": gm.aic(X, sample_weight=w), "icl": gm.icl(X, sample_weight=w)}


def _fit_one(X, w, k, reg_covar, n_colour, gm_params):
    if n_colour == X.shape[1]:
        return GaussianMixture(k, reg_covar=reg_covar, **gm_params).fit(X, sample_weight=w)
    # With position features, k-means on the joint features splits the image into spatial
    # tiles, a poor local optimum: segments are told apart by colour. So the colour columns
    # are fitted first, and their responsibilities give the starting means of the joint fit.
    colour = GaussianMixture(k, reg_covar=reg_covar, **gm_params)
    resp = colour.fit(X[:, :n_colour], sample_weight=w).predict_proba(X[:, :n_colour])
    rw = resp.astype(np.float64) * w[:, None]
    nk = rw.sum(axis=0)
    means = (rw.T @ X.astype(np.float64)) / np.maximum(nk, 1e-300)[:, None]
    joint = GaussianMixture(k, reg_covar=reg_covar, means_init=means,
                            weights_init=nk / nk.sum(), **{**gm_params, "n_init": 1})
    return joint.fit(X, sample_weight=w)


def _auto_reg_covar(X, w) -> float:
    # a floor of 1e-4 of the average feature variance (the data's own scale), enough to
    # keep a component from collapsing on one quantised colour
    mean = np.average(X, axis=0, weights=w)
    var = np.average((X - mean) ** 2, axis=0, weights=w).mean()
    return float(max(1e-4 * var, 1e-10))


def _fit(X, w, ks, criterion, reg_covar, n_colour, gm_params, verbose):
    """The fitted mixture, and the criteria rows (sorted by K) when K was chosen."""
    if reg_covar == "auto":
        reg_covar = _auto_reg_covar(X, w)
    n_pos = int(np.count_nonzero(w))
    too_many = [k for k in ks if k > n_pos]
    if too_many:
        raise ValueError(f"n_components={too_many[0]} exceeds the {n_pos} distinct points "
                         "available to fit (the image has too few pixels or colours).")
    if criterion is None:
        return _fit_one(X, w, ks[0], reg_covar, n_colour, dict(gm_params, verbose=verbose)), None
    if n_colour == X.shape[1]:
        res = select(X, ks, (gm_params["covariance_type"],), criterion,
                     n_init=gm_params["n_init"], sample_weight=w,
                     random_state=gm_params["random_state"], validation_fraction=None,
                     tol=gm_params["tol"], reg_covar=reg_covar, max_iter=gm_params["max_iter"])
        rows = [{key: r[key] for key in _ROW_KEYS}
                for r in sorted(res.table, key=lambda r: r["n_components"])]
        return res.best_estimator_, rows
    rows, best = [], None
    with progress_bar(len(ks), f"segment: choosing K by {criterion}", verbose,
                      unit="K") as bar:
        for k in ks:
            gm = _fit_one(X, w, k, reg_covar, n_colour, gm_params)
            row = _criteria_row(gm, X, w)
            rows.append(row)
            logger.info("K=%d: %s=%.6g", k, criterion, row[criterion])
            bar.set_postfix_str(f"K={k} {criterion}={row[criterion]:.6g}")
            bar.update()
            if best is None or row[criterion] < best[0]:
                best = (row[criterion], gm)
    return best[1], rows


def segment(image: npt.ArrayLike, n_components: int | str | Sequence[int] | None, *,
            features: str | tuple[str, ...] = ("color",), colorspace: str = "rgb",
            covariance_type: CovarianceType = "full", method: str = "em", model: Any = None,
            fit_size: int | None = 50_000, reg_covar: float | str = "auto", n_init: int = 1,
            max_iter: int = 100, tol: float = 1e-3, random_state: RandomStateLike = None,
            chunk_size: int | None = None, verbose: int | bool = 0,
            **deep_options: Any) -> Segmentation:
    """Segment an image with a Gaussian mixture over per-pixel features.

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Greyscale, RGB or RGBA (the alpha channel is not used) image; ``uint8`` and
        ``uint16`` are scaled to [0, 1], floats are used as they are (they must lie in
        [0, 1] for colour spaces other than ``"rgb"``).
    n_components : int, {"bic", "aic", "icl"} or sequence of int
        Number of segments ``K``. A criterion name chooses ``K`` in 2..8 by that criterion;
        a sequence of ints chooses among them by BIC (both through :func:`gaussmix.select`
        on the weighted fitting summary).
    features : tuple of {"color", "position"}, default=("color",)
        Per-pixel features: the colour (C values in ``colorspace``) and optionally the
        position (row, column) in units of the longer image side, which favours
        spatially compact segments.
    colorspace : {"rgb", "lab", "luv", "hsv", "xyz", "ycbcr", "yuv", "yiq"}, default="rgb"
        Colour space of the colour features (conversions by :mod:`skimage.color`; all but
        ``"rgb"`` need an RGB image). ``"hsv"`` gives (s cos 2πh, s sin 2πh, v): hue is an
        angle, so hue and saturation are placed on the colour wheel, where reds on both sides
        of hue 0 are neighbours.
    covariance_type : str, default="full"
        Any name in :func:`gaussmix.covariance.names` ("full", "tied", "diag", "spherical"
        and the models registered with :func:`gaussmix.covariance.register`).
    method : {"em", "deep"}, default="em"
        ``"em"``: a :class:`gaussmix.GaussianMixture` over the pixel features.
        ``"deep"``: :func:`gaussmix.torch.segment_deep` (a U-Net trained on the mixture
        likelihood, spatially coherent; needs PyTorch; colour features only).
    model : gaussmix.torch.DeepGMMSegmenter, optional
        With ``method="deep"``: a segmenter trained on a set of images, which segments this
        one by forward passes instead of training a network for it. The image may have any
        number of channels (as many as the model was trained on); ``uint8``/``uint16`` are
        scaled to [0, 1] as above and floats used as they are, so train the model on images
        in the same units. ``n_components`` may be None or must equal the model's.
    fit_size : int or None, default=50_000
        Most points to fit the mixture on (see the module notes); ``None`` fits on every
        pixel. Every pixel is classified regardless.
    reg_covar : float or "auto", default="auto"
        Added to the covariance diagonals; ``"auto"`` is 1e-4 of the average feature
        variance.
    n_init, max_iter, tol
        As in :class:`gaussmix.GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seeds the pixel subsample and the mixture initialisation.
    chunk_size : int or None, default=None
        Pixels whose features are built and classified at once (default 262144).
    verbose : int or bool, default=0
        Show progress bars on standard error (candidate ``K`` with position features,
        classification chunk by chunk) and pass ``verbose`` to the mixture's fit (or to
        :func:`gaussmix.torch.segment_deep`).
    **deep_options
        Further keyword arguments of :func:`gaussmix.torch.segment_deep` (``method="deep"``
        only).

    Returns
    -------
    Segmentation
        Labels (H, W), probabilities (H, W, K), the recoloured image and the fitted model.

    Raises
    ------
    ValueError, TypeError
        On an invalid image or parameter.

    See Also
    --------
    gaussmix.plotting.plot_segmentation : draw the result over the image.
    overlay : the same as an RGB array, without matplotlib.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import segment
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((40, 40, 3))
    >>> img[10:30, 10:30] = [0.8, 0.2, 0.1]
    >>> img = np.clip(img + 0.05 * rng.normal(size=img.shape), 0, 1)
    >>> seg = segment(img, 2, colorspace="lab", random_state=0)
    >>> bool(np.all(seg.labels[12:28, 12:28] == seg.labels[20, 20]))
    True
    """
    if model is not None:
        if method != "deep":
            raise ValueError(f"model= needs method='deep', got method={method!r}.")
        return _segment_with_model(image, n_components, model, deep_options)
    arr = _as_image(image)
    if isinstance(features, str):
        features = (features,)
    params = dict(n_components=_lower(n_components), features=features,
                  colorspace=_lower(colorspace), covariance_type=covariance_type,
                  method=method, fit_size=fit_size, reg_covar=reg_covar, n_init=n_init,
                  max_iter=max_iter, tol=tol, random_state=random_state,
                  chunk_size=chunk_size, verbose=verbose)
    check_params("segment", params, _PARAMETERS)
    feats = _normalise_features(features)
    ks, criterion = _candidates(params["n_components"])
    colorspace = params["colorspace"]
    builder = _Features(arr, feats, colorspace)
    h, w = arr.shape[:2]
    n = h * w

    if method == "deep":
        return _segment_deep(image, arr, builder, ks, criterion, feats, colorspace,
                             covariance_type, random_state, verbose, deep_options)
    if deep_options:
        raise TypeError(f"segment() got options {sorted(deep_options)} that only apply to "
                        "method='deep'.")

    gm_params = dict(covariance_type=covariance_type, n_init=n_init, max_iter=max_iter,
                     tol=tol, random_state=random_state)
    distinct = arr.dtype == np.uint8 and feats == ("color",)
    max_points = n if fit_size is None else fit_size
    rng = np.random.default_rng(_seed(random_state))
    if distinct:
        colours, counts, inverse = _distinct_colours(builder.flat)
    if distinct and 2 * arr.shape[2] * len(colours) <= max_points:
        points, weights = _sigma_points(colours, counts)
        X_fit = builder.colours(points)
        logger.info("fitting on %d distinct colours (%d pixels) as %d sigma points",
                    len(colours), n, len(X_fit))
    else:
        if max_points >= n:
            X_fit = builder.rows(slice(0, n), rng)
        else:
            idx = np.sort(rng.choice(n, size=max_points, replace=False))
            X_fit = builder.rows(idx, rng)
        weights = np.ones(len(X_fit))
        logger.info("fitting on %d of %d pixels", len(X_fit), n)
    model, rows = _fit(X_fit, weights, ks, criterion, reg_covar, arr.shape[2], gm_params,
                       verbose)
    k = model.n_components

    if distinct:
        X_u = builder.colours(colours)
        proba_u = model.predict_proba(X_u).astype(np.float32, copy=False)
        labels_u = proba_u.argmax(axis=1)
        labels = np.take(labels_u, inverse).reshape(h, w)
        probabilities = _gather_rows(proba_u, inverse).reshape(h, w, k)
        # mean colour of each segment from the distinct colours and their counts
        seg_w = np.bincount(labels_u, weights=counts, minlength=k)
        sums = np.column_stack([np.bincount(labels_u, weights=counts * colours[:, ch],
                                            minlength=k) for ch in range(arr.shape[2])])
    else:
        labels, probabilities = _predict_chunks(model, builder, chunk_size or _PREDICT_CHUNK,
                                                verbose)
        seg_w, sums = _segment_sums(labels.ravel(), builder.flat, k)
    recolored = _paint(labels, seg_w, sums, image)
    return Segmentation(labels=labels, probabilities=probabilities, recolored=recolored,
                        model=model, n_components=k, features=feats, colorspace=colorspace,
                        criteria=rows, n_fit=len(X_fit))


def _gather_rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx]`` for a C-contiguous 2-D ``a``, moving each row as one opaque element."""
    a = np.ascontiguousarray(a)
    rows = a.view(np.dtype((np.void, a.shape[1] * a.itemsize))).ravel()
    return np.take(rows, idx).view(a.dtype).reshape(len(idx), a.shape[1])


def _seed(random_state):
    """A seed for numpy's Generator drawn from a validated scikit-learn ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return random_state


def _predict_chunks(model, builder, chunk, verbose=0):
    h, w, n, k = builder.h, builder.w, builder.h * builder.w, model.n_components
    labels = np.empty(n, dtype=np.intp)
    probabilities = np.empty((n, k), dtype=np.float32)
    with progress_bar(-(-n // chunk), "segment: classifying pixels", verbose,
                      unit="chunk") as bar:
        for s in range(0, n, chunk):
            p = model.predict_proba(builder.rows(slice(s, min(n, s + chunk))))
            probabilities[s:s + len(p)] = p
            labels[s:s + len(p)] = p.argmax(axis=1)
            bar.update()
    return labels.reshape(h, w), probabilities.reshape(h, w, k)


def _segment_deep(image, arr, builder, ks, criterion, feats, colorspace, covariance_type,
                  random_state, verbose, options):
    if feats != ("color",):
        raise ValueError("method='deep' uses colour features only (the network models "
                         f"position itself); got features={feats!r}.")
    if criterion is not None:
        raise ValueError("method='deep' needs an int n_components; choose K with "
                         "method='em' first.")
    try:
        from ..torch import segment_deep
    except ImportError as exc:
        raise ImportError("method='deep' needs PyTorch: pip install gaussmix[torch].") from exc
    h, w = arr.shape[:2]
    X = builder.rows(slice(0, h * w)).reshape(h, w, -1)
    options = {"verbose": verbose, **options}
    labels, proba = segment_deep(X, ks[0], covariance_type=covariance_type,
                                 random_state=random_state, **options)
    labels = np.asarray(labels).astype(np.intp, copy=False)
    proba = np.asarray(proba, dtype=np.float32)
    k = proba.shape[-1]
    seg_w, sums = _segment_sums(labels.ravel(), builder.flat, k)
    return Segmentation(labels=labels, probabilities=proba,
                        recolored=_paint(labels, seg_w, sums, image),
                        model=None, n_components=k, features=feats, colorspace=colorspace,
                        criteria=None, n_fit=h * w)


def _segment_with_model(image, n_components, model, options):
    """``segment(image, method="deep", model=segmenter)``: forward passes of a trained model."""
    try:
        from ..torch import DeepGMMSegmenter
    except ImportError as exc:
        raise ImportError("method='deep' needs PyTorch: pip install gaussmix[torch].") from exc
    if not isinstance(model, DeepGMMSegmenter):
        raise TypeError("model must be a fitted gaussmix.torch.DeepGMMSegmenter, got "
                        f"{type(model).__name__}.")
    if options:
        raise TypeError(f"segment() got options {sorted(options)} that do not apply with "
                        "model= (set them on the DeepGMMSegmenter).")
    if not hasattr(model, "network_"):
        raise ValueError("model is not fitted; call model.fit(images) first.")
    k = int(model.n_components)
    if n_components is not None and not (isinstance(n_components, numbers.Integral)
                                         and int(n_components) == k):
        raise ValueError(f"n_components={n_components!r} but the model has {k} classes; "
                         "pass None or the model's n_components.")
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"image must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {arr.shape}.")
    flat = arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.float64) / _unit_scale(arr)
    c = flat.shape[2]
    if c != model.n_channels_:
        raise ValueError(f"image has {c} channel(s), but the model was trained on images with "
                         f"{model.n_channels_}.")
    proba = np.asarray(model.predict_proba(flat), dtype=np.float32)
    labels = proba.argmax(-1).astype(np.intp)
    h, w = labels.shape
    seg_w, sums = _segment_sums(labels.ravel(), arr.reshape(h * w, c).astype(np.float64), k)
    return Segmentation(labels=labels, probabilities=proba,
                        recolored=_paint(labels, seg_w, sums, arr), model=None, n_components=k,
                        features=("color",), colorspace="rgb", criteria=None, n_fit=0)
