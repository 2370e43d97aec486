"""BayesianGaussianMixture(missing="marginalize"): mean-field VB over the missing entries."""
import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import digamma, gammaln, logsumexp
from sklearn.exceptions import ConvergenceWarning

import gaussmix
from gaussmix import BayesianGaussianMixture, GaussianMixture

COV = ["full", "tied", "diag", "spherical"]
ATTRS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
         "mean_precision_", "degrees_of_freedom_"]
CENTRES = np.array([[0.0, 0.0, 0.0, 0.0], [8.0, 8.0, -8.0, 8.0], [-8.0, -8.0, 8.0, -8.0]])


@pytest.fixture
def planted(rng):
    """Three well-separated correlated Gaussians in 4-D, labels."""
    A = np.array([[1.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0], [0.0, 0.3, 0.9, 0.0],
                  [0.2, 0.0, 0.4, 0.9]])
    sizes = (400, 300, 300)
    X = np.vstack([rng.normal(size=(n, 4)) @ A.T + c for n, c in zip(sizes, CENTRES)])
    y = np.repeat(np.arange(3), sizes)
    return X, y


def _holes(X, rng, frac):
    """``X`` with a fraction ``frac`` of its entries NaN, never a whole row."""
    X = X.copy()
    mask = rng.random(X.shape) < frac
    mask[mask.all(axis=1), 0] = False
    X[mask] = np.nan
    return X


def _match(a, b):
    """Permutation ``p`` with ``a[p]`` closest to ``b`` (rows)."""
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    p = np.empty(len(b), dtype=int)
    p[cols] = rows
    return p


