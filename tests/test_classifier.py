"""GaussianMixtureClassifier: EDDA against QDA/LDA and mclust's iris numbers, MclustDA,
semi-supervised EM, weights, helpers and errors."""
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.metrics import brier_score_loss

from gaussmix import GaussianMixtureClassifier
from gaussmix.classifier import brier_score, cv_error


@pytest.fixture
def iris():
    return load_iris(return_X_y=True)


def test_edda_vvv_equals_qda(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(covariance_type="VVV", reg_covar=0.0).fit(X, y)
    priors = np.bincount(y) / len(y)
    qda = QuadraticDiscriminantAnalysis(reg_param=0.0, priors=priors, store_covariance=True)
    qda.fit(X, y)
    # the maximum-likelihood class covariances (scatter / n_k), as this scikit-learn's QDA
    np.testing.assert_allclose(clf.mixture_.covariances_, np.array(qda.covariance_), rtol=1e-10)
    np.testing.assert_allclose(clf.predict_proba(X), qda.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), qda.predict(X))


def test_edda_eee_equals_lda(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(covariance_type="EEE", reg_covar=0.0).fit(X, y)
    lda = LinearDiscriminantAnalysis(solver="lsqr", priors=np.bincount(y) / len(y)).fit(X, y)
    # LDA's pooled covariance is the ML one (divides by n), as EDDA's EEE
    np.testing.assert_allclose(clf.predict_proba(X), lda.predict_proba(X), atol=1e-8)


def test_iris_edda_vev_matches_mclust(iris):
    # mclust: MclustDA(iris[,1:4], iris$Species, modelType="EDDA") -> VEV, logLik -187.7097,
    # BIC -565.8236 (mclust's sign), training error 0.02
    X, y = iris
    clf = GaussianMixtureClassifier(covariance_type="VEV", reg_covar=0.0).fit(X, y)
    assert clf.log_likelihood_ == pytest.approx(-187.7097, rel=1e-3, abs=0)
    assert -clf.bic(X, y) == pytest.approx(-565.8236, rel=1e-3)
    assert 1 - clf.score(X, y) == pytest.approx(0.02)
    assert clf.n_parameters() == 2 + 3 * 4 + (3 + 3 + 3 * 6)
    # choosing among structures by BIC keeps the one of lowest BIC
    many = GaussianMixtureClassifier(covariance_type=("VVV", "EEE", "VEV"), reg_covar=0.0).fit(X, y)
    bics = {t: GaussianMixtureClassifier(covariance_type=t, reg_covar=0.0).fit(X, y).bic(X, y)
            for t in ("VVV", "EEE", "VEV")}
    assert many.covariance_type_ == min(bics, key=bics.get)


def test_log_likelihood_is_mixture_density(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(covariance_type="VEI").fit(X, y)
    assert clf.log_likelihood_ == pytest.approx(clf.mixture_.score_samples(X).sum(), rel=1e-10)
    np.testing.assert_allclose(clf.predict_proba(X), clf.mixture_.predict_proba(X), atol=1e-10)


@pytest.mark.parametrize("ks", [1, 2, [1, 2, 3]])
@pytest.mark.parametrize("cov", ["VVV", "EEI"])
def test_integer_weights_equal_repeated_rows(iris, ks, cov):
    X, y = iris
    rng = np.random.default_rng(0)
    w = rng.integers(0, 3, size=len(y))
    w[[0, 60, 120]] = 1
    a = GaussianMixtureClassifier(ks, covariance_type=cov, random_state=0,
                                  init_params="random_from_data" if ks != 1 else "kmeans")
    b = a.__class__(**a.get_params())
    a.fit(X, y, sample_weight=w)
    b.fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.priors_, b.priors_, rtol=1e-12)
    if ks == 1:
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-8)
        assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-10)


def test_mclustda_is_bayes_rule_over_class_mixtures(iris):
    X, y = iris
    clf = GaussianMixtureClassifier([1, 2], covariance_type=("VVV", "EEE"), random_state=0).fit(X, y)
    dens = np.column_stack([gm.score_samples(X) for gm in clf.class_mixtures_])
    post = np.exp(dens) * clf.priors_
    np.testing.assert_allclose(clf.predict_proba(X), post / post.sum(axis=1, keepdims=True),
                               atol=1e-10)
    assert clf.score(X, y) >= 0.95
    assert clf.log_likelihood_ == pytest.approx(
        sum(gm.score_samples(X[y == k]).sum() for k, gm in enumerate(clf.class_mixtures_)))


