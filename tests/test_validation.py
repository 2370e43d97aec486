"""Every bad input raises a clear ValueError/TypeError naming the problem, before any work."""
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from gaussmix import DegenerateComponentWarning, GaussianMixture, covariance

NAMES = covariance.names()


@pytest.fixture
def X(rng):
    return rng.normal(size=(30, 2))


@pytest.fixture
def fitted(X):
    return GaussianMixture(2, random_state=0).fit(X)


# --------------------------------------------------------------------------- data
def test_nan_and_inf_are_counted_and_located(X):
    X = X.copy()
    X[3, 1] = np.nan
    X[5, 0] = np.inf
    X[9, 1] = -np.inf
    with pytest.raises(ValueError, match=r"3 NaN or inf values \(first at row 3, column 1: nan\)"):
        GaussianMixture(2).fit(X)
    X[3, 1] = 0.0
    X[9, 1] = 0.0
    with pytest.raises(ValueError, match=r"1 NaN or inf value \(first at row 5, column 0: inf\)"):
        GaussianMixture(2).fit(X.astype(np.float32))


def test_nan_at_prediction_time(fitted, X):
    X = X.copy()
    X[7, 0] = np.nan
    for method in (fitted.predict, fitted.predict_proba, fitted.score_samples, fitted.score):
        with pytest.raises(ValueError, match="row 7, column 0"):
            method(X)


@pytest.mark.parametrize("bad,match", [
    (np.ones(10), "Expected 2D array"),
    (np.ones((2, 5, 2)), "dim 3"),
    (np.empty((0, 2)), "0 sample"),
    (np.empty((5, 0)), "0 feature"),
    (np.ones((1, 2)), "1 sample"),
    ([["a", "b"]] * 5, "could not convert string"),
    (np.ones((5, 2)) + 1j, "Complex data not supported"),
])
def test_malformed_data(bad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(1).fit(bad)


def test_sparse_data_is_refused(X):
    with pytest.raises(TypeError, match="dense data is required"):
        GaussianMixture(2).fit(sp.csr_matrix(X))


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="n_samples >= n_components.*n_components = 31, n_samples = 30"):
        GaussianMixture(31).fit(X)
    w = np.zeros(30)
    w[:2] = 1.0
    with pytest.raises(ValueError, match="n_samples = 2 \\(samples with positive weight\\)"):
        GaussianMixture(3).fit(X, sample_weight=w)


def test_list_integer_and_bool_data_are_converted(X):
    for data in (X.tolist(), (X * 10).astype(int), X > 0.3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateComponentWarning)  # bool data: 4 points
            gm = GaussianMixture(2, random_state=0, reg_covar=1e-3).fit(data)
        assert gm.means_.dtype == np.float64


# --------------------------------------------------------------------------- weights
@pytest.mark.parametrize("w,match", [
    (-np.ones(30), r"non-negative; found 30 negative value\(s\) \(first at index 0: -1.0\)"),
    (np.r_[np.ones(4), np.nan, np.ones(25)], r"1 NaN or inf value\(s\) \(first at index 4\)"),
    (np.r_[np.inf, np.ones(29)], "NaN or inf"),
    (np.zeros(30), "sums to zero"),
    (np.ones(29), r"29 entries but X has 30 samples"),
    (np.ones(31), r"31 entries but X has 30 samples"),
    (np.ones((30, 1)), "1-dimensional"),
    (["a"] * 30, "must be numeric"),
])
def test_bad_sample_weight(X, fitted, w, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, sample_weight=w)
    for method in (fitted.score, fitted.bic, fitted.aic):
        with pytest.raises(ValueError, match=match):
            method(X, sample_weight=w)


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("param,value", [
    ("covariance_type", "ful"), ("covariance_type", None), ("init_params", "kmeans+"),
])
def test_unknown_option_lists_valid_ones(X, param, value):
    with pytest.raises(ValueError) as exc:
        GaussianMixture(2, **{param: value}).fit(X)
    msg = str(exc.value)
    assert param in msg and repr(value) in msg
    valid = NAMES if param == "covariance_type" else (
        "kmeans", "k-means++", "random", "random_from_data")
    for v in valid:
        assert repr(v) in msg


@pytest.mark.parametrize("param,value,allowed", [
    ("n_components", 0, "int in the range [1, inf)"),
    ("n_components", 2.5, "int"),
    ("tol", -1.0, "float in the range [0, inf)"),
    ("reg_covar", -1e-6, "float in the range [0, inf)"),
    ("reg_covar", np.inf, "float in the range [0, inf)"),
    ("reg_covar", np.nan, "float in the range [0, inf)"),
    ("tol", np.inf, "float in the range [0, inf)"),
    ("reg_covar", np.nan, "float"),
    ("max_iter", -1, "int in the range [0, inf)"),
    ("n_init", 0, "int in the range [1, inf)"),
    ("chunk_size", 0, "None or an int"),
    ("random_state", "seed", "None, an int or a numpy.random.RandomState"),
    ("warm_start", 1, "bool"),
    ("verbose", -1, "int"),
    ("verbose_interval", 0, "int in the range [1, inf)"),
])
def test_invalid_parameter_values_name_the_parameter(X, param, value, allowed):
    with pytest.raises(ValueError) as exc:
        GaussianMixture(**{"n_components": 2, param: value}).fit(X)
    msg = str(exc.value)
    assert f"'{param}'" in msg and allowed in msg and f"Got {value!r}" in msg


