"""Tensor checks and seeding shared by the torch models.

Parameters are checked against the declarative tables of :mod:`gaussmix._validation`
(see ``_training.py`` and each class's ``_parameter_table``); this module checks data.
"""
from __future__ import annotations

import numpy as np
import torch


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
