"""Numeric edges of inference: rows far from every component, constant data in coresets,
non-finite input to the torch module, and scoring in bounded memory."""
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import linalg

from gaussmix import GaussianMixture, coreset, covariance
from gaussmix._kernels import far_log_resp, log_mahalanobis_sq, log_resp_rows
from gaussmix.conditional import GaussianMixtureRegressor, condition

NAMES = covariance.names()


@pytest.fixture
def two_groups(rng):
    # different spreads, so that far away the components' quadratic forms differ
    return np.vstack([rng.normal(size=(150, 2)) * [1.0, 2.0],
                      rng.normal(size=(150, 2)) * [0.5, 0.3] + [10.0, 0.0]])


def _fit(X, covariance_type="full", k=2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)


def _precision(gm, j):
    model = covariance.get(gm.covariance_type)
    d = gm.means_.shape[1]
    return np.linalg.inv(model.component_covariance(gm.covariances_, j, d))


# ---------------------------------------------------------------------------------------------
# kernels


def test_log_mahalanobis_sq_matches_direct_formula(rng):
    X = rng.normal(size=(40, 3)) * 5
    A = rng.normal(size=(3, 3))
    S = A @ A.T + np.eye(3)
    mean = rng.normal(size=3)
    R = X - mean
    ref = np.log(np.einsum("nd,de,ne->n", R, np.linalg.inv(S), R))
    got = log_mahalanobis_sq(X, mean, np.linalg.cholesky(S))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_log_mahalanobis_sq_is_homogeneous_beyond_overflow(rng):
    # q(c x) = c^2 q(x) for a zero mean: log q(c x) = 2 log c + log q(x), even where c^2 q
    # overflows float64 (c = 1e200) and where c x itself nearly does (c = 1e307)
    X = rng.normal(size=(20, 2))
    C = np.linalg.cholesky(np.array([[2.0, 0.5], [0.5, 1.0]]))
    base = log_mahalanobis_sq(X, np.zeros(2), C)
    for c in (1e200, 1e307):
        got = log_mahalanobis_sq(c * X, np.zeros(2), C)
        np.testing.assert_allclose(got, base + 2 * np.log(c), rtol=1e-13)
    assert log_mahalanobis_sq(np.ones((1, 2)), np.ones(2), C)[0] == -np.inf


def test_far_log_resp_one_hot_ties_and_excluded_components():
    log_q = np.array([[5.0, 3.0, 4.0],
                      [3.0, 3.0, 9.0],      # a tie: split equally
                      [1.0, 2.0, 2.0]])     # the smallest form has no weight
    with np.errstate(divide="ignore"):
        log_w = np.log([0.0, 0.5, 0.5])
        got = np.exp(far_log_resp(log_q, log_w))
    np.testing.assert_array_equal(got, [[0, 1, 0], [0, 1, 0], [0, 0.5, 0.5]])
    with np.errstate(divide="ignore"):
        got = np.exp(far_log_resp(log_q[1:2], np.log([0.2, 0.3, 0.5])))
    np.testing.assert_array_equal(got, [[0.5, 0.5, 0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_resp_rows_sum_to_one_at_huge_log_densities(dtype):
    # log-densities so large that log(k) is below their rounding: a - logsumexp(a) would
    # give rows summing to k
    big = 1e300 if dtype == np.float64 else 1e30
    a = np.array([[-big, -big], [-big, -big * 1.5], [-1.0, -2.0]], dtype=dtype)
    log_norm, log_resp = log_resp_rows(a.copy())
    resp = np.exp(log_resp.astype(np.float64))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(resp[0], [0.5, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(resp[1], [1.0, 0.0])
    np.testing.assert_allclose(log_norm[2], np.logaddexp(-1.0, -2.0), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# rows far from every component


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_far_rows_are_one_hot_on_the_smallest_quadratic_form(covariance_type, two_groups):
    gm = _fit(two_groups, covariance_type)
    dirs = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.6, -0.8], [1.0, 1.0]])
    Z = np.vstack([1e200 * dirs, [[1e308, -1e308]]])
    proba = gm.predict_proba(Z)
    assert np.all(np.isfinite(proba))
    np.testing.assert_array_equal(np.sort(proba, axis=1), np.tile([0.0, 1.0], (len(Z), 1)))
    # reference: far away, x^T P_j x / |x|^2 decides (means and log-determinants are lost)
    u = Z / np.abs(Z).max(axis=1, keepdims=True)
    forms = np.stack([np.einsum("nd,de,ne->n", u, _precision(gm, j), u) for j in range(2)], 1)
    np.testing.assert_array_equal(proba.argmax(axis=1), forms.argmin(axis=1))
    np.testing.assert_array_equal(gm.predict(Z), forms.argmin(axis=1))
    # the limit agrees with the ordinary computation where it still works (1e150 c)
    np.testing.assert_array_equal(gm.predict(1e150 * dirs), gm.predict(1e200 * dirs))
    assert np.all(gm.score_samples(Z) == -np.inf)


def test_far_rows_tie_between_components_of_equal_covariance(two_groups):
    # tied: x^T P x is the same for every component, the means are lost in rounding
    gm = _fit(two_groups, "tied")
    Z = np.array([[1e200, 0.0], [0.0, -1e200], [3.0, 1.0]])
    proba = gm.predict_proba(Z)
    np.testing.assert_array_equal(proba[:2], np.full((2, 2), 0.5))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(Z), proba.argmax(axis=1))


def test_far_rows_skip_a_component_without_weight(two_groups):
    gm = _fit(two_groups, "full", k=3)
    Z = 1e200 * np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.3]])
    winners = gm.predict(Z)
    j = winners[0]
    w = gm.weights_.copy()
    w[j] = 0.0
    gm.weights_ = w / w.sum()
    proba = gm.predict_proba(Z)
    assert np.all(proba[:, j] == 0) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("covariance_type", NAMES)
