"""Input checks: one declarative table of parameter constraints, and data/weight checks.

Every message names the parameter, what is allowed, and what was received.
"""
from __future__ import annotations

import numbers

import numpy as np


class Interval:
    """A numeric range constraint, ``kind`` being ``int`` or ``float``."""

    def __init__(self, kind, low=None, high=None, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, v) -> bool:
        if isinstance(v, (bool, np.bool_)):
            return False
        if self.kind is int and not isinstance(v, numbers.Integral):
            return False
        if self.kind is float and not isinstance(v, numbers.Real):
            return False
        if not np.isfinite(float(v)):  # NaN, or an infinite tolerance or regularisation
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        what = "an int" if self.kind is int else "a float"
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        return f"{what} in the range {lb}{lo}, {hi}{rb}"


class Options:
    """One of a fixed set of values."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, v) -> bool:
        # strings match by value whatever their str subclass (numpy.str_ from a numpy array,
        # as GridSearchCV passes them); other values must also match in type (True is not 1)
        return any(v == x and (type(v) is type(x) or isinstance(v, str) and isinstance(x, str))
                   for x in self.values)

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Kinds:
    """Any value of the given kinds (``None`` allowed as a kind)."""

    def __init__(self, *kinds, label: str):
        self.kinds, self.label = kinds, label

    def accepts(self, v) -> bool:
        return any((k is None and v is None) or (k is not None and isinstance(v, k))
                   for k in self.kinds)

    def __str__(self):
        return self.label


class ArrayLike:
    """``None`` or an array-like: a list, a tuple, or anything NumPy converts (``__array__``)."""

    def accepts(self, v) -> bool:
        return v is None or isinstance(v, (list, tuple, np.ndarray)) or hasattr(v, "__array__")

    def __str__(self):
        return "None or an array-like"


class Letters:
    """A string of distinct letters from ``allowed`` (hmmlearn's ``params="wmc"``)."""

    def __init__(self, allowed: str):
        self.allowed = allowed

    def accepts(self, v) -> bool:
        return (isinstance(v, str) and all(c in self.allowed for c in v)
                and len(set(v)) == len(v))

    def __str__(self):
        return (f"a string of distinct letters from {self.allowed!r} (any subset, "
                "'' included)")


def check_estimator_params(estimator) -> None:
    """Check an estimator's constructor parameters against its class's declarative table.

    The one entry point for "are these options valid?" that other modules use (for instance to
    fail fast before a grid of fits), so no module calls another class's private checks.

    Parameters
    ----------
    estimator : object
        An instance whose class defines ``_parameter_table`` and ``get_params``.
    """
    check_params(type(estimator).__name__, estimator.get_params(deep=False),
                 type(estimator)._parameter_table)


def check_params(owner: str, values: dict, table: dict) -> None:
    """Raise ``ValueError`` for the first parameter in ``values`` that no constraint accepts."""
    for name, constraints in table.items():
        v = values[name]
        if not any(c.accepts(v) for c in constraints):
            allowed = " or ".join(str(c) for c in constraints)
            raise ValueError(f"The {name!r} parameter of {owner} must be {allowed}. Got {v!r} instead.")


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise a ``ValueError`` counting the NaN/inf entries of ``X`` and locating the first."""
    if X.dtype.kind not in "fc":
        return
    finite = np.isfinite(X)
    if finite.all():
        return
    bad = ~finite
    count = int(bad.sum())
    loc = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"row {loc[0]}, column {loc[1]}" if len(loc) == 2 else f"index {loc}"
    first = X[loc].item()
    raise ValueError(
        f"Input {name} contains {count} NaN or inf value{'s' if count > 1 else ''} "
        f"(first at {where}: {first!r}); remove or impute them.")


def check_fit_range(X: np.ndarray, name: str = "X", block_rows: int = 65536) -> None:
    """Raise a ``ValueError`` when ``X`` holds values whose squares overflow its dtype.

    EM forms squared (whitened) distances and second moments; values beyond about the square
    root of the dtype's largest number (1e154 in float64, 1.8e19 in float32) overflow there,
    which would otherwise surface later as an 'ill-defined covariance'. Read in blocks of rows
    so that a memory-mapped ``X`` is not copied.
    """
    if X.dtype.kind != "f" or X.size == 0:
        return
    top = 0.0
    for s in range(0, X.shape[0], block_rows):
        top = max(top, float(np.abs(X[s:s + block_rows]).max()))
    info = np.finfo(X.dtype)
    limit = float(np.sqrt(info.max / (16 * X.shape[1])))
    if top > limit:
        hint = ("; converting to float64 extends the range to about 1e153"
                if X.dtype == np.float32 else "")
        raise ValueError(
            f"Input {name} has values up to {top:.3g} in absolute value: too large for "
            f"{X.dtype} (squared distances overflow beyond about {limit:.3g}). Scale the data, "
            f"e.g. divide by {10.0 ** np.ceil(np.log10(top / 1e3)):.0e}, before fitting{hint}.")



def check_weights_init(weights, k: int) -> np.ndarray:
    """``weights_init`` as a float64 probability vector of shape ``(k,)``; a clear error
    otherwise (shape, non-finite or out-of-range entries, a sum other than 1)."""
    w = np.array(weights, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"'weights_init' must have shape ({k},), got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > 1):
        raise ValueError("'weights_init' must be finite and in the range [0, 1].")
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"'weights_init' must sum to 1; it sums to {w.sum():.6f}.")
    return w


def check_means_init(means, k: int, d: int) -> np.ndarray:
    """``means_init`` as a finite float64 array of shape ``(k, d)``; a clear error otherwise."""
    m = np.array(means, dtype=np.float64)
    if m.shape != (k, d):
        raise ValueError(f"'means_init' must have shape ({k}, {d}), got {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise ValueError("'means_init' contains NaN or inf values.")
    return m

def check_sample_weight(sample_weight, n_samples: int, dtype=np.float64, *,
                        normalize: bool = False) -> np.ndarray:
    """Validated sample weights (n_samples,) in ``dtype``; ``None`` means all ones.

    With ``normalize`` the weights are scaled by a power of two so that the largest lies in
    [0.5, 1): an exact operation (no rounding, subnormal weights become normal), so a fit
    cannot depend on the weights' overall scale, and sums of weights cannot overflow.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n_samples, float(sample_weight), dtype=dtype)
    else:
        try:
            w = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sample_weight must be numeric: {exc}") from None
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-dimensional, got shape {w.shape}.")
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {w.shape[0]} entries but X has {n_samples} samples; "
            f"sample_weight.shape == {w.shape}, expected ({n_samples},).")
    if not np.all(np.isfinite(w)):
        n_bad = int((~np.isfinite(w)).sum())
        first = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"sample_weight contains {n_bad} NaN or inf value(s) (first at index {first}).")
    if np.any(w < 0):
        first = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"sample_weight must be non-negative; found {int((w < 0).sum())} "
                         f"negative value(s) (first at index {first}: {w[first].item()!r}).")
    if not w.max(initial=0.0) > 0:
        raise ValueError("sample_weight sums to zero: at least one sample needs a positive weight.")
    if normalize:
        w = np.ldexp(w, -np.frexp(w.max())[1])
    return w.astype(dtype, copy=False)
