"""Shared fixtures: a seeded random generator and small synthetic data sets."""
import numpy as np
import pytest

SEED = 20261122


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread per test process.

    The suite runs as parallel workers on a small shared machine; multithreaded BLAS on the
    tiny matrices of these tests only adds contention (a 2x2 triangular solve was measured 10x
    slower with two threads on a loaded machine).
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def rng():
    """A freshly seeded generator, so every test sees the same numbers whatever runs before it."""
    return np.random.default_rng(SEED)


def _make_blobs(rng, n_per=(60, 50, 70), d=3, spread=6.0, scale=1.0):
    """Well-separated Gaussian blobs: (X, labels)."""
    k = len(n_per)
    centres = rng.normal(scale=spread, size=(k, d))
    # push the centres apart so the blobs are well separated whatever the draw
    centres += spread * np.eye(k, d) * 2
    X, y = [], []
    for j, n in enumerate(n_per):
        A = rng.normal(size=(d, d)) * 0.3 + np.eye(d)
        X.append(centres[j] + scale * rng.normal(size=(n, d)) @ A)
        y.append(np.full(n, j))
    return np.vstack(X), np.concatenate(y)


@pytest.fixture
def blobs(rng):
    """Three well-separated 3-D blobs, 180 rows: (X, labels)."""
    return _make_blobs(rng)


@pytest.fixture(name="make_blobs")
def make_blobs_fixture():
    """The blob generator itself: ``make_blobs(rng, n_per=(...), d=..., spread=...)``."""
    return _make_blobs
