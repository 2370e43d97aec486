"""BayesianGaussianMixture with mclust's names and the shared structures EII and EEI.

The lower bound of EII/EEI is checked against the ELBO written out from its definition
(expectations under the posterior, scipy's entropies), independently of the estimator's
normaliser shortcut; the posterior update is checked to be the maximiser of that ELBO.
"""
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import digamma, gammaln, logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import gaussmix
from gaussmix import BayesianGaussianMixture, GaussianMixture

SHARED = ["EII", "EEI"]
ALIASES = [("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")]
STATE = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
         "mean_precision_", "degrees_of_freedom_", "lower_bound_", "n_iter_"]


@pytest.fixture
def data(rng):
    return np.vstack([rng.normal([0, 0, 0], 1.0, (150, 3)),
                      rng.normal([6, 6, 0], 1.0, (100, 3)),
                      rng.normal([0, 7, 7], 1.0, (80, 3))]) + 10.0


# ------------------------------------------------------------------ aliases
@pytest.mark.parametrize("prior", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("alias, name", ALIASES)
def test_alias_fits_bit_identical(data, alias, name, prior):
    kw = dict(n_components=4, weight_concentration_prior_type=prior, random_state=0,
              max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BayesianGaussianMixture(covariance_type=alias, **kw).fit(data)
        b = BayesianGaussianMixture(covariance_type=name, **kw).fit(data)
    for attr in STATE:
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=attr)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.score_samples(data), b.score_samples(data))
    np.testing.assert_array_equal(a.sample(7)[0], b.sample(7)[0])
    # the parameter stays as given (scikit-learn's get_params/clone contract)
    assert a.get_params()["covariance_type"] == alias
    assert clone(a).covariance_type == alias
    assert a.to_sklearn().covariance_type == name


def test_unknown_structure_named(data):
    with pytest.raises(ValueError, match="covariance_type.*'EEI'.*'VEV'"):
        BayesianGaussianMixture(n_components=2, covariance_type="VEV").fit(data)


# ------------------------------------------------------------------ EII / EEI
@pytest.mark.parametrize("prior", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("ct", SHARED)
def test_elbo_monotone_and_constraint(data, ct, prior):
    m = BayesianGaussianMixture(n_components=5, covariance_type=ct, random_state=1,
                                weight_concentration_prior_type=prior, max_iter=500,
                                tol=1e-8).fit(data)
    lb = np.array(m.lower_bounds_)
    assert len(lb) > 5
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:])), np.diff(lb).min()
    k, d = 5, 3
    assert m.covariances_.shape == ((k,) if ct == "EII" else (k, d))
    assert m.precisions_cholesky_.shape == m.covariances_.shape
    # one covariance shared by every component (EII: one variance for every feature too)
    np.testing.assert_array_equal(m.covariances_, np.broadcast_to(m.covariances_[0],
                                                                 m.covariances_.shape))
    np.testing.assert_allclose(m.precisions_, 1.0 / m.covariances_, rtol=1e-12)
    assert m.degrees_of_freedom_.shape == (k,)
    assert np.all(m.degrees_of_freedom_ == m.degrees_of_freedom_[0])
    assert m.effective_n_components_ == 3


