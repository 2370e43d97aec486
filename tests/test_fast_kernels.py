"""The batched kernels of gaussmix._fast against the per-component reference kernel."""
import warnings

import numpy as np
import pytest
from scipy import stats as sps

import gaussmix
from gaussmix import GaussianMixture, covariance
from gaussmix._data import ArraySource
from gaussmix._engine import Params, chunk_pass, chunk_pass_reference, e_pass, e_pass_reference
from gaussmix._init import stats_from_labels, stats_from_resp
from gaussmix._fast import (Workspace, block_stats, build_features, design_matrix,
                            n_features_out)
from gaussmix._kmeans import kmeans

NAMES = covariance.names()


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def _data(rng, n=300, d=3, k=3):
    centres = rng.randn(k, d) * 4 + 3.0  # off the origin: the shift must matter
    X = np.vstack([rng.randn(n // k, d) @ rng.randn(d, d) * 0.5 + c for c in centres])
    w = rng.uniform(0.2, 2.0, len(X))
    w[::17] = 0.0
    return X, w


def _params(rng, model, X, k):
    """Random but valid parameters in the model's shapes."""
    d = X.shape[1]
    means = X[rng.choice(len(X), k, replace=False)]
    weights = rng.dirichlet(np.full(k, 3.0))
    # covariances in the model's own structure: its M-step from random scatter matrices
    nk = rng.uniform(20.0, 60.0, k)
    base = np.cov(X.T).reshape(d, d)
    scatter = np.stack([n * (base * rng.uniform(0.2, 1) + 0.1 * np.eye(d)) for n in nk])
    if not model.full_scatter:
        scatter = np.diagonal(scatter, axis1=1, axis2=2).copy()
    covs = model.from_stats(nk, scatter, 0.0)
    prec_chol, bad = model.precision_cholesky(covs)
    assert not bad
    return Params(weights, means, covs, prec_chol)


def _assert_stats_close(a, b, rtol, atol=0.0):
    scale = max(np.abs(b.scatter).max(), 1.0)
    np.testing.assert_allclose(a.nk, b.nk, rtol=rtol, atol=atol * b.nk.max())
    np.testing.assert_allclose(a.means, b.means, rtol=rtol, atol=rtol * np.abs(b.means).max())
    np.testing.assert_allclose(a.scatter, b.scatter, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=rtol)
    assert a.weight == pytest.approx(b.weight, rel=1e-12)
    assert a.n_samples == b.n_samples


@pytest.mark.parametrize("name", NAMES)
def test_features_times_design_matrix_is_weighted_log_prob(rng, name):
    model = covariance.get(name)
    X, _ = _data(rng)
    k, d = 3, X.shape[1]
    p = _params(rng, model, X, k)
    shift = X.mean(axis=0)
    W = design_matrix(model, p, shift, np.float64)
    Xs = X - shift
    QT = np.empty((n_features_out(d, model.full_scatter), len(X)))
    QT[-1] = 1
    QT[:d] = Xs.T
    build_features(QT[:d], QT, model.full_scatter)
    # reference: scipy's multivariate normal with each component's dense covariance
    ref = np.column_stack([
        np.log(p.weights[j]) + sps.multivariate_normal(
            p.means[j], model.component_covariance(p.covariances, j, d)).logpdf(X)
        for j in range(k)])
    np.testing.assert_allclose(QT.T @ W, ref, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("full", [True, False])
def test_build_features_matches_naive(rng, full):
    X = rng.randn(11, 4)
    n, d = X.shape
    QT = np.full((n_features_out(d, full), 16), np.nan)
    QT[-1] = 1
    QT[:d, :n] = X.T
    build_features(QT[:d, :n], QT, full)
    if full:
        quad = [X[:, a] * X[:, b] for a in range(d) for b in range(a, d)]
    else:
        quad = [X[:, a] ** 2 for a in range(d)]
    naive = np.column_stack([X] + quad + [np.ones(n)])
    np.testing.assert_array_equal(QT[:, :n].T, naive)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk_size", [1, 7, None])
def test_e_pass_matches_reference_at_chunk_boundaries(rng, name, chunk_size):
    model = covariance.get(name)
    X, w = _data(rng)
    p = _params(rng, model, X, 3)
    src = ArraySource(X, w, chunk_size or len(X))
    shift = src.weighted_mean()
    ref = e_pass_reference(ArraySource(X, w, len(X)), p, model, shift, np.float64)
    for n_threads, block_rows in [(1, None), (2, 5), (3, 64)]:
        fast = e_pass(src, p, model, shift, np.float64, n_threads=n_threads,
                      block_rows=block_rows)
        _assert_stats_close(fast, ref, rtol=1e-10)
        # worst-explained rows, the candidates for re-seeding, are the same rows
        np.testing.assert_allclose(np.sort(fast.worst_score), np.sort(ref.worst_score),
                                   rtol=1e-10)
        assert len(fast.worst_X) == 3
        assert set(map(tuple, fast.worst_X.round(12))) == set(map(tuple, ref.worst_X.round(12)))


@pytest.mark.parametrize("name", NAMES)
def test_worst_rows_are_lowest_likelihood_positive_weight_rows(rng, name):
    model = covariance.get(name)
    X, w = _data(rng)
    X[0] = 100.0  # an outlier with zero weight is never a re-seeding candidate
    w[0] = 0.0
    p = _params(rng, model, X, 3)
    src = ArraySource(X, w, 50)
    s = e_pass(src, p, model, src.weighted_mean(), np.float64, n_threads=2, block_rows=16)
    dens = np.column_stack([
        np.log(p.weights[j]) + sps.multivariate_normal(
            p.means[j], model.component_covariance(p.covariances, j, X.shape[1])).logpdf(X)
        for j in range(3)])
    ll = np.logaddexp.reduce(dens, axis=1)
    ll[w == 0] = np.inf
    np.testing.assert_allclose(np.sort(s.worst_score), np.sort(ll)[:3], rtol=1e-10)
    assert not np.any(np.all(s.worst_X == 100.0, axis=1))


@pytest.mark.parametrize("name", NAMES)
def test_results_do_not_depend_on_threads_or_blocks(rng, name):
    model = covariance.get(name)
    X, w = _data(rng, n=900)
    p = _params(rng, model, X, 3)
    src = ArraySource(X, w, 1000)
    shift = src.weighted_mean()
    base = e_pass(src, p, model, shift, np.float64, n_threads=1, block_rows=4096)
    for n_threads in (1, 2, 4):
        for block_rows in (1, 33, 256):
            s = e_pass(src, p, model, shift, np.float64, n_threads=n_threads,
                       block_rows=block_rows)
            _assert_stats_close(s, base, rtol=1e-11)


@pytest.mark.parametrize("name", NAMES)
def test_float32_path_close_to_float64(rng, name):
    model = covariance.get(name)
    X, w = _data(rng, n=600)
    p = _params(rng, model, X, 3)
    src64 = ArraySource(X, w, 100)
    shift = src64.weighted_mean()
    ref = e_pass_reference(src64, p, model, shift, np.float64)
    X32 = X.astype(np.float32)
    s = e_pass(ArraySource(X32, w, 100), p, model, shift, np.float32, n_threads=2,
               block_rows=64)
    assert s.nk.dtype == np.float64 and s.scatter.dtype == np.float64
    _assert_stats_close(s, ref, rtol=2e-4, atol=1e-6)
    assert s.mean_log_likelihood == pytest.approx(ref.mean_log_likelihood, rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_chunk_pass_matches_reference(rng, name):
    model = covariance.get(name)
    X, w = _data(rng)
    p = _params(rng, model, X, 3)
    shift = np.average(X, axis=0, weights=w)
    a = chunk_pass(X, w, p, model, shift, 3)
    b = chunk_pass_reference(X, w, p, model, shift, 3)
    _assert_stats_close(a, b, rtol=1e-10)


def test_model_without_expansion_uses_reference(rng):
    class Plain(type(covariance.get("full"))):
        name = "plain-full"

        def expansion(self, means, prec_chol):
            raise NotImplementedError

    X, w = _data(rng)
    p = _params(rng, covariance.get("full"), X, 3)
    src = ArraySource(X, w, 64)
    shift = src.weighted_mean()
    a = e_pass(src, p, Plain(), shift, np.float64)
    b = e_pass_reference(src, p, covariance.get("full"), shift, np.float64)
    _assert_stats_close(a, b, rtol=0)


def test_block_stats_single_row_and_zero_weight_block(rng):
    model = covariance.get("full")
    X, _ = _data(rng)
    p = _params(rng, model, X, 3)
    shift = X.mean(axis=0)
    W = design_matrix(model, p, shift, np.float64)
    ws = Workspace(4, X.shape[1], 3, True, np.float64)
    one = block_stats(X[:1], np.array([2.0]), W, shift, ws, 3)
    assert one.nk.sum() == pytest.approx(2.0)
    np.testing.assert_allclose(one.scatter, 0.0, atol=1e-9)
    zero = block_stats(X[:4], np.zeros(4), W, shift, ws, 3)
    assert zero.nk.sum() == 0 and zero.ll == 0 and zero.worst_X == []


@pytest.mark.parametrize("name", NAMES)
def test_label_statistics_match_one_hot_responsibilities(rng, name):
    model = covariance.get(name)
    X, w = _data(rng)
    labels = rng.randint(0, 4, len(X))
    labels[labels == 2] = 1  # an empty component
    src = ArraySource(X, w, 37)
    shift = src.weighted_mean()
    a = stats_from_labels(src, labels, 4, model, shift, np.float64)
    b = stats_from_resp(src, np.eye(4)[labels], model, shift, np.float64)
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-12)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.scatter, b.scatter, rtol=1e-10, atol=1e-9)


# ------------------------------------------------------------------ whole fits


@pytest.mark.parametrize("name", NAMES)
def test_fit_does_not_depend_on_chunk_size(rng, name):
    X, w = _data(rng)
    fits = []
    for cs in (1, 7, len(X)):
        gm = GaussianMixture(3, covariance_type=name, chunk_size=cs, random_state=0, tol=0,
                             max_iter=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X, sample_weight=w)
        fits.append(gm)
    for gm in fits[1:]:
        np.testing.assert_allclose(gm.lower_bounds_, fits[0].lower_bounds_, rtol=1e-10)
        np.testing.assert_allclose(gm.means_, fits[0].means_, rtol=1e-8, atol=1e-8)


def _blobs(rng, n=600, d=3, k=3, thin=False):
    """Blobs with covariance eigenvalues in [0.25, 1], or down to 1e-4 when ``thin``."""
    parts = []
    for c in rng.uniform(-8, 8, (k, d)):
        q, _ = np.linalg.qr(rng.randn(d, d))
        ev = rng.uniform(0.25, 1.0, d)
        if thin:
            ev[0] = 1e-4
        parts.append(rng.randn(n // k, d) * np.sqrt(ev) @ q.T + c)
    return np.vstack(parts)


def _fits(X, name):
    from sklearn.mixture import GaussianMixture as Sk
    ref = Sk(3, covariance_type=name, random_state=0).fit(X)
    init = dict(weights_init=ref.weights_, means_init=ref.means_,
                precisions_init=ref.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Sk(3, covariance_type=name, tol=0, max_iter=8, **init).fit(X)
        b = GaussianMixture(3, covariance_type=name, tol=0, max_iter=8, **init).fit(X)
        c = GaussianMixture(3, covariance_type=name, tol=0, max_iter=8, **init).fit(
            X.astype(np.float32))
    return a, b, c


@pytest.mark.parametrize("name", covariance.BUILTIN_NAMES)  # the structures scikit-learn has
def test_fit_matches_sklearn_float64_and_float32(rng, name):
    a, b, c = _fits(_blobs(rng), name)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(c.lower_bounds_, b.lower_bounds_, rtol=1e-4)


def test_float32_on_a_nearly_singular_component(rng):
    # the float32 expansion would lose ~1e-3 relative on a component 100 times thinner in one
    # direction: the error estimate switches such passes to float64 arithmetic
    from gaussmix._fast import F32_MAX_ERROR, float32_error
    X = _blobs(rng, thin=True)
    a, b, c = _fits(X, "full")
    model = covariance.get("full")
    quad, _, _ = model.expansion(b.means_ - X.mean(0), b.precisions_cholesky_)
    assert float32_error(quad, b.means_ - X.mean(0)) > F32_MAX_ERROR
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(c.lower_bounds_, b.lower_bounds_, rtol=1e-4)


def test_integer_and_zero_weights_in_fast_kmeans_init(rng):
    # large enough that k-means runs on a weighted subsample
    n = 150_000
    X = np.vstack([rng.randn(n // 3, 2) + c for c in ([0, 0], [6, 0], [0, 6])])
    w = rng.randint(0, 3, n).astype(float)
    keep = w > 0
    reps = np.repeat(np.arange(n), w.astype(int))
    c1, l1 = kmeans(X, 3, w, np.random.RandomState(1))
    c2, l2 = kmeans(X[keep], 3, w[keep], np.random.RandomState(1))
    c3, _ = kmeans(X[reps], 3, np.ones(len(reps)), np.random.RandomState(1))
    from gaussmix._kmeans import subsample_size
    assert subsample_size(int(keep.sum()), 3) is not None
    np.testing.assert_allclose(c1, c2, rtol=1e-10)
    np.testing.assert_array_equal(l1[keep], l2)
    # duplicated rows: the same draws, identical sums up to summation order
    np.testing.assert_allclose(c1, c3, rtol=1e-8)


def test_fast_kmeans_init_as_good_as_full_kmeans(rng):
    n = 120_000
    centres = rng.uniform(-10, 10, (6, 3))
    X = np.vstack([rng.randn(n // 6, 3) + c for c in centres])
    w = np.ones(len(X))

    def inertia(C):
        return float((((X[:, None, :] - C[None]) ** 2).sum(-1)).min(1).sum())

    sub, _ = kmeans(X, 6, w, np.random.RandomState(0))
    full, _ = kmeans(X, 6, w, np.random.RandomState(0), sample_size=None)
    assert inertia(sub) <= inertia(full) * 1.001


def test_degenerate_component_is_reseeded(rng):
    # a component started on 10 identical far-away rows collapses onto them (reg_covar=0)
    X = np.vstack([rng.randn(300, 2), np.tile([[8.0, 8.0]], (10, 1))])
    gm = GaussianMixture(2, reg_covar=0.0, means_init=[[0.0, 0.0], [8.0, 8.0]],
                         weights_init=[0.97, 0.03], precisions_init=[np.eye(2), np.eye(2)],
                         max_iter=5, tol=0)
    with pytest.warns(gaussmix.DegenerateComponentWarning):
        gm.fit(X)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))
