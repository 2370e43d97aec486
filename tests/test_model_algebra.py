"""Public model algebra: from_params, marginal, n_parameters and the information criteria.

References are owned here: scipy.stats densities, scipy quadrature of the joint density, naive
loops over responsibilities, and scikit-learn's own parameter count and criteria.
"""
import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils.validation import check_is_fitted

from gaussmix import GaussianMixture, covariance
from gaussmix import _criteria
from gaussmix.anomaly import GaussianMixtureOutlierDetector

BUILTIN = ("full", "tied", "diag", "spherical")


def mixture_logpdf(X, weights, means, dense_covs):
    """log sum_k w_k N(x | mu_k, S_k) with scipy, one component at a time."""
    lp = np.column_stack([np.log(w) + multivariate_normal(m, S).logpdf(X)
                          for w, m, S in zip(weights, means, dense_covs)])
    return logsumexp(lp, axis=1)


def dense(gm):
    model = covariance.get(gm.covariance_type)
    d = gm.means_.shape[1]
    return np.stack([model.component_covariance(gm.covariances_, j, d)
                     for j in range(len(gm.weights_))])


@pytest.fixture
def X4(rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(80, 70, 90), d=4)
    return X


# ---------------------------------------------------------------------------------- from_params


@pytest.mark.parametrize("cov", BUILTIN)
def test_from_params_reproduces_a_fit(cov, X4):
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X4)
    built = GaussianMixture.from_params(gm.weights_, gm.means_, gm.covariances_,
                                        covariance_type=cov, reg_covar=gm.reg_covar)
    check_is_fitted(built)
    assert built.n_components == 3 and built.covariance_type == cov
    assert built.n_features_in_ == 4 and built.reg_covar == gm.reg_covar
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(built, attr), getattr(gm, attr))
    np.testing.assert_allclose(built.precisions_cholesky_, gm.precisions_cholesky_, rtol=1e-10)
    np.testing.assert_allclose(built.precisions_, gm.precisions_, rtol=1e-10)
    np.testing.assert_allclose(built.score_samples(X4), gm.score_samples(X4), rtol=1e-10)
    np.testing.assert_array_equal(built.predict(X4), gm.predict(X4))
    # against scipy, independently of the stored factors
    np.testing.assert_allclose(built.score_samples(X4),
                               mixture_logpdf(X4, gm.weights_, gm.means_, dense(gm)),
                               rtol=1e-9)
    # documented history of a mixture that no EM produced
    assert built.converged_ is True and built.n_iter_ == 0
    assert built.lower_bound_ == -np.inf and built.lower_bounds_ == []


def test_from_params_then_warm_start_continues_em(X4):
    gm = GaussianMixture(3, random_state=0).fit(X4)
    built = GaussianMixture.from_params(gm.weights_, gm.means_, gm.covariances_,
                                        warm_start=True, max_iter=5)
    built.fit(X4)
    assert np.isfinite(built.lower_bound_) and built.n_iter_ >= 1
    # started at a converged optimum: stays there
    assert built.score(X4) == pytest.approx(gm.score(X4), rel=1e-6)