@pytest.mark.parametrize("ct", SHARED)
def test_weak_prior_many_samples_approaches_mle(rng, ct):
    n, d = 20000, 3
    X = np.vstack([rng.normal([0, 0, 0], [1.0, 2.0, 0.5], (n // 2, d)),
                   rng.normal([12, -10, 6], [1.5, 1.0, 1.0], (n // 2, d))])
    gm = GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
    prior_cov = 1e-6 if ct == "EII" else np.full(d, 1e-6)
    m = BayesianGaussianMixture(n_components=2, covariance_type=ct, random_state=0,
                                weight_concentration_prior_type="dirichlet_distribution",
                                weight_concentration_prior=1.0, mean_precision_prior=1e-6,
                                degrees_of_freedom_prior=d - 1 + 1e-3,
                                covariance_prior=prior_cov, max_iter=500).fit(X)
    assert m.converged_
    np.testing.assert_allclose(m.covariances_, gm.covariances_, rtol=1e-2)
    order_m, order_g = np.argsort(m.means_[:, 0]), np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(m.means_[order_m], gm.means_[order_g], rtol=1e-2, atol=1e-2)
    # the EII variance is the mean of the EEI variances, not any one component's
    assert not np.allclose(m.covariances_[0], 1.0, rtol=0.1)


@pytest.mark.parametrize("ct", SHARED)
def test_integer_weight_equals_repeated_rows(data, rng, ct):
    w = rng.integers(1, 4, len(data))
    kw = dict(n_components=4, covariance_type=ct, random_state=0, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BayesianGaussianMixture(**kw).fit(data, sample_weight=w.astype(float))
        b = BayesianGaussianMixture(**kw).fit(np.repeat(data, w, axis=0))
    for attr in ["weights_", "means_", "covariances_", "mean_precision_",
                 "degrees_of_freedom_", "lower_bound_"]:
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-7,
                                   err_msg=attr)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("ct", SHARED)
def test_save_load_round_trip(data, tmp_path, ct):
    m = BayesianGaussianMixture(n_components=3, covariance_type=ct, random_state=0,
                                max_iter=200).fit(data)
    path = tmp_path / f"bgm_{ct}.gmm"
    m.save(path)
    back = gaussmix.load(path)
    assert type(back) is BayesianGaussianMixture
    assert back.covariance_type == ct
    for attr in STATE + ["covariance_prior_", "mean_prior_", "degrees_of_freedom_prior_"]:
        np.testing.assert_array_equal(getattr(back, attr), getattr(m, attr), err_msg=attr)
    np.testing.assert_array_equal(back.predict_proba(data), m.predict_proba(data))
    np.testing.assert_array_equal(back.score_samples(data), m.score_samples(data))
    Xs, ys = back.sample(50)
    assert Xs.shape == (50, 3) and ys.shape == (50,)


@pytest.mark.parametrize("ct", SHARED)
def test_partial_fit(rng, ct):
    centres = np.array([[0.0, 0.0], [8.0, 8.0]])
    X = np.vstack([rng.normal(c, 1.0, (1000, 2)) for c in centres])
    X = X[rng.permutation(len(X))]
    m = BayesianGaussianMixture(n_components=2, covariance_type=ct, random_state=0,
                                total_samples=len(X), learning_offset=1.0,
                                weight_concentration_prior_type="dirichlet_distribution")
    for _ in range(3):
        for batch in np.array_split(X, 10):
            m.partial_fit(batch)
    assert m.n_iter_ == 30 and math.isfinite(m.lower_bound_)
    np.testing.assert_array_equal(m.covariances_, np.broadcast_to(m.covariances_[0],
                                                                 m.covariances_.shape))
    np.testing.assert_allclose(np.sort(m.means_, axis=0), centres, atol=0.2)
    np.testing.assert_allclose(m.covariances_, 1.0, rtol=0.15)


def test_shared_errors(data):
    m = BayesianGaussianMixture(n_components=2, covariance_type="EII", random_state=0).fit(data)
    with pytest.raises(ValueError, match="to_sklearn.*'EII'"):
        m.to_sklearn()
    with pytest.raises(ValueError, match="'EEI covariance_prior'.*shape"):
        BayesianGaussianMixture(n_components=2, covariance_type="EEI",
                                covariance_prior=np.eye(3)).fit(data)
    with pytest.raises(ValueError, match="'EII covariance_prior'"):
        BayesianGaussianMixture(n_components=2, covariance_type="EII",
                                covariance_prior=np.ones(3)).fit(data)
    with pytest.raises(ValueError, match="precisions_init"):
        BayesianGaussianMixture(n_components=2, covariance_type="EII", params="wm",
                                precisions_init=np.array([1.0, 2.0])).fit(data)


def test_known_shared_precision(data):
    m = BayesianGaussianMixture(n_components=3, covariance_type="EEI", params="wm",
                                precisions_init=np.tile([1.0, 2.0, 0.5], (3, 1)),
                                random_state=0, max_iter=300).fit(data)
    np.testing.assert_array_equal(m.precisions_, np.tile([1.0, 2.0, 0.5], (3, 1)))
    assert np.all(np.diff(m.lower_bounds_) >= -1e-10 * np.abs(m.lower_bounds_[1:]))


# ------------------------------------------------------------------ the ELBO from its definition
def _reference_posterior(X, R, ct, pri):
    """The conjugate posterior of the shared model written out: normal-gamma per feature."""
    n, d = X.shape
    nk = R.sum(axis=0)
    xbar = R.T @ X / nk[:, None]
    beta = pri["beta0"] + nk
    m = (pri["beta0"] * pri["m0"] + nk[:, None] * xbar) / beta[:, None]
    # sum_k [ sum_n r (x - xbar)^2 + beta0 nk / beta (xbar - m0)^2 ], per feature
    sq = np.zeros(d)
    for k in range(R.shape[1]):
        sq += R[:, k] @ (X - xbar[k]) ** 2
        sq += pri["beta0"] * nk[k] / beta[k] * (xbar[k] - pri["m0"]) ** 2
    a0, b0 = _gamma_prior(ct, pri, d)
    if ct == "EEI":
        a, b = a0 + n / 2, b0 + sq / 2
    else:
        a, b = a0 + n * d / 2, b0 + sq.sum() / 2
    return {"alpha": pri["gamma0"] + nk, "beta": beta, "m": m, "a": a, "b": np.atleast_1d(b)}


def _gamma_prior(ct, pri, d):
    if ct == "EEI":  # one Gamma(nu0/2, c0_j/2) per feature
        return pri["nu0"] / 2, np.asarray(pri["c0"]) / 2
    return d * pri["nu0"] / 2, d * pri["c0"] / 2  # one Gamma for every feature


def _expectations(post, d):
    a, b = post["a"], post["b"]
    elog_tau = np.broadcast_to(digamma(a) - np.log(b), (d,))
    e_tau = np.broadcast_to(a / b, (d,))
    alpha = post["alpha"]
    elog_pi = digamma(alpha) - digamma(alpha.sum())
    return elog_tau, e_tau, elog_pi


def _reference_resp(X, post):
    d = X.shape[1]
    elog_tau, e_tau, elog_pi = _expectations(post, d)
    log_rho = np.empty((len(X), len(post["beta"])))
    for k in range(len(post["beta"])):
        log_rho[:, k] = (elog_pi[k] + 0.5 * elog_tau.sum() - 0.5 * d * math.log(2 * math.pi)
                         - 0.5 * ((X - post["m"][k]) ** 2 @ e_tau + d / post["beta"][k]))
    return np.exp(log_rho - logsumexp(log_rho, axis=1)[:, None])


def _elbo(X, R, post, ct, pri):
    """E_q[log p(X, z, pi, mu, Lambda)] - E_q[log q], term by term."""
    n, d = X.shape
    K = R.shape[1]
    elog_tau, e_tau, elog_pi = _expectations(post, d)
    beta, m = post["beta"], post["m"]
    L = 0.0
    for k in range(K):  # E log p(x | z, mu, Lambda): E[tau (x - mu)^2] = E tau (x - m)^2 + 1/beta
        per_row = np.sum(0.5 * elog_tau - 0.5 * math.log(2 * math.pi)
                         - 0.5 * (e_tau * (X - m[k]) ** 2 + 1.0 / beta[k]), axis=1)
        L += R[:, k] @ per_row
    L += np.sum(R * elog_pi)  # E log p(z | pi)
    g0 = pri["gamma0"]
    L += gammaln(K * g0) - K * gammaln(g0) + (g0 - 1) * elog_pi.sum()  # E log Dir(pi | g0)
    for k in range(K):  # E log N(mu_k | m0, (beta0 Lambda)^-1)
        L += np.sum(0.5 * np.log(pri["beta0"] / (2 * math.pi)) + 0.5 * elog_tau
                    - 0.5 * pri["beta0"] * (e_tau * (m[k] - pri["m0"]) ** 2 + 1.0 / beta[k]))
    a0, b0 = _gamma_prior(ct, pri, d)
    n_gamma = d if ct == "EEI" else 1
    b0 = np.broadcast_to(b0, (n_gamma,))
    elt, et = elog_tau[:n_gamma], e_tau[:n_gamma]
    L += np.sum(a0 * np.log(b0) - gammaln(a0) + (a0 - 1) * elt - b0 * et)  # E log Gamma
    # minus E log q: the entropies
    with np.errstate(divide="ignore", invalid="ignore"):
        L -= np.sum(np.where(R > 0, R * np.log(R), 0.0))
    L += stats.dirichlet(post["alpha"]).entropy()
    for k in range(K):  # E_q(Lambda) of the entropy of N(m_k, (beta_k Lambda)^-1)
        L += np.sum(0.5 * (1 + math.log(2 * math.pi)) - 0.5 * np.log(beta[k]) - 0.5 * elog_tau)
    L += sum(stats.gamma(post["a"], scale=1.0 / bj).entropy() for bj in post["b"])
    # scikit-learn's bound drops: d/2 log 2 pi per row, the priors' normalisers
    dropped = (-0.5 * n * d * math.log(2 * math.pi) + gammaln(K * g0) - K * gammaln(g0)
               + np.sum(a0 * np.log(b0) - gammaln(a0)) + 0.5 * K * d * math.log(pri["beta0"]))
    return float(L), float(L - dropped)


@pytest.mark.parametrize("ct", SHARED)
def test_lower_bound_equals_elbo_from_definition(rng, ct):
    n, d, K = 9, 2, 3
    X = rng.normal(size=(n, d)) * [1.0, 3.0] + [0.0, 2.0]
    R0 = rng.uniform(size=(n, K))
    R0 /= R0.sum(axis=1)[:, None]
    pri = {"gamma0": 0.7, "beta0": 0.5, "m0": np.array([0.1, -0.2]), "nu0": 3.0,
           "c0": 1.3 if ct == "EII" else np.array([1.3, 0.6])}
    est = BayesianGaussianMixture(
        n_components=K, covariance_type=ct, reg_covar=0.0, max_iter=1,
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=pri["gamma0"], mean_precision_prior=pri["beta0"],
        mean_prior=pri["m0"], degrees_of_freedom_prior=pri["nu0"], covariance_prior=pri["c0"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est._fit(X, None, init_resp=R0)  # one iteration from fixed responsibilities
    # the reference: posterior from R0, the E-step, the posterior again, then the ELBO
    post0 = _reference_posterior(X, R0, ct, pri)
    R1 = _reference_resp(X, post0)
    post1 = _reference_posterior(X, R1, ct, pri)
    np.testing.assert_allclose(est.predict_proba(X), _reference_resp(X, post1), rtol=1e-9)
    np.testing.assert_allclose(est.means_, post1["m"], rtol=1e-10)
    np.testing.assert_allclose(est.mean_precision_, post1["beta"], rtol=1e-10)
    var = post1["b"] / post1["a"]  # covariances_ = E[tau]^-1
    np.testing.assert_allclose(est.covariances_, np.broadcast_to(var if ct == "EEI" else var[0],
                                                                 est.covariances_.shape),
                               rtol=1e-10)
    full, bound = _elbo(X, R1, post1, ct, pri)
    assert est.lower_bounds_[0] == pytest.approx(bound, rel=1e-10, abs=1e-10)
    # the update maximises the ELBO given R1: moving any posterior parameter lowers it
    for key, factor in [("a", 1.01), ("a", 0.99), ("b", 1.01), ("b", 0.99), ("beta", 1.01),
                        ("beta", 0.99), ("alpha", 1.01)]:
        moved = dict(post1, **{key: post1[key] * factor})
        assert _elbo(X, R1, moved, ct, pri)[0] < full, (key, factor)
    moved = dict(post1, m=post1["m"] + 0.01)
    assert _elbo(X, R1, moved, ct, pri)[0] < full
