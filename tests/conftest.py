"""Shared fixtures: a seeded random generator and small synthetic data sets."""
import os

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


def _local_cluster_client(set_as_default: bool):
    """A real ``distributed.LocalCluster`` (2 worker processes, 1 thread each) and its client;
    the workers import gaussmix from this checkout."""
    import distributed
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src + (os.pathsep + old if old else "")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=set_as_default)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def dask_client():
    """A client of a real 2-process LocalCluster, set as the default client."""
    yield from _local_cluster_client(True)


@pytest.fixture(scope="module")
def dask_client_not_default():
    """A client of a real 2-process LocalCluster, not set as the default client."""
    yield from _local_cluster_client(False)
