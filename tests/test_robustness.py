"""Degenerate data: the fit completes with finite parameters, re-seeding with a warning;
where recovery is impossible the error says what to change."""
import warnings

import numpy as np
import pytest

import gaussmix
from gaussmix import DegenerateComponentWarning, GaussianMixture, covariance
from sklearn.mixture import GaussianMixture as SkGaussianMixture

# scikit-learn's four structures: several tests compare with scikit-learn, and the repair
# semantics tested here (a single component collapsing, re-seeding) are those of per-component
# or shared covariances; mclust's constrained structures (equal volumes, shapes, orientations)
# have their own tests in tests/test_mclust_structures.py
NAMES = covariance.BUILTIN_NAMES
PER_COMPONENT = [n for n in NAMES if n != "tied"]  # a shared covariance cannot collapse


def assert_finite_fit(gm, X):
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, attr))), attr
    assert np.all(np.isfinite(gm.lower_bounds_))
    assert gm.weights_.sum() == pytest.approx(1.0)
    model = covariance.get(gm.covariance_type)
    for j in range(gm.n_components):
        dense = model.component_covariance(gm.covariances_, j, X.shape[1])
        assert np.all(np.diag(dense) > 0), "variances must be positive"
        if gm.reg_covar > 0:
            assert np.linalg.eigvalsh(dense).min() > 0
    assert np.all(np.isfinite(gm.score_samples(X)))
    resp = gm.predict_proba(X)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-5)


