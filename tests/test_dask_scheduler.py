"""Which scheduler a Dask fit runs on: the active one, never a cluster it was not asked for."""
import os

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import gaussmix.dask as gdask  # noqa: E402
from gaussmix import GaussianMixture  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [-3.0, 6.0]])
    X = np.vstack([rng.normal(c, s, (m, 2))
                   for c, s, m in zip(centres, [1.0, 1.3, 0.6], [3000, 1500, 500])])
    return X[rng.permutation(len(X))]


@pytest.fixture
def worker_path(monkeypatch):
    """Worker processes import gaussmix from this checkout."""
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", SRC + (os.pathsep + old if old else ""))


@pytest.fixture
def no_cluster(monkeypatch):
    """Starting a LocalCluster or a new Client fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a dask cluster or client was started")

    assert not distributed.client._global_clients, "a client leaked from another test"
    monkeypatch.setattr(distributed.LocalCluster, "__init__", refuse)
    monkeypatch.setattr(distributed.Client, "__init__", refuse)


class Counting:
    """A dask ``get`` (the synchronous scheduler) that counts the graphs it runs."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


def fixed_init(X):
    ref = GaussianMixture(3, random_state=1, max_iter=1).fit(X)
    return dict(weights_init=ref.weights_, means_init=ref.means_ + 0.2,
                precisions_init=ref.precisions_, tol=1e-9, max_iter=10)


def assert_same_fit(a, b, rtol=1e-8):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


def test_no_client_runs_on_threads_and_starts_no_cluster(no_cluster, data):
    w = np.random.default_rng(0).uniform(0, 2, len(data))
    kw = fixed_init(data)
    X = da.from_array(data, chunks=(1100, 2))
    gm = GaussianMixture(3, **kw).fit(X, sample_weight=w)
    assert_same_fit(gm, GaussianMixture(3, **kw).fit(data, sample_weight=w))
    # own initialisation and the coreset path take the same route
    assert GaussianMixture(3, random_state=0).fit(X).converged_
    P, W = gdask.coreset(X, 400, n_clusters=3, random_state=0)
    assert len(P) <= 400 and W.sum() == pytest.approx(len(data), rel=0.1)
    cs = GaussianMixture(3, random_state=0, coreset_size=400).fit(X)
    np.testing.assert_allclose(
        cs.means_, GaussianMixture(3, random_state=0).fit(P, sample_weight=W).means_)
    # gaussmix.dask.fit honours coreset_size too, on the scheduler it is given
    direct = gdask.fit(GaussianMixture(3, random_state=0, coreset_size=400), X,
                       scheduler="synchronous")
    np.testing.assert_array_equal(direct.means_, cs.means_)
    assert not distributed.client._global_clients


def test_configured_scheduler_is_used(no_cluster, data):
    kw = fixed_init(data)
    get = Counting()
    with dask.config.set(scheduler=get):
        gm = GaussianMixture(3, **kw).fit(da.from_array(data, chunks=(2000, 2)))
    # one graph for the first (validating) pass, then one per E-step (with or without a
    # final E-step after the last M-step)
    assert get.calls in (1 + gm.n_iter_, 2 + gm.n_iter_)
    assert_same_fit(gm, GaussianMixture(3, **kw).fit(data))


@pytest.mark.parametrize("scheduler", ["threads", "synchronous", "processes"])
def test_named_local_scheduler(no_cluster, worker_path, data, scheduler):
    kw = fixed_init(data)
    X = da.from_array(data, chunks=(1700, 2))
    gm = gdask.fit(GaussianMixture(3, **kw), X, scheduler=scheduler)
    assert_same_fit(gm, GaussianMixture(3, **kw).fit(data))


