"""Outlier detection with a Gaussian mixture density."""
import numpy as np
import pytest
from scipy.stats import chi2
from sklearn.covariance import EllipticEnvelope
from sklearn.metrics import roc_auc_score

from gaussmix.anomaly import GaussianMixtureOutlierDetector, weighted_quantile


@pytest.fixture
def rng():
    return np.random.RandomState(3)


@pytest.fixture
def blobs(rng):
    return np.vstack([rng.normal([0, 0], 1.0, (300, 2)), rng.normal([8, 0], 0.5, (300, 2)),
                      rng.multivariate_normal([0, 8], [[2, 1], [1, 1]], 300)])


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.25, 0.5])
def test_contamination_is_the_training_outlier_fraction(blobs, contamination):
    det = GaussianMixtureOutlierDetector(3, contamination=contamination, random_state=0)
    pred = det.fit_predict(blobs)
    assert set(np.unique(pred)) <= {-1, 1}
    assert abs(np.mean(pred == -1) - contamination) <= 1.0 / len(blobs)
    np.testing.assert_array_equal(pred, det.predict(blobs))


def test_weighted_contamination(blobs, rng):
    w = rng.uniform(0.1, 3.0, len(blobs))
    det = GaussianMixtureOutlierDetector(3, contamination=0.1, random_state=0)
    out = det.fit(blobs, sample_weight=w).predict(blobs) == -1
    assert abs(w[out].sum() / w.sum() - 0.1) <= w.max() / w.sum()


def test_weighted_quantile_against_numpy(rng):
    v = rng.normal(size=101)
    for q in (0.0, 0.1, 0.5, 0.9):
        # unit weights: the first sorted value whose empirical CDF exceeds q
        assert weighted_quantile(v, q) == np.sort(v)[int(np.floor(q * 101))]
    # integer weights act as repetitions
    w = rng.randint(1, 4, 101)
    assert weighted_quantile(v, 0.3, w) == weighted_quantile(np.repeat(v, w), 0.3)


def test_scores_and_decision_function(blobs):
    det = GaussianMixtureOutlierDetector(3, contamination=0.05, random_state=0).fit(blobs)
    s = det.score_samples(blobs)
    np.testing.assert_allclose(s, det.mixture_.score_samples(blobs))
    np.testing.assert_allclose(det.decision_function(blobs), s - det.offset_)
    np.testing.assert_array_equal(det.predict(blobs) == 1, s >= det.offset_)
    assert det.n_features_in_ == 2


def test_explicit_threshold(blobs):
    det = GaussianMixtureOutlierDetector(3, threshold=-6.0, random_state=0).fit(blobs)
    assert det.offset_ == -6.0
    np.testing.assert_array_equal(det.predict(blobs) == -1, det.score_samples(blobs) < -6.0)


@pytest.mark.parametrize("d", [2, 5])
def test_auto_threshold_is_highest_density_region_boundary(rng, d):
    A = rng.normal(size=(d, d))
    X = rng.multivariate_normal(np.zeros(d), A @ A.T + np.eye(d), 3000)
    det = GaussianMixtureOutlierDetector(1, random_state=0).fit(X)
    gm = det.mixture_
    # for one Gaussian the 99% region is {x: Mahalanobis^2 <= chi2_d(0.99)}
    logdet = np.linalg.slogdet(gm.covariances_[0])[1]
    expected = -0.5 * (d * np.log(2 * np.pi) + logdet + chi2.ppf(0.99, d))
    assert det.offset_ == pytest.approx(expected, abs=0.25)
    # data that follow the model: about 1% flagged
    flagged = np.mean(det.predict(X) == -1)
    assert 0.003 < flagged < 0.02


