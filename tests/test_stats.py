"""SufficientStats: chunk statistics against a naive loop, merge against the whole."""
import numpy as np
import pytest

from gaussmix import covariance
from gaussmix._stats import SufficientStats, chunk_stats


def naive_stats(X, w, resp, log_norm, full):
    """Weighted moments, one component and one row at a time."""
    n, d = X.shape
    k = resp.shape[1]
    nk = np.zeros(k)
    means = np.zeros((k, d))
    scatter = np.zeros((k, d, d))
    for j in range(k):
        for i in range(n):
            nk[j] += w[i] * resp[i, j]
            means[j] += w[i] * resp[i, j] * X[i]
        means[j] /= nk[j]
        for i in range(n):
            r = X[i] - means[j]
            scatter[j] += w[i] * resp[i, j] * np.outer(r, r)
    if not full:
        scatter = np.diagonal(scatter, axis1=1, axis2=2).copy()
    ll = sum(w[i] * log_norm[i] for i in range(n))
    return nk, means, scatter, ll


def _random_chunk(rng, n=40, d=3, k=3, offset=0.0):
    X = rng.normal(size=(n, d)) * [1.0, 2.0, 0.5][:d] + offset
    w = rng.uniform(0.0, 3.0, size=n)
    resp = rng.dirichlet(np.ones(k), size=n)
    log_norm = rng.normal(size=n)
    return X, w, resp, log_norm


@pytest.mark.parametrize("full", [True, False])
def test_chunk_stats_matches_naive_loop(rng, full):
    X, w, resp, log_norm = _random_chunk(rng)
    s = chunk_stats(X, w, resp, log_norm, full, n_worst=2)
    nk, means, scatter, ll = naive_stats(X, w, resp, log_norm, full)
    np.testing.assert_allclose(s.nk, nk, rtol=1e-12)
    np.testing.assert_allclose(s.means, means, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.scatter, scatter, rtol=1e-11, atol=1e-12)
    assert s.log_likelihood == pytest.approx(ll, rel=1e-12)
    assert s.weight == pytest.approx(w.sum(), rel=1e-14)
    assert s.n_samples == len(X)
    # the two worst-explained positive-weight rows are kept as re-seeding candidates
    order = np.argsort(log_norm)
    np.testing.assert_array_equal(np.sort(s.worst_score), np.sort(log_norm[order[:2]]))


@pytest.mark.parametrize("full", [True, False])
def test_merge_of_halves_equals_whole(rng, full):
    X, w, resp, log_norm = _random_chunk(rng, n=60)
    whole = chunk_stats(X, w, resp, log_norm, full, n_worst=3)
    a = chunk_stats(X[:25], w[:25], resp[:25], log_norm[:25], full, n_worst=3)
    b = chunk_stats(X[25:], w[25:], resp[25:], log_norm[25:], full, n_worst=3)
    for merged in (a.merge(b), b.merge(a)):
        np.testing.assert_allclose(merged.nk, whole.nk, rtol=1e-12)
        np.testing.assert_allclose(merged.means, whole.means, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(merged.scatter, whole.scatter, rtol=1e-11, atol=1e-12)
        assert merged.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-12)
        assert merged.weight == pytest.approx(whole.weight, rel=1e-14)
        assert merged.n_samples == whole.n_samples
        np.testing.assert_allclose(np.sort(merged.worst_score), np.sort(whole.worst_score))


def test_merge_of_many_uneven_chunks_and_empty(rng):
    X, w, resp, log_norm = _random_chunk(rng, n=100)
    whole = chunk_stats(X, w, resp, log_norm, True, n_worst=3)
    acc = SufficientStats.empty(3, X.shape[1], True)
    for lo, hi in [(0, 1), (1, 8), (8, 8), (8, 57), (57, 100)]:
        acc = acc.merge(chunk_stats(X[lo:hi], w[lo:hi], resp[lo:hi], log_norm[lo:hi], True, 3))
    np.testing.assert_allclose(acc.nk, whole.nk, rtol=1e-12)
    np.testing.assert_allclose(acc.means, whole.means, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(acc.scatter, whole.scatter, rtol=1e-11, atol=1e-12)
    assert acc.n_samples == 100


def test_data_covariance_equals_np_cov(rng):
    X, w, resp, log_norm = _random_chunk(rng, n=70)
    for full in (True, False):
        s = chunk_stats(X, w, resp, log_norm, full, n_worst=0)
        ref = np.cov(X.T, aweights=w, bias=True)
        expected = ref if full else np.diag(np.diag(ref))
        np.testing.assert_allclose(s.data_covariance(), expected, rtol=1e-11, atol=1e-13)
        assert s.mean_log_likelihood == pytest.approx(np.dot(w, log_norm) / w.sum(), rel=1e-12)


def test_zero_weight_rows_are_absent(rng):
    X, w, resp, log_norm = _random_chunk(rng, n=30)
    w[::3] = 0.0
    keep = w > 0
    s = chunk_stats(X, w, resp, log_norm, True, n_worst=30)
    t = chunk_stats(X[keep], w[keep], resp[keep], log_norm[keep], True, n_worst=30)
    np.testing.assert_allclose(s.scatter, t.scatter, rtol=1e-12)
    np.testing.assert_allclose(s.means, t.means, rtol=1e-12)
    # zero-weight rows are never re-seeding candidates
    assert len(s.worst_score) == keep.sum()
    np.testing.assert_allclose(np.sort(s.worst_score), np.sort(log_norm[keep]))


def test_float32_centred_moments_do_not_cancel(rng):
    """Data far from the origin: float32 statistics stay accurate and variances positive."""
    X, w, resp, log_norm = _random_chunk(rng, n=500, offset=1e4)
    ref = chunk_stats(X, w, resp, log_norm, True, n_worst=0)
    parts = [chunk_stats(X[s:s + 64].astype(np.float32), w[s:s + 64].astype(np.float32),
                         resp[s:s + 64].astype(np.float32), log_norm[s:s + 64].astype(np.float32),
                         True, 0) for s in range(0, 500, 64)]
    acc = parts[0]
    for p in parts[1:]:
        acc = acc.merge(p)
    assert acc.nk.dtype == np.float64 and acc.scatter.dtype == np.float64
    cov32 = covariance.get("full").from_stats(acc.nk, acc.scatter, 0.0)
    cov64 = covariance.get("full").from_stats(ref.nk, ref.scatter, 0.0)
    # float32 cannot represent 1e4 + x better than ~5e-4 absolute; variances are ~1
    np.testing.assert_allclose(cov32, cov64, atol=2e-3)
    assert np.all(np.linalg.eigvalsh(cov32) > 0)
    np.testing.assert_allclose(acc.means, ref.means, rtol=1e-6)
