"""Covariance models, parametrised over the registry: a new type inherits every test here.

Log-densities are checked against scipy.stats.multivariate_normal, per component
(``model.log_prob``) and for whole mixtures (``GaussianMixture.score_samples``).
"""
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gaussmix
from gaussmix import GaussianMixture, covariance

NAMES = covariance.names()
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}


def random_params(name, k, d, rng):
    """Weights, means and covariances of model ``name`` built through its own M-step."""
    model = covariance.get(name)
    nk = rng.uniform(20, 50, size=k)
    scatter = np.empty((k, d, d))
    for j in range(k):
        A = rng.normal(size=(d, 2 * d))
        scatter[j] = nk[j] * (A @ A.T / (2 * d) + 0.2 * np.eye(d))
    if not model.full_scatter:
        scatter = np.diagonal(scatter, axis1=1, axis2=2).copy()
    cov = model.from_stats(nk, scatter, 1e-6)
    prec_chol, bad = model.precision_cholesky(cov)
    assert not bad
    weights = nk / nk.sum()
    means = rng.normal(scale=2.0, size=(k, d))
    return model, weights, means, cov, prec_chol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_log_prob_matches_scipy(name, dtype, rng):
    k, d = 3, 4
    model, _, means, cov, prec_chol = random_params(name, k, d, rng)
    X = rng.normal(scale=2.0, size=(40, d))
    lp = model.log_prob(X.astype(dtype), means.astype(dtype), prec_chol.astype(dtype))
    assert lp.shape == (40, k)
    assert lp.dtype == dtype
    ref = np.column_stack([
        multivariate_normal(means[j], model.component_covariance(cov, j, d)).logpdf(X)
        for j in range(k)])
    np.testing.assert_allclose(lp, ref, **TOL[dtype])


def _mixture(name, weights, means, cov, prec_chol, d):
    gm = GaussianMixture(len(weights), covariance_type=name)
    model = covariance.get(name)
    gm.weights_, gm.means_, gm.covariances_ = weights, means, cov
    gm.precisions_cholesky_ = prec_chol
    gm.precisions_ = model.precisions(prec_chol)
    gm.n_features_in_ = d
    gm.converged_, gm.n_iter_, gm.lower_bound_, gm.lower_bounds_ = True, 1, 0.0, [0.0]
    return gm


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 3])
def test_score_samples_matches_scipy(name, dtype, k, rng):
    d = 3
    model, weights, means, cov, prec_chol = random_params(name, k, d, rng)
    gm = _mixture(name, weights, means, cov, prec_chol, d)
    X = rng.normal(scale=2.0, size=(50, d))
    comp = np.column_stack([
        np.log(weights[j])
        + multivariate_normal(means[j], model.component_covariance(cov, j, d)).logpdf(X)
        for j in range(k)])
    ref = logsumexp(comp, axis=1)
    np.testing.assert_allclose(gm.score_samples(X.astype(dtype)), ref, **TOL[dtype])
    resp = gm.predict_proba(X.astype(dtype))
    np.testing.assert_allclose(resp, np.exp(comp - ref[:, None]), **TOL[dtype])


@pytest.mark.parametrize("name", covariance.BUILTIN_NAMES)  # the ones scikit-learn has
def test_shapes_and_parameter_counts_match_sklearn(name, blobs):
    X, _ = blobs
    k, d = 3, X.shape[1]
    model = covariance.get(name)
    sk = SkGaussianMixture(k, covariance_type=name, random_state=0).fit(X)
    assert model.shape(k, d) == sk.covariances_.shape
    gm = GaussianMixture.from_sklearn(sk)
    assert gm._n_parameters() == sk._n_parameters()


