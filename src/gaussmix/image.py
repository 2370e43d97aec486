"""Image segmentation with Gaussian mixtures.

:func:`segment` models the pixels of an image as a Gaussian mixture over per-pixel features
(colour in a chosen colour space, optionally the pixel position) and returns a label map,
per-pixel posterior probabilities and a recoloured image. Any size works: the mixture is
fitted on a summary of the pixels and every pixel is then classified in chunks.

How the pixels are summarised for fitting (at most ``fit_size`` points):

- *8-bit colour features*: an image has at most 2**24 distinct colours and usually far fewer,
  so when they are few enough the mixture is fitted on the distinct colours weighted by
  their pixel counts (each spread over its quantisation step, see :func:`_sigma_points`):
  the same fit as on every pixel, at a fraction of the cost. Classification then happens
  once per distinct colour, not once per pixel.
- *Otherwise* (many distinct colours, float images, position features): a uniform random
  subsample of ``fit_size`` pixels, integer intensities dithered over their quantisation
  step. Every pixel is then classified, chunk by chunk.

The module also has the metrics used to evaluate segmentations against ground truth
(:func:`match_labels`, :func:`segmentation_scores`) and :func:`overlay`, which paints labels
over an image without needing matplotlib.

Notation: ``H, W`` image height and width, ``C`` colour channels, ``K`` components,
``n = H * W`` pixels, ``d`` features per pixel.
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np

from ._estimator import GaussianMixture

logger = logging.getLogger(__name__)

__all__ = ["segment", "Segmentation", "overlay", "match_labels", "segmentation_scores",
           "COLORSPACES", "FEATURES"]

#: Colour spaces accepted by :func:`segment` (``"rgb"`` means the image's own channels in [0, 1]).
COLORSPACES = ("rgb", "lab", "luv", "hsv", "xyz", "ycbcr", "yuv", "yiq")
#: Per-pixel feature groups accepted by :func:`segment`.
FEATURES = ("color", "position")
_METHODS = ("em", "deep")
_CRITERIA = ("bic", "aic", "icl")
_DEFAULT_K_RANGE = range(2, 9)
# Pixels whose features are built and classified at once when predicting chunk by chunk.
_PREDICT_CHUNK = 1 << 18
# Below this many pixels np.unique is cheaper than a 2**24-bin histogram of 8-bit colours.
_SMALL_IMAGE = 1 << 20

# A qualitative palette (the "tab10" colours) so overlays need no plotting library.
_PALETTE = np.array([
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
    dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# result


@dataclass
class Segmentation:
    """The result of :func:`segment`.

    Attributes
    ----------
    labels : ndarray of shape (H, W), int
        Most probable component of each pixel.
    probabilities : ndarray of shape (H, W, K), float32
        Posterior probability of each component at each pixel (sums to 1 over the last axis).
    recolored : ndarray of shape (H, W) or (H, W, C)
        The image with each pixel painted with the mean colour of its segment (the average,
        in the input's units and dtype, of the pixels carrying that label).
    model : GaussianMixture or None
        The fitted mixture over the pixel features (``None`` for ``method="deep"``).
    n_components : int
        Number of components ``K`` (the chosen one when ``K`` was selected by a criterion).
    features : tuple of str
        The feature groups used, e.g. ``("color",)``.
    colorspace : str
        The colour space of the colour features.
    criteria : list of dict or None
        When ``K`` was chosen by a criterion: one row per candidate with keys
        ``n_components``, ``covariance_type``, ``log_likelihood``, ``n_parameters``,
        ``bic``, ``aic``, ``icl`` (computed on the fitting summary, weighted), ready for
        :func:`gaussmix.plotting.plot_criteria`.
    n_fit : int
        Number of (weighted) points the mixture was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import segment
    >>> img = np.zeros((20, 30), dtype=np.uint8)
    >>> img[5:15, 10:20] = 200
    >>> seg = segment(img, 2, random_state=0)
    >>> seg.labels.shape, seg.probabilities.shape
    ((20, 30), (20, 30, 2))
    >>> bool(seg.labels[10, 15] != seg.labels[0, 0])
    True
    >>> int(seg.recolored[10, 15]), int(seg.recolored[0, 0])
    (200, 0)
    """

    labels: np.ndarray
    probabilities: np.ndarray
    recolored: np.ndarray
    model: GaussianMixture | None
    n_components: int
    features: tuple
    colorspace: str
    criteria: list | None = None
    n_fit: int = 0

    @property
    def uncertainty(self) -> np.ndarray:
        """Assignment uncertainty ``1 - max_k p_k`` of each pixel, shape (H, W)."""
        return 1.0 - self.probabilities.max(axis=-1)

    def __repr__(self) -> str:
        h, w = self.labels.shape
        return (f"Segmentation(shape=({h}, {w}), n_components={self.n_components}, "
                f"features={self.features!r}, colorspace={self.colorspace!r})")


# ---------------------------------------------------------------------------------------------
# input handling


def _as_image(image):
    """Validate ``image``; return (array of shape (H, W, C) with C in {1, 3}, original array)."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"image must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError("image must have shape (H, W) for greyscale or (H, W, C) with C in "
                         f"{{1, 3, 4}} (grey, RGB, RGBA), got {np.shape(image)}.")
    if arr.shape[2] == 4:
        # the alpha channel is transparency, not colour: segmentation uses the RGB channels
        arr = arr[:, :, :3]
    if arr.shape[0] * arr.shape[1] < 2:
        raise ValueError(f"image must have at least 2 pixels, got shape {np.shape(image)}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or infinite values.")
    return arr


def _unit_scale(arr: np.ndarray) -> float:
    """Divisor bringing integer images to [0, 1]; floats are taken as they are."""
    if arr.dtype == np.uint8:
        return 255.0
    if arr.dtype == np.uint16:
        return 65535.0
    return 1.0


def _feature_dtype(arr: np.ndarray):
    return np.float64 if arr.dtype == np.float64 else np.float32


def _check_features(features) -> tuple:
    if isinstance(features, str):
        features = (features,)
    try:
        feats = tuple(features)
    except TypeError:
        raise TypeError(f"'features' must be a tuple of names from {FEATURES}, "
                        f"got {features!r}.") from None
    bad = [f for f in feats if f not in FEATURES]
    if bad or not feats or len(set(feats)) != len(feats):
        raise ValueError(f"'features' must be distinct names from {FEATURES}, got {features!r}.")
    if "color" not in feats:
        raise ValueError("'features' must include 'color'; position alone carries no image "
                         f"content (got {features!r}).")
    return tuple(f for f in FEATURES if f in feats)


def _colour_converter(colorspace: str, n_channels: int):
    """Function mapping (n, C) colours in [0, 1] to (n, C') colour features."""
    if not isinstance(colorspace, str) or colorspace.lower() not in COLORSPACES:
        raise ValueError(f"'colorspace' must be one of {COLORSPACES}, got {colorspace!r}.")
    colorspace = colorspace.lower()
    if colorspace == "rgb":
        return None
    if n_channels != 3:
        raise ValueError(f"colorspace={colorspace!r} needs an RGB image; this image has "
                         f"{n_channels} channel. Use colorspace='rgb' for greyscale images.")
    from skimage import color  # optional dependency, imported only when needed

    fn = {"lab": color.rgb2lab, "luv": color.rgb2luv, "hsv": color.rgb2hsv,
          "xyz": color.rgb2xyz, "ycbcr": color.rgb2ycbcr, "yuv": color.rgb2yuv,
          "yiq": color.rgb2yiq}[colorspace]

    def convert(rgb01: np.ndarray) -> np.ndarray:
        if rgb01.size and (rgb01.min() < 0 or rgb01.max() > 1):
            raise ValueError(f"colorspace={colorspace!r} needs colours in [0, 1] (or 8/16-bit "
                             "integers); this image has values outside that range.")
        out = fn(np.clip(rgb01, 0.0, 1.0).reshape(-1, 1, 3)).reshape(-1, 3)
        if colorspace == "hsv":
            # hue is an angle: place (hue, saturation) on the colour wheel, so that reds on
            # either side of hue 0 are neighbours and greys (no hue) sit at its centre
            angle = 2.0 * np.pi * out[:, 0]
            out = np.column_stack([out[:, 1] * np.cos(angle), out[:, 1] * np.sin(angle),
                                   out[:, 2]])
        return out.astype(rgb01.dtype, copy=False)

    return convert


class _Features:
    """Builds the (n, d) feature rows of any range of pixels (flattened row-major order)."""

    def __init__(self, arr, features, colorspace):
        self.arr = arr
        self.h, self.w, self.c = arr.shape
        self.flat = arr.reshape(-1, self.c)
        self.scale = _unit_scale(arr)
        self.dtype = _feature_dtype(arr)
        self.convert = _colour_converter(colorspace, self.c)
        self.position = "position" in features
        self.n_features = self.c + 2 * self.position

    def colours(self, colours: np.ndarray, rng=None) -> np.ndarray:
        """Colour features of raw colours of shape (n, C) in the image's units.

        With ``rng``, integer intensities are first dithered uniformly over their
        quantisation step (the value stands for any intensity within half a level).
        """
        x = colours.astype(self.dtype)
        integer = self.scale != 1.0 or np.issubdtype(self.arr.dtype, np.integer)
        if rng is not None and integer:
            x += (rng.random(x.shape) - 0.5).astype(self.dtype)
        if self.scale != 1.0:
            x /= self.dtype(self.scale)
        if self.convert is None:
            return x
        return self.convert(np.clip(x, 0, 1) if integer else x)

    def rows(self, idx, rng=None) -> np.ndarray:
        """Features of the pixels at flat indices ``idx`` (a slice or an integer array)."""
        col = self.colours(self.flat[idx], rng)
        if not self.position:
            return col
        flat_idx = np.arange(self.h * self.w)[idx] if isinstance(idx, slice) else idx
        # positions in units of the longer side, so the aspect ratio is kept
        side = self.dtype(max(self.h, self.w))
        r, c = np.divmod(flat_idx, self.w)
        pos = np.column_stack([r, c]).astype(self.dtype) / side
        return np.hstack([col, pos])


def _distinct_colours(flat: np.ndarray):
    """Distinct 8-bit colours: (colours (U, C) uint8, counts (U,), inverse (n,) index)."""
    c = flat.shape[1]
    if c == 1:
        key = flat[:, 0].astype(np.intp)
        n_keys = 256
    else:
        key = ((flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8)
               | flat[:, 2].astype(np.int32))
        n_keys = 1 << 24
    if len(key) < _SMALL_IMAGE or n_keys == 256:
        if n_keys == 256:
            counts = np.bincount(key, minlength=256)
            uniq = np.flatnonzero(counts)
            lut = np.zeros(256, dtype=np.intp)
            lut[uniq] = np.arange(len(uniq))
            inverse = lut[key]
            counts = counts[uniq]
        else:
            uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:
        counts = np.bincount(key, minlength=n_keys)
        uniq = np.flatnonzero(counts)
        counts = counts[uniq]
        lut = np.zeros(n_keys, dtype=np.int32)
        lut[uniq] = np.arange(len(uniq), dtype=np.int32)
        inverse = lut[key]
    if c == 1:
        colours = uniq.astype(np.uint8)[:, None]
    else:
        colours = np.column_stack([uniq >> 16, (uniq >> 8) & 255, uniq & 255]).astype(np.uint8)
    return colours, counts.astype(np.float64), inverse


def _sigma_points(colours: np.ndarray, counts: np.ndarray):
    """Weighted points with the mean and covariance of dequantised 8-bit colours.

    An 8-bit value stands for any intensity within its quantisation step, so each colour
    ``m`` is treated as uniformly spread over a cube of side one level (covariance ``I / 12``)
    and represented by the ``2 C`` sigma points ``m ± sqrt(C / 12) e_i``, each of weight
    ``count / (2 C)``: they have exactly that mean and covariance. Fitting on them reproduces
    the sufficient statistics of the dequantised pixels (up to the variation of the
    responsibilities within one quantisation step), and no component can collapse onto a
    single colour.

    Returns
    -------
    points : ndarray of shape (2 C U, C), float64, in grey levels
    weights : ndarray of shape (2 C U,)
    """
    c = colours.shape[1]
    col = colours.astype(np.float64)
    step = np.sqrt(c / 12.0)
    eye = np.eye(c)
    points = np.concatenate([col + sign * step * eye[ch]
                             for ch in range(c) for sign in (1.0, -1.0)])
    weights = np.tile(counts / (2 * c), 2 * c)
    return points, weights


# ---------------------------------------------------------------------------------------------
# fitting


def _check_k(n_components):
    """Return (candidate Ks, criterion or None)."""
    if isinstance(n_components, str):
        if n_components.lower() not in _CRITERIA:
            raise ValueError(f"'n_components' must be an int >= 1, one of {_CRITERIA} (choose "
                             f"K in {list(_DEFAULT_K_RANGE)}) or a sequence of ints; got "
                             f"{n_components!r}.")
        return list(_DEFAULT_K_RANGE), n_components.lower()
    if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
        if n_components < 1:
            raise ValueError(f"'n_components' must be >= 1, got {n_components}.")
        return [int(n_components)], None
    try:
        ks = [k for k in n_components]
    except TypeError:
        raise TypeError("'n_components' must be an int, 'bic', 'aic', 'icl' or a sequence of "
                        f"ints, got {type(n_components).__name__}.") from None
    if not ks or not all(isinstance(k, numbers.Integral) and not isinstance(k, bool)
                         and k >= 1 for k in ks):
        raise ValueError(f"'n_components' as a sequence must hold ints >= 1, got {ks!r}.")
    return sorted(set(int(k) for k in ks)), "bic"


def _criteria_row(gm, X, w) -> dict:
    """BIC, AIC and ICL of a fitted mixture on weighted points (lower is better)."""
    ll = float(np.dot(w, gm.score_samples(X)))
    p = gm._n_parameters()
    bic = -2 * ll + p * np.log(w.sum())
    resp = gm.predict_proba(X).astype(np.float64)
    # classification entropy of the soft assignment, E = -sum_i w_i sum_k t_ik log t_ik >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t_log_t = np.where(resp > 0, resp * np.log(resp), 0.0)
    entropy = float(-np.dot(w, t_log_t.sum(axis=1)))
    return {"n_components": gm.n_components, "covariance_type": gm.covariance_type,
            "log_likelihood": ll, "n_parameters": p, "bic": float(bic),
            "aic": float(-2 * ll + 2 * p), "icl": float(bic + 2 * entropy)}


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


def _fit(X, w, ks, criterion, reg_covar, n_colour, gm_params):
    if reg_covar == "auto":
        # a floor of 1e-4 of the average feature variance (the data's own scale), enough to
        # keep a component from collapsing on one quantised colour
        mean = np.average(X, axis=0, weights=w)
        var = np.average((X - mean) ** 2, axis=0, weights=w).mean()
        reg_covar = float(max(1e-4 * var, 1e-10))
    n_pos = int(np.count_nonzero(w))
    rows, best = [], None
    for k in ks:
        if k > n_pos:
            raise ValueError(f"n_components={k} exceeds the {n_pos} distinct points available "
                             "to fit (the image has too few pixels or colours).")
        gm = _fit_one(X, w, k, reg_covar, n_colour, gm_params)
        if criterion is None:
            return gm, None
        row = _criteria_row(gm, X, w)
        rows.append(row)
        logger.info("K=%d: %s=%.6g", k, criterion, row[criterion])
        if best is None or row[criterion] < best[0]:
            best = (row[criterion], gm)
    return best[1], rows


def segment(image, n_components, *, features=("color",), colorspace="rgb",
            covariance_type="full", method="em", fit_size=50_000, reg_covar="auto",
            n_init=1, max_iter=100, tol=1e-3, random_state=None, chunk_size=None,
            **deep_options):
    """Segment an image with a Gaussian mixture over per-pixel features.

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Greyscale, RGB or RGBA (the alpha channel is not used) image; ``uint8`` and
        ``uint16`` are scaled to [0, 1], floats are used as they are (they must lie in
        [0, 1] for colour spaces other than ``"rgb"``).
    n_components : int, {"bic", "aic", "icl"} or sequence of int
        Number of segments ``K``. A criterion name chooses ``K`` in 2..8 by that criterion;
        a sequence of ints chooses among them by BIC.
    features : tuple of {"color", "position"}, default=("color",)
        Per-pixel features: the colour (C values in ``colorspace``) and optionally the
        position (row, column) in units of the longer image side, which favours
        spatially compact segments.
    colorspace : {"rgb", "lab", "luv", "hsv", "xyz", "ycbcr", "yuv", "yiq"}, default="rgb"
        Colour space of the colour features (conversions by :mod:`skimage.color`; all but
        ``"rgb"`` need an RGB image). ``"hsv"`` gives (s cos 2πh, s sin 2πh, v): hue is an
        angle, so hue and saturation are placed on the colour wheel, where reds on both sides
        of hue 0 are neighbours.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    method : {"em", "deep"}, default="em"
        ``"em"``: a :class:`gaussmix.GaussianMixture` over the pixel features.
        ``"deep"``: :func:`gaussmix.torch.segment_deep` (a U-Net trained on the mixture
        likelihood, spatially coherent; needs PyTorch; colour features only).
    fit_size : int or None, default=200_000
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
    arr = _as_image(image)
    feats = _check_features(features)
    ks, criterion = _check_k(n_components)
    if method not in _METHODS:
        raise ValueError(f"'method' must be one of {_METHODS}, got {method!r}.")
    if fit_size is not None and (not isinstance(fit_size, numbers.Integral)
                                 or isinstance(fit_size, bool) or fit_size < 1):
        raise ValueError(f"'fit_size' must be None or an int >= 1, got {fit_size!r}.")
    if chunk_size is not None and (not isinstance(chunk_size, numbers.Integral)
                                   or isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"'chunk_size' must be None or an int >= 1, got {chunk_size!r}.")
    if not (reg_covar == "auto" or (isinstance(reg_covar, numbers.Real)
                                    and not isinstance(reg_covar, bool) and reg_covar >= 0)):
        raise ValueError(f"'reg_covar' must be 'auto' or a float >= 0, got {reg_covar!r}.")
    builder = _Features(arr, feats, colorspace)
    colorspace = colorspace.lower()
    h, w = arr.shape[:2]
    n = h * w

    if method == "deep":
        return _segment_deep(image, arr, builder, ks, criterion, feats, colorspace,
                             covariance_type, random_state, deep_options)
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
    model, rows = _fit(X_fit, weights, ks, criterion, reg_covar, arr.shape[2], gm_params)
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
        labels, probabilities = _predict_chunks(model, builder, chunk_size or _PREDICT_CHUNK)
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
    """A seed for numpy's Generator drawn from any scikit-learn style ``random_state``."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise ValueError("'random_state' must be None, an int or a numpy.random.RandomState, got "
                     f"{random_state!r}.")


