"""BayesianGaussianMixture on dask arrays: the variational passes mapped over row blocks.

Reference: the in-memory fit started from the same posterior. A dask fit initialised on its
block coreset (``random_state``) with ``max_iter=0`` gives that start; warm-starting the
in-memory estimator from it must reproduce the dask fit's iterations up to summation order.
Runs on a real ``distributed.LocalCluster`` (2 worker processes, 1 thread each) and on dask's
threaded scheduler.
"""
import copy

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import gaussmix.dask as gdask  # noqa: E402
from gaussmix import BayesianGaussianMixture  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

STATE = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_",
         "degrees_of_freedom_", "mean_prior_", "covariance_prior_")


@pytest.fixture(scope="module")
def client(dask_client_not_default):
    return dask_client_not_default


@pytest.fixture
def data():
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-4.0, 7.0, 3.0]])
    sizes = [1800, 900, 300]
    X = np.vstack([rng.normal(c, s, (m, 3)) for c, s, m in zip(centres, [1.0, 1.5, 0.7], sizes)])
    return X[rng.permutation(len(X))]


def assert_same_fit(a, b, rtol=1e-8, atol=1e-10):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_
    for name in STATE:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=atol,
                                   err_msg=name)
    wa, wb = a.weight_concentration_, b.weight_concentration_
    np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=rtol)


def warm(est, **kw):
    """A copy of ``est`` that continues from its posterior."""
    return copy.deepcopy(est).set_params(warm_start=True, **kw)


def in_memory_from(start, X, sample_weight=None, **kw):
    return warm(start, **kw).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_threaded_fit_equals_in_memory_from_its_coreset_start(data, cov):
    X = da.from_array(data, chunks=(700, 3))
    kw = dict(covariance_type=cov, random_state=0, tol=1e-9)
    with dask.config.set(scheduler="threads"):
        start = BayesianGaussianMixture(4, max_iter=0, **kw).fit(X)
        fitted = BayesianGaussianMixture(4, max_iter=15, **kw).fit(X)
    assert fitted.n_features_in_ == 3 and fitted.n_iter_ == 15
    # the dask fit's start is its coreset initialisation; from there, the in-memory fit
    ref = in_memory_from(start, data, max_iter=15)
    assert_same_fit(fitted, ref)
    # the bound is monotone, as in memory
    assert np.all(np.diff(fitted.lower_bounds_) > -1e-9 * np.abs(fitted.lower_bounds_[1:]))


def test_cluster_fit_from_explicit_means(client, data):
    # known means: the start is the means themselves, the same in memory and on the cluster
    means = np.array([[0.5, 0.0, 0.0], [5.0, 1.0, -1.0], [-4.0, 6.0, 3.0]])
    kw = dict(params="wc", means_init=means, tol=1e-9, max_iter=8,
              weight_concentration_prior_type="dirichlet_distribution")
    ref = BayesianGaussianMixture(3, **kw).fit(data)
    got = gdask.fit(BayesianGaussianMixture(3, **kw), da.from_array(data, chunks=(500, 3)),
                    scheduler=client)
    np.testing.assert_array_equal(got.means_, means)
    assert_same_fit(got, ref)


def test_cluster_weights_as_dask_array_and_column_chunks(client, data):
    w = np.random.default_rng(3).uniform(0, 3, len(data))
    w[::50] = 0.0
    X = da.from_array(data, chunks=(800, 2))
    kw = dict(random_state=1, tol=1e-9)
    start = gdask.fit(BayesianGaussianMixture(5, max_iter=0, **kw), X,
                      sample_weight=da.from_array(w, chunks=333), scheduler=client)
    got = gdask.fit(BayesianGaussianMixture(5, max_iter=6, **kw), X,
                    sample_weight=da.from_array(w, chunks=333), scheduler=client)
    ref = in_memory_from(start, data, w, max_iter=6)
    assert_same_fit(got, ref)
    # the weights are the data's size against the prior: not rescaled, as in memory
    assert got.covariance_prior_ == pytest.approx(np.cov(data.T, aweights=w, ddof=0)
                                                  * w.sum() / (w.sum() - 1), rel=1e-10)
    # on the threaded scheduler: the same fit (fixed reduction tree, fixed coreset seeds)
    threads = gdask.fit(BayesianGaussianMixture(5, max_iter=6, **kw), X,
                        sample_weight=da.from_array(w, chunks=333), scheduler="threads")
    assert_same_fit(threads, got, rtol=1e-12)


