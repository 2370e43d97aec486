"""Colouring: segments painted in their mean colour, label colours, and overlays.

Nothing here needs matplotlib: :func:`overlay` returns an RGB ``uint8`` array, and
:func:`label_colors` is the qualitative palette shared with :mod:`gaussmix.plotting`.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._validation import Interval, Kinds, check_params
from ._features import _as_image, _unit_scale
from ._result import Segmentation

__all__ = ["overlay", "label_colors"]

# A qualitative palette (the "tab10" colours) so overlays need no plotting library.
_PALETTE = np.array([
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
    dtype=np.uint8)

_OVERLAY_PARAMS = {
    "alpha": [Interval(float, 0, 1)],
    "boundaries": [Kinds(bool, np.bool_, label="a bool")],
}


def _segment_sums(labels_flat, flat, k):
    """Pixel count (k,) and per-channel colour sums (k, C) of each segment."""
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


def label_colors(n: int) -> np.ndarray:
    """``n`` distinct RGB colours: tab10, then evenly spaced hues.

    Parameters
    ----------
    n : int
        Number of colours.

    Returns
    -------
    ndarray of shape (n, 3), uint8
    """
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


def overlay(image: npt.ArrayLike, labels: npt.ArrayLike | Segmentation, *, alpha: float = 0.45,
            boundaries: bool = True, colors: npt.ArrayLike | None = None) -> np.ndarray:
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
    check_params("overlay", {"alpha": alpha, "boundaries": boundaries}, _OVERLAY_PARAMS)
    k = int(lab.max()) + 1 if lab.size else 1
    cols = label_colors(k) if colors is None else np.asarray(colors, dtype=np.float64)
    if cols.ndim != 2 or cols.shape[0] < k or cols.shape[1] != 3:
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
