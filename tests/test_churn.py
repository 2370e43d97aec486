"""The churn example's data generator and its class-conditional mixture classifier."""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from gaussmix.datasets import CHURN_FEATURES, make_churn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def churn_module():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import churn
    finally:
        sys.path.remove(str(EXAMPLES))
    return churn


def test_make_churn_table():
    X, y = make_churn(3000, random_state=0)
    assert X.shape == (3000, len(CHURN_FEATURES)) and y.shape == (3000,)
    tenure, charges, usage, calls, onehot = X[:, 0], X[:, 1], X[:, 2], X[:, 3], X[:, 4:]
    assert tenure.min() >= 1 and tenure.max() <= 72 and np.all(tenure == np.round(tenure))
    assert 18 <= charges.min() and charges.max() <= 120 and np.all(usage > 0)
    assert np.all(calls >= 0) and np.all(calls == np.round(calls))
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    assert set(np.unique(onehot)) == {0.0, 1.0}
    assert 0.15 < y.mean() < 0.4
    # the dependence the generator promises: monthly contracts churn more, churners have
    # shorter tenure and call support more
    m2m = onehot[:, 0] == 1
    assert y[m2m].mean() > 2 * y[~m2m].mean()
    assert tenure[y == 1].mean() < tenure[y == 0].mean()
    assert calls[y == 1].mean() > calls[y == 0].mean()
    # reproducible, and a frame with the column names
    X2, y2 = make_churn(3000, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    pd = pytest.importorskip("pandas")
    df, s = make_churn(10, random_state=1, as_frame=True)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(CHURN_FEATURES)
    assert s.name == "churn"


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_make_churn_bad_size(bad):
    with pytest.raises(ValueError, match="n_samples"):
        make_churn(bad)


def test_class_conditional_mixture_predicts_churn(churn_module):
    X, y = make_churn(2500, random_state=1)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = churn_module.ClassConditionalMixture(n_components=range(1, 4), random_state=0)
    p = model.fit(X_tr, y_tr).predict_proba(X_te)
    assert p.shape == (len(X_te), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert roc_auc_score(y_te, p[:, 1]) > 0.75


def test_class_conditional_mixture_is_bayes_rule(churn_module):
    # one full Gaussian per class: the posterior is Bayes' rule with the maximum-likelihood
    # Gaussian of each class (reg_covar on the diagonal), computed here with scipy
    X, y = make_churn(800, random_state=2)
    reg = 1e-3
    model = churn_module.ClassConditionalMixture(n_components=[1], reg_covar=reg,
                                                 random_state=0).fit(X, y)
    Z = model.scaler_.transform(churn_module.mixture_features(X))
    dens = []
    for c in (0, 1):
        Zc = Z[y == c]
        cov = np.cov(Zc, rowvar=False, bias=True) + reg * np.eye(Z.shape[1])
        dens.append(np.mean(y == c) * multivariate_normal(Zc.mean(axis=0), cov).pdf(Z))
    expected = dens[1] / (dens[0] + dens[1])
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected, rtol=1e-6, atol=1e-12)