def _predict_chunks(model, builder, chunk):
    h, w, n, k = builder.h, builder.w, builder.h * builder.w, model.n_components
    labels = np.empty(n, dtype=np.intp)
    probabilities = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, chunk):
        p = model.predict_proba(builder.rows(slice(s, min(n, s + chunk))))
        probabilities[s:s + len(p)] = p
        labels[s:s + len(p)] = p.argmax(axis=1)
    return labels.reshape(h, w), probabilities.reshape(h, w, k)


def _segment_sums(labels_flat, flat, k):
    seg_w = np.bincount(labels_flat, minlength=k).astype(np.float64)
    sums = np.column_stack([np.bincount(labels_flat, weights=flat[:, ch], minlength=k)
                            for ch in range(flat.shape[1])])
    return seg_w, sums


def _paint(labels, seg_w, sums, image):
    """Paint each pixel with its segment's mean colour, in the dtype and layout of ``image``."""
    orig = np.asarray(image)
    if orig.dtype == bool:
        orig = orig.astype(np.uint8)
    means = sums / np.maximum(seg_w, 1)[:, None]
    if np.issubdtype(orig.dtype, np.integer):
        info = np.iinfo(orig.dtype)
        means = np.clip(np.rint(means), info.min, info.max)
    means = means.astype(orig.dtype)
    out = means[labels]  # (H, W, C)
    if orig.ndim == 2:
        return out[:, :, 0]
    if orig.shape[2] == 4:
        out = np.concatenate([out, orig[:, :, 3:]], axis=2)
    return out


