"""``BayesianGaussianMixture(params=...)``: known weights, means or covariances.

Known parts must equal their ``*_init`` values exactly on every data path; the lower bound of
the model with known parts must never decrease; the free parts are checked against the
conjugate updates written out with NumPy and scipy densities, and against a planted mixture.
"""
import warnings

import numpy as np
import pytest
from scipy.special import digamma
from scipy.stats import multivariate_normal
from sklearn.base import clone

import gaussmix
from gaussmix import BayesianGaussianMixture

COV_TYPES = ("full", "tied", "diag", "spherical")
K, D = 3, 2
TRUE_W = np.array([0.2, 0.3, 0.5])
TRUE_MU = np.array([[0.0, 0.0], [4.0, 4.0], [-4.0, 4.0]])
TRUE_COV = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 1.2]],
                     [[2.0, 0.0], [0.0, 0.8]]])


def _planted(rng, n=900):
    counts = rng.multinomial(n, TRUE_W)
    X = np.vstack([rng.multivariate_normal(m, c, size=c_n)
                   for m, c, c_n in zip(TRUE_MU, TRUE_COV, counts)])
    return X[rng.permutation(len(X))]


def _true_precisions(cov_type):
    """The planted covariances reduced to ``cov_type``, as precisions."""
    cov = {"full": TRUE_COV, "tied": np.repeat(TRUE_COV.mean(0)[None], K, 0),
           "diag": np.stack([np.diag(np.diag(c)) for c in TRUE_COV]),
           "spherical": np.stack([np.trace(c) / D * np.eye(D) for c in TRUE_COV])}[cov_type]
    prec = np.linalg.inv(cov)
    return {"full": prec, "tied": prec[0], "diag": np.stack([np.diag(p) for p in prec]),
            "spherical": prec[:, 0, 0].copy()}[cov_type]


def _full(prec, cov_type):
    """(k, d, d) precision matrices from ``cov_type``-shaped ones."""
    prec = np.asarray(prec, dtype=np.float64)
    if cov_type == "full":
        return prec
    if cov_type == "tied":
        return np.repeat(prec[None], K, 0)
    if cov_type == "diag":
        return np.stack([np.diag(p) for p in prec])
    return np.stack([p * np.eye(D) for p in prec])


def _inits(params, cov_type):
    kw = {}
    if "w" not in params:
        kw["weights_init"] = TRUE_W.copy()
    if "m" not in params:
        kw["means_init"] = TRUE_MU.copy()
    if "c" not in params:
        kw["precisions_init"] = _true_precisions(cov_type)
    return kw


def _bgm(params, cov_type, **kw):
    return BayesianGaussianMixture(n_components=K, covariance_type=cov_type, params=params,
                                   random_state=0, **_inits(params, cov_type), **kw)


