"""Missing values (NaN) in model selection and in the outlier detector.

References: ``GaussianMixture(missing="marginalize")`` fitted cell by cell (select), and the
mixture of :func:`scipy.stats.multivariate_normal` densities of the observed features (the
detector's marginal scores).
"""
import numpy as np
import pytest
from scipy import stats

from gaussmix import GaussianMixture, select
from gaussmix.anomaly import GaussianMixtureOutlierDetector
from gaussmix.selection import GaussianMixtureSelector

MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 3.0], [0.0, 6.0, -3.0]])
COV = np.eye(3) + 0.3


def planted(rng, n_per=200, frac=0.1):
    """Three planted Gaussians in 3-D; ``frac`` of the entries NaN (no row all NaN)."""
    X = np.vstack([rng.multivariate_normal(m, COV, n_per) for m in MEANS])
    mask = rng.rand(*X.shape) < frac
    mask[mask.all(axis=1), 0] = False
    Xn = X.copy()
    Xn[mask] = np.nan
    return X, Xn


@pytest.fixture
def rng():
    return np.random.RandomState(0)


# ---------------------------------------------------------------------------------------------
# select


def test_select_missing_picks_planted_k_and_equals_estimator(rng):
    _, Xn = planted(rng)
    assert 0.08 < np.isnan(Xn).mean() < 0.12
    res = select(Xn, range(1, 6), ["full", "diag"], missing="marginalize", random_state=0)
    assert res.best_params_ == {"n_components": 3, "covariance_type": "full"}
    assert all(row["error"] is None for row in res.table)
    for (k, ct), gm in res.estimators_.items():
        assert gm.missing == "marginalize"
        ref = GaussianMixture(**gm.get_params()).fit(Xn)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-8, atol=1e-10)
        row = next(r for r in res.table if (r["n_components"], r["covariance_type"]) == (k, ct))
        # the criteria use the marginal log-likelihood of the observed entries
        ll = float(ref.score_samples(Xn).sum())
        np.testing.assert_allclose(row["log_likelihood"], ll, rtol=1e-10)
        np.testing.assert_allclose(row["bic"], ref.bic(Xn), rtol=1e-10)
        np.testing.assert_allclose(row["aic"], ref.aic(Xn), rtol=1e-10)
        assert np.isfinite(row["heldout_log_likelihood"])


@pytest.mark.parametrize("init_params", ["hc", "kmeans"])
def test_select_missing_init_paths_equal_estimator(rng, init_params):
    _, Xn = planted(rng, n_per=80)
    res = select(Xn, [2, 3], ["full", "VVV"] if init_params == "hc" else ["tied"],
                 init_params=init_params, n_init=2, missing="marginalize", random_state=1,
                 validation_fraction=None)
    for gm in res.estimators_.values():
        ref = GaussianMixture(**gm.get_params()).fit(Xn)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9, atol=1e-9)
        assert gm.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)


def test_select_nan_without_missing_is_a_clear_error(rng):
    _, Xn = planted(rng, n_per=30)
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        select(Xn, [1, 2])
    with pytest.raises(ValueError, match="'missing' must be one of"):
        select(Xn, [1, 2], missing="drop")
    with pytest.raises(ValueError, match="noise is not supported with missing"):
        select(Xn, [1, 2], missing="marginalize", noise=True)
    bad = Xn.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="every entry missing"):
        select(bad, [1, 2], missing="marginalize")


def test_selector_forwards_missing(rng):
    _, Xn = planted(rng)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureSelector(n_components=(2, 3)).fit(Xn)
    sel = GaussianMixtureSelector(n_components=(1, 2, 3, 4), covariance_types="full",
                                  missing="marginalize", random_state=0).fit(Xn)
    assert sel.n_components_ == 3
    np.testing.assert_allclose(sel.score_samples(Xn), sel.best_estimator_.score_samples(Xn))
    assert np.isfinite(sel.score_samples(Xn)).all()