def test_active_client_is_used(worker_path, data, monkeypatch):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        def refuse(*args, **kwargs):
            raise AssertionError("a second cluster was started")

        monkeypatch.setattr(distributed, "LocalCluster", refuse)
        kw = fixed_init(data)
        X = da.from_array(data, chunks=(1700, 2))
        with distributed.get_task_stream(client) as ts:
            gm = GaussianMixture(3, **kw).fit(X)
        keys = [t["key"] for t in ts.data]
        n_stats = sum("_block_stats" in str(k) for k in keys)  # 3 blocks per E-step
        assert n_stats % 3 == 0 and n_stats // 3 in (gm.n_iter_, gm.n_iter_ + 1)
        assert any("_scan_block" in str(k) for k in keys)
        assert_same_fit(gm, GaussianMixture(3, **kw).fit(data))
        # a scheduler set in dask.config takes precedence over the client, as in dask.compute
        get = Counting()
        with dask.config.set(scheduler=get), distributed.get_task_stream(client) as ts:
            GaussianMixture(3, **kw).fit(X)
        assert get.calls > 0 and not ts.data


def test_scheduler_local_starts_and_closes_a_cluster(worker_path, data, monkeypatch):
    started = []

    class Recording(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(distributed, "LocalCluster", Recording)
    assert not distributed.client._global_clients
    kw = fixed_init(data)
    X = da.from_array(data, chunks=(1700, 2))
    gm = gdask.fit(GaussianMixture(3, **kw), X, scheduler="local")
    assert len(started) == 1
    assert started[0].status == distributed.core.Status.closed
    assert started[0].processes
    assert not distributed.client._global_clients
    assert_same_fit(gm, GaussianMixture(3, **kw).fit(data))


def test_cli_scheduler_local(worker_path, data, tmp_path, monkeypatch):
    import gaussmix
    from gaussmix.cli import main

    started = []

    class Recording(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(distributed, "LocalCluster", Recording)
    path = tmp_path / "x.npy"
    np.save(path, data)
    out = tmp_path / "m.gmm"
    assert main(["fit", str(path), "-k", "3", "-o", str(out), "--seed", "0",
                 "--chunk-size", "1500", "--scheduler", "local", "-q"]) == 0
    assert len(started) == 1 and started[0].status == distributed.core.Status.closed
    # the same fit on threads: the fixed reduction tree makes the scheduler irrelevant
    ref = gdask.fit(GaussianMixture(3, random_state=0, chunk_size=1500),
                    gdask.from_npy(path, 1500), scheduler="threads")
    np.testing.assert_allclose(gaussmix.load(out).means_, ref.means_, rtol=1e-12)


def test_lazy_inference_computes_nothing(data):
    gm = GaussianMixture(3, random_state=0).fit(data)
    loads = []

    def load():
        loads.append(1)
        return data

    X = da.from_delayed(dask.delayed(load)(), shape=data.shape, dtype=data.dtype)
    X = X.rechunk((1500, 2))
    get = Counting()
    with dask.config.set(scheduler=get):
        outs = {m: getattr(gm, m)(X) for m in ("predict", "predict_proba", "score_samples")}
        assert get.calls == 0 and not loads
        for method, out in outs.items():
            assert isinstance(out, da.Array)
            np.testing.assert_allclose(out.compute(), getattr(gm, method)(data), rtol=1e-12)
    assert get.calls == 3 and len(loads) == 3
    assert outs["predict_proba"].shape == (len(data), 3)


def test_bad_scheduler_is_named(data):
    X = da.from_array(data, chunks=1000)
    gm = GaussianMixture(3)
    with pytest.raises(ValueError, match=r"scheduler must be .*'threads'.*got 'thread'"):
        gdask.fit(gm, X, scheduler="thread")
    with pytest.raises(TypeError, match="scheduler must be .* got int"):
        gdask.fit(gm, X, scheduler=3)
    with pytest.raises(ValueError, match="no distributed.Client is active"):
        with gdask.get_client(None):
            pass
    with pytest.raises(ValueError, match="single-machine"):
        with gdask.get_client("threads"):
            pass
