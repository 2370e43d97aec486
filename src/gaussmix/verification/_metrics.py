"""Detection error trade-off of verification trials: DET curve, EER and minimum DCF.

A trial has a score (higher: more likely the claimed speaker) and a label (1 or True: target,
the claimed speaker; 0 or False: non-target, an impostor). An operating point is the decision rule
"accept when score >= t"; its miss rate (false non-match rate) is the fraction of target
scores below ``t``, its false-alarm rate the fraction of non-target scores at or above ``t``.
"""
from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

__all__ = ["det_curve", "eer", "min_dcf"]


def _check_trials(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D arrays, got shapes {s.shape} and "
                         f"{y.shape}.")
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same length, got {s.shape[0]} and "
                         f"{y.shape[0]}.")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores contain {int((~np.isfinite(s)).sum())} NaN or inf value(s).")
    if y.dtype != bool:
        if not np.isin(y, [0, 1]).all():
            raise ValueError("labels must be booleans or 0/1 (1: target trial, 0: non-target "
                             f"trial); got values {np.unique(y)[:5].tolist()}.")
        y = y.astype(bool)
    n_tar = int(y.sum())
    if n_tar == 0 or n_tar == y.size:
        raise ValueError(f"need both target and non-target trials, got {n_tar} target and "
                         f"{y.size - n_tar} non-target trials.")
    return s, y


def det_curve(scores: npt.ArrayLike,
              labels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates of every threshold (the detection error trade-off).

    Parameters
    ----------
    scores : array-like of shape (n_trials,)
        Verification scores, higher for more confident acceptance.
    labels : array-like of shape (n_trials,)
        1 (or True) for target trials, 0 (or False) for non-target trials.

    Returns
    -------
    fpr : ndarray of shape (n_thresholds + 1,)
        False-alarm rates, non-increasing.
    fnr : ndarray of shape (n_thresholds + 1,)
        Miss rates, non-decreasing.
    thresholds : ndarray of shape (n_thresholds + 1,)
        The distinct scores in increasing order, then ``inf`` (reject every trial). At
        ``thresholds[i]`` a trial is accepted when its score is ``>= thresholds[i]``; the
        first point accepts everything (miss rate 0), the last rejects everything
        (false-alarm rate 0).

    See Also
    --------
    sklearn.metrics.det_curve : the same points, trimmed to the informative ones.

    Examples
    --------
    >>> fpr, fnr, thr = det_curve([0.9, 0.2, 0.6, 0.4], [1, 0, 1, 0])
    >>> fpr.tolist(), fnr.tolist()
    ([1.0, 0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 1.0])
    """
    s, y = _check_trials(scores, labels)
    tar, non = np.sort(s[y]), np.sort(s[~y])
    thresholds = np.r_[np.unique(s), np.inf]
    fnr = np.searchsorted(tar, thresholds, side="left") / tar.size
    fpr = 1.0 - np.searchsorted(non, thresholds, side="left") / non.size
    return fpr, fnr, thresholds


def eer(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Equal error rate: where the miss rate equals the false-alarm rate.

    Between the two consecutive operating points of :func:`det_curve` where the miss rate
    overtakes the false-alarm rate, the rates are interpolated linearly and the crossing of the
    segment with the diagonal is returned.

    Parameters
    ----------
    scores : array-like of shape (n_trials,)
    labels : array-like of shape (n_trials,)
        1 (or True) for target trials, 0 (or False) for non-target trials.

    Returns
    -------
    float
        In [0, 1]; 0 when every target score exceeds every non-target score.

    Examples
    --------
    >>> eer([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1], [1, 1, 1, 0, 0, 0, 0])
    0.25
    """
    fpr, fnr, _ = det_curve(scores, labels)
    diff = fnr - fpr  # -1 at the first point, +1 at the last, non-decreasing
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0:
        return float(fpr[i])
    da, db = diff[i - 1], diff[i]
    lam = -da / (db - da)
    return float(fpr[i - 1] + lam * (fpr[i] - fpr[i - 1]))


def min_dcf(scores: npt.ArrayLike, labels: npt.ArrayLike, *, p_target: float = 0.01,
            c_miss: float = 1.0, c_fa: float = 1.0, normalize: bool = True) -> float:
    """Minimum detection cost over all thresholds (NIST speaker recognition evaluations).

    ``DCF(t) = c_miss p_target P_miss(t) + c_fa (1 - p_target) P_fa(t)``, minimised over the
    operating points of :func:`det_curve` (accept all and reject all included).

    Parameters
    ----------
    scores : array-like of shape (n_trials,)
    labels : array-like of shape (n_trials,)
        1 (or True) for target trials, 0 (or False) for non-target trials.
    p_target : float, default=0.01
        Prior probability of a target trial, in (0, 1).
    c_miss, c_fa : float, default=1.0
        Positive costs of a miss and of a false alarm.
    normalize : bool, default=True
        Divide by the cost of the better trivial system, ``min(c_miss p_target,
        c_fa (1 - p_target))``, so that 1 means no better than always accepting or always
        rejecting.

    Returns
    -------
    float

    Examples
    --------
    >>> min_dcf([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1], [1, 1, 1, 0, 0, 0, 0], p_target=0.5)
    0.25
    """
    for name, v, lo_open in (("p_target", p_target, True), ("c_miss", c_miss, True),
                             ("c_fa", c_fa, True)):
        if (isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v)
                or v <= 0 or (name == "p_target" and v >= 1)):
            allowed = "a float in the range (0, 1)" if name == "p_target" else "a positive float"
            raise ValueError(f"The {name!r} parameter of min_dcf must be {allowed}. "
                             f"Got {v!r} instead.")
    fpr, fnr, _ = det_curve(scores, labels)
    dcf = c_miss * p_target * fnr + c_fa * (1 - p_target) * fpr
    best = float(dcf.min())
    if normalize:
        best /= min(c_miss * p_target, c_fa * (1 - p_target))
    return best
