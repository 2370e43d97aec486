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


# ---------------------------------------------------------------------------------------------
# outlier detector


def _with_outliers(rng, frac=0.1):
    X = np.vstack([rng.multivariate_normal(m, COV, 300) for m in MEANS])
    # outliers far from every component in every coordinate, so also in any marginal
    out = np.array([[-14.0, 14.0, 12.0], [16.0, -12.0, -14.0], [-13.0, -13.0, 15.0],
                    [15.0, 15.0, 15.0], [-15.0, 12.0, -15.0], [14.0, -15.0, 13.0]])
    Xa = np.vstack([X, out])
    y = np.r_[np.zeros(len(X)), np.ones(len(out))]
    mask = rng.rand(*Xa.shape) < frac
    mask[len(X):] = [[True, False, False], [False, True, False], [False, False, True],
                     [True, True, False], [False, False, False], [False, True, True]]
    mask[mask.all(axis=1), 0] = False
    Xn = Xa.copy()
    Xn[mask] = np.nan
    return Xn, y, mask


@pytest.mark.parametrize("n_components", [3, "auto"])
@pytest.mark.parametrize("contamination", ["auto", 0.02])
def test_detector_flags_outliers_among_rows_with_nan(rng, n_components, contamination):
    Xn, y, mask = _with_outliers(rng)
    det = GaussianMixtureOutlierDetector(n_components=n_components, contamination=contamination,
                                         missing="marginalize", random_state=0).fit(Xn)
    pred = det.predict(Xn)
    assert (pred[y == 1] == -1).all()  # five of the six outliers have NaN
    # the trimmed search flags a few percent of the bulk on complete rows too (~3% here)
    cap = 0.02 if n_components == 3 else 0.06
    assert (pred[y == 0] == -1).mean() < cap
    assert (pred[(y == 0) & mask.any(axis=1)] == -1).mean() < cap
    np.testing.assert_array_equal(pred, det.fit_predict(Xn))


def test_detector_marginal_scores_equal_scipy(rng):
    Xn, _, _ = _with_outliers(rng)
    det = GaussianMixtureOutlierDetector(n_components=3, missing="marginalize",
                                         random_state=0).fit(Xn)
    gm = det.density_
    scores = det.score_samples(Xn)
    for i in np.flatnonzero(np.isnan(Xn).any(axis=1)):
        o = ~np.isnan(Xn[i])
        dens = sum(w * stats.multivariate_normal(m[o], c[np.ix_(o, o)]).pdf(Xn[i, o])
                   for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_))
        assert scores[i] == pytest.approx(np.log(dens), rel=1e-9, abs=1e-9)


def test_detector_thresholds_rows_with_nan_in_their_own_dimension():
    # rows drawn from a known mixture: with contamination="auto" about 1 - auto_coverage of
    # the rows of every missingness pattern are flagged, where one log-density threshold for
    # all patterns would flag far too few of the rows missing a wide feature
    rng = np.random.RandomState(3)
    gm = GaussianMixture.from_params([0.6, 0.4], [[0.0, 0.0, 0.0], [4.0, 4.0, 0.0]],
                                     [np.diag([1.0, 1.0, 25.0]), np.diag([1.0, 2.0, 25.0])],
                                     covariance_type="full")
    det = GaussianMixtureOutlierDetector.from_mixture(gm, missing="marginalize",
                                                      n_auto_samples=50000, random_state=0)
    X = gm.set_params(random_state=1).sample(40000)[0]
    X = X[rng.permutation(len(X))]  # sample() returns the rows grouped by component
    X[:20000, 2] = np.nan
    pred = det.predict(X)
    for rows in (slice(0, 20000), slice(20000, None)):
        assert abs((pred[rows] == -1).mean() - 0.01) < 0.003
    naive = det.score_samples(X[:20000]) < det.offset_
    assert naive.mean() < 0.002  # the trap the per-dimension threshold avoids
    dec = det.decision_function(X)
    np.testing.assert_array_equal(dec < 0, pred == -1)


def test_detector_complete_data_unchanged_by_missing_option(rng):
    Xn, _, _ = _with_outliers(rng)
    X = Xn[~np.isnan(Xn).any(axis=1)]
    for c in ("auto", 0.05):
        a = GaussianMixtureOutlierDetector(n_components=3, contamination=c,
                                           random_state=0).fit(X)
        b = GaussianMixtureOutlierDetector(n_components=3, contamination=c,
                                           missing="marginalize", random_state=0).fit(X)
        assert a.offset_ == b.offset_
        np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_detector_nan_errors(rng):
    Xn, _, _ = _with_outliers(rng)
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        GaussianMixtureOutlierDetector(n_components=2).fit(Xn)
    det = GaussianMixtureOutlierDetector(n_components=2, random_state=0).fit(
        Xn[~np.isnan(Xn).any(axis=1)])
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        det.predict(Xn)
    with pytest.raises(ValueError, match="'missing' parameter must be one of"):
        GaussianMixtureOutlierDetector(missing="ignore").fit(Xn)
    bad = Xn.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="contains inf"):
        GaussianMixtureOutlierDetector(n_components=2, missing="marginalize").fit(bad)