def test_from_params_keeps_feature_names_and_fit_history():
    gm = GaussianMixture.from_params(
        [0.25, 0.75], [[0.0, 1.0], [3.0, 4.0]], [[1.0, 2.0], [0.5, 0.5]],
        covariance_type="diag", feature_names_in=["a", "b"], converged=False, n_iter=7,
        lower_bound=-1.5, lower_bounds=[-3.0, -1.5], random_state=3)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b"])
    assert (gm.converged_, gm.n_iter_, gm.lower_bound_, gm.lower_bounds_) == \
        (False, 7, -1.5, [-3.0, -1.5])
    assert gm.random_state == 3
    df = pd.DataFrame({"a": [0.0, 3.0], "b": [1.0, 4.0]})
    assert gm.predict(df).tolist() == [0, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[0.5, 0.6]), "sum to 1"),
    (dict(weights=[1.2, -0.2]), "non-negative"),
    (dict(weights=[[0.5, 0.5]]), "1-D"),
    (dict(weights=[0.5, np.nan]), "finite"),
    (dict(means=[[0.0, 0.0]]), "'means' must have shape"),
    (dict(means=[[0.0, np.inf], [1.0, 1.0]]), "NaN or inf"),
    (dict(covariances=np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])), "positive definite"),
    (dict(covariances=np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])), "symmetric"),
    (dict(covariances=np.eye(2)), "'covariances' must have shape"),
    (dict(covariance_type="banana"), "'full', 'tied', 'diag', 'spherical'"),
    (dict(n_components=3), "n_components"),
    (dict(reg_covar=-1.0), "reg_covar"),
    (dict(precisions_cholesky=np.stack([np.eye(2), 2 * np.eye(2)])), "does not agree"),
    (dict(precisions_cholesky=np.eye(2)), "'precisions_cholesky' must have shape"),
    (dict(feature_names_in=["a"]), "feature_names_in"),
    (dict(feature_names_in=["a", "a"]), "repeats"),
])
def test_from_params_rejects_bad_input(kwargs, match):
    args = dict(weights=[0.5, 0.5], means=[[0.0, 0.0], [1.0, 1.0]],
                covariances=np.stack([np.eye(2), np.eye(2)]))
    for key in ("weights", "means", "covariances"):
        if key in kwargs:
            args[key] = kwargs.pop(key)
    with pytest.raises(ValueError, match=match):
        GaussianMixture.from_params(args["weights"], args["means"], args["covariances"], **kwargs)


@pytest.mark.parametrize("cov", BUILTIN)
def test_from_sklearn_goes_through_from_params(cov, X4):
    sk = SkGaussianMixture(3, covariance_type=cov, random_state=0).fit(X4)
    gm = GaussianMixture.from_sklearn(sk)
    np.testing.assert_array_equal(gm.precisions_cholesky_, sk.precisions_cholesky_)
    np.testing.assert_allclose(gm.score_samples(X4), sk.score_samples(X4), rtol=1e-12)
    assert (gm.converged_, gm.n_iter_, gm.lower_bound_) == (sk.converged_, sk.n_iter_,
                                                          sk.lower_bound_)


# ---------------------------------------------------------------------------------- marginal


@pytest.mark.parametrize("cov", BUILTIN)
@pytest.mark.parametrize("features", [[2], [0, 3], [3, 1, 0], [1, 2, 3, 0]])
def test_marginal_is_exact_and_stays_in_its_family(cov, features, X4):
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X4)
    m = gm.marginal(features)
    model = covariance.get(cov)
    assert m.covariance_type == cov
    assert m.covariances_.shape == model.shape(3, len(features))
    assert m.n_features_in_ == len(features)
    idx = np.array(features)
    ref = mixture_logpdf(X4[:, idx], gm.weights_, gm.means_[:, idx],
                         dense(gm)[:, idx][:, :, idx])
    np.testing.assert_allclose(m.score_samples(X4[:, idx]), ref, rtol=1e-9)
    np.testing.assert_array_equal(m.weights_, gm.weights_)


def test_marginal_integrates_the_joint_density(rng):
    """The 1-D marginal density equals the integral of the 2-D joint over the other feature."""
    A = rng.normal(size=(2, 2))
    covs = np.stack([A @ A.T + 0.5 * np.eye(2), np.array([[1.0, -0.6], [-0.6, 0.8]])])
    gm = GaussianMixture.from_params([0.3, 0.7], [[0.0, 1.0], [2.0, -1.0]], covs)
    m = gm.marginal([0])
    for x in (-1.0, 0.5, 2.5):
        joint, _ = integrate.quad(lambda y: np.exp(gm.score_samples([[x, y]])[0]),
                                  -np.inf, np.inf, epsabs=1e-12)
        assert np.exp(m.score_samples([[x]])[0]) == pytest.approx(joint, rel=1e-7)


def test_marginal_of_all_features_in_order_is_the_model(X4):
    gm = GaussianMixture(3, covariance_type="tied", random_state=0).fit(X4)
    m = gm.marginal([0, 1, 2, 3])
    np.testing.assert_allclose(m.score_samples(X4), gm.score_samples(X4), rtol=1e-10)


