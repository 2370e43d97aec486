"""Sensitivity and uniform coresets (gaussmix.coreset)."""
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture, _coreset_build, coreset
from gaussmix.coreset import d2_seeding, sensitivities


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def unbalanced(rng, n=20000, d=2):
    """Three well separated clusters with masses 1000 : 100 : 1."""
    sizes = np.array([1000, 100, 1]) * n // 1101
    centres = np.array([[0.0] * d, [8.0] * d, [-10.0] + [10.0] * (d - 1)])
    X = np.vstack([rng.normal(c, 1.0, (m, d)) for c, m in zip(centres, sizes)])
    y = np.repeat(np.arange(3), sizes)
    perm = rng.permutation(len(X))
    return X[perm], y[perm]


def test_d2_seeding_labels_and_distances_match_brute_force(rng):
    X = rng.normal(size=(3000, 3))
    w = rng.uniform(0.5, 2, size=3000)
    centres, labels, dist = d2_seeding(X, w, 7, np.random.RandomState(0))
    full = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-12, atol=1e-12)
    assert np.all(full[np.arange(len(X)), labels] <= full.min(axis=1) + 1e-12)
    # centres are rows of X
    assert all(np.any(np.all(X == c, axis=1)) for c in centres)


def test_sensitivities_match_a_naive_loop(rng):
    n, m, k = 400, 5, 4
    w = rng.uniform(0, 3, size=n)
    labels = rng.integers(0, m, size=n)
    dist = rng.exponential(size=n)
    s = sensitivities(w, labels, dist, k)
    alpha = 16 * (math.log(k) + 2)
    W = w.sum()
    cbar = sum(w[i] * dist[i] for i in range(n)) / W
    for i in range(n):
        members = [j for j in range(n) if labels[j] == labels[i]]
        mass = sum(w[j] for j in members)
        cost = sum(w[j] * dist[j] for j in members)
        ref = alpha * dist[i] / cbar + 2 * alpha * cost / (mass * cbar) + 4 * W / mass
        assert s[i] == pytest.approx(ref, rel=1e-12)


def test_build_shapes_dtype_and_unbiased_total_weight(rng):
    X, _ = unbalanced(rng)
    X32 = X.astype(np.float32)
    totals = []
    for seed in range(10):
        P, W = coreset.build(X32, 500, n_clusters=3, random_state=seed)
        assert P.dtype == np.float32 and P.shape[1] == 2 and len(P) <= 500
        assert W.dtype == np.float64 and np.all(W > 0)
        # points are distinct rows of X
        assert len(np.unique(P, axis=0)) == len(P)
        totals.append(W.sum())
    assert np.mean(totals) == pytest.approx(len(X), rel=0.03)


def test_weighted_sum_of_a_fixed_function_is_estimated(rng):
    X, _ = unbalanced(rng)
    f = multivariate_normal(mean=[1.0, 1.0], cov=[[4.0, 1.0], [1.0, 3.0]]).logpdf
    exact = f(X).sum()
    est = [np.dot(W, f(P)) for P, W in
           (coreset.build(X, 1000, n_clusters=3, random_state=s) for s in range(5))]
    assert np.mean(est) == pytest.approx(exact, rel=0.03)


def test_coreset_of_a_coreset_keeps_total_weight(rng):
    X, _ = unbalanced(rng, n=40000)
    totals = []
    for seed in range(5):
        P1, W1 = coreset.build(X, 4000, n_clusters=3, random_state=seed)
        P2, W2 = coreset.build(P1, 400, n_clusters=3, sample_weight=W1, random_state=seed + 100)
        assert len(P2) <= 400
        totals.append(W2.sum())
    # the input weights are honoured: ignoring them would give totals near 4000, not 40000
    assert np.mean(totals) == pytest.approx(len(X), rel=0.05)


def test_integer_weights_select_like_duplicated_rows_in_expectation(rng):
    X = rng.normal(size=(2000, 2))
    w = rng.integers(0, 4, size=2000).astype(float)
    Xdup = np.repeat(X, w.astype(int), axis=0)
    g = np.abs(X[:, 0])
    a = [np.dot(W, np.abs(P[:, 0])) for P, W in
         (coreset.build(X, 300, n_clusters=2, sample_weight=w, random_state=s) for s in range(20))]
    b = [np.dot(W, np.abs(P[:, 0])) for P, W in
         (coreset.build(Xdup, 300, n_clusters=2, random_state=s) for s in range(20))]
    exact = np.dot(w, g)
    assert np.mean(a) == pytest.approx(exact, rel=0.05)
    assert np.mean(b) == pytest.approx(exact, rel=0.05)


