"""EM with missing values (missing="marginalize"), imputation and GaussianMixtureImputer."""
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

from gaussmix import GaussianMixture, GaussianMixtureImputer


def _planted(rng, n=600, d=4, k=3, sep=5.0):
    means = rng.randn(k, d) * sep
    A = rng.randn(k, d, d) * 0.5
    covs = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
    z = rng.randint(k, size=n)
    X = np.stack([rng.multivariate_normal(means[j], covs[j]) for j in z])
    return X, means, covs


def _remove(rng, X, frac):
    Xm = X.copy()
    Xm[rng.rand(*X.shape) < frac] = np.nan
    return Xm[~np.isnan(Xm).all(axis=1)]


@pytest.fixture
def rng():
    return np.random.RandomState(1234)


@pytest.mark.parametrize("ct", ["full", "diag", "tied", "spherical"])
def test_marginal_log_density_matches_scipy(rng, ct):
    X, _, _ = _planted(rng, n=300)
    Xm = _remove(rng, X, 0.3)
    gm = GaussianMixture(3, covariance_type=ct, missing="marginalize", random_state=0).fit(Xm)
    k, d = gm.means_.shape
    dense = [gm.covariances_[j] if ct == "full" else gm.covariances_ if ct == "tied"
             else np.diag(gm.covariances_[j]) if ct == "diag"
             else gm.covariances_[j] * np.eye(d) for j in range(k)]
    rows = Xm[:40]
    ref = []
    for x in rows:
        o = ~np.isnan(x)
        ref.append(logsumexp([np.log(gm.weights_[j]) + multivariate_normal(
            gm.means_[j][o], dense[j][np.ix_(o, o)]).logpdf(x[o]) for j in range(k)]))
    np.testing.assert_allclose(gm.score_samples(rows), ref, rtol=1e-10, atol=1e-10)
    assert gm.score(rows) == pytest.approx(np.mean(ref), rel=1e-10)
    proba = gm.predict_proba(rows)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(rows), proba.argmax(axis=1))
    # one pattern through the public marginal model
    x = next(r for r in rows if np.isnan(r).any())
    o = np.flatnonzero(~np.isnan(x))
    assert gm.score_samples(x[None])[0] == pytest.approx(
        gm.marginal(o).score_samples(x[None, o])[0], rel=1e-10)


@pytest.mark.parametrize("ct", ["full", "diag", "tied", "spherical", "VEV"])
def test_no_missing_is_bit_identical(rng, ct):
    X, _, _ = _planted(rng, n=400)
    a = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=ct, missing="marginalize", random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.lower_bounds_ == b.lower_bounds_
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("ct", ["full", "diag", "tied", "spherical", "VEV", "EEI"])
def test_lower_bound_monotone_with_missing(rng, ct):
    X, _, _ = _planted(rng, n=500)
    Xm = _remove(rng, X, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(3, covariance_type=ct, missing="marginalize", reg_covar=0.0,
                             tol=1e-12, max_iter=60, random_state=0,
                             init_params="random").fit(Xm)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) > 5
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()
    # the lower bound is the observed-data mean log-likelihood at the E-step's parameters
    assert np.all(np.isfinite(lb))


def test_planted_mixture_recovered_and_imputation_beats_mean(rng):
    X, means, _ = _planted(rng, n=3000, sep=4.0)
    Xm = X.copy()
    Xm[rng.rand(*X.shape) < 0.1] = np.nan
    keep = ~np.isnan(Xm).all(axis=1)
    X, Xm = X[keep], Xm[keep]
    gm = GaussianMixture(3, missing="marginalize", n_init=3, random_state=0).fit(Xm)
    full = GaussianMixture(3, n_init=3, random_state=0).fit(X)
    for m in means:
        assert np.min(np.linalg.norm(gm.means_ - m, axis=1)) < 0.3
        assert np.min(np.linalg.norm(full.means_ - m, axis=1)) < 0.3
    miss = np.isnan(Xm)
    filled = gm.impute(Xm)
    np.testing.assert_array_equal(filled[~miss], Xm[~miss])
    rmse = np.sqrt(np.mean((filled[miss] - X[miss]) ** 2))
    col = np.nanmean(Xm, axis=0)
    rmse_mean = np.sqrt(np.mean((np.broadcast_to(col, X.shape)[miss] - X[miss]) ** 2))
    assert rmse < 0.6 * rmse_mean


