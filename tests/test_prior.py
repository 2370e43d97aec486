"""MAP EM with the conjugate prior (gaussmix._prior, Fraley & Raftery 2007)."""
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from gaussmix import ConjugatePrior, GaussianMixture
from gaussmix._repair import DegenerateComponentWarning

SUPPORTED = ["full", "tied", "diag", "spherical", "EII", "EEI", "VEI", "EVI", "EEV", "VEV"]
UNSUPPORTED = ["VEE", "EVE", "VVE", "EVV"]


@pytest.fixture
def rng():
    return np.random.default_rng(13)


def _blobs(rng, n=60, d=3):
    centres = np.array([[0.0] * d, [4.0] * d, [-4.0, 4.0] + [0.0] * (d - 2)])
    X = np.concatenate([rng.normal(size=(n, d)) * (j + 1) * 0.5 + c
                        for j, c in enumerate(centres)])
    return X


@pytest.mark.parametrize("ct", SUPPORTED)
def test_fewer_rows_than_two_d_converges_positive_definite(rng, ct):
    X = rng.normal(size=(7, 5))  # n < 2 d, two components, no reg_covar
    with warnings.catch_warnings():
        # the k-means start of two components from 7 rows is singular; EM itself is not
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        gm = GaussianMixture(2, covariance_type=ct, reg_covar=0.0, prior="conjugate",
                             max_iter=500, tol=1e-8, random_state=0).fit(X)
    assert gm.converged_
    dense = np.stack([np.diag(np.broadcast_to(c, (5,))) if np.ndim(c) <= 1 else c
                      for c in (np.broadcast_to(gm.covariances_, (2,) + np.shape(gm.covariances_))
                                if ct == "tied" else gm.covariances_)])
    assert np.linalg.eigvalsh(dense).min() > 0
    # without the prior the same fit needs reg_covar: some covariance is singular
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_vvv_one_component_closed_form(rng):
    n, d = 9, 3
    X = rng.normal(size=(n, d)) + 2.0
    mu0 = np.array([1.0, -1.0, 0.5])
    lam = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 1.5]])
    kappa, nu = 0.7, 6.0
    gm = GaussianMixture(1, reg_covar=0.0, tol=1e-12, max_iter=5,
                         prior=ConjugatePrior(kappa, mu0, nu, lam)).fit(X)
    xbar = X.mean(axis=0)
    W = (X - xbar).T @ (X - xbar)
    dm = xbar - mu0
    mean = (n * xbar + kappa * mu0) / (n + kappa)
    cov = (lam + W + kappa * n / (n + kappa) * np.outer(dm, dm)) / (nu + n + d + 2)
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_[0], cov, rtol=1e-10)


def _numeric_map(X, logpost, n_par):
    res = optimize.minimize(lambda t: -logpost(t), np.zeros(n_par), method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 10000})
    return res.x


@pytest.mark.parametrize("ct", ["diag", "spherical"])
def test_map_matches_numeric_maximisation(rng, ct):
    n, d = 8, 3
    X = rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5]) + 1.0
    mu0, kappa, nu, s2 = np.array([0.0, 1.0, -1.0]), 0.4, 5.0, 0.8

    # log-likelihood plus log prior, from scipy.stats, over (mean, log variances)
    def logpost(t):
        mu = t[:d]
        var = np.exp(t[d:]) * np.ones(d)
        ll = stats.norm.logpdf(X, mu, np.sqrt(var)).sum()
        lp = stats.norm.logpdf(mu, mu0, np.sqrt(var / kappa)).sum()
        if ct == "diag":  # inverse gamma on each variance
            lp += stats.invgamma.logpdf(var, nu / 2, scale=s2 / 2).sum()
        else:  # one inverse gamma on the common variance
            lp += stats.invgamma.logpdf(var[0], nu / 2, scale=s2 / 2)
        return ll + lp

    t = _numeric_map(X, logpost, d + (d if ct == "diag" else 1))
    gm = GaussianMixture(1, covariance_type=ct, reg_covar=0.0, tol=1e-14, max_iter=5,
                         prior=ConjugatePrior(kappa, mu0, nu, s2)).fit(X)
    np.testing.assert_allclose(gm.means_[0], t[:d], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.ravel(gm.covariances_[0]), np.exp(t[d:]), rtol=1e-5)