def _fit(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning is beside the point here
        return est.fit(*args, **kw)


def _assert_known(est, params, cov_type):
    inits = _inits(params, cov_type)
    if "w" not in params:
        np.testing.assert_array_equal(est.weights_, inits["weights_init"])
    if "m" not in params:
        np.testing.assert_array_equal(est.means_, inits["means_init"])
    if "c" not in params:
        np.testing.assert_array_equal(est.precisions_, inits["precisions_init"])
        # covariances_ are the inverse of the known precisions
        np.testing.assert_allclose(np.linalg.inv(_full(est.precisions_, cov_type)),
                                   np.linalg.inv(_full(inits["precisions_init"], cov_type)),
                                   rtol=1e-12)
        assert np.all(np.isinf(est.degrees_of_freedom_))
    if "m" not in params:
        assert np.all(np.isinf(est.mean_precision_))


# ------------------------------------------------------------------ known parts stay known
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("params", ["mc", "wc", "wm", "c", "m", "w", ""])
@pytest.mark.parametrize("path", ["memory", "chunk_size", "chunks", "float32", "weights"])
def test_known_parts_exact_after_fit(params, cov_type, path):
    rng = np.random.default_rng(1)
    X = _planted(rng, 600)
    est = _bgm(params, cov_type, max_iter=30)
    if path == "memory":
        _fit(est, X)
    elif path == "chunk_size":
        _fit(est.set_params(chunk_size=97), X)
    elif path == "chunks":
        _fit(est, [X[i:i + 150] for i in range(0, len(X), 150)])
    elif path == "float32":
        _fit(est, X.astype(np.float32))
    else:
        _fit(est, X, sample_weight=rng.integers(0, 4, len(X)).astype(float))
    _assert_known(est, params, cov_type)
    assert np.all(np.isfinite(est.lower_bounds_))


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("params", ["mc", "wc", "wm", "c", "w"])
def test_known_parts_exact_after_partial_fit(params, cov_type):
    rng = np.random.default_rng(2)
    X = _planted(rng, 800)
    est = _bgm(params, cov_type, learning_offset=1.0)
    for i in range(0, len(X), 100):
        est.partial_fit(X[i:i + 100])
        _assert_known(est, params, cov_type)
    assert est.n_iter_ == 8 and np.all(np.isfinite(est.lower_bounds_))


@pytest.mark.parametrize("params", ["mc", "wc", "c"])
def test_warm_start_keeps_known_parts(params):
    rng = np.random.default_rng(3)
    X = _planted(rng)
    est = _fit(_bgm(params, "full", warm_start=True, max_iter=3), X)
    first = est.lower_bound_
    _fit(est, X)
    _assert_known(est, params, "full")
    assert est.lower_bounds_[0] >= first - 1e-9 * abs(first)  # it went on from the first fit


def test_all_estimated_is_the_default():
    rng = np.random.default_rng(4)
    X = _planted(rng)
    a = _fit(BayesianGaussianMixture(n_components=K, random_state=0), X)
    b = _fit(BayesianGaussianMixture(n_components=K, random_state=0, params="wmc"), X)
    assert a.lower_bounds_ == b.lower_bounds_
    for name in ("weights_", "means_", "covariances_", "weight_concentration_",
                 "mean_precision_", "degrees_of_freedom_"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)),
                                      np.asarray(getattr(b, name)))


# ------------------------------------------------------------------ the lower bound
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("params", ["mc", "wc", "wm", "c", "w"])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("reg_covar", [0.0, 1e-3])
def test_lower_bound_never_decreases(params, cov_type, prior_type, reg_covar):
    rng = np.random.default_rng(5)
    X = _planted(rng, 700)
    est = _fit(_bgm(params, cov_type, weight_concentration_prior_type=prior_type,
                    reg_covar=reg_covar, tol=1e-12, max_iter=200), X)
    lb = np.asarray(est.lower_bounds_)
    assert len(lb) >= 3
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()


# ------------------------------------------------------------------ references
def _log_weights(est):
    wc = est.weight_concentration_
    if est.weight_concentration_prior_type == "dirichlet_process":
        ds = digamma(wc[0] + wc[1])
        return digamma(wc[0]) - ds + np.hstack((0, np.cumsum(digamma(wc[1]) - ds)[:-1]))
    return digamma(wc) - digamma(wc.sum())


def test_nothing_estimated_is_the_known_mixture():
    """params="": the responsibilities are those of the known mixture (scipy densities)."""
    rng = np.random.default_rng(6)
    X = _planted(rng)
    est = _fit(_bgm("", "full"), X)
    dens = np.column_stack([w * multivariate_normal(m, c).pdf(X)
                            for w, m, c in zip(TRUE_W, TRUE_MU, TRUE_COV)])
    np.testing.assert_allclose(est.predict_proba(X), dens / dens.sum(1)[:, None],
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_only_weights_estimated_matches_the_dirichlet_update(prior_type):
    """params="w": r ~ exp(E[log pi]) N(x | mu, Sigma) and the Dirichlet posterior of r."""
    rng = np.random.default_rng(7)
    X = _planted(rng)
    est = _fit(_bgm("w", "full", weight_concentration_prior_type=prior_type, tol=1e-12,
                    max_iter=500), X)
    dens = np.column_stack([np.exp(lw) * multivariate_normal(m, c).pdf(X)
                            for lw, m, c in zip(_log_weights(est), TRUE_MU, TRUE_COV)])
    resp = dens / dens.sum(1)[:, None]
    np.testing.assert_allclose(est.predict_proba(X), resp, rtol=1e-9, atol=1e-12)
    nk = resp.sum(0)  # at convergence, the posterior the responsibilities give
    a0 = est.weight_concentration_prior_
    if prior_type == "dirichlet_process":
        tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0))
        np.testing.assert_allclose(est.weight_concentration_[0], 1 + nk, rtol=1e-6)
        np.testing.assert_allclose(est.weight_concentration_[1], a0 + tail, rtol=1e-6)
    else:
        np.testing.assert_allclose(est.weight_concentration_, a0 + nk, rtol=1e-6)


