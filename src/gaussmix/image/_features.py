"""Per-pixel features: input checks, colour spaces, position features, distinct colours.

:class:`_Features` builds the ``(n, d)`` feature rows of any range of pixels (colour in a
chosen colour space, optionally the position), so that a large image never needs all its
features in memory at once. :func:`_distinct_colours` and :func:`_sigma_points` give the
weighted summary of an 8-bit colour image that :func:`gaussmix.image.segment` fits on.
:func:`pixel_features` is the public face of the feature builder.

Notation: ``H, W`` image height and width, ``C`` colour channels, ``n = H * W`` pixels,
``d`` features per pixel, ``U`` distinct colours.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._validation import Options, check_params

__all__ = ["COLORSPACES", "FEATURES", "pixel_features"]

#: Colour spaces accepted by :func:`segment` (``"rgb"`` means the image's own channels in [0, 1]).
COLORSPACES = ("rgb", "lab", "luv", "hsv", "xyz", "ycbcr", "yuv", "yiq")
#: Per-pixel feature groups accepted by :func:`segment`.
FEATURES = ("color", "position")
# Below this many pixels np.unique is cheaper than a 2**24-bin histogram of 8-bit colours.
_SMALL_IMAGE = 1 << 20


class FeatureNames:
    """Constraint of the parameter table: distinct names from :data:`FEATURES` with "color"."""

    def accepts(self, v) -> bool:
        if isinstance(v, str):
            v = (v,)
        if not isinstance(v, (tuple, list)) or not v:
            return False
        return (all(isinstance(f, str) and f in FEATURES for f in v)
                and len(set(v)) == len(v) and "color" in v)

    def __str__(self):
        return (f"a tuple of distinct names from {FEATURES} that includes 'color' (position "
                "alone carries no image content)")


def _lower(value):
    """Option names are case-insensitive: strings are compared in lower case."""
    return value.lower() if isinstance(value, str) else value


def _normalise_features(features) -> tuple:
    """Validated ``features`` in canonical order (a single name is a one-name tuple)."""
    check_params("segment", {"features": features}, {"features": [FeatureNames()]})
    feats = (features,) if isinstance(features, str) else tuple(features)
    return tuple(f for f in FEATURES if f in feats)


def _as_image(image):
    """Validate ``image``; return an array of shape (H, W, C) with C in {1, 3}."""
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


def _colour_converter(colorspace: str, n_channels: int):
    """Function mapping (n, C) colours in [0, 1] to (n, C') colour features."""
    colorspace = _lower(colorspace)
    check_params("segment", {"colorspace": colorspace},
                 {"colorspace": [Options(*COLORSPACES)]})
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


def pixel_features(image: npt.ArrayLike, *, features: str | tuple[str, ...] = ("color",),
                   colorspace: str = "rgb") -> np.ndarray:
    """The per-pixel feature matrix :func:`segment` models, one row per pixel.

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        As in :func:`segment` (the alpha channel is not used).
    features : tuple of {"color", "position"}, default=("color",)
        Colour (``C`` values in ``colorspace``, integer images scaled to [0, 1]) and
        optionally the position (row, column) in units of the longer image side.
    colorspace : {"rgb", "lab", "luv", "hsv", "xyz", "ycbcr", "yuv", "yiq"}, default="rgb"
        Colour space of the colour features.

    Returns
    -------
    ndarray of shape (H * W, d)
        Rows in row-major pixel order; float64 for float64 images, float32 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import pixel_features
    >>> img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    >>> X = pixel_features(img, features=("color", "position"))
    >>> X.shape, X.dtype.name
    ((4, 3), 'float32')
    >>> X.astype(float).round(2).tolist()
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [0.2, 0.5, 0.0], [0.4, 0.5, 0.5]]
    """
    arr = _as_image(image)
    builder = _Features(arr, _normalise_features(features), colorspace)
    return builder.rows(slice(0, builder.h * builder.w))


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
