"""``params="wmc"``: EM updates only the weights (w), means (m) and covariances (c) named.

The fixed parts must equal their ``*_init`` values exactly; the free parts are checked against a
naive NumPy M-step (scipy densities, explicit sums) with the fixed parts in place.
"""
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import gaussmix
from gaussmix import GaussianMixture, covariance

SUBSETS = ("wmc", "mc", "wc", "wm", "c", "m", "w", "")


def _full_covs(cov, cov_type, k, d):
    """Per-component (k, d, d) covariances from scikit-learn-shaped ones."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return np.repeat(cov[None], k, axis=0)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(d) for c in cov])


def _precisions(cov_full, cov_type):
    prec = np.linalg.inv(cov_full)
    if cov_type == "full":
        return prec
    if cov_type == "tied":
        return prec[0]
    if cov_type == "diag":
        return np.stack([np.diag(p) for p in prec])
    return np.array([p[0, 0] for p in prec])


def _inits(rng, cov_type, k, d, X):
    weights = rng.dirichlet(np.ones(k) * 5)
    means = X[rng.choice(len(X), k, replace=False)] + rng.normal(scale=0.3, size=(k, d))
    base = []
    for _ in range(k):
        A = rng.normal(size=(d, d)) * 0.4 + np.eye(d) * 1.5
        base.append(A @ A.T)
    base = np.array(base)
    if cov_type == "tied":
        base[:] = base[0]
    elif cov_type == "diag":
        base = np.stack([np.diag(np.diag(c)) for c in base])
    elif cov_type == "spherical":
        base = np.stack([np.trace(c) / d * np.eye(d) for c in base])
    return weights, means, base, _precisions(base, cov_type)


def _naive_m_step(X, w, weights, means, covs, cov_type, params, reg_covar):
    """One EM step with scipy densities and explicit sums; fixed parts are kept."""
    k, d = means.shape
    dens = np.column_stack([weights[j] * multivariate_normal(means[j], covs[j]).pdf(X)
                            for j in range(k)])
    resp = dens / dens.sum(axis=1, keepdims=True)
    r = resp * w[:, None]
    nk = r.sum(axis=0)
    new_w = nk / nk.sum() if "w" in params else weights
    new_m = (r.T @ X) / nk[:, None] if "m" in params else means
    if "c" not in params:
        return new_w, new_m, covs
    scat = np.stack([(r[:, j, None] * (X - new_m[j])).T @ (X - new_m[j]) for j in range(k)])
    eye = np.eye(d)
    if cov_type == "full":
        new_c = scat / nk[:, None, None] + reg_covar * eye
    elif cov_type == "tied":
        new_c = np.repeat((scat.sum(axis=0) / nk.sum() + reg_covar * eye)[None], k, axis=0)
    elif cov_type == "diag":
        new_c = np.stack([np.diag(np.diag(s) / n + reg_covar) for s, n in zip(scat, nk)])
    else:
        new_c = np.stack([(np.trace(s) / (n * d) + reg_covar) * eye for s, n in zip(scat, nk)])
    return new_w, new_m, new_c


def _data(rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(50, 40, 60), d=3)
    return X


@pytest.mark.parametrize("cov_type", covariance.BUILTIN_NAMES)
@pytest.mark.parametrize("params", SUBSETS)
def test_one_step_equals_naive_m_step_with_fixed_parts(rng, make_blobs, cov_type, params):
    X = _data(rng, make_blobs)
    k, d = 3, X.shape[1]
    w = rng.uniform(0.5, 2.0, size=len(X))
    weights, means, covs, prec = _inits(rng, cov_type, k, d, X)
    reg = 1e-4
    gm = GaussianMixture(k, covariance_type=cov_type, params=params, weights_init=weights,
                         means_init=means, precisions_init=prec, max_iter=1, reg_covar=reg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=w)
    ew, em, ec = _naive_m_step(X, w, weights, means, covs, cov_type, params, reg)
    np.testing.assert_allclose(gm.weights_, ew, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gm.means_, em, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(_full_covs(gm.covariances_, cov_type, k, d), ec,
                               rtol=1e-8, atol=1e-10)


def _assert_fixed_exact(gm, params, weights, means, prec, cov_type):
    if "w" not in params:
        np.testing.assert_array_equal(gm.weights_, weights)
    if "m" not in params:
        np.testing.assert_array_equal(gm.means_, means)
    if "c" not in params:
        model = covariance.get(cov_type)
        np.testing.assert_array_equal(gm.precisions_cholesky_,
                                      model.precision_cholesky_from_precisions(prec))
        np.testing.assert_allclose(gm.precisions_, prec, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cov_type", covariance.BUILTIN_NAMES)
@pytest.mark.parametrize("params", SUBSETS)
def test_full_fit_keeps_fixed_parts_and_is_monotone(rng, make_blobs, cov_type, params):
    X = _data(rng, make_blobs)
    k, d = 3, X.shape[1]
    weights, means, covs, prec = _inits(rng, cov_type, k, d, X)
    gm = GaussianMixture(k, covariance_type=cov_type, params=params, weights_init=weights,
                         means_init=means, precisions_init=prec, reg_covar=0.0, tol=0.0,
                         max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    _assert_fixed_exact(gm, params, weights, means, prec, cov_type)
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:])), np.diff(lb).min()
    # the returned parameters are (nearly) a fixed point of the constrained EM step
    gm2 = clone(gm).set_params(weights_init=gm.weights_, means_init=gm.means_,
                               precisions_init=gm.precisions_, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm2.fit(X)
    assert gm2.score(X) >= gm.score(X) - 1e-10


def test_fixed_means_centre_the_covariance_on_them(rng):
    """With the means fixed away from the data mean, the variance is taken around them."""
    X = rng.normal(size=(400, 1))
    gm = GaussianMixture(1, covariance_type="full", params="wc", means_init=[[2.0]],
                         tol=1e-12, max_iter=5).fit(X)
    np.testing.assert_allclose(gm.covariances_[0, 0, 0], np.mean((X - 2.0) ** 2) + 1e-6,
                               rtol=1e-10)


def test_partial_fit_honours_params(rng, make_blobs):
    X = _data(rng, make_blobs)
    k, d = 3, X.shape[1]
    weights, means, covs, prec = _inits(rng, "full", k, d, X)
    gm = GaussianMixture(k, params="c", weights_init=weights, means_init=means,
                         precisions_init=prec, reg_covar=1e-4)
    order = rng.permutation(len(X))
    gm.partial_fit(X[order[:75]])
    # the first step takes the batch's statistics whole: one EM step on the batch
    ew, em, ec = _naive_m_step(X[order[:75]], np.ones(75), weights, means, covs, "full", "c",
                               1e-4)
    np.testing.assert_allclose(gm.covariances_, ec, rtol=1e-8, atol=1e-10)
    gm.partial_fit(X[order[75:]])
    _assert_fixed_exact(gm, "c", weights, means, prec, "full")
    assert not np.allclose(gm.covariances_, ec)


def test_partial_fit_continues_a_fit_with_fixed_parts(rng, make_blobs):
    X = _data(rng, make_blobs)
    weights, means, _, prec = _inits(rng, "diag", 3, X.shape[1], X)
    gm = GaussianMixture(3, covariance_type="diag", means_init=means).fit(X)
    gm.set_params(params="wc").partial_fit(X[:60])
    np.testing.assert_array_equal(gm.means_, means)


def test_chunked_and_memmap_fits_honour_params(rng, make_blobs, tmp_path):
    X = _data(rng, make_blobs)
    weights, means, _, prec = _inits(rng, "tied", 3, X.shape[1], X)
    kw = dict(covariance_type="tied", params="c", weights_init=weights, means_init=means,
              precisions_init=prec, tol=1e-10, max_iter=50)
    ref = GaussianMixture(3, **kw).fit(X)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = GaussianMixture(3, chunk_size=37, **kw).fit(np.load(path, mmap_mode="r"))
    chunks = GaussianMixture(3, **kw).fit([X[:70], X[70:]])
    for gm in (mm, chunks):
        np.testing.assert_array_equal(gm.weights_, weights)
        np.testing.assert_array_equal(gm.means_, means)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-8)


def test_dask_fit_honours_params(rng, make_blobs):
    da = pytest.importorskip("dask.array")
    X = _data(rng, make_blobs)
    weights, means, _, prec = _inits(rng, "full", 3, X.shape[1], X)
    kw = dict(params="c", weights_init=weights, means_init=means, precisions_init=prec,
              tol=1e-10, max_iter=50)
    ref = GaussianMixture(3, **kw).fit(X)
    gm = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(40, 3)))
    np.testing.assert_array_equal(gm.means_, means)
    np.testing.assert_array_equal(gm.weights_, weights)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-6)


def test_empty_component_with_fixed_mean_is_kept(rng):
    X = rng.normal(size=(200, 2))
    means = np.array([[0.0, 0.0], [50.0, 50.0]])
    gm = GaussianMixture(2, covariance_type="spherical", params="wc", means_init=means,
                         max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    np.testing.assert_array_equal(gm.means_, means)
    assert gm.weights_[1] < 1e-6
    assert np.all(np.isfinite(gm.covariances_))


@pytest.mark.parametrize("params, missing", [("wc", "means_init"), ("mc", "weights_init"),
                                             ("wm", "precisions_init"), ("", "weights_init")])
def test_missing_init_is_a_clear_error(rng, params, missing):
    X = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match=f"params='{params}'.*'{missing}' must be given"):
        GaussianMixture(2, params=params).fit(X)
    with pytest.raises(ValueError, match=f"'{missing}' must be given"):
        GaussianMixture(2, params=params).partial_fit(X)


@pytest.mark.parametrize("bad", ["wx", "ww", "WMC", 3, None])
def test_bad_params_lists_allowed_letters(rng, bad):
    with pytest.raises(ValueError, match=r"'params' parameter .* letters from 'wmc'"):
        GaussianMixture(2, params=bad).fit(rng.normal(size=(20, 2)))


def test_params_round_trips_and_clones(rng, tmp_path):
    X = rng.normal(size=(60, 2))
    gm = GaussianMixture(2, params="mc", weights_init=[0.3, 0.7], random_state=0).fit(X)
    assert gm.get_params()["params"] == "mc"
    assert clone(gm).params == "mc"
    path = tmp_path / "m.gmm"
    gm.save(path)
    back = gaussmix.load(path)
    assert back.params == "mc"
    np.testing.assert_array_equal(back.weights_, [0.3, 0.7])
    assert gm.to_sklearn().get_params()["n_components"] == 2
    assert gm.marginal([0]).params == "wmc"  # the init arrays do not carry over


def test_default_is_all_parameters():
    assert GaussianMixture().params == "wmc"


def test_covariance_from_lower_or_upper_precision_factor(rng):
    """``precisions_init`` gives a lower Cholesky factor, a covariance an upper one: both must
    give back the covariance (a fixed covariance is stored from the former)."""
    from gaussmix._kernels import cov_from_prec_chol
    A = rng.normal(size=(4, 4)) + 2 * np.eye(4)
    C = A @ A.T
    P = np.linalg.inv(C)
    lower = np.linalg.cholesky(P)
    upper = np.linalg.inv(np.linalg.cholesky(C)).T
    np.testing.assert_allclose(cov_from_prec_chol(lower), C, rtol=1e-10)
    np.testing.assert_allclose(cov_from_prec_chol(upper), C, rtol=1e-10)
    gm = GaussianMixture(1, precisions_init=P[None], max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(rng.normal(size=(30, 4)))
    np.testing.assert_allclose(gm.covariances_[0], C, rtol=1e-10)
