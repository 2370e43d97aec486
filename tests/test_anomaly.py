"""Outlier detection with a Gaussian mixture density."""
import json

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
    plain = GaussianMixtureOutlierDetector(3, min_weight=0.0, random_state=0).fit(X)
    pruned = GaussianMixtureOutlierDetector(3, min_weight=0.1, random_state=0).fit(X)
    assert roc_auc_score(y, -plain.score_samples(X)) < 0.5  # a component explains them
    assert roc_auc_score(y, -pruned.score_samples(X)) > 0.99
    # the default rule, min(0.1, 0.5 / K), drops the same component
    default = GaussianMixtureOutlierDetector(3, random_state=0).fit(X)
    np.testing.assert_array_equal(default.dropped_components_, pruned.dropped_components_)
    np.testing.assert_array_equal(default.score_samples(X), pruned.score_samples(X))
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


# ------------------------------------------------------------------------------ from_mixture


def test_from_mixture_equals_fit(blobs):
    from gaussmix import GaussianMixture
    gm = GaussianMixture(3, random_state=0).fit(blobs)
    det = GaussianMixtureOutlierDetector.from_mixture(gm, blobs, contamination=0.1)
    ref = GaussianMixtureOutlierDetector(3, contamination=0.1, random_state=0).fit(blobs)
    assert det.offset_ == pytest.approx(ref.offset_, rel=1e-12)
    np.testing.assert_array_equal(det.predict(blobs), ref.predict(blobs))
    with pytest.raises(ValueError, match="reference rows"):
        GaussianMixtureOutlierDetector.from_mixture(gm, contamination=0.1)
    assert GaussianMixtureOutlierDetector.from_mixture(gm, threshold=-5.0).offset_ == -5.0


# ------------------------------------------------------------------------------ CLI


@pytest.fixture
def csv_blobs(blobs, rng, tmp_path):
    X = np.vstack([blobs, rng.uniform(-10, 20, (20, 2))])
    path = tmp_path / "data.csv"
    np.savetxt(path, X, delimiter=",")
    return X, path


