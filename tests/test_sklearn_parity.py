"""Same answers as scikit-learn when started from the same parameters."""
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gaussmix
from gaussmix import GaussianMixture


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    return np.vstack([rng.randn(200, 3), rng.randn(150, 3) * 0.5 + 5, rng.randn(250, 3) + [-5, 4, 0]])


@pytest.mark.parametrize("cov", gaussmix.covariance.BUILTIN_NAMES)  # the ones scikit-learn has
def test_lower_bounds_match_sklearn_from_same_init(blobs, cov):
    ref = SkGaussianMixture(3, covariance_type=cov, random_state=0).fit(blobs)
    init = dict(weights_init=ref.weights_, means_init=ref.means_, precisions_init=ref.precisions_)
    a = SkGaussianMixture(3, covariance_type=cov, tol=0, max_iter=15, **init)
    b = GaussianMixture(3, covariance_type=cov, tol=0, max_iter=15, **init)
    with pytest.warns(Warning):
        a.fit(blobs)
    with pytest.warns(Warning):
        b.fit(blobs)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)
    np.testing.assert_array_equal(b.predict(blobs), a.predict(blobs))