def test_huge_but_finite_log_densities_still_sum_to_one(covariance_type, two_groups):
    # |log p| ~ 1e299: before, log(sum exp) rounded away log(2) and tied rows summed to 2
    gm = _fit(two_groups, covariance_type)
    proba = gm.predict_proba(np.array([[1e150, 0.0], [0.0, 1e150], [1e10, 1e10]]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_far_rows_in_float32_are_finite_and_match_float64(two_groups):
    gm = _fit(two_groups.astype(np.float32), "full")
    Z = np.array([[1e20, 0.0], [0.0, -1e20], [3e38, 3e38]], dtype=np.float32)
    proba = gm.predict_proba(Z)
    assert proba.dtype == np.float32 and np.all(np.isfinite(proba))
    np.testing.assert_array_equal(proba.max(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(Z), gm.predict(Z.astype(np.float64) * 1e100))
    assert np.all(gm.score_samples(Z) == -np.inf)


def _winner_conditional_mean(gm, j, x_g, g, t):
    S = covariance.get(gm.covariance_type).component_covariance(gm.covariances_, j,
                                                                 gm.means_.shape[1])
    A = np.linalg.solve(S[np.ix_(g, g)], S[np.ix_(g, t)])
    mean = gm.means_[j, t] + (x_g - gm.means_[j, g]) @ A
    cov = S[np.ix_(t, t)] - S[np.ix_(g, t)].T @ A
    return mean, cov


@pytest.mark.parametrize("x", [1e200, -1e200, 1e300])
def test_condition_far_from_every_component_is_the_winners_conditional(x, rng):
    X = np.vstack([rng.normal(size=(200, 2)) @ [[1.0, 0.8], [0.0, 0.5]],
                   rng.normal(size=(200, 2)) * [2.0, 0.3] + [6.0, 1.0]])
    gm = _fit(X, "full")
    cm = condition(gm, [[x]], given=[0])
    assert cm.log_evidence[0] == -np.inf
    np.testing.assert_array_equal(np.sort(cm.weights[0]), [0.0, 1.0])
    j = int(cm.weights[0].argmax())
    # the winner has the smallest x_g^2 / S_gg, i.e. the largest marginal variance
    variances = [covariance.get("full").component_covariance(gm.covariances_, i, 2)[0, 0]
                 for i in range(2)]
    assert j == int(np.argmax(variances))
    mean, cov = _winner_conditional_mean(gm, j, np.array([x]), np.array([0]), np.array([1]))
    assert np.all(np.isfinite(cm.mean()))
    np.testing.assert_allclose(cm.mean()[0], mean, rtol=1e-12)
    np.testing.assert_allclose(cm.covariance()[0], cov, rtol=1e-10)


def test_regressor_predicts_finite_values_far_away(rng):
    x = rng.uniform(-3, 3, (500, 1))
    y = 2 * x[:, 0] + 0.1 * rng.standard_normal(500)
    reg = GaussianMixtureRegressor(3, random_state=0).fit(x, y)
    Xq = np.array([[1e200], [-1e200], [1.0]])
    mean, std = reg.predict(Xq, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)
    cm = reg.condition(Xq)
    for i in range(2):
        j = int(cm.weights[i].argmax())
        ref, cov = _winner_conditional_mean(reg.mixture_, j, Xq[i], np.array([0]),
                                            np.array([1]))
        np.testing.assert_allclose(mean[i], ref[0], rtol=1e-12)
        np.testing.assert_allclose(std[i], np.sqrt(cov[0, 0]), rtol=1e-10)


def test_conditional_covariance_centred_equals_law_of_total_covariance(rng):
    X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 3))
    gm = _fit(X, "full", k=3)
    cm = condition(gm, X[:7, :1], given=[0])
    m = cm.mean()
    ref = (np.einsum("nk,kst->nst", cm.weights, cm.covariances)
           + np.einsum("nk,nks,nkt->nst", cm.weights, cm.means, cm.means)
           - m[:, :, None] * m[:, None, :])
    np.testing.assert_allclose(cm.covariance(), ref, rtol=1e-9, atol=1e-12)
    # far from the origin the raw-moment formula cancels; the centred one is exact
    cm_far = condition(gm, [[1e150]], given=[0])
    j = int(cm_far.weights[0].argmax())
    assert cm_far.weights[0, j] == 1.0
    np.testing.assert_allclose(cm_far.covariance()[0], cm_far.covariances[j], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# coresets of constant data


@pytest.mark.parametrize("n", [100, 300_000])
@pytest.mark.parametrize("weighted", [False, True])
def test_coreset_of_constant_data_is_valid(n, weighted):
    X = np.full((n, 2), 3.5, dtype=np.float32)
    w = (np.arange(n) % 3).astype(np.float64) if weighted else None
    total = n if w is None else w.sum()
    points, weights = coreset.build(X, 10, n_clusters=3, sample_weight=w, random_state=0)
    assert 1 <= len(points) <= 10 and np.all(points == 3.5)
    assert np.all(weights > 0)
    # every row has zero cost: the draws are uniform by weight, so each draw carries W / size
    np.testing.assert_allclose(weights.sum(), total, rtol=1e-12)


def test_coreset_with_more_seeds_than_distinct_values(rng):
    # two distinct rows and five seeds: three seeds coincide and own no row
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5000, axis=0)
    points, weights = coreset.build(X, 50, n_clusters=5, random_state=0)
    assert np.all(np.isfinite(weights)) and np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(), len(X), rtol=1e-12)
    assert {tuple(p) for p in points} <= {(0.0, 0.0), (1.0, 1.0)}