def _cli(capsys, *argv):
    from gaussmix.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_anomalies_end_to_end(capsys, csv_blobs, tmp_path):
    import io
    import json
    X, path = csv_blobs
    code, out, err = _cli(capsys, "anomalies", path, "-k", "3", "--contamination", "0.05",
                          "--seed", "0")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "row,outlier,log_density,decision"
    table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",")
    ref = GaussianMixtureOutlierDetector(3, contamination=0.05, random_state=0).fit(X)
    np.testing.assert_array_equal(table[:, 1] == 1, ref.predict(X) == -1)
    np.testing.assert_allclose(table[:, 2], ref.score_samples(X), rtol=1e-9)
    # a saved model and an explicit threshold; JSON summary
    model = tmp_path / "m.gmz"
    ref.mixture_.save(model)
    code, out, err = _cli(capsys, "anomalies", path, "--model", model, "--threshold", "-8",
                          "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["threshold"] == -8.0
    assert doc["outliers"] == np.flatnonzero(ref.score_samples(X) < -8).tolist()
    # K by BIC, only the outliers, written to a file
    flags = tmp_path / "flags.csv"
    code, out, err = _cli(capsys, "anomalies", path, "-k", "bic", "--contamination", "0.02",
                          "--only-outliers", "-o", flags, "--seed", "0")
    assert code == 0, err
    got = np.loadtxt(flags, delimiter=",", skiprows=1, ndmin=2)
    assert len(got) == int(np.floor(0.02 * len(X))) and np.all(got[:, 1] == 1)


@pytest.mark.parametrize("argv,fragment", [
    (["--contamination", "0.9"], "--contamination"),
    (["--contamination", "lots"], "--contamination"),
    (["--min-weight", "0.7"], "--min-weight"),
    (["--covariance", "blob"], "--covariance"),
    (["-k", "0"], "-k must be"),
    (["--model", "missing.gmz"], "no such model file"),
    (["-k", "2", "--model", "m.gmz"], "not allowed with"),
])
def test_cli_anomalies_bad_input(capsys, csv_blobs, argv, fragment):
    _, path = csv_blobs
    code, _, err = _cli(capsys, "anomalies", path, *argv)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 or "usage:" in err


def test_cli_anomalies_json_summary_beside_a_table_file(capsys, csv_blobs, tmp_path):
    # the table goes to the file, the JSON summary to stdout (refused before the CLI
    # conventions gave every command --json)
    _, path = csv_blobs
    table = tmp_path / "flags.csv"
    code, out, err = _cli(capsys, "anomalies", path, "--json", "-o", table, "--seed", "0")
    assert code == 0, err
    doc = json.loads(out)
    got = np.loadtxt(table, delimiter=",", skiprows=1, ndmin=2)
    assert np.flatnonzero(got[:, 1] == 1).tolist() == doc["outliers"]


def test_cli_anomalies_model_data_mismatch(capsys, csv_blobs, tmp_path, rng):
    from gaussmix import GaussianMixture
    _, path = csv_blobs
    model = tmp_path / "m3.gmz"
    GaussianMixture(2, random_state=0).fit(rng.normal(size=(50, 3))).save(model)
    code, _, err = _cli(capsys, "anomalies", path, "--model", model)
    assert code == 2 and "expects 3" in err


# ------------------------------------------------------------------------------ default search


def test_auto_min_weight_rule():
    from gaussmix.anomaly import auto_min_weight
    assert [auto_min_weight(k) for k in (1, 2, 5)] == [0.1, 0.1, 0.1]
    assert auto_min_weight(10) == pytest.approx(0.05)
    assert auto_min_weight(8) == pytest.approx(0.0625)


def test_trimmed_mean_against_sorting(rng):
    from gaussmix.anomaly import _trimmed_mean
    v = rng.normal(size=200)
    # unit weights: the mean of all but the 20 lowest values
    assert _trimmed_mean(v, np.ones(200), 0.1) == pytest.approx(np.sort(v)[20:].mean(), rel=1e-12)
    # integer weights act as repetitions
    w = rng.randint(1, 4, 200)
    assert _trimmed_mean(v, w, 0.1) == pytest.approx(
        _trimmed_mean(np.repeat(v, w), np.ones(w.sum()), 0.1), rel=1e-12)


def _clustered_anomalies(rng):
    inliers = np.vstack([rng.normal([0, 0], 1.0, (400, 2)), rng.normal([6, 0], 1.0, (400, 2))])
    cluster = rng.normal([3, 8], 0.2, (40, 2))
    return np.vstack([inliers, cluster]), np.r_[np.zeros(800), np.ones(40)]


def test_default_beats_bic_on_clustered_anomalies(rng):
    X, y = _clustered_anomalies(rng)
    default = GaussianMixtureOutlierDetector(random_state=0).fit(X)
    bic = GaussianMixtureOutlierDetector("bic", min_weight=0.0, random_state=0).fit(X)
    # BIC gives the anomalies a component of their own, so they look normal
    assert roc_auc_score(y, -bic.score_samples(X)) < 0.5
    assert roc_auc_score(y, -default.score_samples(X)) > 0.99
    assert default.selection_ is None and default.search_
    assert np.mean(default.predict(X[800:]) == -1) == 1.0
    assert np.mean(default.predict(X[:800]) == -1) < 0.05


def test_default_search_table(blobs):
    det = GaussianMixtureOutlierDetector(random_state=0).fit(blobs)
    rows = det.search_
    ks = [r["n_components"] for r in rows]
    assert ks == list(range(1, len(ks) + 1))
    scores = np.array([r["score"] for r in rows])
    best = int(np.argmax(scores))
    # the fitted model has the best candidate's size; three well separated blobs give three
    assert det.mixture_.n_components == ks[best] == 3
    # the search stopped two candidates past the best (or at the cap of 10)
    assert len(rows) == min(best + 3, 10)
    assert np.all(scores[best + 1:] <= scores[best])
    assert all(r["n_iter"] <= 15 for r in rows)
    assert rows[best]["n_dropped"] == 0
    assert det.mixture_.converged_
    np.testing.assert_allclose(det.score_samples(blobs), det.density_.score_samples(blobs))


def test_default_search_is_reproducible_and_respects_zero_weights(blobs, rng):
    a = GaussianMixtureOutlierDetector(random_state=5).fit(blobs)
    b = GaussianMixtureOutlierDetector(random_state=5).fit(blobs)
    np.testing.assert_array_equal(a.score_samples(blobs), b.score_samples(blobs))
    # rows of zero weight never enter the split: far-away rows with weight 0 change nothing
    # in the choice of K
    junk = rng.uniform(50, 60, (30, 2))
    w = np.r_[np.ones(len(blobs)), np.zeros(30)]
    c = GaussianMixtureOutlierDetector(random_state=5).fit(np.vstack([blobs, junk]),
                                                          sample_weight=w)
    assert c.mixture_.n_components == a.mixture_.n_components
    assert np.all(c.predict(junk) == -1)


def test_default_search_caps_components_by_rows():
    # 60 rows in 5-D: 45 fitting rows support at most 45 // (3 * 6) = 2 components
    X = np.random.RandomState(0).normal(size=(60, 5))
    det = GaussianMixtureOutlierDetector(random_state=0).fit(X)
    assert max(r["n_components"] for r in det.search_) <= 2
    # too few rows to hold any out: one Gaussian, no search
    tiny = GaussianMixtureOutlierDetector(random_state=0).fit(X[:20])
    assert tiny.mixture_.n_components == 1 and tiny.search_ == []


def test_default_search_over_covariance_types(blobs):
    det = GaussianMixtureOutlierDetector(covariance_type=("full", "diag"),
                                         random_state=0).fit(blobs)
    assert {r["covariance_type"] for r in det.search_} == {"full", "diag"}
    best = max(det.search_, key=lambda r: r["score"])
    assert det.mixture_.covariance_type == best["covariance_type"]
    # the trimming step refits the best candidate without its light components
    assert det.mixture_.n_components == best["n_components"] - best["n_dropped"]
    with pytest.raises(ValueError, match="full"):
        GaussianMixtureOutlierDetector(covariance_type="round").fit(blobs)