@pytest.mark.parametrize("prior", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("cov", COV)
def test_lower_bound_monotone_with_missing(planted, rng, cov, prior):
    X = _holes(planted[0], rng, 0.2)
    est = BayesianGaussianMixture(n_components=5, covariance_type=cov, reg_covar=0.0,
                                  weight_concentration_prior_type=prior, init_params="random",
                                  random_state=1, max_iter=60, tol=0.0, missing="marginalize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    lb = np.asarray(est.lower_bounds_)
    assert len(lb) == 60 and np.all(np.isfinite(lb))
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()
    assert lb[-1] - lb[0] > 1.0  # it actually moved


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cov", COV)
def test_no_nan_is_bit_identical(planted, cov):
    X = planted[0]
    kw = dict(n_components=4, covariance_type=cov, random_state=0, max_iter=50)
    a = BayesianGaussianMixture(**kw).fit(X)
    b = BayesianGaussianMixture(missing="marginalize", **kw).fit(X)
    assert a.lower_bounds_ == b.lower_bounds_ and a.n_iter_ == b.n_iter_
    for attr in ATTRS:
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    for method in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(a, method)(X), getattr(b, method)(X))
    # stochastic variational inference too
    pa = BayesianGaussianMixture(**kw)
    pb = BayesianGaussianMixture(missing="marginalize", **kw)
    for s in range(0, len(X), 250):
        pa.partial_fit(X[s:s + 250])
        pb.partial_fit(X[s:s + 250])
    assert pa.lower_bounds_ == pb.lower_bounds_
    np.testing.assert_array_equal(pa.means_, pb.means_)


def _naive_log_rho(est, X):
    """``E[log pi_k] + E_q[log N(x | mu_k, Lambda_k)] + H[q(x_m | z=k)]`` row by row, from the
    definitions: q(x_m | z=k) Gaussian with precision nu (W)_mm and mean
    m_m - (W_mm)^-1 W_mo (x_o - m_o) (the precision form, no Schur complement)."""
    wc = est.weight_concentration_
    e_log_pi = digamma(wc) - digamma(wc.sum())
    k, d = est.means_.shape
    out = np.empty((len(X), k))
    for j in range(k):
        nu, beta, m = est.degrees_of_freedom_[j], est.mean_precision_[j], est.means_[j]
        P = est.precisions_[j]  # nu W
        W = P / nu
        e_logdet = d * np.log(2) + digamma(0.5 * (nu - np.arange(d))).sum() \
            + np.linalg.slogdet(W)[1]
        for n, x in enumerate(X):
            mi = np.isnan(x)
            o = ~mi
            xhat = x.copy()
            cov_m = np.zeros((d, d))
            ent = 0.0
            if mi.any():
                Wmm = W[np.ix_(mi, mi)]
                xhat[mi] = m[mi] - np.linalg.solve(Wmm, W[np.ix_(mi, o)] @ (x[o] - m[o]))
                C = np.linalg.inv(nu * Wmm)
                cov_m[np.ix_(mi, mi)] = C
                ent = 0.5 * mi.sum() * (1 + np.log(2 * np.pi)) + 0.5 * np.linalg.slogdet(C)[1]
            r = xhat - m
            e_quad = nu * (r @ W @ r + np.trace(W @ cov_m)) + d / beta
            e_log_n = 0.5 * e_logdet - 0.5 * d * np.log(2 * np.pi) - 0.5 * e_quad
            out[n, j] = e_log_pi[j] + e_log_n + ent
    return out


def test_e_step_matches_definition(planted, rng):
    X = _holes(planted[0], rng, 0.3)
    est = BayesianGaussianMixture(n_components=3, weight_concentration_prior_type=
                                  "dirichlet_distribution", random_state=0, max_iter=5,
                                  missing="marginalize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    rows = np.r_[np.flatnonzero(np.isnan(X).any(axis=1))[:40], np.arange(5)]
    ref = _naive_log_rho(est, X[rows])
    np.testing.assert_allclose(est.score_samples(X[rows]), logsumexp(ref, axis=1), rtol=1e-10)
    resp = np.exp(ref - logsumexp(ref, axis=1)[:, None])
    np.testing.assert_allclose(est.predict_proba(X[rows]), resp, atol=1e-10)


def test_lower_bound_is_the_elbo_with_entropy_of_missing(planted, rng):
    """One more step from a known state: the bound equals scikit-learn's bound of the completed
    statistics minus sum r log r plus sum r H[q(x_m | z)], each computed from definitions."""
    X = _holes(planted[0], rng, 0.25)
    kw = dict(n_components=3, weight_concentration_prior_type="dirichlet_distribution",
              random_state=0, max_iter=3, missing="marginalize", warm_start=True)
    est = BayesianGaussianMixture(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
        ref = _naive_log_rho(est, X)
        before = {a: np.copy(getattr(est, a)) for a in ATTRS}
        est.set_params(max_iter=1).fit(X)  # one iteration from the stored state
    log_z = logsumexp(ref, axis=1)
    resp = np.exp(ref - log_z[:, None])
    # the entropy of q(x_m | z=k) under the state the E-step used
    k, d = est.means_.shape
    ent_x = np.zeros_like(resp)
    for j in range(k):
        nu = before["degrees_of_freedom_"][j]
        W = before["precisions_"][j] / nu
        for n, x in enumerate(X):
            mi = np.isnan(x)
            if mi.any():
                C = np.linalg.inv(nu * W[np.ix_(mi, mi)])
                ent_x[n, j] = (0.5 * mi.sum() * (1 + np.log(2 * np.pi))
                               + 0.5 * np.linalg.slogdet(C)[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        rlogr = np.where(resp > 0, resp * np.log(resp), 0.0).sum()
    # the posterior normalisers (scikit-learn's constants) at the new state
    wc = est.weight_concentration_
    log_norm_weight = gammaln(wc.sum()) - gammaln(wc).sum()
    nu = est.degrees_of_freedom_
    W = est.precisions_ / nu[:, None, None]
    log_det_chol = 0.5 * np.linalg.slogdet(W)[1]
    log_wishart = -(nu * log_det_chol + nu * d * 0.5 * np.log(2.0)
                    + gammaln(0.5 * (nu - np.arange(d)[:, None])).sum(axis=0)).sum()
    bound = (-rlogr + (resp * ent_x).sum() - log_wishart - log_norm_weight
             - 0.5 * d * np.log(est.mean_precision_).sum())
    np.testing.assert_allclose(est.lower_bound_, bound, rtol=1e-9)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_planted_means_close_to_truth_and_to_em(planted, rng, cov):
    X = _holes(planted[0], rng, 0.1)
    bgm = BayesianGaussianMixture(n_components=6, covariance_type=cov, random_state=0,
                                  max_iter=500, missing="marginalize").fit(X)
    gm = GaussianMixture(n_components=3, covariance_type=cov, random_state=0,
                         missing="marginalize").fit(X)
    keep = bgm.weights_ > 0.05
    assert keep.sum() == 3 and bgm.effective_n_components_ == 3
    means = bgm.means_[keep]
    p = _match(means, CENTRES)
    np.testing.assert_allclose(means[p], CENTRES, atol=0.25)
    # the posterior means are shrunk towards mean_prior by beta_0 / beta_k; the completed
    # data means behind them are the maximum-likelihood EM's
    beta, beta0 = bgm.mean_precision_[keep][:, None], bgm.mean_precision_prior_
    xbar = (beta * means - beta0 * bgm.mean_prior_) / (beta - beta0)
    np.testing.assert_allclose(xbar[p], gm.means_[_match(gm.means_, CENTRES)], atol=0.01)
    np.testing.assert_allclose(np.sort(bgm.weights_[keep]), [0.3, 0.3, 0.4], atol=0.03)


def test_predictions_with_nan_agree_with_em(planted, rng):
    X0, y = planted
    X = _holes(X0, rng, 0.1)
    bgm = BayesianGaussianMixture(n_components=3, random_state=0, max_iter=300,
                                  missing="marginalize").fit(X)
    gm = GaussianMixture(n_components=3, random_state=0, missing="marginalize").fit(X)
    p = _match(bgm.means_, gm.means_)  # bgm component p[j] is gm component j
    inv = np.argsort(p)
    nan_rows = np.isnan(X).any(axis=1)
    assert nan_rows.sum() > 200
    lab_b = inv[bgm.predict(X[nan_rows])]
    np.testing.assert_array_equal(lab_b, gm.predict(X[nan_rows]))
    np.testing.assert_allclose(bgm.predict_proba(X[nan_rows])[:, p],
                               gm.predict_proba(X[nan_rows]), atol=1e-3)
    # and they are right: the planted labels, up to the permutation
    truth = _match(gm.means_, CENTRES)
    assert np.mean(truth[gm.predict(X[nan_rows])] == y[nan_rows]) == 1.0


@pytest.mark.parametrize("cov", COV)
def test_integer_weights_equal_repeated_rows_with_nan(planted, rng, cov):
    X = _holes(planted[0][::4], rng, 0.2)
    w = rng.integers(0, 4, len(X))
    w[:3] = 1
    rep = np.repeat(X, w, axis=0)
    kw = dict(n_components=4, covariance_type=cov, random_state=3, max_iter=30, tol=0.0,
              missing="marginalize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
        b = BayesianGaussianMixture(**kw).fit(rep)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-9)
    for attr in ATTRS + ["covariance_prior_", "mean_prior_"]:
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-8, atol=1e-10)


def test_partial_fit_with_nan(planted, rng):
    X = _holes(planted[0], rng, 0.1)
    X = X[rng.permutation(len(X))]
    est = BayesianGaussianMixture(n_components=3, random_state=0, total_samples=len(X),
                                  learning_offset=1.0, missing="marginalize")
    for _ in range(5):
        for s in range(0, len(X), 200):
            est.partial_fit(X[s:s + 200])
    assert np.all(np.isfinite(est.lower_bounds_))
    np.testing.assert_allclose(est.means_[_match(est.means_, CENTRES)], CENTRES, atol=0.3)


def test_save_load_round_trip(planted, rng, tmp_path):
    X = _holes(planted[0], rng, 0.1)
    est = BayesianGaussianMixture(n_components=3, random_state=0, missing="marginalize").fit(X)
    path = tmp_path / "m.gmm"
    est.save(path)
    back = gaussmix.load(path)
    assert back.missing == "marginalize"
    np.testing.assert_array_equal(back.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_errors(planted, rng, tmp_path):
    X = _holes(planted[0], rng, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=2).fit(X)
    with pytest.raises(ValueError, match="missing.*'error'.*'marginalize'|marginalize"):
        BayesianGaussianMixture(missing="impute").fit(X)
    bad = X.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="every entry missing.*rows \\[5\\]"):
        BayesianGaussianMixture(n_components=2, missing="marginalize").fit(bad)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        BayesianGaussianMixture(n_components=2, missing="marginalize").fit(bad)
    est = BayesianGaussianMixture(n_components=2, missing="marginalize").fit(X)
    with pytest.raises(ValueError, match="every entry missing"):
        est.predict(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=2).fit(planted[0]).score_samples(X)
    path = tmp_path / "x.npy"
    np.save(path, planted[0])
    mm = np.load(path, mmap_mode="r")
    with pytest.raises(ValueError, match="missing='marginalize' fits arrays in memory"):
        BayesianGaussianMixture(n_components=2, missing="marginalize").fit(mm)
