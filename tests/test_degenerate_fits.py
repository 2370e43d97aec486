"""Repeated values, tight clusters and integer data: legitimate maximum-likelihood solutions.

A component sitting on repeated values (binary columns, flat-colour images, integer data) has
a covariance of exactly ``reg_covar``: a valid optimum, not a degenerate one. These tests pin
the fits to references that cannot be fooled by a local optimum: the exact optimum where it is
known in closed form, the exact M-step on the true labels, and scikit-learn's estimator on the
same data and seeds where its arithmetic is exact.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gaussmix
from gaussmix import GaussianMixture, covariance

NAMES = covariance.names()  # every registered structure, mclust's included
#: The structures scikit-learn has, for comparisons with it (and closed-form oracles)
SKLEARN = ("full", "tied", "diag", "spherical")
#: Structures held to the exact checks: all of them (EVE and VVE included, since the
#: scatter's rounding noise is floored relative to ``reg_covar`` in their M-step).
EXACT = tuple(NAMES)
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def fit(X, k, cov, seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=cov, random_state=seed, **kw).fit(X)


def sk_score(X, k, cov, seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGaussianMixture(k, covariance_type=cov, random_state=seed, **kw).fit(X).score(X)


def optimum_on_points(points, counts, reg_covar=1e-6):
    """Mean log-likelihood of the exact optimum with one component per distinct point.

    Each component sits on its point with weight count/n and covariance ``reg_covar * I``
    (for every covariance type: the within-component scatter is zero). The other components'
    densities are included, so the value is exact, not a separated-points approximation.
    """
    d = points.shape[1]
    w = counts / counts.sum()
    lp = np.stack([np.log(w[j]) + multivariate_normal(points[j], reg_covar * np.eye(d)).logpdf(points)
                   for j in range(len(points))], axis=1).reshape(len(points), -1)
    return float(np.dot(w, logsumexp(lp, axis=1)))


# ------------------------------------------------------------------------------------------------
# the reproducers


@pytest.mark.parametrize("cov", NAMES)
def test_two_repeated_points_get_one_component_each(cov):
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 50, axis=0)
    gm = fit(X, 2, cov)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0.0, 1.0], atol=1e-12)
    assert gm.score(X) == pytest.approx(optimum_on_points(np.array([[0.0, 0], [1, 1]]),
                                                          np.array([50, 50])), rel=1e-9)
    if cov in SKLEARN:
        assert gm.score(X) >= sk_score(X, 2, cov) - 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cov", NAMES)
def test_clusters_far_apart_are_both_found(cov, seed):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(1e7, 1, (300, 2))]
    gm = fit(X, 2, cov, seed)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0.0, 1e7], atol=0.3)
    if cov in SKLEARN:
        assert gm.score(X) >= sk_score(X, 2, cov, seed) - 1e-6


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_flat_colour_image_is_segmented_into_its_colours(k):
    rng = np.random.default_rng(k)
    colours = rng.uniform(size=(k, 3))
    img = np.zeros((40, 40, 3))
    bands = np.array_split(np.arange(40), k)
    for c, rows in zip(colours, bands):
        img[rows] = c
    labels = gaussmix.image.segment(img, k).labels
    assert len(np.unique(labels)) == k
    assert all(len(np.unique(labels[rows])) == 1 for rows in bands)
    assert len({int(labels[rows[0], 0]) for rows in bands}) == k


def test_two_colour_float_image():
    img = np.zeros((40, 40, 3))
    img[:20] = [1, 0, 0]
    img[20:] = [0, 0, 1]
    labels = gaussmix.image.segment(img, 2).labels
    assert np.array_equal(np.unique(labels), [0, 1])
    assert labels[0, 0] != labels[-1, 0]


@pytest.mark.parametrize("cov", EXACT)
def test_lower_bound_never_drops_on_repeated_points(cov):
    X = np.repeat([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]], 30, axis=0)
    gm = fit(X, 3, cov)
    lbs = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lbs) >= -1e-9 * np.abs(lbs).max())  # rounding at the optimum
    assert gm.lower_bound_ >= lbs.max() - 1e-9 * np.abs(lbs).max()
    assert gm.score(X) == pytest.approx(
        optimum_on_points(np.array([[0.0, 0], [1, 1], [3, 0]]), np.full(3, 30)), rel=1e-9)


@pytest.mark.parametrize("cov", SKLEARN)
def test_binary_columns_give_distinct_components(cov):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (400, 3)).astype(float)
    for seed in range(4):
        gm = fit(X, 4, cov, seed)
        assert gm.converged_
        assert len(np.unique(gm.means_.round(9), axis=0)) == 4, "four identical components"
    # each start ends in one of many local optima in both libraries (their k-means differ, so
    # the same seed is not the same start); over a dozen seeds gaussmix finds an optimum at
    # least as good as the best scikit-learn finds
    best = max(fit(X, 4, cov, s).score(X) for s in range(12))
    assert best >= max(sk_score(X, 4, cov, s) for s in range(12)) - 1e-9


def test_reseeding_never_returns_a_worse_model(rng):
    # without regularisation components on repeated points are singular and get re-seeded;
    # the result is never worse than the best parameters EM evaluated along the way
    X = np.vstack([np.zeros((300, 2)), rng.normal(size=(50, 2)), np.ones((300, 2))])
    gm = fit(X, 8, "full", reg_covar=0.0)
    assert gm.lower_bound_ >= max(gm.lower_bounds_) - 1e-12
    assert np.isfinite(gm.score(X))


def test_cli_fit_of_binary_csv_gives_distinct_components(tmp_path, capsys):
    from gaussmix.cli import main
    rng = np.random.default_rng(0)
    path = tmp_path / "binary.csv"
    np.savetxt(path, rng.integers(0, 2, (400, 3)), delimiter=",", fmt="%d",
               header="a,b,c", comments="")
    model = tmp_path / "m.gmz"
    assert main(["fit", str(path), "-k", "4", "-o", str(model), "--seed", "0"]) == 0
    gm = gaussmix.load(model)
    assert len(np.unique(gm.means_.round(9), axis=0)) == 4


# ------------------------------------------------------------------------------------------------
# property tests


@st.composite
def repeated_points(draw):
    d = draw(st.integers(1, 3))
    m = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = 10.0 ** draw(st.floats(-1, 6))
    offset = 10.0 ** draw(st.floats(-3, 7))
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(m, d)) * scale + offset
    counts = rng.integers(1, 30, m)
    return points, counts


@PROPERTY
@given(data=repeated_points(), cov=st.sampled_from(EXACT), seed=st.integers(0, 100))
def test_repeated_values_reach_the_exact_optimum(data, cov, seed):
    points, counts = data
    # one component per point is the optimum when the points are far apart compared with the
    # regularisation's standard deviation (1e-3); closer points share a component
    gaps = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    assume(gaps[np.triu_indices(len(points), 1)].min() > 1e-3)
    X = np.repeat(points, counts, axis=0)
    gm = fit(X, len(points), cov, seed)
    np.testing.assert_allclose(np.sort(gm.means_, axis=0), np.sort(points, axis=0),
                               rtol=1e-12, atol=1e-12 * np.abs(points).max())
    assert gm.score(X) == pytest.approx(optimum_on_points(points, counts), rel=1e-9, abs=1e-9)


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), cov=st.sampled_from(SKLEARN),
       d=st.integers(1, 3), levels=st.integers(2, 3))
def test_integer_data_at_least_as_likely_as_scikit_learn(seed, cov, d, levels):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, levels, (int(rng.integers(40, 200)), d)).astype(float)
    points, counts = np.unique(X, axis=0, return_counts=True)
    if len(points) > 6 or len(points) < 2:
        X = X[:, :1]
        points, counts = np.unique(X, axis=0, return_counts=True)
    k = len(points)
    gm = fit(X, k, cov, seed % 100)
    assert gm.score(X) == pytest.approx(optimum_on_points(points, counts), rel=1e-9, abs=1e-9)
    try:
        ref = sk_score(X, k, cov, seed % 100)
    except ValueError:  # scikit-learn's 'ill-defined empirical covariance'
        return
    assert gm.score(X) >= ref - 1e-9 * abs(ref)


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), cov=st.sampled_from(SKLEARN), d=st.integers(1, 3),
       m=st.integers(2, 4), spread=st.floats(-4, 0), scale=st.floats(2, 7))
def test_tight_clusters_reach_the_exact_m_step_on_the_true_labels(seed, cov, d, m, spread, scale):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(m, d)) * 10.0 ** scale
    sizes = rng.integers(20, 40, m)
    X = np.vstack([c + 10.0 ** spread * rng.normal(size=(s, d)) for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(m), sizes)
    # the exact M-step on the true labels, centred in float64 by numpy, scored by scipy
    nk = np.bincount(labels)
    means = np.stack([X[labels == j].mean(axis=0) for j in range(m)])
    scat = [np.cov(X[labels == j].T, bias=True).reshape(d, d) for j in range(m)]
    if cov == "full":
        covs = np.stack([s + 1e-6 * np.eye(d) for s in scat])
    elif cov == "tied":
        covs = sum(n * s for n, s in zip(nk, scat)) / nk.sum() + 1e-6 * np.eye(d)
    elif cov == "diag":
        covs = np.stack([np.diag(s) + 1e-6 for s in scat])
    else:
        covs = np.array([np.trace(s) / d + 1e-6 for s in scat])
    oracle = GaussianMixture.from_params(nk / nk.sum(), means, covs, covariance_type=cov)
    dense = [covariance.get(cov).component_covariance(covs, j, d) for j in range(m)]
    lp = np.stack([np.log(nk[j] / nk.sum()) + multivariate_normal(means[j], dense[j]).logpdf(X)
                   for j in range(m)], axis=1).reshape(len(X), m)
    best = float(logsumexp(lp, axis=1).mean())
    # gaussmix and scipy agree to float64's resolution of residuals of values up to 1e7
    assert oracle.score(X) == pytest.approx(best, rel=1e-7)
    gm = fit(X, m, cov, seed % 100)
    assert gm.score(X) >= best - 1e-7 * abs(best) - 1e-7


@PROPERTY
@given(log_scale=st.floats(-300, 300), cov=st.sampled_from(EXACT), seed=st.integers(0, 50))
def test_scaling_all_weights_changes_nothing(log_scale, cov, seed):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(4, 1, (60, 2))]
    w = rng.uniform(0.2, 3.0, len(X))
    ref = fit(X, 2, cov, seed, tol=1e-8)
    ref.fit(X, sample_weight=w)
    gm = fit(X, 2, cov, seed, tol=1e-8)
    gm.fit(X, sample_weight=w * 10.0 ** log_scale)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-8, atol=1e-12)
    assert gm.score(X, sample_weight=w * 10.0 ** log_scale) == pytest.approx(
        ref.score(X, sample_weight=w), rel=1e-9)


def test_criteria_with_huge_weights_are_exact_or_named(rng):
    X = rng.normal(size=(300, 2))
    gm = fit(X, 2, "full")
    w = rng.uniform(0.5, 2.0, len(X))
    # scaled weights: the mean log-likelihood is the same, the totals scale exactly
    assert gm.score(X, sample_weight=w * 1e300) == pytest.approx(gm.score(X, sample_weight=w),
                                                                 rel=1e-12)
    big = gm.aic(X, sample_weight=w * 1e300)
    assert np.isfinite(big)
    assert big == pytest.approx(-2 * gm.score(X, sample_weight=w) * w.sum() * 1e300, rel=1e-9)
    # beyond float64's range: a clear error instead of inf
    with pytest.raises(ValueError, match=r"BIC is beyond float64's range.*sums to about 3\.00e\+310"):
        gm.bic(X, sample_weight=np.full(len(X), 1e308))
    with pytest.raises(ValueError, match="AIC is beyond float64's range"):
        gm.aic(X, sample_weight=np.full(len(X), 1e308))
