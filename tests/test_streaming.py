"""Streaming: merge-and-reduce coreset, exact out-of-core EM, stepwise partial_fit."""
import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, covariance
from gaussmix._engine import Params, m_step
from gaussmix._online import step_size, stats_from_params
from gaussmix._data import NpyChunks
from gaussmix.coreset import StreamingCoreset

COV_TYPES = covariance.names()


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def blobs(rng, n=12000, d=2, dtype=np.float64):
    sizes = [n * 6 // 10, n * 3 // 10, n - n * 9 // 10]
    centres = rng.normal(scale=6, size=(3, d))
    X = np.vstack([rng.normal(c, 1 + j * 0.3, (m, d)) for j, (c, m) in
                   enumerate(zip(centres, sizes))])
    return X[rng.permutation(len(X))].astype(dtype)


def fixed_init(X, k=3, seed=0, cov="full"):
    ref = GaussianMixture(k, covariance_type=cov, random_state=seed, max_iter=2).fit(X)
    return {"weights_init": ref.weights_, "means_init": ref.means_,
            "precisions_init": ref.precisions_, "covariance_type": cov}


# ------------------------------------------------------------------ streaming coreset

def test_streaming_coreset_total_weight_and_bounded_memory(rng):
    size, leaf = 500, 2000
    sc = StreamingCoreset(size, 3, leaf_size=leaf, random_state=0)
    n = 0
    for _ in range(100):
        batch = blobs(rng, n=1500)
        sc.partial_fit(batch)
        n += len(batch)
        bound = size * (math.log2(max(n / leaf, 1)) + 2) + leaf
        assert sc.n_stored_ <= bound
    P, W = sc.coreset()
    assert sc.n_samples_seen_ == n == 150000
    assert len(P) <= size
    assert W.sum() == pytest.approx(n, rel=0.05)
    Pu, Wu = sc.coreset(reduce_to_size=False)
    assert len(Pu) > size and Wu.sum() == pytest.approx(n, rel=0.05)


def test_streaming_coreset_with_weights_and_query_does_not_disturb(rng):
    batches = [(blobs(rng, n=1000), rng.uniform(0.5, 1.5, 1000)) for _ in range(30)]
    a = StreamingCoreset(200, 3, leaf_size=1000, random_state=3)
    b = StreamingCoreset(200, 3, leaf_size=1000, random_state=3)
    for i, (X, w) in enumerate(batches):
        a.partial_fit(X, sample_weight=w)
        b.partial_fit(X, sample_weight=w)
        if i % 7 == 0:
            b.coreset()
    Pa, Wa = a.coreset()
    Pb, Wb = b.coreset()
    np.testing.assert_array_equal(Pa, Pb)
    np.testing.assert_array_equal(Wa, Wb)
    total = sum(w.sum() for _, w in batches)
    assert a.total_weight_ == pytest.approx(total)
    assert Wa.sum() == pytest.approx(total, rel=0.05)


def test_streaming_coreset_bad_batches(rng):
    sc = StreamingCoreset(100, 2)
    with pytest.raises(ValueError, match="has not received"):
        sc.coreset()
    sc.partial_fit(rng.normal(size=(50, 3)))
    with pytest.raises(ValueError, match="2 features"):
        sc.partial_fit(rng.normal(size=(50, 2)))
    bad = rng.normal(size=(50, 3))
    bad[10, 2] = np.inf
    with pytest.raises(ValueError, match="batch 1 .*row 60"):
        sc.partial_fit(bad)
    with pytest.raises(ValueError, match="leaf_size"):
        StreamingCoreset(100, 2, leaf_size=10).partial_fit(bad)


# ------------------------------------------------------------------ exact out-of-core EM

@pytest.mark.parametrize("cov", COV_TYPES)
def test_memmap_and_chunk_iterables_equal_in_memory_em(tmp_path, rng, cov):
    X = blobs(rng)
    init = fixed_init(X, cov=cov)
    # tol=0: every fit runs all 15 iterations, so the comparison does not hinge on whether a
    # change near rounding stops the loop
    kw = dict(tol=0.0, max_iter=15, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(3, **kw).fit(X)
    np.save(tmp_path / "x.npy", X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [
            GaussianMixture(3, chunk_size=1000, **kw).fit(
                np.load(tmp_path / "x.npy", mmap_mode="r")),
            GaussianMixture(3, **kw).fit([X[:3001], X[3001:7000], X[7000:]]),
            GaussianMixture(3, **kw).fit(NpyChunks(tmp_path / "x.npy", chunk_size=2500)),
        ]
    # an iterative M-step (mclust's EVE, VVE, ...) stops at its own tolerance, so summation
    # order moves its result by more than rounding
    loose = 1e3 if covariance.get(cov).warm_start_m_step else 1.0
    for gm in fits:
        assert gm.n_iter_ == ref.n_iter_ == 15
        np.testing.assert_allclose(gm.weights_, ref.weights_, rtol=1e-10 * loose, atol=1e-12)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10 * loose, atol=1e-10)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9 * loose,
                                   atol=1e-10 * loose)
        np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-10 * loose)
        assert gm.n_features_in_ == 2