def test_known_means_wishart_centred_on_them():
    """params="wc" with means known: W^-1 = W_0^-1 + sum r (x - mu)(x - mu)^T (+ N reg)."""
    rng = np.random.default_rng(8)
    X = _planted(rng)
    est = _fit(_bgm("wc", "full", tol=1e-13, max_iter=1000), X)
    r = est.predict_proba(X)
    nk = r.sum(0)
    for j in range(K):
        diff = X - TRUE_MU[j]
        scatter = (r[:, j, None] * diff).T @ diff
        expected = ((est.covariance_prior_ + scatter + nk[j] * est.reg_covar * np.eye(D))
                    / (est.degrees_of_freedom_prior_ + nk[j]))
        np.testing.assert_allclose(est.covariances_[j], expected, rtol=1e-6)
        np.testing.assert_allclose(est.degrees_of_freedom_[j],
                                   est.degrees_of_freedom_prior_ + nk[j], rtol=1e-9)


def test_known_covariances_gaussian_posterior_of_means():
    """params="wm" with covariances known: beta = beta_0 + N_k, m = (beta_0 m_0 + sum r x) /
    beta, and r ~ exp(E[log pi] - d / (2 beta)) N(x | m, Sigma)."""
    rng = np.random.default_rng(9)
    X = _planted(rng)
    est = _fit(_bgm("wm", "full", tol=1e-13, max_iter=1000), X)
    c = _log_weights(est) - 0.5 * D / est.mean_precision_
    dens = np.column_stack([np.exp(cj) * multivariate_normal(m, s).pdf(X)
                            for cj, m, s in zip(c, est.means_, TRUE_COV)])
    r = dens / dens.sum(1)[:, None]
    np.testing.assert_allclose(est.predict_proba(X), r, rtol=1e-9, atol=1e-12)
    nk = r.sum(0)
    b0 = est.mean_precision_prior_
    np.testing.assert_allclose(est.mean_precision_, b0 + nk, rtol=1e-6)
    np.testing.assert_allclose(est.means_, (b0 * est.mean_prior_ + r.T @ X)
                               / (b0 + nk)[:, None], rtol=1e-6)


# ------------------------------------------------------------------ the planted mixture
def test_free_parts_recover_the_planted_mixture():
    rng = np.random.default_rng(10)
    X = _planted(rng, 6000)
    # known means: the covariances and weights are the planted ones
    est = _fit(_bgm("wc", "full"), X)
    np.testing.assert_allclose(est.covariances_, TRUE_COV, atol=0.12)
    np.testing.assert_allclose(est.weights_, TRUE_W, atol=0.03)
    # known covariances: the means and weights (the initial clusters are paired with the
    # known covariances, so component j is the planted component j)
    est = _fit(_bgm("wm", "full"), X)
    np.testing.assert_allclose(est.means_, TRUE_MU, atol=0.1)
    np.testing.assert_allclose(est.weights_, TRUE_W, atol=0.03)
    # known weights: the same pairing by the weights alone
    est = _fit(_bgm("mc", "full"), X)
    np.testing.assert_allclose(est.means_, TRUE_MU, atol=0.1)
    np.testing.assert_allclose(est.covariances_, TRUE_COV, atol=0.12)
    # known weights and means: the covariances
    est = _fit(_bgm("c", "full"), X)
    np.testing.assert_allclose(est.covariances_, TRUE_COV, atol=0.12)
    # knowing the truth beats wrong known means by far
    wrong = _fit(BayesianGaussianMixture(n_components=K, params="wc",
                                         means_init=TRUE_MU + 2.0, random_state=0), X)
    assert est.score(X) > wrong.score(X) + 0.5


