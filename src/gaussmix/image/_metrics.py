"""Segmentation metrics against a ground truth: label matching, Dice, IoU, accuracy."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["match_labels", "segmentation_scores"]


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


def match_labels(labels: npt.ArrayLike, truth: npt.ArrayLike) -> np.ndarray:
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


def segmentation_scores(labels: npt.ArrayLike, truth: npt.ArrayLike) -> dict[str, object]:
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