def _segment_deep(image, arr, builder, ks, criterion, feats, colorspace, covariance_type,
                  random_state, options):
    if feats != ("color",):
        raise ValueError("method='deep' uses colour features only (the network models "
                         f"position itself); got features={feats!r}.")
    if criterion is not None:
        raise ValueError("method='deep' needs an int n_components; choose K with "
                         "method='em' first.")
    try:
        from .torch import segment_deep
    except ImportError as exc:
        raise ImportError("method='deep' needs PyTorch: pip install gaussmix[torch].") from exc
    h, w = arr.shape[:2]
    X = builder.rows(slice(0, h * w)).reshape(h, w, -1)
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


# ---------------------------------------------------------------------------------------------
# overlays and metrics


def label_colors(n: int) -> np.ndarray:
    """``n`` distinct RGB colours, shape (n, 3) uint8 (tab10, then evenly spaced hues)."""
    if n <= len(_PALETTE):
        return _PALETTE[:n].copy()
    extra = n - len(_PALETTE)
    hues = (np.arange(extra) * 0.618033988749895) % 1.0
    # HSV (h, 0.65, 0.9) -> RGB, vectorised
    i = np.floor(hues * 6).astype(int) % 6
    f = hues * 6 - np.floor(hues * 6)
    v, s = 0.9, 0.65
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.column_stack(c) for c in
                      ([np.full(extra, v), t, np.full(extra, p)],
                       [q, np.full(extra, v), np.full(extra, p)],
                       [np.full(extra, p), np.full(extra, v), t],
                       [np.full(extra, p), q, np.full(extra, v)],
                       [t, np.full(extra, p), np.full(extra, v)],
                       [np.full(extra, v), np.full(extra, p), q])])
    rgb = table[i, np.arange(extra)]
    return np.vstack([_PALETTE, np.rint(rgb * 255).astype(np.uint8)])


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels whose upper or left neighbour has another label (1-pixel lines), (H, W) bool."""
    b = np.zeros(labels.shape, dtype=bool)
    b[1:, :] |= labels[1:, :] != labels[:-1, :]
    b[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    return b


def overlay(image, labels, *, alpha=0.45, boundaries=True, colors=None):
    """Blend a label map over an image, as an RGB ``uint8`` array.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
        The image (any dtype :func:`segment` accepts).
    labels : array-like of shape (H, W), int, or Segmentation
        Labels in ``0..K-1`` (a :class:`Segmentation` gives its ``labels``).
    alpha : float in [0, 1], default=0.45
        Opacity of the label colours.
    boundaries : bool, default=True
        Draw segment boundaries in white.
    colors : array-like of shape (K, 3), optional
        RGB colours (0-255) per label; default :func:`label_colors`.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import overlay
    >>> img = np.zeros((4, 4), dtype=np.uint8)
    >>> lab = np.zeros((4, 4), dtype=int); lab[:, 2:] = 1
    >>> out = overlay(img, lab, alpha=1.0, boundaries=False)
    >>> out.shape, out.dtype.name, out[0, 0].tolist(), out[0, 3].tolist()
    ((4, 4, 3), 'uint8', [31, 119, 180], [255, 127, 14])
    """
    if isinstance(labels, Segmentation):
        labels = labels.labels
    arr = _as_image(image)
    lab = np.asarray(labels)
    if lab.shape != arr.shape[:2]:
        raise ValueError(f"labels must have the image's shape {arr.shape[:2]}, got {lab.shape}.")
    if not np.issubdtype(lab.dtype, np.integer) or (lab.size and lab.min() < 0):
        raise ValueError("labels must be non-negative integers.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"'alpha' must be in [0, 1], got {alpha!r}.")
    k = int(lab.max()) + 1 if lab.size else 1
    cols = label_colors(k) if colors is None else np.asarray(colors, dtype=np.float64)
    if cols.shape[0] < k or cols.ndim != 2 or cols.shape[1] != 3:
        raise ValueError(f"'colors' must have shape (>= {k}, 3), got {cols.shape}.")
    base = arr.astype(np.float64)
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        base = base / _unit_scale(arr) * 255.0
    elif np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer):
        lo, hi = base.min(), base.max()
        if lo < 0 or hi > 1:  # a float image in other units: stretch to its range
            base = (base - lo) / (hi - lo if hi > lo else 1.0)
        base = base * 255.0
    if base.shape[2] == 1:
        base = np.repeat(base, 3, axis=2)
    out = (1 - alpha) * base + alpha * np.asarray(cols, dtype=np.float64)[lab]
    if boundaries:
        out[_boundaries(lab)] = 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _contingency(labels, truth):
    lab = np.asarray(labels).ravel()
    tru = np.asarray(truth).ravel()
    if lab.shape != tru.shape:
        raise ValueError(f"labels and truth must have the same shape, got {np.shape(labels)} "
                         f"and {np.shape(truth)}.")
    for name, a in (("labels", lab), ("truth", tru)):
        if not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0):
            raise ValueError(f"{name} must be non-negative integers.")
    kp, kt = int(lab.max()) + 1, int(tru.max()) + 1
    return np.bincount(lab * kt + tru, minlength=kp * kt).reshape(kp, kt), lab, tru


def match_labels(labels, truth):
    """Relabel ``labels`` to best agree with ``truth`` (Hungarian matching of overlaps).

    Each predicted label is paired with at most one true label so that the total number of
    pixels where they agree is maximal. Predicted labels left without a partner (when there
    are more of them than true labels) get new labels ``>= truth.max() + 1``.

    Parameters
    ----------
    labels, truth : array-like of int, same shape

    Returns
    -------
    ndarray of the shape of ``labels``

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import match_labels
    >>> match_labels(np.array([1, 1, 0, 0, 2]), np.array([0, 0, 1, 1, 1])).tolist()
    [0, 0, 1, 1, 2]
    """
    from scipy.optimize import linear_sum_assignment

    table, lab, _ = _contingency(labels, truth)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = np.empty(table.shape[0], dtype=np.intp)
    mapping[rows] = cols
    spare = np.setdiff1d(np.arange(table.shape[0]), rows)
    mapping[spare] = table.shape[1] + np.arange(len(spare))
    return mapping[lab].reshape(np.shape(labels))


def segmentation_scores(labels, truth):
    """Dice and IoU per true class after :func:`match_labels`, and pixel accuracy.

    Parameters
    ----------
    labels, truth : array-like of int, same shape

    Returns
    -------
    dict
        ``dice`` and ``iou``: ndarrays of shape (n_true_classes,); ``mean_dice``,
        ``mean_iou``: their means; ``accuracy``: fraction of pixels whose matched label is
        the true one.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import segmentation_scores
    >>> s = segmentation_scores(np.array([1, 1, 0, 0]), np.array([0, 0, 1, 0]))
    >>> s["dice"].round(3).tolist(), s["iou"].round(3).tolist(), s["accuracy"]
    ([0.8, 0.667], [0.667, 0.5], 0.75)
    """
    matched = match_labels(labels, truth)
    table, _, tru = _contingency(matched, truth)
    kt = table.shape[1]
    inter = np.array([table[j, j] if j < table.shape[0] else 0 for j in range(kt)],
                     dtype=np.float64)
    pred_size = np.array([table[j].sum() if j < table.shape[0] else 0 for j in range(kt)],
                         dtype=np.float64)
    true_size = table.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(pred_size + true_size > 0, 2 * inter / (pred_size + true_size), 1.0)
        iou = np.where(pred_size + true_size - inter > 0,
                       inter / (pred_size + true_size - inter), 1.0)
    return {"dice": dice, "iou": iou, "mean_dice": float(dice.mean()),
            "mean_iou": float(iou.mean()), "accuracy": float(inter.sum() / max(len(tru), 1))}