def test_small_input_is_returned_exactly_without_zero_weight_rows(rng):
    X = rng.normal(size=(50, 3))
    w = np.ones(50)
    w[[3, 7]] = 0
    P, W = coreset.build(X, 100, n_clusters=2, sample_weight=w, random_state=0)
    np.testing.assert_array_equal(P, np.delete(X, [3, 7], axis=0))
    np.testing.assert_array_equal(W, np.ones(48))


def test_memmap_input_gives_the_same_coreset(tmp_path, rng):
    X, _ = unbalanced(rng)
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    P1, W1 = coreset.build(X, 300, n_clusters=3, random_state=4)
    P2, W2 = coreset.build(M, 300, n_clusters=3, random_state=4)
    np.testing.assert_array_equal(P1, P2)
    np.testing.assert_array_equal(W1, W2)
    assert type(P2) is np.ndarray


def test_sensitivity_sampling_keeps_the_small_cluster_uniform_misses_it(rng):
    X, y = unbalanced(rng, n=50000)
    small = X[y == 2].mean(axis=0)
    hit_s, hit_u = 0, 0
    for seed in range(10):
        P, _ = coreset.build(X, 200, n_clusters=3, random_state=seed)
        Q, _ = coreset.uniform(X, 200, random_state=seed)
        hit_s += np.any(np.linalg.norm(P - small, axis=1) < 4)
        hit_u += np.any(np.linalg.norm(Q - small, axis=1) < 4)
    assert hit_s == 10
    assert hit_u <= 5


def test_uniform_weights(rng):
    X = rng.normal(size=(1000, 2))
    P, W = coreset.uniform(X, 100, random_state=0)
    assert len(P) == 100 and np.all(W == 10.0)
    w = rng.uniform(0, 2, size=1000)
    tot = [coreset.uniform(X, 100, sample_weight=w, random_state=s)[1].sum() for s in range(3)]
    np.testing.assert_allclose(tot, w.sum())


def test_coreset_fit_is_close_to_the_full_fit(rng):
    X, _ = unbalanced(rng, n=30000)
    full = GaussianMixture(3, random_state=0).fit(X)
    cs = GaussianMixture(3, random_state=0).fit(X, coreset_size=600)
    rel = abs(cs.score(X) - full.score(X)) / abs(full.score(X))
    assert rel < 0.01
    # the shortcut is exactly a weighted fit on coreset.build's output
    P, W = coreset.build(X, 600, n_clusters=3, random_state=0)
    ref = GaussianMixture(3, random_state=0).fit(P, sample_weight=W)
    np.testing.assert_array_equal(cs.means_, ref.means_)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 0}, "'size'"),
    ({"size": 2.5}, "'size'"),
    ({"n_clusters": 0}, "'n_clusters'"),
])
def test_bad_parameters(rng, kwargs, match):
    args = {"size": 10, "n_clusters": 2, **kwargs}
    size = args.pop("size")
    with pytest.raises(ValueError, match=match):
        coreset.build(rng.normal(size=(100, 2)), size, **args)


def test_bad_data(rng):
    X = rng.normal(size=(100, 2))
    with pytest.raises(ValueError, match="2-D"):
        coreset.build(X[:, 0], 10, n_clusters=2)
    X[40, 1] = np.nan
    with pytest.raises(ValueError, match="row 40"):
        coreset.build(X, 10, n_clusters=2)
    with pytest.raises(ValueError, match="sample_weight"):
        coreset.build(X[:50], 10, n_clusters=2, sample_weight=np.ones(49))
    with pytest.raises(ValueError, match="coreset_size"):
        GaussianMixture(2).fit(rng.normal(size=(100, 2)), coreset_size=0)


# ---------------------------------------------------------------------------------------------
# the large-input path: seeds from a subsample, two blocked passes, sampling block by block


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearest_block_matches_brute_force(rng, dtype):
    from gaussmix._kmeans import centre_terms, nearest_block

    X = (rng.normal(size=(5000, 3)) * 4 + 100).astype(dtype)
    C = X[rng.choice(5000, 11, replace=False)].astype(np.float64)
    full = ((X.astype(np.float64)[:, None, :] - C[None]) ** 2).sum(-1)
    shift = C.mean(axis=0)
    M, c_sq = centre_terms(C, shift, dtype)
    labels, dist = np.empty(5000, np.int32), np.empty(5000)
    nearest_block(X, M, c_sq, shift.astype(dtype), labels, dist)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=tol, atol=tol * full.mean())
    assert np.all(full[np.arange(5000), labels] <= full.min(axis=1) * (1 + tol) + tol)
    # the packed variant (float32 only): the label's centre is nearest to a relative 2^-19
    nearest_block(X, M, c_sq, shift.astype(dtype), labels, dist, exact=False)
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-5, atol=1e-5 * full.mean())
    assert np.all(full[np.arange(5000), labels] <= full.min(axis=1) * (1 + 1e-5) + 1e-5)


