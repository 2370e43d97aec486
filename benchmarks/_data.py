"""Deterministic synthetic data for the benchmarks: Gaussian blobs with random covariances."""
from __future__ import annotations

import numpy as np

#: name -> (n, d, k, covariance types)
CONFIGS = {
    "A": (1_000_000, 2, 8, ("full",)),
    "B": (1_000_000, 16, 16, ("full",)),
    "C": (200_000, 64, 32, ("full",)),
    "D": (1_000_000, 16, 16, ("diag",)),
    "E": (100_000, 2, 3, ("full",)),
    "F": (1_000_000, 16, 16, ("tied", "spherical")),
}


def blobs(n: int, d: int, k: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """``n`` rows from ``k`` well-separated Gaussian blobs in ``d`` dimensions.

    Centres are drawn uniformly in a box of side 10 * d**0.25; each blob has a random
    covariance ``A A^T / d + 0.1 I`` scaled by a factor in [0.3, 1.5]. Rows are shuffled.
    The same arguments always give the same array.
    """
    rng = np.random.default_rng([seed, n, d, k])
    side = 10.0 * d ** 0.25
    centres = rng.uniform(-side / 2, side / 2, size=(k, d))
    sizes = rng.multinomial(n, rng.dirichlet(np.full(k, 5.0)))
    out = np.empty((n, d), dtype=dtype)
    start = 0
    for j in range(k):
        A = rng.standard_normal((d, d))
        cov = (A @ A.T / d + 0.1 * np.eye(d)) * rng.uniform(0.3, 1.5)
        c = np.linalg.cholesky(cov)
        m = sizes[j]
        out[start:start + m] = centres[j] + rng.standard_normal((m, d)) @ c.T
        start += m
    rng.shuffle(out, axis=0)
    return out