def test_semi_supervised_beats_labelled_only():
    rng = np.random.default_rng(0)
    X, y = make_blobs(n_samples=600, centers=[[0, 0], [2.2, 0.5]], cluster_std=[1.0, 0.7],
                      random_state=3)
    lab = np.concatenate([rng.choice(np.flatnonzero(y == k), 3, replace=False) for k in (0, 1)])
    y_semi = np.full_like(y, -1)
    y_semi[lab] = y[lab]
    only = GaussianMixtureClassifier(covariance_type="VVI").fit(X[lab], y[lab])
    semi = GaussianMixtureClassifier(covariance_type="VVI", tol=1e-8).fit(X, y_semi)
    np.testing.assert_array_equal(semi.classes_, [0, 1])
    assert semi.n_iter_ > 1
    assert semi.score(X, y) > only.score(X, y) + 0.1  # 0.90 against 0.68
    # EM never decreases its objective: more iterations, at least as high a likelihood
    short = GaussianMixtureClassifier(covariance_type="VVI", max_iter=1).fit(X, y_semi)
    assert semi.log_likelihood_ >= short.log_likelihood_ - 1e-9


def test_string_labels_and_single_class(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = GaussianMixtureClassifier().fit(X, names)
    assert set(clf.predict(X)) <= set(names)
    one = GaussianMixtureClassifier().fit(X[:50], y[:50])
    np.testing.assert_array_equal(one.predict(X[:5]), [0] * 5)


def test_brier_score_and_cv_error(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(covariance_type="VEV").fit(X, y)
    p = clf.predict_proba(X)
    naive = sum((p[i, c] - (y[i] == c)) ** 2 for i in range(len(y)) for c in range(3)) / (2 * len(y))
    assert brier_score(clf, X, y) == pytest.approx(naive, rel=1e-12)
    two = GaussianMixtureClassifier().fit(X[50:], y[50:])
    assert brier_score(two, X[50:], y[50:]) == pytest.approx(
        brier_score_loss(y[50:] == 2, two.predict_proba(X[50:])[:, 1]), rel=1e-10)
    err, se = cv_error(GaussianMixtureClassifier(covariance_type="VEV"), X, y, cv=5, random_state=0)
    assert 0 <= err <= 0.1 and se >= 0
    err2, _ = cv_error(GaussianMixtureClassifier(covariance_type="VEV"), X, y, cv=5, random_state=0)
    assert err == err2


@pytest.mark.parametrize("kwargs, match", [
    ({"n_components_per_class": 0}, "n_components_per_class"),
    ({"n_components_per_class": [1, 0]}, "n_components_per_class"),
    ({"covariance_type": "XYZ"}, "covariance_type"),
    ({"covariance_type": ("VVV", "nope")}, "nope"),
    ({"reg_covar": -1.0}, "reg_covar"),
])
def test_bad_parameters(iris, kwargs, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        GaussianMixtureClassifier(**kwargs).fit(X, y)


def test_bad_data(iris):
    X, y = iris
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        GaussianMixtureClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="no labelled rows"):
        GaussianMixtureClassifier().fit(X, np.full(len(y), -1))
    w = np.ones(len(y))
    w[y == 2] = 0
    with pytest.raises(ValueError, match="class 2 has no row with positive sample_weight"):
        GaussianMixtureClassifier().fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="too few"):
        GaussianMixtureClassifier(3).fit(X[:52], y[:52])
    ys = y.copy()
    ys[:10] = -1
    with pytest.raises(ValueError, match=r"\(EDDA\) only"):
        GaussianMixtureClassifier(2).fit(X, ys)
    clf = GaussianMixtureClassifier().fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.bic(X, y + 5)


def test_unlabelled_marker_is_a_parameter(iris):
    X, y = iris
    y_neg = y - 1  # classes -1, 0, 1
    as_class = GaussianMixtureClassifier(unlabelled=None).fit(X, y_neg)
    np.testing.assert_array_equal(as_class.classes_, [-1, 0, 1])
    ref = GaussianMixtureClassifier().fit(X, y)
    np.testing.assert_allclose(as_class.predict_proba(X), ref.predict_proba(X))
    # the default reads -1 as unlabelled: two classes, semi-supervised
    semi = GaussianMixtureClassifier().fit(X, y_neg)
    np.testing.assert_array_equal(semi.classes_, [0, 1])
    # a string marker for string labels
    names = np.array(["setosa", "versicolor", "virginica"])[y].astype(object)
    names[::5] = "?"
    ssc = GaussianMixtureClassifier(unlabelled="?").fit(X, names)
    assert list(ssc.classes_) == ["setosa", "versicolor", "virginica"]
    assert (ssc.predict(X) == np.array(["setosa", "versicolor", "virginica"])[y]).mean() > 0.95
    with pytest.raises(ValueError, match="unlabelled"):
        GaussianMixtureClassifier(unlabelled=[1]).fit(X, y)