def fit_recording(X, **kw):
    """Fit and return (model, DegenerateComponentWarnings raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(**kw).fit(X)
    return gm, [w for w in caught if issubclass(w.category, DegenerateComponentWarning)]


@pytest.fixture
def two_blobs(rng):
    return np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 8])


@pytest.mark.parametrize("cov", NAMES)
def test_duplicate_points(cov, two_blobs):
    X = np.vstack([two_blobs, np.repeat(two_blobs[:1], 40, axis=0)])
    gm, _ = fit_recording(X, n_components=3, covariance_type=cov, random_state=0)
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("cov", NAMES)
def test_fewer_distinct_points_than_components(cov, rng):
    X = np.repeat(rng.normal(size=(2, 2)), 15, axis=0)
    gm, _ = fit_recording(X, n_components=3, covariance_type=cov, random_state=0)
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", NAMES)
def test_constant_feature(cov, dtype, two_blobs):
    X = np.column_stack([two_blobs, np.full(len(two_blobs), 1000.0)]).astype(dtype)
    gm, _ = fit_recording(X, n_components=2, covariance_type=cov, random_state=0)
    assert_finite_fit(gm, X)
    np.testing.assert_allclose(gm.means_[:, 2], 1000.0, rtol=1e-6)
    # the constant feature's variance is exactly the regularisation
    model = covariance.get(cov)
    if cov != "spherical":
        var = [model.component_covariance(gm.covariances_, j, 3)[2, 2] for j in range(2)]
        np.testing.assert_allclose(var, gm.reg_covar, rtol=1e-2)


@pytest.mark.parametrize("cov", NAMES)
def test_collinear_features(cov, two_blobs):
    X = np.column_stack([two_blobs, two_blobs[:, 0] + 2 * two_blobs[:, 1]])
    gm, _ = fit_recording(X, n_components=2, covariance_type=cov, random_state=0)
    assert_finite_fit(gm, X)
    assert len(set(gm.predict(X[:50]))) == 1 and len(set(gm.predict(X[50:100]))) == 1


@pytest.mark.parametrize("cov", PER_COMPONENT)
def test_component_collapsing_onto_isolated_point_is_reseeded(cov, two_blobs):
    # without regularisation a component on one point has a singular covariance: re-seeded
    X = np.vstack([two_blobs, [[100.0, 100.0]]])
    gm, caught = fit_recording(X, n_components=4, covariance_type=cov, random_state=0,
                               reg_covar=0.0)
    repairs = [str(w.message) for w in caught if "EM repaired" in str(w.message)]
    assert repairs, "a collapsed component must be reported"
    assert any("collapsed" in m and "not positive definite" in m and "re-seeded" in m
               for m in repairs)
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("cov", PER_COMPONENT)
def test_component_on_isolated_point_is_kept_with_regularisation(cov, two_blobs):
    # with reg_covar > 0 the same component is a legitimate maximum-likelihood solution: it
    # stays on the point (as in scikit-learn), nothing is re-seeded, and the fit is at least
    # as likely as scikit-learn's from the same seed
    X = np.vstack([two_blobs, [[100.0, 100.0]]])
    gm, caught = fit_recording(X, n_components=4, covariance_type=cov, random_state=0)
    assert not caught
    assert np.any(np.all(np.abs(gm.means_ - 100.0) < 1e-6, axis=1))
    ref = SkGaussianMixture(4, covariance_type=cov, random_state=0).fit(X)
    assert gm.score(X) >= ref.score(X) - 1e-6


def test_isolated_point_with_tied_covariance(two_blobs):
    X = np.vstack([two_blobs, [[100.0, 100.0]]])
    gm, _ = fit_recording(X, n_components=4, covariance_type="tied", random_state=0)
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", NAMES)
def test_empty_component_is_reseeded(cov, dtype, two_blobs):
    X = two_blobs.astype(dtype)
    means_init = [[0.0, 0.0], [8.0, 8.0], [1e4, 1e4]]  # nothing is anywhere near the third
    gm, caught = fit_recording(X, n_components=3, covariance_type=cov, means_init=means_init)
    assert caught and "component 2 emptied out" in str(caught[0].message)
    assert_finite_fit(gm, X)
    assert np.all(np.abs(gm.means_) < 50), "the empty component moved onto the data"
    assert np.all(gm.weights_ > 0.01)


@pytest.mark.parametrize("cov", PER_COMPONENT)
def test_scikit_learn_fails_where_gaussmix_recovers(cov, two_blobs):
    """The case the issue names: scikit-learn's 'ill-defined empirical covariance' crash.

    Without regularisation, a component that empties out has a zero covariance; scikit-learn
    stops, gaussmix re-seeds the component and carries on.
    """
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    X = two_blobs
    means_init = [[0.0, 0.0], [8.0, 8.0], [1e3, 1e3]]
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        SkGaussianMixture(3, covariance_type=cov, reg_covar=0.0, means_init=means_init).fit(X)
    gm, caught = fit_recording(X, n_components=3, covariance_type=cov, reg_covar=0.0,
                               means_init=means_init)
    assert caught and "component 2 emptied out" in str(caught[0].message)
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("cov", NAMES)
def test_all_identical_points_without_regularisation_says_what_to_change(cov):
    X = np.ones((20, 2))
    with pytest.raises(ValueError, match="increase reg_covar"):
        GaussianMixture(1, covariance_type=cov, reg_covar=0.0).fit(X)
    # with the default regularisation the same data fit fine
    gm, _ = fit_recording(X, n_components=1, covariance_type=cov)
    assert_finite_fit(gm, X)
    np.testing.assert_allclose(gm.means_, [[1.0, 1.0]])


def test_collinear_full_covariance_without_regularisation_is_floored(two_blobs):
    """reg_covar=0 on collinear features: the likelihood is unbounded along the null direction.

    The fit completes with finite parameters and a warning that says what to change.
    """
    X = np.column_stack([two_blobs, two_blobs[:, 0] - two_blobs[:, 1]])
    gm, caught = fit_recording(X, n_components=2, reg_covar=0.0, random_state=0)
    assert any("reg_covar" in str(w.message) for w in caught
               if issubclass(w.category, DegenerateComponentWarning))
    assert_finite_fit(gm, X)


@pytest.mark.parametrize("cov", PER_COMPONENT)
def test_singleton_initial_cluster_without_regularisation_is_repaired(cov, two_blobs):
    """k-means puts the isolated point in a cluster of its own: a zero covariance at the start.

    The initial covariance is replaced by the data's instead of failing before EM starts
    (``max_iter=0`` keeps the initial parameters).
    """
    X = np.vstack([two_blobs, [[100.0, 100.0]]])
    gm, caught = fit_recording(X, n_components=3, covariance_type=cov, reg_covar=0.0,
                               max_iter=0, random_state=0)
    assert any("initial covariance" in str(w.message) for w in caught)
    assert_finite_fit(gm, X)


def test_tiny_variance_far_from_origin_float32(rng):
    """float32 with a large offset and small spread: no NaN, no negative variance."""
    X = (1e5 + 1e-2 * rng.normal(size=(300, 3))).astype(np.float32)
    for cov in NAMES:
        gm, _ = fit_recording(X, n_components=2, covariance_type=cov, random_state=0)
        assert_finite_fit(gm, X)
        model = covariance.get(cov)
        for j in range(2):
            assert np.all(np.diag(model.component_covariance(gm.covariances_, j, 3)) > 0)


def test_degenerate_warning_is_public():
    assert issubclass(gaussmix.DegenerateComponentWarning, UserWarning)


@pytest.mark.parametrize("covariance_type", NAMES)
def test_point_with_zero_density_everywhere(covariance_type):
    # (x - mu)^2 overflows: the density is 0 under every component. The log-density is -inf
    # (not a clamped finite value ranking it above merely distant points) and the
    # responsibilities are their limit, one-hot on the smallest Mahalanobis distance (split
    # equally where the quadratic forms agree, as the shared covariance of "tied" makes them),
    # rather than NaN or uniform.
    X = np.random.default_rng(0).normal(size=(200, 2))
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    Z = np.array([[1e200, 1e200], [1e3, 1e3], [0.0, 0.0]])
    ll = gm.score_samples(Z)
    assert ll[0] == -np.inf and np.all(np.isfinite(ll[1:])) and ll[1] < ll[2]
    proba = gm.predict_proba(Z)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    n_win = 3 if covariance_type == "tied" else 1
    np.testing.assert_allclose(np.sort(proba[0]), [0.0] * (3 - n_win) + [1 / n_win] * n_win)
    assert gm.predict(Z)[0] == proba[0].argmax()


@pytest.mark.parametrize("cov", PER_COMPONENT)
def test_repairs_of_one_run_are_reported_in_one_warning(cov, rng):
    # two clumps of identical points and too many components: many re-seeds and floors,
    # reported together (at most one repair warning per EM run) rather than one per iteration
    X = np.vstack([np.zeros((300, 2)), rng.normal(size=(50, 2)), np.ones((300, 2))])
    gm, caught = fit_recording(X, n_components=8, covariance_type=cov, reg_covar=0.0,
                               random_state=0, n_init=2)
    repairs = [str(w.message) for w in caught if "EM repaired" in str(w.message)]
    assert 1 <= len(repairs) <= 2, repairs
    assert all("re-seeded" in m and "reg_covar" in m for m in repairs)
    assert_finite_fit(gm, X)