def test_marginal_by_names_mask_and_negative_indices(X4):
    df = pd.DataFrame(X4, columns=["w", "x", "y", "z"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    by_name = gm.marginal(["z", "x"])
    np.testing.assert_array_equal(by_name.feature_names_in_, ["z", "x"])
    by_index = gm.marginal([-1, 1])
    np.testing.assert_array_equal(by_index.means_, by_name.means_)
    np.testing.assert_array_equal(by_index.covariances_, by_name.covariances_)
    single = gm.marginal("y")
    np.testing.assert_array_equal(single.feature_names_in_, ["y"])
    mask = gm.marginal(np.array([True, False, True, False]))
    np.testing.assert_array_equal(mask.feature_names_in_, ["w", "y"])
    # names carry through: scoring the marginal on a DataFrame of those columns
    plain = GaussianMixture(2, random_state=0).fit(X4).marginal([3, 1])
    np.testing.assert_allclose(by_name.score_samples(df[["z", "x"]]),
                               plain.score_samples(X4[:, [3, 1]]), rtol=1e-12)


@pytest.mark.parametrize("features, err, match", [
    ([0, 0], ValueError, "repeats"),
    ([4], ValueError, "out of range"),
    ([], ValueError, "non-empty"),
    (np.zeros(4, dtype=bool), ValueError, "selects no feature"),
    (np.ones(3, dtype=bool), ValueError, "shape"),
    (["a"], ValueError, "no feature_names_in_"),
    ([0.5], TypeError, "indices"),
])
def test_marginal_rejects_bad_features(features, err, match, X4):
    gm = GaussianMixture(2, random_state=0).fit(X4)
    with pytest.raises(err, match=match):
        gm.marginal(features)


def test_marginal_unknown_name_lists_the_features(X4):
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X4, columns=list("abcd")))
    with pytest.raises(ValueError, match=r"unknown feature names \['q'\].*'a', 'b'"):
        gm.marginal(["a", "q"])


# ---------------------------------------------------------------------------------- criteria


@pytest.mark.parametrize("cov", BUILTIN)
def test_n_parameters_matches_sklearn(cov, X4):
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X4)
    sk = gm.to_sklearn()
    assert gm.n_parameters() == sk._n_parameters()
    assert gm.bic(X4) == pytest.approx(sk.bic(X4), rel=1e-12)
    assert gm.aic(X4) == pytest.approx(sk.aic(X4), rel=1e-12)


def test_criteria_by_hand():
    ll, n, p = -1234.5, 300.0, 17
    assert _criteria.bic(ll, n, p) == pytest.approx(2469.0 + 17 * np.log(300.0), rel=1e-15)
    assert _criteria.aic(ll, p) == pytest.approx(2469.0 + 34.0, rel=1e-15)
    resp = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    en = -(0.5 * np.log(0.5) * 2 + 0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert _criteria.classification_entropy(resp) == pytest.approx(en, rel=1e-14)
    w = np.array([2.0, 1.0, 3.0])
    en_w = -(1.0 * np.log(0.5) + 3 * (0.9 * np.log(0.9) + 0.1 * np.log(0.1)))
    assert _criteria.classification_entropy(resp, w) == pytest.approx(en_w, rel=1e-14)
    # lower is better: ICL adds twice the (non-negative) entropy to BIC
    assert _criteria.icl(ll, n, p, en) == pytest.approx(_criteria.bic(ll, n, p) + 2 * en)
    assert _criteria.icl(ll, n, p, 0.0) == _criteria.bic(ll, n, p)
    with pytest.raises(ValueError, match="positive number of samples"):
        _criteria.bic(ll, 0.0, p)


def test_icl_method_against_a_naive_loop(X4, rng):
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X4)
    w = rng.integers(0, 4, size=len(X4)).astype(float)
    z = gm.predict_proba(X4)
    en = 0.0
    for i in range(len(X4)):
        for k in range(3):
            if z[i, k] > 0:
                en -= w[i] * z[i, k] * np.log(z[i, k])
    ll = float(np.dot(w, gm.score_samples(X4)))
    bic = -2 * ll + gm.n_parameters() * np.log(w.sum())
    assert gm.bic(X4, sample_weight=w) == pytest.approx(bic, rel=1e-10)
    assert gm.icl(X4, sample_weight=w) == pytest.approx(bic + 2 * en, rel=1e-10)
    assert gm.icl(X4) >= gm.bic(X4)
    # integer weights act like repeated rows
    Xr = np.repeat(X4, w.astype(int), axis=0)
    assert gm.icl(X4, sample_weight=w) == pytest.approx(gm.icl(Xr), rel=1e-10)