def test_k_by_bic(blobs):
    det = GaussianMixtureOutlierDetector("bic", covariance_type="full", contamination=0.02,
                                         random_state=0).fit(blobs)
    assert det.selection_ is not None
    assert len(det.selection_.table) == 10
    assert det.mixture_.n_components == 3
    det2 = GaussianMixtureOutlierDetector([1, 2, 3, 4], covariance_type=("full", "diag"),
                                          contamination=0.02, random_state=0).fit(blobs)
    assert det2.mixture_.n_components == 3
    assert len(det2.selection_.table) == 8


def test_detects_planted_anomalies_better_than_a_single_ellipse(blobs, rng):
    outliers = rng.uniform(-6, 12, (45, 2))
    X = np.vstack([blobs, outliers])
    y = np.r_[np.zeros(len(blobs)), np.ones(len(outliers))]
    det = GaussianMixtureOutlierDetector(range(1, 6), contamination=0.05, random_state=0).fit(X)
    auc = roc_auc_score(y, -det.score_samples(X))
    ee = EllipticEnvelope(contamination=0.05, random_state=0).fit(X)
    auc_ee = roc_auc_score(y, -ee.score_samples(X))
    assert auc > 0.95
    assert auc > auc_ee


@pytest.mark.parametrize("kwargs,match", [
    (dict(contamination=0.7), "contamination"),
    (dict(contamination="always"), "contamination"),
    (dict(contamination=0.0), "contamination"),
    (dict(threshold=np.nan), "threshold"),
    (dict(auto_coverage=1.0), "auto_coverage"),
    (dict(n_auto_samples=5), "n_auto_samples"),
    (dict(n_components="most"), "n_components"),
    (dict(min_weight=0.5), "min_weight"),
    (dict(n_components=0), "n_components"),
    (dict(covariance_type="round"), "covariance_type"),
])
def test_bad_parameters(blobs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureOutlierDetector(**kwargs).fit(blobs)


def test_bad_data(blobs):
    det = GaussianMixtureOutlierDetector(2, random_state=0).fit(blobs)
    with pytest.raises(ValueError, match="features"):
        det.predict(np.zeros((3, 5)))
    bad = blobs.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        GaussianMixtureOutlierDetector(2).fit(bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        det.predict(bad)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_sklearn_conventions():
    # one component: with several, the weighted-vs-repeated-rows check compares two k-means
    # initialisations on shuffled rows, which scikit-learn's own GaussianMixture also fails
    from sklearn.utils.estimator_checks import check_estimator
    check_estimator(GaussianMixtureOutlierDetector(1, contamination=0.1, random_state=0))


def test_min_weight_flags_a_small_cluster_of_anomalies(rng):
    inliers = np.vstack([rng.normal([0, 0], 1.0, (400, 2)), rng.normal([6, 0], 1.0, (400, 2))])
    cluster = rng.normal([3, 8], 0.2, (30, 2))  # anomalies that resemble each other
    X = np.vstack([inliers, cluster])
    y = np.r_[np.zeros(800), np.ones(30)]
    plain = GaussianMixtureOutlierDetector(3, random_state=0).fit(X)
    pruned = GaussianMixtureOutlierDetector(3, min_weight=0.1, random_state=0).fit(X)
    assert roc_auc_score(y, -plain.score_samples(X)) < 0.5  # a component explains them
    assert roc_auc_score(y, -pruned.score_samples(X)) > 0.99
    k = pruned.dropped_components_
    assert len(k) == 1 and pruned.mixture_.weights_[k[0]] < 0.1
    assert pruned.density_.n_components == 2
    np.testing.assert_allclose(pruned.density_.weights_.sum(), 1.0)
    # the scoring model is the renormalised mixture of the kept components
    keep = np.setdiff1d(np.arange(3), k)
    gm = pruned.mixture_
    from scipy.stats import multivariate_normal
    dens = sum(gm.weights_[j] * multivariate_normal(gm.means_[j], gm.covariances_[j]).pdf(X)
               for j in keep) / gm.weights_[keep].sum()
    np.testing.assert_allclose(pruned.score_samples(X), np.log(dens), rtol=1e-9)
    assert np.mean(pruned.predict(X[800:]) == -1) == 1.0