@pytest.mark.parametrize("ct", SUPPORTED)
def test_log_posterior_never_decreases(rng, ct):
    X = _blobs(rng, n=25, d=3)
    gm = GaussianMixture(3, covariance_type=ct, reg_covar=0.0, prior="conjugate", tol=0.0,
                         max_iter=40, init_params="random", random_state=1).fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert np.diff(lb).min() >= -1e-10 * max(1.0, np.abs(lb).max())


@pytest.mark.parametrize("ct", SUPPORTED)
def test_integer_weights_equal_repeated_rows(rng, ct):
    # the prior counts in rows: the estimator's normalisation of the weights does not change it
    X = _blobs(rng, n=10, d=2)
    w = rng.integers(1, 4, size=len(X))
    init = dict(means_init=X[[0, 10, 20]], weights_init=np.full(3, 1 / 3))
    kw = dict(covariance_type=ct, prior="conjugate", reg_covar=0.0, tol=1e-10, max_iter=200)
    a = GaussianMixture(3, **kw, **init).fit(X, sample_weight=w)
    b = GaussianMixture(3, **kw, **init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-7, atol=1e-9)
    assert np.isclose(a.bic(X, sample_weight=w), b.bic(np.repeat(X, w, axis=0)), rtol=1e-9)


@pytest.mark.parametrize("ct", ["full", "diag", "EII", "VEV"])
def test_zero_weight_rows_equal_dropped_rows(rng, ct):
    X = _blobs(rng, n=10, d=2)
    w = rng.uniform(0.2, 1.0, size=len(X))
    w[[3, 14, 25]] = 0.0
    init = dict(means_init=X[[0, 10, 20]], weights_init=np.full(3, 1 / 3))
    kw = dict(covariance_type=ct, prior="conjugate", reg_covar=0.0, tol=1e-10, max_iter=200)
    a = GaussianMixture(3, **kw, **init).fit(X, sample_weight=w)
    keep = w > 0
    b = GaussianMixture(3, **kw, **init).fit(X[keep], sample_weight=w[keep])
    for other in (b,):
        np.testing.assert_allclose(a.means_, other.means_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(a.covariances_, other.covariances_, rtol=1e-7, atol=1e-9)


def test_chunked_fit_equals_in_memory(rng):
    X = _blobs(rng, n=40, d=3)
    kw = dict(covariance_type="full", prior="conjugate", reg_covar=0.0, random_state=0,
              means_init=X[[0, 40, 80]])
    a = GaussianMixture(3, **kw).fit(X)
    b = GaussianMixture(3, chunk_size=17, **kw).fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8)


@pytest.mark.parametrize("ct", UNSUPPORTED)
def test_unsupported_structures_refuse_the_prior(rng, ct):
    X = rng.normal(size=(30, 3))
    with pytest.raises(ValueError, match=f"prior is not available for covariance_type='{ct}'"):
        GaussianMixture(2, covariance_type=ct, prior="conjugate").fit(X)