def test_integer_weights_equal_repeated_rows(rng):
    X, _, _ = _planted(rng, n=200)
    Xm = _remove(rng, X, 0.25)
    w = rng.randint(0, 4, size=len(Xm))
    ref = GaussianMixture(3, missing="marginalize", random_state=0, max_iter=3).fit(Xm)
    init = dict(weights_init=ref.weights_, means_init=ref.means_,
                precisions_init=ref.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixture(3, missing="marginalize", max_iter=20, tol=0, **init).fit(
            Xm, sample_weight=w)
        b = GaussianMixture(3, missing="marginalize", max_iter=20, tol=0, **init).fit(
            np.repeat(Xm, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-8)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-9)


def test_one_iteration_matches_naive_ghahramani_jordan(rng):
    X, _, _ = _planted(rng, n=150, d=3)
    Xm = _remove(rng, X, 0.3)
    k, d = 3, 3
    w0 = np.array([0.2, 0.3, 0.5])
    mu0 = rng.randn(k, d) * 3
    A = rng.randn(k, d, d)
    S0 = A @ np.swapaxes(A, 1, 2) + np.eye(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, missing="marginalize", reg_covar=0.0, max_iter=1,
                             weights_init=w0, means_init=mu0,
                             precisions_init=np.linalg.inv(S0)).fit(Xm)
    # naive per-row E-step and M-step
    nk = np.zeros(k)
    sx = np.zeros((k, d))
    sxx = np.zeros((k, d, d))
    ll = 0.0
    for x in Xm:
        o = ~np.isnan(x)
        m = ~o
        logp = np.array([np.log(w0[j]) + multivariate_normal(
            mu0[j][o], S0[j][np.ix_(o, o)]).logpdf(x[o]) for j in range(k)])
        lse = logsumexp(logp)
        ll += lse
        r = np.exp(logp - lse)
        for j in range(k):
            xh = x.copy()
            C = np.zeros((d, d))
            if m.any():
                Soo_inv = np.linalg.inv(S0[j][np.ix_(o, o)])
                Smo = S0[j][np.ix_(m, o)]
                xh[m] = mu0[j][m] + Smo @ Soo_inv @ (x[o] - mu0[j][o])
                C[np.ix_(m, m)] = S0[j][np.ix_(m, m)] - Smo @ Soo_inv @ Smo.T
            nk[j] += r[j]
            sx[j] += r[j] * xh
            sxx[j] += r[j] * (np.outer(xh, xh) + C)
    mu = sx / nk[:, None]
    cov = sxx / nk[:, None, None] - mu[:, :, None] * mu[:, None, :]
    assert gm.lower_bounds_[0] == pytest.approx(ll / len(Xm), rel=1e-12)
    np.testing.assert_allclose(gm.weights_, nk / nk.sum(), rtol=1e-10)
    np.testing.assert_allclose(gm.means_, mu, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, cov, rtol=1e-8, atol=1e-10)


def test_errors(rng):
    X, _, _ = _planted(rng, n=50)
    Xm = X.copy()
    Xm[3] = np.nan
    Xm[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"every entry missing \(rows \[3\]\)"):
        GaussianMixture(2, missing="marginalize").fit(Xm)
    Xi = X.copy()
    Xi[2, 0] = np.inf
    Xi[5, 1] = np.nan
    with pytest.raises(ValueError, match="inf"):
        GaussianMixture(2, missing="marginalize").fit(Xi)
    Xn = X.copy()
    Xn[4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        GaussianMixture(2).fit(Xn)
    with pytest.raises(ValueError, match="missing"):
        GaussianMixture(2, missing="drop").fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="NaN or inf"):
        gm.score_samples(Xn)
    with pytest.raises(ValueError, match="method"):
        gm.impute(Xn, method="median")
    gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(X)
    with pytest.raises(ValueError, match="every entry missing"):
        gm.predict(Xm)


def test_impute_sample_draws_from_the_conditional(rng):
    X = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.8], [0.8, 1.0]], size=500)
    gm = GaussianMixture(1, random_state=0).fit(X)
    row = np.tile([[1.5, np.nan]], (4000, 1))
    draws = gm.impute(row, method="sample", random_state=0)[:, 1]
    S, mu = gm.covariances_[0], gm.means_[0]
    cm = mu[1] + S[1, 0] / S[0, 0] * (1.5 - mu[0])
    cv = S[1, 1] - S[1, 0] ** 2 / S[0, 0]
    assert gm.impute(row[:1])[0, 1] == pytest.approx(cm, rel=1e-12)
    assert abs(draws.mean() - cm) < 4 * np.sqrt(cv / len(draws))
    assert draws.var() == pytest.approx(cv, rel=0.1)
    np.testing.assert_array_equal(draws, gm.impute(row, method="sample", random_state=0)[:, 1])