def big_unbalanced(rng, n=300_000):
    X, y = unbalanced(rng, n=n, d=3)
    return X.astype(np.float32), y


def test_large_input_total_weight_and_small_cluster(rng):
    X, y = big_unbalanced(rng)
    assert len(X) > 4 * coreset._seed_sample_size(3)  # seeds come from a subsample
    small = X[y == 2].mean(axis=0)
    totals, hits = [], 0
    for seed in range(8):
        P, W = coreset.build(X, 1000, n_clusters=3, random_state=seed)
        assert len(P) <= 1000 and P.dtype == np.float32
        totals.append(W.sum())
        hits += np.any(np.linalg.norm(P - small, axis=1) < 4)
    assert np.mean(totals) == pytest.approx(len(X), rel=0.03)
    assert hits == 8
    # weighted input on the same path: the total weight is estimated without bias
    w = rng.uniform(0.0, 2.0, size=len(X))
    totals = [coreset.build(X, 1000, n_clusters=3, sample_weight=w, random_state=s)[1].sum()
              for s in range(8)]
    assert np.mean(totals) == pytest.approx(w.sum(), rel=0.03)


def test_large_input_result_does_not_depend_on_threads_or_caching(rng, monkeypatch):
    X, _ = big_unbalanced(rng)
    monkeypatch.setenv("GAUSSMIX_NUM_THREADS", "2")
    P1, W1 = coreset.build(X, 500, n_clusters=3, random_state=7)
    monkeypatch.setenv("GAUSSMIX_NUM_THREADS", "1")
    P2, W2 = coreset.build(X, 500, n_clusters=3, random_state=7)
    monkeypatch.setattr(_coreset_build, "_KEEP_BYTES", 0)  # recompute distances in the second pass
    P3, W3 = coreset.build(X, 500, n_clusters=3, random_state=7)
    for P, W in ((P2, W2), (P3, W3)):
        np.testing.assert_array_equal(P, P1)
        np.testing.assert_array_equal(W, W1)


def test_large_input_bad_rows_are_named(rng):
    X, _ = big_unbalanced(rng)
    X[250_001, 2] = np.inf
    with pytest.raises(ValueError, match="row 250001"):
        coreset.build(X, 500, n_clusters=3, random_state=0)


def test_block_sampler_distribution_and_zero_rows():
    p = np.zeros(100_000)
    p[[5, 40_000, 99_999]] = [1.0, 2.0, 7.0]
    rows, counts = coreset._draw(p, 20_000, np.random.RandomState(0))
    assert rows.tolist() == [5, 40_000, 99_999]
    np.testing.assert_allclose(counts / 20_000, [0.1, 0.2, 0.7], atol=0.015)


def test_uniform_without_replacement_is_a_uniform_subset():
    freq = np.zeros(1000)
    for seed in range(400):
        idx = coreset._without_replacement(1000, 50, np.random.RandomState(seed))
        assert len(idx) == 50 and len(np.unique(idx)) == 50 and np.all(np.diff(idx) > 0)
        freq[idx] += 1
    # each row is drawn with probability 50/1000: 20 times in 400 subsets on average
    assert abs(freq.mean() - 20) < 1e-9 and freq.std() < 2 * np.sqrt(20)


def test_build_parameters_checked_by_the_table():
    X = np.ones((10, 2))
    for bad in (0, 2.5, True, "7"):
        with pytest.raises(ValueError, match=r"'size' parameter .* an int in the range \[1, inf\)"):
            coreset.build(X, bad, n_clusters=2)
    with pytest.raises(ValueError, match="'n_clusters' parameter"):
        coreset.build(X, 5, n_clusters=0)


def test_build_shows_a_progress_bar_when_verbose(capsys):
    X = np.random.default_rng(0).normal(size=(200_000, 2))
    quiet = coreset.build(X, 100, n_clusters=2, random_state=0)
    assert capsys.readouterr().err == ""
    loud = coreset.build(X, 100, n_clusters=2, random_state=0, verbose=1)
    err = capsys.readouterr().err
    assert "coreset" in err and "block" in err
    np.testing.assert_array_equal(quiet[0], loud[0])