def test_npy_chunks_can_be_held_while_the_next_is_read(tmp_path, rng):
    # a parallel E-step keeps a chunk while another thread reads the next one: chunks must not
    # share a buffer (they did, and out-of-core fits then read overwritten rows at random)
    X = rng.normal(size=(1000, 3))
    np.save(tmp_path / "x.npy", X)
    chunks = list(NpyChunks(tmp_path / "x.npy", chunk_size=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    np.testing.assert_array_equal(np.concatenate(chunks), X)


def test_weighted_memmap_and_weight_pairs_equal_in_memory(tmp_path, rng):
    X = blobs(rng)
    w = rng.uniform(0, 3, size=len(X))
    kw = dict(tol=1e-10, max_iter=10, **fixed_init(X))
    ref = GaussianMixture(3, **kw).fit(X, sample_weight=w)
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = GaussianMixture(3, chunk_size=777, **kw).fit(M, sample_weight=w)
    b = GaussianMixture(3, **kw).fit([(X[:5000], w[:5000]), (X[5000:], w[5000:])])
    for gm in (a, b):
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9, atol=1e-10)


def test_float32_memmap_with_own_initialisation(tmp_path, rng):
    X = blobs(rng, dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    gm = GaussianMixture(3, random_state=0).fit(np.load(tmp_path / "x.npy", mmap_mode="r"))
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert gm.means_.dtype == np.float64
    assert gm.converged_
    assert gm.score(X) == pytest.approx(ref.score(X), rel=2e-3)


def test_out_of_core_bad_input(rng):
    X = blobs(rng, n=3000)
    gm = GaussianMixture(3)
    with pytest.raises(TypeError, match="iterator"):
        gm.fit(iter([X[:1000], X[1000:]]))
    with pytest.raises(TypeError, match="iterator"):
        gm.fit(x for x in [X[:1000], X[1000:]])
    bad = X.copy()
    bad[2500, 0] = np.nan
    with pytest.raises(ValueError, match="chunk 2 .*row 500"):
        gm.fit([bad[:1000], bad[1000:2000], bad[2000:]])
    with pytest.raises(ValueError, match="chunk 1 has 3 features"):
        gm.fit([X[:1000], np.ones((10, 3))])
    with pytest.raises(ValueError, match="sample_weight cannot be given"):
        gm.fit([X[:1000], X[1000:]], sample_weight=np.ones(3000))


# ------------------------------------------------------------------ stepwise EM

def test_step_size_schedule():
    assert step_size(1) == pytest.approx(3 ** -0.6)
    eta = np.array([step_size(t) for t in range(1, 100000)])
    assert np.all(np.diff(eta) < 0)
    # Robbins-Monro: the sum of eta grows without bound, the sum of eta^2 converges
    assert eta.sum() > 200 and (eta ** 2).sum() < 6  # ~ t^0.4 / 0.4 and ~ zeta(1.2)-like


@pytest.mark.parametrize("cov", COV_TYPES)
def test_stats_from_params_round_trip(rng, cov):
    X = blobs(rng, n=2000, d=3)
    gm = GaussianMixture(3, covariance_type=cov, random_state=0, reg_covar=1e-3).fit(X)
    model = covariance.get(cov)
    p = gm._params()
    back, bad = m_step(stats_from_params(p, model, 1e-3), model, 1e-3)
    assert not bad
    np.testing.assert_allclose(back.weights, p.weights, rtol=1e-12)
    np.testing.assert_allclose(back.means, p.means, rtol=1e-12)
    np.testing.assert_allclose(back.covariances, p.covariances, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_partial_fit_on_shuffled_stationary_data_approaches_batch(rng, cov):
    X = blobs(rng, n=20000)
    batch = GaussianMixture(3, covariance_type=cov, random_state=0, n_init=2).fit(X)
    online = GaussianMixture(3, covariance_type=cov, random_state=0)
    curve = []
    for epoch in range(3):
        perm = rng.permutation(len(X))
        for s in range(0, len(X), 500):
            online.partial_fit(X[perm[s:s + 500]])
        curve.append(online.score(X))
    gap = batch.score(X) - np.array(curve)
    assert online.n_iter_ == 120
    assert len(online.lower_bounds_) == 120
    # within 1e-3 nats per row of batch EM, and closer after three epochs than after one
    assert abs(gap[-1]) < 1e-3
    assert abs(gap[-1]) <= abs(gap[0]) + 1e-4


def test_partial_fit_continues_a_fitted_model(rng):
    X = blobs(rng, n=20000)
    gm = GaussianMixture(3, random_state=0).fit(X)
    before = gm.score(X)
    for s in range(0, 5000, 500):
        gm.partial_fit(X[s:s + 500])
    assert gm.score(X) == pytest.approx(before, rel=0.01)
    # a fresh fit() resets the online state
    gm.fit(X)
    gm.partial_fit(X[:500])
    assert gm.n_iter_ == 2


def test_partial_fit_refuses_bad_batches(rng):
    X = blobs(rng, n=1000)
    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="empty batch"):
        gm.partial_fit(np.empty((0, 2)))
    with pytest.raises(ValueError, match="at least n_components = 3"):
        gm.partial_fit(X[:2])
    gm.partial_fit(X[:500])
    with pytest.raises(ValueError, match="empty batch"):
        gm.partial_fit(X[:0])
    with pytest.raises(ValueError, match="all zero"):
        gm.partial_fit(X[:10], sample_weight=np.zeros(10))
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(np.ones((10, 3)))
    bad = X[:10].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.partial_fit(bad)
    assert gm.n_iter_ == 1


# ------------------------------------------------------------------ command line

def test_cli_fit_reads_npy_through_memmap_and_fits_coresets(tmp_path, rng):
    import gaussmix
    from gaussmix.cli import main

    X = blobs(rng, n=20000)
    path = tmp_path / "x.npy"
    np.save(path, X)
    out = tmp_path / "m.gmm"
    assert main(["fit", str(path), "-k", "3", "-o", str(out), "--seed", "0",
                 "--chunk-size", "3000", "-q"]) == 0
    ref = GaussianMixture(3, random_state=0, chunk_size=3000).fit(np.load(path, mmap_mode="r"))
    np.testing.assert_allclose(gaussmix.load(out).means_, ref.means_, rtol=1e-12)
    assert main(["fit", str(path), "-k", "3", "-o", str(out), "--seed", "0",
                 "--coreset-size", "500", "-q"]) == 0
    ref = GaussianMixture(3, random_state=0).fit(X, coreset_size=500)
    np.testing.assert_allclose(gaussmix.load(out).means_, ref.means_, rtol=1e-12)
    assert main(["fit", str(path), "-k", "3", "-o", str(out), "--coreset-size", "0"]) == 2