@pytest.mark.parametrize("kwargs, match", [
    (dict(shrinkage=-1.0), "'shrinkage' must be a finite number >= 0"),
    (dict(dof=0.0), "'dof' must be None or a finite number > 0"),
    (dict(shrinkage=0.0, mean=[0.0, 0.0]), "needs shrinkage > 0"),
    (dict(scale=-2.0), "'scale' must be positive"),
    (dict(scale=[[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
])
def test_bad_prior_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConjugatePrior(**kwargs)


def test_bad_prior_uses(rng):
    X = rng.normal(size=(30, 2))
    with pytest.raises(ValueError, match="'prior' parameter"):
        GaussianMixture(2, prior="dirichlet").fit(X)
    with pytest.raises(ValueError, match="takes a scalar 'scale'"):
        GaussianMixture(2, covariance_type="diag", prior=ConjugatePrior(scale=np.eye(2))).fit(X)
    with pytest.raises(ValueError, match=r"'mean' must have shape \(2,\)"):
        GaussianMixture(2, prior=ConjugatePrior(mean=[0.0, 0.0, 0.0])).fit(X)
    with pytest.raises(ValueError, match="fixed parameters"):
        GaussianMixture(2, prior="conjugate", params="mc", weights_init=[0.5, 0.5]).fit(X)
    with pytest.raises(ValueError, match="partial_fit does not support prior"):
        GaussianMixture(2, prior="conjugate").partial_fit(X)


def test_vanishing_prior_approaches_the_mle(rng):
    X = _blobs(rng, n=400, d=2)
    init = dict(means_init=X[[0, 400, 800]], reg_covar=0.0, tol=1e-10, max_iter=500)
    mle = GaussianMixture(3, **init).fit(X)
    gaps = []
    for s in (1e-1, 1e-3, 1e-5):
        gm = GaussianMixture(3, prior=ConjugatePrior(shrinkage=s, dof=s, scale=s), **init).fit(X)
        gaps.append(np.abs(gm.covariances_ - mle.covariances_).max()
                    + np.abs(gm.means_ - mle.means_).max())
    assert gaps[0] > gaps[1] > gaps[2]
    # what remains: the d + 2 pseudo-counts of the covariance exponent (nu + d + 1 + 1)
    assert gaps[2] < 0.05


def test_bic_uses_the_log_likelihood_at_the_map(rng):
    X = _blobs(rng, n=30, d=2)
    gm = GaussianMixture(3, prior="conjugate", random_state=0).fit(X)
    ll = gm.score(X) * len(X)
    assert np.isclose(gm.bic(X), -2 * ll + gm.n_parameters() * np.log(len(X)))
    # lower_bound_ is the log posterior per row, which differs from the log-likelihood
    assert not np.isclose(gm.lower_bound_, gm.score(X), rtol=1e-6)


def test_unit_weights_equal_no_weights(rng):
    X = _blobs(rng, n=15, d=2)
    kw = dict(prior="conjugate", reg_covar=0.0, means_init=X[[0, 15, 30]], tol=1e-12,
              max_iter=1000)
    a = GaussianMixture(3, **kw).fit(X)
    b = GaussianMixture(3, **kw).fit(X, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize("prior", ["conjugate",
                                   ConjugatePrior(0.2, [0.0, 1.0], 5.0, [[2.0, 0.1], [0.1, 1.0]]),
                                   ConjugatePrior(scale=0.5)])
def test_save_load_keeps_the_prior(rng, tmp_path, prior):
    import gaussmix
    X = _blobs(rng, n=20, d=2)
    ct = "diag" if isinstance(prior, ConjugatePrior) and prior.mean is None else "full"
    gm = GaussianMixture(2, covariance_type=ct, prior=prior, random_state=0).fit(X)
    gm.save(tmp_path / "m.gmm")
    back = gaussmix.load(tmp_path / "m.gmm")
    assert back.prior == prior
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))
    refit = back.fit(X)  # the loaded prior fits again, the same way
    np.testing.assert_allclose(refit.means_, gm.means_, rtol=1e-12)


def test_select_passes_the_prior(rng):
    from gaussmix import select
    X = _blobs(rng, n=8, d=4)  # 24 rows, 4 features: K=3 full without reg_covar needs a prior
    res = select(X, n_components=[1, 2, 3], covariance_types=["full", "diag"], reg_covar=0.0,
                 prior="conjugate", random_state=0, validation_fraction=None)
    assert len(res.table) == 6 and all(row["error"] is None for row in res.table)
    best = res.best_estimator_
    assert best.prior == "conjugate"
    direct = GaussianMixture(**best.get_params()).fit(X)
    np.testing.assert_allclose(direct.bic(X), best.bic(X), rtol=1e-10)
    with pytest.raises(ValueError, match="prior is not available for covariance_type='VEE'"):
        select(X, n_components=[2], covariance_types=["VEE"], prior="conjugate")