def test_sensitivity_terms_of_a_centre_without_rows_are_zero():
    a, b = coreset.sensitivity_terms(np.array([10.0, 0.0]), np.array([4.0, 0.0]), 2)
    assert np.all(np.isfinite(a)) and a[1] == 0.0 and a[0] > 0 and b > 0


# ---------------------------------------------------------------------------------------------
# torch module input checks


def test_torch_forward_rejects_non_finite_input_by_default():
    torch = pytest.importorskip("torch")
    from gaussmix.torch import GaussianMixture as TorchMixture

    gm = TorchMixture(2, 2, random_state=0)
    x = torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, float("inf")]],
                     dtype=gm.means.dtype)
    for call in (gm, gm.score_samples, gm.predict_proba, gm.predict, gm.component_log_prob):
        with pytest.raises(ValueError, match=r"2 NaN or inf values \(first at row 1, column 0"):
            call(x)
    assert torch.isfinite(gm(x[:1])[0]).all()


def test_torch_validate_args_opt_out_passes_nan_through():
    torch = pytest.importorskip("torch")
    from gaussmix.torch import GaussianMixture as TorchMixture

    x = torch.tensor([[float("nan"), 0.0], [0.5, 0.5]], dtype=torch.float64)
    gm = TorchMixture(2, 2, dtype=torch.float64, random_state=0, validate_args=False)
    log_prob, log_resp = gm(x)
    assert torch.isnan(log_prob[0]) and torch.isfinite(log_prob[1])
    ref = TorchMixture(2, 2, dtype=torch.float64, random_state=0)
    assert torch.equal(log_prob[1:], ref(x[1:])[0])
    # the class-wide default, as torch.distributions.Distribution.set_default_validate_args
    TorchMixture.set_default_validate_args(False)
    try:
        assert torch.isnan(TorchMixture(2, 2, dtype=torch.float64)(x)[0][0])
        with pytest.raises(ValueError, match="NaN"):
            TorchMixture(2, 2, dtype=torch.float64, validate_args=True)(x)
    finally:
        TorchMixture.set_default_validate_args(True)
    with pytest.raises(ValueError, match="NaN"):
        TorchMixture(2, 2, dtype=torch.float64)(x)
    with pytest.raises(ValueError, match="validate_args"):
        TorchMixture(2, 2, validate_args="yes")