def test_unknown_parameter_names(X):
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_component'"):
        GaussianMixture(n_component=2)
    with pytest.raises(ValueError, match="Invalid parameter 'n_component'") as exc:
        GaussianMixture().set_params(n_component=2)
    assert "n_components" in str(exc.value)  # the valid names are listed


# --------------------------------------------------------------------------- init arrays
@pytest.mark.parametrize("kw,match", [
    (dict(weights_init=[1.0]), r"'weights_init' must have shape \(2,\), got \(1,\)"),
    (dict(weights_init=[0.5, 0.6]), "'weights_init' must sum to 1"),
    (dict(weights_init=[1.5, -0.5]), "'weights_init' must be finite and in the range"),
    (dict(weights_init=[np.nan, 1.0]), "'weights_init' must be finite"),
    (dict(means_init=np.zeros((2, 3))), r"'means_init' must have shape \(2, 2\), got \(2, 3\)"),
    (dict(means_init=np.zeros((3, 2))), r"'means_init' must have shape \(2, 2\)"),
    (dict(means_init=[[0, np.inf], [0, 0]]), "'means_init' contains NaN or inf"),
])
def test_bad_weights_and_means_init(X, kw, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **kw).fit(X)


@pytest.mark.parametrize("cov", NAMES)
def test_precisions_init_of_wrong_shape(X, cov):
    shape = covariance.get(cov).shape(2, 2)
    wrong = np.ones(tuple(s + 1 for s in shape))
    with pytest.raises(ValueError, match=re.escape(f"must have shape {shape}")):
        GaussianMixture(2, covariance_type=cov, precisions_init=wrong).fit(X)


@pytest.mark.parametrize("cov,bad,match", [
    ("full", np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]), "positive definite; matrix 1"),
    ("full", np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]), "symmetric; matrix 1"),
    ("tied", -np.eye(2), "positive definite"),
    ("tied", np.array([[1.0, 0.3], [0.0, 1.0]]), "symmetric"),
    ("diag", np.array([[1.0, 1.0], [1.0, -1.0]]), "positive"),
    ("spherical", np.array([1.0, 0.0]), "positive"),
])
def test_precisions_init_not_positive_definite(X, cov, bad, match):
    with pytest.raises(ValueError, match=f"'precisions_init' must be {match}"):
        GaussianMixture(2, covariance_type=cov, precisions_init=bad).fit(X)


# --------------------------------------------------------------------------- fitted state
def test_different_number_of_features_at_predict_time(fitted):
    for method in (fitted.predict, fitted.predict_proba, fitted.score_samples, fitted.score,
                   fitted.bic, fitted.aic):
        with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is expecting 2"):
            method(np.ones((4, 3)))


def test_not_fitted_error_before_fit(X, tmp_path):
    gm = GaussianMixture(2)
    for call in (lambda: gm.predict(X), lambda: gm.predict_proba(X), lambda: gm.score(X),
                 lambda: gm.score_samples(X), lambda: gm.sample(3), lambda: gm.bic(X),
                 lambda: gm.aic(X), lambda: gm.save(tmp_path / "m.gmz"), gm.to_sklearn):
        with pytest.raises(NotFittedError):
            call()
    assert not (tmp_path / "m.gmz").exists()


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_sample_needs_a_positive_integer(fitted, n):
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(n)


def test_convergence_warning_when_max_iter_too_small(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(2, max_iter=1, tol=0, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert GaussianMixture(2, random_state=0).fit(X).converged_


def test_errors_come_before_any_work(X, monkeypatch):
    """A bad weight or init array is refused before the initialisation runs."""
    import gaussmix._estimator as est_mod
    calls = []
    monkeypatch.setattr(est_mod, "initial_params", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError):
        GaussianMixture(2).fit(X, sample_weight=-np.ones(30))
    with pytest.raises(ValueError):
        GaussianMixture(2, precisions_init=np.ones((2, 2, 2))).fit(X)
    assert calls == []


def test_numpy_strings_are_accepted_like_sklearn(X):
    """Values from a numpy array (numpy.str_), as a GridSearchCV grid built with numpy gives."""
    from sklearn.model_selection import GridSearchCV
    gm = GaussianMixture(2, covariance_type=np.str_("diag"), init_params=np.str_("k-means++"),
                         random_state=0).fit(X)
    assert gm.covariances_.shape == (2, 2)
    grid = GridSearchCV(GaussianMixture(random_state=0),
                        {"covariance_type": np.array(["full", "diag"])}, cv=2).fit(X)
    assert grid.best_params_["covariance_type"] in ("full", "diag")
    with pytest.raises(ValueError, match="'warm_start'"):
        GaussianMixture(2, warm_start=1).fit(X)  # still no 1-for-True


def test_parameter_types_scikit_learn_accepts(X, capsys):
    """verbose=True and pandas init arrays are valid for scikit-learn, so they are here."""
    pd = pytest.importorskip("pandas")
    GaussianMixture(2, verbose=True, random_state=0).fit(X)
    assert "Initialization 0" in capsys.readouterr().err
    ref = GaussianMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, weights_init=pd.Series(ref.weights_),
                         means_init=pd.DataFrame(ref.means_), random_state=1).fit(X)
    same = GaussianMixture(2, weights_init=ref.weights_, means_init=ref.means_,
                           random_state=1).fit(X)
    np.testing.assert_array_equal(gm.means_, same.means_)
    with pytest.raises(ValueError, match="'means_init' parameter of GaussianMixture must be None "
                                         "or an array-like"):
        GaussianMixture(2, means_init="zeros").fit(X)