def test_zero_known_weight_gets_no_rows():
    rng = np.random.default_rng(11)
    X = _planted(rng)
    w = np.array([0.0, 0.4, 0.6])
    est = _fit(BayesianGaussianMixture(n_components=K, params="mc", weights_init=w,
                                       random_state=0, max_iter=50), X)
    np.testing.assert_array_equal(est.weights_, w)
    assert np.all(est.predict_proba(X)[:, 0] < 1e-30)  # exp(-80), the kernels' floor
    assert np.all(np.isfinite(est.lower_bounds_))
    assert np.all(np.diff(est.lower_bounds_) >= -1e-9 * np.abs(est.lower_bounds_[1:]))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kw, match", [
    (dict(params="wmx"), r"'params'.*distinct letters from 'wmc'.*'wmx'"),
    (dict(params="ww"), r"'params'.*distinct letters"),
    (dict(params="mc"), r"params='mc' keeps the weights fixed, so 'weights_init' must be"),
    (dict(params="wc"), r"keeps the means fixed, so 'means_init'"),
    (dict(params="wm"), r"keeps the covariances fixed, so 'precisions_init'"),
    (dict(means_init=TRUE_MU), r"'means_init' is used only when the means are fixed"),
    (dict(params="mc", weights_init=[0.5, 0.5, 0.5]), r"'weights_init' must sum to 1"),
    (dict(params="mc", weights_init=[0.5, 0.5]), r"'weights_init' must have shape \(3,\)"),
    (dict(params="wc", means_init=np.zeros((3, 3))), r"'means_init' must have shape \(3, 2\)"),
    (dict(params="wc", means_init=np.full((3, 2), np.nan)), r"'means_init' contains NaN"),
    (dict(params="wm", precisions_init=np.eye(2)), r"'precisions_init' must have shape"),
    (dict(params="wm", precisions_init=-np.stack([np.eye(2)] * 3)),
     r"'precisions_init' must be positive definite"),
])
def test_clear_errors(kw, match):
    X = _planted(np.random.default_rng(12), 100)
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(n_components=K, **kw).fit(X)
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(n_components=K, **kw).partial_fit(X)


def test_to_sklearn_refuses_known_parts():
    X = _planted(np.random.default_rng(13))
    est = _fit(_bgm("wm", "diag"), X)
    with pytest.raises(ValueError, match="params='wmc'"):
        est.to_sklearn()
    draws, labels = est.sample(50)  # the sampler still works from the fitted attributes
    assert draws.shape == (50, D) and labels.shape == (50,)


# ------------------------------------------------------------------ files and cloning
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("params", ["mc", "wc", "wm", ""])
def test_save_load_round_trip(tmp_path, params, cov_type):
    X = _planted(np.random.default_rng(14))
    est = _fit(_bgm(params, cov_type, max_iter=20), X)
    est.save(tmp_path / "m.gmm")
    back = gaussmix.load(tmp_path / "m.gmm")
    assert type(back) is BayesianGaussianMixture and back.params == params
    for name in ("weights_", "means_", "precisions_", "covariances_", "mean_precision_",
                 "degrees_of_freedom_"):
        np.testing.assert_array_equal(np.asarray(getattr(back, name)),
                                      np.asarray(getattr(est, name)))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(back.score_samples(X), est.score_samples(X))
    assert back.lower_bounds_ == est.lower_bounds_
    _assert_known(back, params, cov_type)


def test_clone_and_get_params():
    est = _bgm("wc", "full")
    twin = clone(est)
    assert twin.get_params()["params"] == "wc"
    np.testing.assert_array_equal(twin.means_init, TRUE_MU)
    X = _planted(np.random.default_rng(15))
    np.testing.assert_array_equal(_fit(twin, X).predict(X), _fit(est, X).predict(X))