@pytest.mark.parametrize("name", NAMES)
def test_precision_factorisations_round_trip(name, rng):
    k, d = 3, 4
    model, _, _, cov, prec_chol = random_params(name, k, d, rng)
    precisions = model.precisions(prec_chol)
    np.testing.assert_allclose(model.covariances_from_precision_cholesky(prec_chol), cov,
                               rtol=1e-10)
    np.testing.assert_allclose(model.precisions(model.precision_cholesky_from_precisions(precisions)),
                               precisions, rtol=1e-10)
    for j in range(k):
        dense_cov = model.component_covariance(cov, j, d)
        dense_prec = model.component_covariance(precisions, j, d)
        np.testing.assert_allclose(dense_cov @ dense_prec, np.eye(d), atol=1e-10)
    # log-determinant of L is -1/2 log det(Sigma)
    logdet = np.broadcast_to(model.log_det_cholesky(prec_chol, d), (k,))
    for j in range(k):
        sign, ld = np.linalg.slogdet(model.component_covariance(cov, j, d))
        assert sign > 0 and logdet[j] == pytest.approx(-0.5 * ld, rel=1e-10)


@pytest.mark.parametrize("name", covariance.BUILTIN_NAMES)  # unconstrained: np.cov is the M-step
def test_m_step_matches_weighted_np_cov(name, rng):
    """One component's covariance from statistics equals numpy's weighted covariance."""
    d = 3
    X = rng.normal(size=(80, d)) @ rng.normal(size=(d, d))
    w = rng.uniform(0.1, 2.0, size=80)
    mu = w @ X / w.sum()
    full = (w[:, None] * (X - mu)).T @ (X - mu)
    model = covariance.get(name)
    scatter = full[None] if model.full_scatter else np.diag(full)[None]
    cov = model.from_stats(np.array([w.sum()]), scatter, reg_covar=0.0)
    ref = np.cov(X.T, aweights=w, bias=True)
    dense = model.component_covariance(cov, 0, d)
    if name in ("full", "tied"):
        np.testing.assert_allclose(dense, ref, rtol=1e-12)
    elif name == "diag":
        np.testing.assert_allclose(dense, np.diag(np.diag(ref)), rtol=1e-12)
    else:
        np.testing.assert_allclose(dense, np.trace(ref) / d * np.eye(d), rtol=1e-12)
    reg = model.component_covariance(model.from_stats(np.array([w.sum()]), scatter, 0.5), 0, d)
    np.testing.assert_allclose(reg - dense, 0.5 * np.eye(d), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_validate_rejects_bad_arrays(name):
    model = covariance.get(name)
    k, d = 2, 3
    shape = model.shape(k, d)
    good = np.ones(shape) if len(shape) < 3 else np.broadcast_to(np.eye(d), shape).copy()
    if name == "tied":
        good = np.eye(d)
    model.validate(good, k, d, "precisions_init")
    with pytest.raises(ValueError, match="precisions_init.*shape"):
        model.validate(np.ones(tuple(s + 1 for s in shape)), k, d, "precisions_init")
    bad = good.copy()
    bad.flat[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.validate(bad, k, d, "precisions_init")
    bad = good.copy()
    bad.flat[0] = -1.0
    with pytest.raises(ValueError, match="positive"):
        model.validate(bad, k, d, "precisions_init")


@pytest.mark.parametrize("name", [n for n in NAMES if len(covariance.get(n).shape(2, 3)) >= 2
                                  and covariance.get(n).full_scatter])
def test_validate_rejects_asymmetric_matrices(name):
    model = covariance.get(name)
    m = np.eye(3)
    m[0, 1] = 0.5
    arr = m if model.shape(2, 3) == (3, 3) else np.stack([np.eye(3), m])
    with pytest.raises(ValueError, match="symmetric"):
        model.validate(arr, 2, 3, "precisions_init")


def test_registry_lookup_and_error_lists_valid_names():
    assert set(NAMES) >= {"full", "tied", "diag", "spherical"}
    for name in NAMES:
        assert covariance.get(name).name == name
        assert covariance.get(covariance.get(name)) is covariance.get(name)
    with pytest.raises(ValueError) as exc:
        covariance.get("fulll")
    for name in NAMES:
        assert name in str(exc.value)
    assert "'fulll'" in str(exc.value)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_type_fits(name, blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    model = gaussmix.covariance.get(name)
    assert gm.covariances_.shape == model.shape(3, X.shape[1])
    assert np.all(np.isfinite(gm.covariances_))
