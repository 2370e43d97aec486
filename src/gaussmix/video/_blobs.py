"""Connected foreground regions of a mask: :func:`find_blobs` and :class:`Blob`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._validation import Interval, Options, check_params

__all__ = ["Blob", "find_blobs"]


@dataclass(frozen=True)
class Blob:
    """One connected foreground region.

    Attributes
    ----------
    label : int
        Its label in the frame's label image (1, 2, ... in raster order of first pixel).
    area : int
        Number of pixels.
    centroid : tuple of float
        ``(x, y)``: mean column and mean row of its pixels.
    bbox : tuple of int
        ``(x, y, width, height)`` of the smallest box holding it (OpenCV's convention):
        columns ``x .. x + width - 1``, rows ``y .. y + height - 1``.
    """

    label: int
    area: int
    centroid: tuple
    bbox: tuple


_CONSTRAINTS = {
    "min_area": [Interval(int, 1, None)],
    "opening": [Interval(int, 0, None)],
    "connectivity": [Options(4, 8)],
    "include_shadows": [Options(True, False)],
}


def find_blobs(mask: npt.ArrayLike, *, min_area: int = 1, opening: int = 0,
               connectivity: int = 8, include_shadows: bool = False,
               return_labels: bool = False) -> list[Blob] | tuple[list[Blob], np.ndarray]:
    """Connected foreground regions of a mask, with areas, centroids and bounding boxes.

    Parameters
    ----------
    mask : array-like of shape (H, W)
        A foreground mask as :meth:`BackgroundSubtractor.apply` returns it (255 foreground,
        127 shadow, 0 background), or a boolean mask.
    min_area : int, default=1
        Drop regions of fewer pixels (after the opening).
    opening : int, default=0
        Radius ``r`` of a morphological opening with a ``(2r+1) x (2r+1)`` square before
        labelling: removes specks and thin bridges narrower than the square. 0: none.
    connectivity : {4, 8}, default=8
        Pixels touching by an edge (4) or also by a corner (8) belong to one region.
    include_shadows : bool, default=False
        Count shadow pixels (127) as foreground.
    return_labels : bool, default=False
        Also return the label image (0 background; dropped regions are 0 too).

    Returns
    -------
    blobs : list of Blob
        In order of label.
    labels : ndarray of shape (H, W), int32
        Only with ``return_labels``.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.video import find_blobs
    >>> m = np.zeros((10, 10), np.uint8); m[2:4, 3:7] = 255
    >>> find_blobs(m)
    [Blob(label=1, area=8, centroid=(4.5, 2.5), bbox=(3, 2, 4, 2))]
    """
    from scipy import ndimage

    check_params("find_blobs", {"min_area": min_area, "opening": opening,
                                "connectivity": connectivity,
                                "include_shadows": include_shadows}, _CONSTRAINTS)
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-dimensional (H, W); got shape {m.shape}.")
    if m.dtype == bool:
        fg = m
    elif include_shadows:
        fg = m > 0
    else:
        fg = m == 255 if m.dtype.kind in "ui" else m > 0.5
    if opening:
        fg = ndimage.binary_opening(fg, structure=np.ones((2 * opening + 1,) * 2, bool))
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    labels, n = ndimage.label(fg, structure=structure)
    labels = labels.astype(np.int32, copy=False)
    blobs = []
    if n:
        flat = labels.ravel()
        area = np.bincount(flat, minlength=n + 1)
        rows, cols = np.indices(labels.shape)
        sy = np.bincount(flat, weights=rows.ravel(), minlength=n + 1)
        sx = np.bincount(flat, weights=cols.ravel(), minlength=n + 1)
        keep = np.zeros(n + 1, bool)
        for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None or area[lab] < min_area:
                continue
            keep[lab] = True
            ys, xs = sl
            blobs.append(Blob(lab, int(area[lab]),
                              (float(sx[lab] / area[lab]), float(sy[lab] / area[lab])),
                              (int(xs.start), int(ys.start), int(xs.stop - xs.start),
                               int(ys.stop - ys.start))))
        if return_labels and not keep[1:].all():
            labels = np.where(keep[labels], labels, 0).astype(np.int32)
    return (blobs, labels) if return_labels else blobs