def test_selection_table_uses_the_estimator_criteria(X4):
    from gaussmix import select
    res = select(X4, [2, 3], ["full", "diag"], validation_fraction=None, random_state=0)
    for row in res.table:
        gm = res.estimators_[(row["n_components"], row["covariance_type"])]
        assert row["n_parameters"] == gm.n_parameters()
        assert row["bic"] == pytest.approx(gm.bic(X4), rel=1e-10)
        assert row["aic"] == pytest.approx(gm.aic(X4), rel=1e-10)
        assert row["icl"] == pytest.approx(gm.icl(X4), rel=1e-10)


# ---------------------------------------------------------------------------------- registry


def test_registry_register_and_unregister_rules():
    from gaussmix.covariance._full import FullCovariance

    class Other(FullCovariance):
        name = "full"

    with pytest.raises(ValueError, match="already registered"):
        covariance.register(Other())
    with pytest.raises(ValueError, match="cannot be unregistered"):
        covariance.unregister("full")
    with pytest.raises(TypeError, match="CovarianceModel instance"):
        covariance.register(FullCovariance)
    with pytest.raises(ValueError, match="must be one of"):
        covariance.unregister("never-registered")

    class Temp(FullCovariance):
        name = "temp-full"

    a, b = Temp(), Temp()
    try:
        assert covariance.register(a) is a
        with pytest.raises(ValueError, match="replace=True"):
            covariance.register(b)
        covariance.register(b, replace=True)
        assert covariance.get("temp-full") is b
    finally:
        covariance.unregister("temp-full")
    assert "temp-full" not in covariance.names()


def test_unknown_covariance_type_error_lists_registered_names(X4):
    with pytest.raises(ValueError, match=r"'covariance_type' parameter of GaussianMixture must "
                                         r"be one of 'full', 'tied', 'diag', 'spherical'"):
        GaussianMixture(covariance_type="fll").fit(X4)


# ---------------------------------------------------------------------------------- consumers


def test_outlier_detector_drops_light_components_of_a_tied_mixture(rng):
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2)),
                   rng.normal(-8, 0.3, (12, 2))])
    det = GaussianMixtureOutlierDetector(n_components=3, covariance_type="tied",
                                         min_weight=0.05, contamination=0.05,
                                         random_state=0).fit(X)
    gm, dens = det.mixture_, det.density_
    assert len(det.dropped_components_) == 1
    keep = np.setdiff1d(np.arange(3), det.dropped_components_)
    w = gm.weights_[keep] / gm.weights_[keep].sum()
    ref = mixture_logpdf(X, w, gm.means_[keep], [gm.covariances_] * len(keep))
    np.testing.assert_allclose(dens.score_samples(X), ref, rtol=1e-9)
    assert dens.covariance_type == "tied"


def test_conditional_mixture_is_a_from_params_model(X4):
    from gaussmix.conditional import condition
    gm = GaussianMixture(3, random_state=0).fit(X4)
    cm = condition(gm, X4[:2, :2], given=[0, 1])
    m = cm.mixture(1)
    assert m.n_iter_ == 0 and m.n_features_in_ == 2
    Y = X4[:5, 2:]
    np.testing.assert_allclose(m.score_samples(Y),
                               mixture_logpdf(Y, cm.weights[1], cm.means[1], cm.covariances),
                               rtol=1e-10)