def test_imputer_in_pipeline_and_basics(rng):
    X, _, _ = _planted(rng, n=300)
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    Xm = _remove(rng, X, 0.2)
    y = y[: len(Xm)]
    imp = GaussianMixtureImputer(n_components=3, random_state=0, max_iter=50, reg_covar=1e-5)
    params = imp.get_params()
    assert params["max_iter"] == 50 and params["n_components"] == 3
    c = clone(imp)
    assert c.get_params() == params
    c.set_params(max_iter=20, method="sample")
    assert c.get_params()["max_iter"] == 20
    out = imp.fit(Xm).transform(Xm)
    assert out.shape == Xm.shape and np.isfinite(out).all()
    assert imp.n_features_in_ == Xm.shape[1]
    np.testing.assert_array_equal(out, imp.fit_transform(Xm))
    pipe = make_pipeline(clone(imp), LinearRegression()).fit(Xm, y)
    assert pipe.predict(Xm).shape == (len(Xm),)
    # a numeric placeholder
    Xp = np.where(np.isnan(Xm), -999.0, Xm)
    out2 = GaussianMixtureImputer(n_components=3, missing_values=-999.0, random_state=0,
                                  max_iter=50, reg_covar=1e-5).fit_transform(Xp)
    np.testing.assert_allclose(out2, out)
    with pytest.raises(ValueError, match="do"):
        GaussianMixtureImputer(bogus=1).fit(Xm)
    with pytest.raises(ValueError, match="features"):
        imp.transform(Xm[:, :2])


def test_out_of_core_input_is_refused_by_name(tmp_path):
    # memory maps and chunks fit with missing values (tests/test_missing_outofcore.py); a dask
    # array gets an error that names the option, not a NaN error telling the user to impute
    X = np.random.default_rng(0).normal(size=(200, 3))
    X[::7, 1] = np.nan
    gm = GaussianMixture(2, missing="marginalize", random_state=0)
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="missing='marginalize' fits arrays in memory, memory "
                                         "maps and re-iterables of chunks; got a dask array"):
        gm.fit(da.from_array(X, chunks=50))
    # in memory the same rows fit
    assert np.isfinite(gm.fit(X).lower_bound_)


def test_coreset_size_is_refused_by_name():
    X = np.random.default_rng(1).normal(size=(300, 2))
    X[::5, 0] = np.nan
    with pytest.raises(ValueError, match="missing='marginalize' is not supported with "
                                         "coreset_size"):
        GaussianMixture(2, missing="marginalize", coreset_size=100).fit(X)