def test_float32_blocks(data):
    X32 = data.astype(np.float32)
    kw = dict(random_state=0, tol=1e-9)
    Xd = da.from_array(X32, chunks=(1000, 3))
    start = gdask.fit(BayesianGaussianMixture(3, max_iter=0, **kw), Xd, scheduler="threads")
    got = gdask.fit(BayesianGaussianMixture(3, max_iter=8, **kw), Xd, scheduler="threads")
    ref = in_memory_from(start, X32, max_iter=8)
    # float32 sums: small entries (off-diagonal covariances) agree to ~1e-5 of the scale
    assert_same_fit(got, ref, rtol=2e-5, atol=2e-5)
    proba = got.predict_proba(Xd)
    assert proba.dtype == np.float64 and proba.compute().dtype == np.float64


def test_lazy_inference_and_fit_predict(client, data):
    X = da.from_array(data, chunks=(900, 3))
    est = BayesianGaussianMixture(4, random_state=0).fit(data)
    with client.as_current():  # the active client runs the graphs, the fits too
        for method, shape in [("predict", (len(data),)), ("score_samples", (len(data),)),
                              ("predict_proba", (len(data), 4))]:
            out = getattr(est, method)(X)
            assert isinstance(out, da.Array) and out.shape == shape
            np.testing.assert_allclose(client.compute(out).result(),
                                       getattr(est, method)(data), rtol=1e-12)
        labels = BayesianGaussianMixture(4, random_state=0, max_iter=20).fit_predict(X)
        assert isinstance(labels, da.Array)
        fitted = BayesianGaussianMixture(4, random_state=0, max_iter=20).fit(X)
        np.testing.assert_array_equal(labels.compute(), fitted.predict(data))
    with pytest.raises(ValueError, match="3 features"):
        est.predict(da.ones((10, 2), chunks=5))


def test_errors_name_the_block(data):
    bad = data.copy()
    bad[1234, 1] = np.nan
    X = da.from_array(bad, chunks=(500, 3))
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match=r"block 2 \(rows 1000\.\.1499\).*row 1234, column 1"):
            BayesianGaussianMixture(3, random_state=0).fit(X)
        w = np.ones(len(data))
        w[2600] = -1.0
        with pytest.raises(ValueError, match=r"sample_weight in block 5 \(rows 2500\.\.2999\)"):
            BayesianGaussianMixture(3).fit(da.from_array(data, chunks=(500, 3)),
                                           sample_weight=da.from_array(w, chunks=500))
        with pytest.raises(ValueError, match="all sample weights are zero"):
            BayesianGaussianMixture(3).fit(da.from_array(data, chunks=(500, 3)),
                                           sample_weight=np.zeros(len(data)))
        small = da.from_array(data[:4], chunks=(2, 3))
        with pytest.raises(ValueError, match="n_components = 5"):
            BayesianGaussianMixture(5).fit(small)
        with pytest.raises(ValueError, match="missing='marginalize' fits arrays in memory"):
            BayesianGaussianMixture(3, missing="marginalize").fit(X)
        with pytest.raises(TypeError, match="in-memory batches"):
            BayesianGaussianMixture(3).partial_fit(da.from_array(data, chunks=(500, 3)))
        with pytest.raises(ValueError, match="scheduler"):
            gdask.fit(BayesianGaussianMixture(3), da.from_array(data, chunks=(500, 3)),
                      scheduler="nonsense")
