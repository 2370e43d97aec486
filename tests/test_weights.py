"""Sample weights: integer weight == duplicated rows, zero weight == dropped row, scale-free."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, covariance

NAMES = covariance.names()
ATTRS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def assert_same_fit(a, b, rtol=None):
    if rtol is None:  # M-steps that iterate (EVE, VVE, ...) are solved to a tolerance
        rtol = 1e-6 if covariance.get(a.covariance_type).warm_start_m_step else 1e-8
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    for attr in ATTRS:
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=rtol, atol=1e-10)


@pytest.fixture
def data(make_blobs, rng):
    X, _ = make_blobs(rng, n_per=(30, 25, 35), d=2, spread=3.0)
    counts = rng.integers(0, 4, size=len(X))
    counts[:3] = [1, 2, 3]
    return X, counts


def _fit(X, w=None, **kw):
    gm = GaussianMixture(3, random_state=5, tol=1e-5, max_iter=40, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, sample_weight=w)


@pytest.mark.parametrize("init", ["kmeans", "k-means++"])
@pytest.mark.parametrize("cov", NAMES)
def test_integer_weights_equal_duplicated_rows(data, cov, init):
    X, counts = data
    weighted = _fit(X, counts.astype(float), covariance_type=cov, init_params=init)
    duplicated = _fit(np.repeat(X, counts, axis=0), covariance_type=cov, init_params=init)
    assert_same_fit(weighted, duplicated)
    np.testing.assert_array_equal(weighted.predict(X), duplicated.predict(X))


@pytest.mark.parametrize("cov", NAMES)
def test_integer_weights_equal_duplicates_from_given_init(data, cov):
    X, counts = data
    ref = _fit(X, covariance_type=cov)
    init = dict(weights_init=ref.weights_, means_init=ref.means_ + 0.3,
                precisions_init=ref.precisions_)
    weighted = _fit(X, counts.astype(float), covariance_type=cov, **init)
    duplicated = _fit(np.repeat(X, counts, axis=0), covariance_type=cov, **init)
    assert_same_fit(weighted, duplicated)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random_from_data"])
@pytest.mark.parametrize("cov", NAMES)
def test_zero_weight_equals_dropped_row(data, cov, init):
    X, counts = data
    w = (counts > 0).astype(float)
    a = _fit(X, w, covariance_type=cov, init_params=init)
    b = _fit(X[w > 0], covariance_type=cov, init_params=init)
    assert_same_fit(a, b)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("cov", NAMES)
def test_scaling_weights_changes_nothing(data, rng, cov, init):
    X, _ = data
    w = rng.uniform(0.2, 3.0, size=len(X))
    a = _fit(X, w, covariance_type=cov, init_params=init)
    b = _fit(X, w * 37.5, covariance_type=cov, init_params=init)
    c = _fit(X, w / 1e3, covariance_type=cov, init_params=init)
    assert_same_fit(a, b)
    assert_same_fit(a, c)


def test_unit_weights_equal_no_weights(data):
    X, _ = data
    assert_same_fit(_fit(X, np.ones(len(X))), _fit(X), rtol=1e-14)


def test_score_bic_aic_weighted_equal_duplicated(data):
    X, counts = data
    gm = _fit(X)
    Xd = np.repeat(X, counts, axis=0)
    w = counts.astype(float)
    assert gm.score(X, sample_weight=w) == pytest.approx(gm.score(Xd), rel=1e-12)
    assert gm.bic(X, sample_weight=w) == pytest.approx(gm.bic(Xd), rel=1e-12)
    assert gm.aic(X, sample_weight=w) == pytest.approx(gm.aic(Xd), rel=1e-12)
    # scale-free mean log-likelihood
    assert gm.score(X, sample_weight=3 * w) == pytest.approx(gm.score(X, sample_weight=w), rel=1e-12)


def test_fit_predict_with_weights(data):
    X, counts = data
    w = counts.astype(float) + 0.5
    a = GaussianMixture(3, random_state=2)
    b = GaussianMixture(3, random_state=2)
    np.testing.assert_array_equal(a.fit_predict(X, sample_weight=w),
                                  b.fit(X, sample_weight=w).predict(X))


def test_weights_steer_the_fit(rng):
    """A heavy weight on a far group gives it its own component; with weight zero it has none."""
    X = np.vstack([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + [8, 0],
                   rng.normal(size=(5, 2)) * 0.1 + [40, 40]])
    w = np.ones(len(X))
    w[-5:] = 100.0
    gm = GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    far = gm.predict(X[-5:])
    assert len(set(far)) == 1
    j = far[0]
    np.testing.assert_allclose(gm.means_[j], X[-5:].mean(axis=0), atol=1e-6)
    assert gm.weights_[j] == pytest.approx(500 / w.sum(), rel=1e-6)
    w[-5:] = 0.0
    gm0 = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    assert np.all(np.abs(gm0.means_) < 10)
