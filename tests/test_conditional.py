"""Conditional mixtures, conditional sampling and Gaussian mixture regression."""
import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.linear_model import LinearRegression
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gaussmix import GaussianMixture
from gaussmix.conditional import (GaussianMixtureRegressor, condition, conditional_sample)
from gaussmix.covariance import get as get_model

COV_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture
def rng():
    return np.random.RandomState(42)


@pytest.fixture
def data3(rng):
    a = rng.multivariate_normal([0, 0, 0], [[2, 1.2, 0.5], [1.2, 1.5, -0.3], [0.5, -0.3, 1]], 300)
    b = rng.multivariate_normal([4, -2, 1], [[1, -0.4, 0.2], [-0.4, 2, 0.6], [0.2, 0.6, 1.5]], 300)
    return np.vstack([a, b])


def _dense(gm, j):
    d = gm.means_.shape[1]
    return get_model(gm.covariance_type).component_covariance(gm.covariances_, j, d)


def _closed_form(gm, x_g, g, t):
    """Textbook conditional of a mixture with explicit inverses and scipy densities."""
    k = len(gm.weights_)
    w = np.empty(k)
    means = []
    covs = []
    for j in range(k):
        S = _dense(gm, j)
        mu = gm.means_[j]
        S_gg_inv = np.linalg.inv(S[np.ix_(g, g)])
        w[j] = gm.weights_[j] * multivariate_normal(mu[g], S[np.ix_(g, g)]).pdf(x_g)
        means.append(mu[t] + S[np.ix_(t, g)] @ S_gg_inv @ (x_g - mu[g]))
        covs.append(S[np.ix_(t, t)] - S[np.ix_(t, g)] @ S_gg_inv @ S[np.ix_(g, t)])
    w /= w.sum()
    return w, np.array(means), np.array(covs)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_two_component_conditional_matches_closed_form(data3, cov_type):
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(data3)
    queries = np.array([[0.5, -1.0], [3.0, 0.0], [-2.0, 2.0]])
    cm = condition(gm, queries, given=[0, 2])
    assert cm.targets.tolist() == [1]
    for i, q in enumerate(queries):
        w, means, covs = _closed_form(gm, q, [0, 2], [1])
        np.testing.assert_allclose(cm.weights[i], w, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(cm.means[i], means, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(cm.covariances, covs, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(cm.mean()[i], w @ means, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cm.weights.sum(axis=1), 1.0)


def test_hand_built_two_component_case():
    """Closed form written out by hand for a 2-D, 2-component mixture."""
    sk = SkGaussianMixture(2, covariance_type="full")
    sk.weights_ = np.array([0.3, 0.7])
    sk.means_ = np.array([[0.0, 1.0], [2.0, -1.0]])
    sk.covariances_ = np.array([[[1.0, 0.5], [0.5, 2.0]], [[2.0, -0.6], [-0.6, 1.0]]])
    sk.precisions_cholesky_ = np.stack(
        [np.linalg.cholesky(np.linalg.inv(c)) for c in sk.covariances_])
    x = 1.0
    # E[x1 | x0] = mu1 + s10 / s00 (x - mu0); Var = s11 - s10^2 / s00
    m = np.array([1.0 + 0.5 / 1.0 * (x - 0.0), -1.0 + (-0.6) / 2.0 * (x - 2.0)])
    v = np.array([2.0 - 0.25 / 1.0, 1.0 - 0.36 / 2.0])
    lik = np.array([0.3 * np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi * 1.0),
                    0.7 * np.exp(-0.5 * (x - 2) ** 2 / 2.0) / np.sqrt(2 * np.pi * 2.0)])
    w = lik / lik.sum()
    cm = condition(sk, [x], given=[0])
    np.testing.assert_allclose(cm.weights[0], w, rtol=1e-12)
    np.testing.assert_allclose(cm.means[0, :, 0], m, rtol=1e-12)
    np.testing.assert_allclose(cm.covariances[:, 0, 0], v, rtol=1e-12)
    np.testing.assert_allclose(cm.mean()[0, 0], w @ m, rtol=1e-12)
    np.testing.assert_allclose(cm.covariance()[0, 0, 0], w @ (v + m ** 2) - (w @ m) ** 2,
                               rtol=1e-12)
    np.testing.assert_allclose(cm.log_evidence[0], np.log(lik.sum()), rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_chain_rule_joint_equals_marginal_times_conditional(data3, cov_type):
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=1).fit(data3)
    X = data3[::37]
    cm = condition(gm, X[:, [1]], given=[1])
    joint = gm.score_samples(X)
    np.testing.assert_allclose(cm.log_evidence + cm.log_prob(X[:, [0, 2]]), joint,
                               rtol=1e-9, atol=1e-9)


def test_marginalised_targets_are_sub_blocks(data3):
    gm = GaussianMixture(2, random_state=0).fit(data3)
    full = condition(gm, [[1.0]], given=[2])
    only0 = condition(gm, [[1.0]], given=[2], targets=[0])
    np.testing.assert_allclose(only0.means[..., 0], full.means[..., 0])
    np.testing.assert_allclose(only0.covariances[:, 0, 0], full.covariances[:, 0, 0])
    mask = np.array([False, False, True])
    np.testing.assert_allclose(condition(gm, [[1.0]], given=mask).mean(), full.mean())
    # nothing given: the marginal mixture
    marg = condition(gm, np.empty((1, 0)), given=[], targets=[0, 1])
    np.testing.assert_allclose(marg.weights[0], gm.weights_)
    np.testing.assert_allclose(marg.means[0], gm.means_[:, :2])


def test_samples_match_conditional_moments(data3):
    gm = GaussianMixture(2, random_state=0).fit(data3)
    cm = condition(gm, [[2.0, 0.0], [-1.0, 1.0]], given=[0, 2])
    draws = cm.sample(40000, random_state=0)
    assert draws.shape == (2, 40000, 1)
    for i in range(2):
        sd = np.sqrt(cm.covariance()[i, 0, 0])
        assert abs(draws[i, :, 0].mean() - cm.mean()[i, 0]) < 4 * sd / np.sqrt(40000)
        np.testing.assert_allclose(draws[i, :, 0].var(), sd ** 2, rtol=0.05)
    again = conditional_sample(gm, [[2.0, 0.0], [-1.0, 1.0]], [0, 2], 5, random_state=3)
    np.testing.assert_array_equal(again, cm.sample(5, random_state=3))


def test_conditional_mixture_as_gaussian_mixture(data3):
    gm = GaussianMixture(2, random_state=0).fit(data3)
    cm = condition(gm, [[2.0], [0.0]], given=[0])
    sub = cm.mixture(1)
    Y = np.array([[0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(sub.score_samples(Y),
                               condition(gm, [[0.0], [0.0]], given=[0]).log_prob(Y))


def test_works_with_sklearn_mixture(data3):
    sk = SkGaussianMixture(2, random_state=0).fit(data3)
    ours = GaussianMixture.from_sklearn(sk)
    a = condition(sk, [[1.0, 2.0]], given=[0, 1])
    b = condition(ours, [[1.0, 2.0]], given=[0, 1])
    np.testing.assert_allclose(a.mean(), b.mean(), rtol=1e-10)


def test_condition_bad_input(data3):
    gm = GaussianMixture(2, random_state=0).fit(data3)
    with pytest.raises(ValueError, match="out of range"):
        condition(gm, [[1.0]], given=[3])
    with pytest.raises(ValueError, match="every feature"):
        condition(gm, [[1.0, 2.0, 3.0]], given=[0, 1, 2])
    with pytest.raises(ValueError, match="share features"):
        condition(gm, [[1.0]], given=[0], targets=[0, 1])
    with pytest.raises(ValueError, match="2 columns"):
        condition(gm, [[1.0, 2.0, 3.0]], given=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        condition(gm, [[np.nan]], given=[0])
    with pytest.raises(ValueError, match="repeats"):
        condition(gm, [[1.0, 1.0]], given=[0, 0])
    with pytest.raises(TypeError, match="feature indices"):
        condition(gm, [[1.0]], given=[0.5])
    with pytest.raises(ValueError, match="n_samples"):
        condition(gm, [[1.0]], given=[0]).sample(0)
    with pytest.raises(Exception, match="not fitted"):
        condition(GaussianMixture(2), [[1.0]], given=[0])


# ------------------------------------------------------------------------------ regression


def test_regressor_one_component_equals_least_squares(rng):
    X = rng.normal(size=(400, 3))
    y = X @ [1.0, -2.0, 0.5] + 3 + 0.3 * rng.standard_normal(400)
    reg = GaussianMixtureRegressor(1, reg_covar=0.0).fit(X, y)
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.predict(X), ols.predict(X), rtol=1e-8, atol=1e-8)
    _, std = reg.predict(X[:5], return_std=True)
    resid_sd = np.sqrt(np.mean((ols.predict(X) - y) ** 2))
    np.testing.assert_allclose(std, resid_sd, rtol=1e-6)


def test_regressor_nonlinear_and_multioutput(rng):
    X = rng.uniform(-3, 3, size=(1500, 1))
    Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 0])]) + 0.05 * rng.standard_normal((1500, 2))
    reg = GaussianMixtureRegressor(8, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (1500, 2)
    assert reg.score(X, Y) > 0.95
    draws = reg.sample_y(X[:3], 7, random_state=0)
    assert draws.shape == (3, 7, 2)
    reg1 = GaussianMixtureRegressor(8, random_state=0).fit(X, Y[:, 0])
    assert reg1.predict(X[:4]).shape == (4,)
    assert reg1.sample_y(X[:4], 3, random_state=0).shape == (4, 3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_regressor_sklearn_conventions():
    from sklearn.utils.estimator_checks import check_estimator
    check_estimator(GaussianMixtureRegressor(n_components=1, random_state=0))