def test_torch_from_estimator_forwards_validate_args(two_groups):
    torch = pytest.importorskip("torch")
    from gaussmix.torch import GaussianMixture as TorchMixture

    gm = _fit(two_groups)
    x = torch.tensor([[float("nan"), 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="NaN"):
        TorchMixture.from_estimator(gm)(x)
    assert torch.isnan(TorchMixture.from_estimator(gm, validate_args=False)(x)[0]).all()


# ---------------------------------------------------------------------------------------------
# scoring in chunks


def _unchunked(gm, X, w):
    ll = gm.score_samples(X)
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    total = float(np.dot(w, ll))
    p = gm._n_parameters()
    return total / w.sum(), -2 * total + p * np.log(w.sum()), -2 * total + 2 * p


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_score_bic_aic_equal_unchunked(dtype, weighted, rng, tmp_path):
    X = np.vstack([rng.normal(size=(3000, 3)), rng.normal(size=(2001, 3)) + 4]).astype(dtype)
    w = rng.uniform(0, 3, size=len(X)) if weighted else None
    gm = _fit(X, "full", k=3)
    ref = _unchunked(gm, X, w)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    for chunk_size in (None, 257, 1000):
        gm.set_params(chunk_size=chunk_size)
        for data in (X, mm):
            got = gm.score(data, sample_weight=w), gm.bic(data, w), gm.aic(data, w)
            np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_chunked_score_reports_non_finite_rows(rng):
    X = rng.normal(size=(2000, 2))
    gm = _fit(X).set_params(chunk_size=256)
    X[1500, 1] = np.nan
    for method in (gm.score, gm.bic, gm.aic):
        with pytest.raises(ValueError, match="row 1500, column 1"):
            method(X)
    with pytest.raises(ValueError, match="sample_weight"):
        gm.score(X[:10], sample_weight=np.ones(9))


def test_score_of_a_far_row_is_minus_inf(two_groups):
    gm = _fit(two_groups)
    assert gm.score(np.vstack([two_groups, [[1e200, 0.0]]])) == -np.inf
    assert gm.bic(np.array([[1e200, 0.0]])) == np.inf


@pytest.mark.parametrize("method", ["score", "bic", "aic"])
def test_scoring_a_memmap_allocates_one_chunk_not_n_floats(method, rng, tmp_path):
    n = 2_000_000
    path = tmp_path / "X.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 2))
    for s in range(0, n, 500_000):
        mm[s:s + 500_000] = rng.normal(size=(500_000, 2))
    mm.flush()
    del mm
    X = np.load(path, mmap_mode="r")
    gm = _fit(np.asarray(X[:5000]), "full", k=3).set_params(chunk_size=1 << 14)
    peaks = []
    for rows in (n // 4, n):
        tracemalloc.start()
        value = getattr(gm, method)(X[:rows])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert np.isfinite(value)
    # an n-length float64 array alone would be n * 8 = 16 MB
    assert peaks[1] < n * 8 / 4, peaks
    # and the peak does not grow with the number of rows
    assert peaks[1] < 1.5 * peaks[0] + (1 << 20), peaks
