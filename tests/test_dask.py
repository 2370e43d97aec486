"""Distributed EM, coresets and lazy inference on a real dask LocalCluster (2 processes)."""
import os
import signal

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import gaussmix.dask as gdask  # noqa: E402
from gaussmix import GaussianMixture  # noqa: E402
from gaussmix._engine import progress  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-4.0, 7.0, 3.0]])
    sizes = [9000, 2500, 500]
    X = np.vstack([rng.normal(c, s, (m, 3)) for c, s, m in zip(centres, [1.0, 1.5, 0.7], sizes)])
    return X[rng.permutation(len(X))]


def fixed_init(X, cov="full"):
    ref = GaussianMixture(3, covariance_type=cov, random_state=1, max_iter=1).fit(X)
    return dict(covariance_type=cov, weights_init=ref.weights_, means_init=ref.means_ + 0.2,
                precisions_init=ref.precisions_, tol=1e-9, max_iter=12)


def assert_same_fit(a, b, rtol=1e-8):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_dask_em_equals_in_memory_em(client, data, cov):
    kw = fixed_init(data, cov)
    ref = GaussianMixture(3, **kw).fit(data)
    gm = GaussianMixture(3, **kw).fit(da.from_array(data, chunks=(1700, 3)))
    assert_same_fit(gm, ref, rtol=1e-8)


def test_dask_em_with_weights_and_column_chunks(client, data):
    w = np.random.default_rng(0).uniform(0, 2, len(data))
    kw = fixed_init(data)
    ref = GaussianMixture(3, **kw).fit(data, sample_weight=w)
    X = da.from_array(data, chunks=(2500, 2))
    a = gdask.fit(GaussianMixture(3, **kw), X, sample_weight=w, scheduler=client)
    b = GaussianMixture(3, **kw).fit(X, sample_weight=da.from_array(w, chunks=999))
    assert_same_fit(a, ref)
    assert_same_fit(b, ref)


def test_worker_killed_mid_fit_leaves_result_unchanged(client, data):
    kw = fixed_init(data)
    X = da.from_array(data, chunks=(1000, 3))
    undisturbed = GaussianMixture(3, **kw).fit(X)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = []

    def kill(n_iter, lower_bound):
        if n_iter == 3 and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(n_iter)

    with progress(kill):
        disturbed = GaussianMixture(3, **kw).fit(X)
    assert killed == [3]
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()
    assert_same_fit(disturbed, undisturbed, rtol=1e-12)
    assert_same_fit(disturbed, GaussianMixture(3, **kw).fit(data), rtol=1e-8)


def test_own_initialisation_and_coreset_fit(client, data):
    X = da.from_array(data, chunks=(2000, 3))
    ref = GaussianMixture(3, random_state=0).fit(data)
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_
    assert gm.score(data) == pytest.approx(ref.score(data), rel=1e-3)
    cs = GaussianMixture(3, random_state=0, coreset_size=800).fit(X)
    assert cs.score(data) == pytest.approx(ref.score(data), rel=0.01)


def test_distributed_coreset_total_weight(client, data):
    X = da.from_array(data, chunks=(1500, 3))
    totals = []
    for seed in range(3):
        P, W = gdask.coreset(X, 500, n_clusters=3, random_state=seed)
        assert len(P) <= 500 and P.shape[1] == 3
        totals.append(W.sum())
    assert np.mean(totals) == pytest.approx(len(data), rel=0.05)
    # same seed, same coreset: the result does not depend on scheduling
    P1, W1 = gdask.coreset(X, 500, n_clusters=3, random_state=11)
    P2, W2 = gdask.coreset(X, 500, n_clusters=3, random_state=11)
    np.testing.assert_array_equal(P1, P2)
    np.testing.assert_array_equal(W1, W2)


def test_lazy_inference(client, data):
    gm = GaussianMixture(3, random_state=0).fit(data)
    X = da.from_array(data, chunks=(3000, 3))
    for method, shape in [("predict", (len(data),)), ("score_samples", (len(data),)),
                          ("predict_proba", (len(data), 3))]:
        out = getattr(gm, method)(X)
        assert isinstance(out, da.Array)
        assert out.shape == shape
        np.testing.assert_allclose(out.compute(), getattr(gm, method)(data), rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        gm.predict(da.ones((10, 2), chunks=5))


def test_nan_block_is_named(client, data):
    bad = data.copy()
    bad[5123, 2] = np.nan
    X = da.from_array(bad, chunks=(1000, 3))
    with pytest.raises(ValueError, match=r"block 5 \(rows 5000\.\.5999\).*row 5123"):
        GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"block 5"):
        gdask.coreset(X, 100, n_clusters=3)


def test_cli_fit_on_a_running_scheduler(client, data, tmp_path):
    import gaussmix
    from gaussmix.cli import main

    path = tmp_path / "x.npy"
    np.save(path, data)
    out = tmp_path / "m.gmm"
    assert main(["fit", str(path), "-k", "3", "-o", str(out), "--seed", "0",
                 "--chunk-size", "2500", "--scheduler", client.scheduler.address, "-q"]) == 0
    X = gdask.from_npy(path, 2500)
    assert X.chunks[0] == (2500,) * 4 + (2000,)
    ref = GaussianMixture(3, random_state=0, chunk_size=2500).fit(X)
    np.testing.assert_allclose(gaussmix.load(out).means_, ref.means_, rtol=1e-12)
    assert GaussianMixture(3, random_state=0).fit(data).score(data) == pytest.approx(
        ref.score(data), rel=1e-3)
