"""Input checks, seeding and progress reporting shared by the torch trainers."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch

from .._log import say

logger = logging.getLogger("gaussmix.torch")

COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")


def check_covariance_type(covariance_type):
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {list(COVARIANCE_TYPES)}, got {covariance_type!r}."
        )
    return covariance_type


def check_positive_int(value, name, *, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_positive_float(value, name, *, allow_zero=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}.") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return v


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def as_2d_tensor(X, *, name="X", dtype=None, device=None, n_features=None):
    """Convert array-like or tensor ``X`` to a finite 2-D floating tensor.

    Tensors keep their device and (floating) dtype unless ``dtype``/``device`` are given;
    NumPy input becomes float64 unless ``dtype`` says otherwise.
    """
    if isinstance(X, torch.Tensor):
        t = X.detach()
        if not torch.is_floating_point(t):
            t = t.to(torch.get_default_dtype())
    else:
        arr = np.asarray(X)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
        ):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}.")
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        t = torch.as_tensor(arr)
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype if dtype is not None else t.dtype, device=device)
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got shape {tuple(t.shape)}."
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}.")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    if n_features is not None and t.shape[1] != n_features:
        raise ValueError(
            f"{name} has {t.shape[1]} features, but the model expects {n_features}."
        )
    return t


def make_generator(random_state, device="cpu"):
    """A ``torch.Generator`` seeded from ``random_state`` (None draws a fresh seed)."""
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**31 - 1))
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        seed = int(random_state)
    else:
        raise TypeError(
            "random_state must be None, an int, a numpy RandomState/Generator or a "
            f"torch.Generator, got {type(random_state).__name__}."
        )
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def seed_from(random_state):
    """An int seed derived deterministically from ``random_state``."""
    g = make_generator(random_state)
    return int(torch.randint(0, 2**31 - 1, (1,), generator=g).item())


class Progress:
    """Report ``epoch`` and ``loss`` every ``interval`` epochs to ``logging`` or else on stderr."""

    def __init__(self, name, verbose, interval=10, max_epochs=None):
        self.name = name
        self.verbose = int(verbose)
        self.interval = max(int(interval), 1)
        self.max_epochs = max_epochs
        self.start = time.perf_counter()

    def __call__(self, epoch, loss, **extra):
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"{self.name}: the loss became {loss} at epoch {epoch}. Lower the learning "
                "rate, standardise the inputs, or use float64."
            )
        if self.verbose <= 0 or (epoch % self.interval and epoch != 1):
            return
        total = f"/{self.max_epochs}" if self.max_epochs else ""
        parts = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in extra.items())
        msg = (f"[{self.name}] epoch {epoch}{total} loss={loss:.6g} {parts} "
               f"({time.perf_counter() - self.start:.1f}s)").rstrip()
        say(msg, verbose=self.verbose, log=logger)

    def done(self, epoch, reason):
        if self.verbose > 0:
            msg = f"[{self.name}] stopped after {epoch} epochs: {reason}"
            say(msg, verbose=self.verbose, log=logger)
