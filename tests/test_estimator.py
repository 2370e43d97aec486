"""GaussianMixture: parity with scikit-learn and the invariants of EM."""
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gaussmix import GaussianMixture, covariance
from gaussmix._engine import progress

# scikit-learn's four structures: these tests compare with scikit-learn's estimator (mclust's
# structures have their own tests in tests/test_mclust_structures.py)
NAMES = covariance.BUILTIN_NAMES


def _same_init(ref):
    return dict(weights_init=ref.weights_, means_init=ref.means_, precisions_init=ref.precisions_)


def _perturbed_init(X, k, cov, rng):
    """A deliberately rough start, so EM has work to do for many iterations."""
    sk = SkGaussianMixture(k, covariance_type=cov, max_iter=1, init_params="random_from_data",
                           random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X)
    return _same_init(sk)


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize("cov", NAMES)
def test_parity_with_sklearn_from_same_init(cov, blobs, rng):
    X, _ = blobs
    init = _perturbed_init(X, 3, cov, rng)
    kw = dict(covariance_type=cov, tol=1e-10, max_iter=40, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(3, **kw).fit(X)
        gm = GaussianMixture(3, **kw).fit(X)
    assert len(gm.lower_bounds_) == len(sk.lower_bounds_) > 3
    # the issue asks for 1e-6 relative; the implementations agree to rounding
    np.testing.assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-11)
    assert gm.n_iter_ == sk.n_iter_ and gm.converged_ == sk.converged_
    np.testing.assert_array_equal(gm.predict(X), sk.predict(X))
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(gm, attr), getattr(sk, attr), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-9)
    assert gm.bic(X) == pytest.approx(sk.bic(X), rel=1e-10)
    assert gm.aic(X) == pytest.approx(sk.aic(X), rel=1e-10)


@pytest.mark.parametrize("cov", NAMES)
def test_default_fit_finds_sklearns_solution_on_separated_data(cov, blobs):
    X, y = blobs
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    sk = SkGaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    assert gm.score(X) == pytest.approx(sk.score(X), rel=1e-6)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(gm.predict(X), sk.predict(X)) == 1.0
    assert adjusted_rand_score(gm.predict(X), y) == 1.0


@pytest.mark.parametrize("cov", NAMES)
def test_from_sklearn_to_sklearn_round_trip(cov, blobs):
    X, _ = blobs
    sk = SkGaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    gm = GaussianMixture.from_sklearn(sk)
    np.testing.assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(gm.predict(X), sk.predict(X))
    back = gm.to_sklearn()
    assert isinstance(back, SkGaussianMixture)
    np.testing.assert_array_equal(back.score_samples(X), sk.score_samples(X))
    for attr in ("weights_", "means_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(sk, attr))
    assert back.get_params() == {k: v for k, v in gm.get_params().items()
                                 if k not in ("chunk_size", "coreset_size", "params", "prior",
                                              "missing", "noise", "noise_volume")}


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(GaussianMixture())


def test_pipeline_clone_and_grid_search(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0))
    labels = pipe.fit(X).predict(X)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(labels, y) == 1.0
    assert np.isfinite(pipe.score(X))

    est = GaussianMixture(2, covariance_type="diag", reg_covar=1e-4, random_state=1)
    cl = clone(est)
    assert cl.get_params() == est.get_params() and not hasattr(cl, "means_")

    grid = {"n_components": [1, 2, 3], "covariance_type": ["full", "diag"]}
    cv = KFold(3, shuffle=True, random_state=0)  # the rows are sorted by blob
    ours = GridSearchCV(GaussianMixture(random_state=0), grid, cv=cv).fit(X)
    ref = GridSearchCV(SkGaussianMixture(random_state=0), grid, cv=cv).fit(X)
    assert ours.best_params_ == ref.best_params_
    assert ours.best_params_["n_components"] == 3
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               ref.cv_results_["mean_test_score"], rtol=1e-6)


# --------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("cov", NAMES)
def test_lower_bound_is_monotone_without_regularisation(cov, blobs, rng):
    X, _ = blobs
    init = _perturbed_init(X, 3, cov, rng)
    gm = GaussianMixture(3, covariance_type=cov, reg_covar=0.0, tol=0.0, max_iter=30, **init)
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) == 30
    assert lb[-1] > lb[0]
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:])), np.diff(lb).min()


@pytest.mark.parametrize("cov", NAMES)
def test_fit_predict_equals_fit_then_predict(cov, blobs):
    X, _ = blobs
    a = GaussianMixture(3, covariance_type=cov, random_state=7, max_iter=5, tol=0)
    b = clone(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = a.fit_predict(X)
        np.testing.assert_array_equal(labels, b.fit(X).predict(X))


@pytest.mark.parametrize("cov", NAMES)
def test_chunked_equals_unchunked(cov, rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(25, 20, 18), d=2)
    fits = []
    for cs in (1, 7, None):
        gm = GaussianMixture(3, covariance_type=cov, random_state=0, chunk_size=cs, tol=1e-8)
        fits.append(gm.fit(X))
    ref = fits[-1]
    for gm in fits[:-1]:
        assert gm.n_iter_ == ref.n_iter_
        np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gm.score_samples(X), ref.score_samples(X), rtol=1e-10)
        np.testing.assert_array_equal(gm.predict(X), ref.predict(X))


@pytest.mark.parametrize("cov", NAMES)
def test_chunked_equals_unchunked_weighted_float32(cov, rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(25, 20, 18), d=2)
    X = X.astype(np.float32)
    w = rng.uniform(0.0, 3.0, size=len(X))
    fits = [GaussianMixture(3, covariance_type=cov, random_state=0, chunk_size=cs).fit(
        X, sample_weight=w) for cs in (1, 7, None)]
    ref = fits[-1]
    for gm in fits[:-1]:
        assert gm.n_iter_ == ref.n_iter_
        # float32 rows, float64 sums: chunking changes only the float32 rounding (the
        # issue's float32 tolerance is 1e-4 relative)
        np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-4)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(gm.predict(X), ref.predict(X))


@pytest.mark.parametrize("cov", NAMES)
def test_more_initialisations_are_never_worse(cov, rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(40, 40, 40, 40), d=2, spread=1.5)
    one = GaussianMixture(4, covariance_type=cov, n_init=1, random_state=11).fit(X)
    five = GaussianMixture(4, covariance_type=cov, n_init=5, random_state=11).fit(X)
    # the first of the five starts is the single start, so the best of five is at least as good
    assert five.lower_bound_ >= one.lower_bound_


@pytest.mark.parametrize("n_init", [1, 3])
def test_progress_hook_sees_every_iteration(blobs, n_init):
    X, _ = blobs
    seen = []
    with progress(lambda it, lb: seen.append((it, lb))):
        gm = GaussianMixture(3, random_state=0, n_init=n_init).fit(X)
    assert len(seen) >= gm.n_iter_
    if n_init == 1:
        assert [it for it, _ in seen] == list(range(1, gm.n_iter_ + 1))
        np.testing.assert_array_equal([lb for _, lb in seen], gm.lower_bounds_)
    seen.clear()
    GaussianMixture(3, random_state=0).fit(X)
    assert seen == []  # the hook is gone after the block


def test_bic_equal_across_covariance_types_for_1d_single_component(rng):
    X = rng.normal(3.0, 2.0, size=(200, 1))
    bics = [GaussianMixture(1, covariance_type=c).fit(X).bic(X) for c in NAMES]
    np.testing.assert_allclose(bics, bics[0], rtol=1e-10)
    aics = [GaussianMixture(1, covariance_type=c).fit(X).aic(X) for c in NAMES]
    np.testing.assert_allclose(aics, aics[0], rtol=1e-10)
    # and it is the textbook value with the maximum-likelihood Gaussian
    from scipy.stats import norm
    ll = norm(X.mean(), X.std()).logpdf(X).sum()
    assert bics[0] == pytest.approx(-2 * ll + 2 * np.log(200), rel=1e-6)


@pytest.mark.parametrize("cov", NAMES)
def test_responsibilities_and_scores_are_consistent(cov, blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    resp = gm.predict_proba(X)
    assert resp.shape == (len(X), 3)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(resp >= 0)
    np.testing.assert_array_equal(resp.argmax(axis=1), gm.predict(X))
    ss = gm.score_samples(X)
    assert gm.score(X) == pytest.approx(ss.mean(), rel=1e-12)
    # at convergence the final lower bound is the mean log-likelihood, up to tol
    assert gm.score(X) == pytest.approx(gm.lower_bound_, abs=gm.tol)


def test_sample_draws_from_the_mixture(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0).fit(X)
    Xs, ys = gm.sample(6000)
    assert Xs.shape == (6000, X.shape[1]) and ys.shape == (6000,)
    counts = np.bincount(ys, minlength=3) / 6000
    np.testing.assert_allclose(counts, gm.weights_, atol=0.03)
    for j in range(3):
        np.testing.assert_allclose(Xs[ys == j].mean(axis=0), gm.means_[j], atol=0.2)
        np.testing.assert_allclose(np.cov(Xs[ys == j].T), gm.covariances_[j], atol=0.3)
    a, _ = GaussianMixture(3, random_state=0).fit(X).sample(5)
    b, _ = GaussianMixture(3, random_state=0).fit(X).sample(5)
    np.testing.assert_array_equal(a, b)


def test_warm_start_continues_from_previous_fit(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0, warm_start=True, max_iter=2, tol=0)
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    first = list(gm.lower_bounds_)
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    # warm start picks up where the first fit stopped: the bound keeps improving
    assert gm.lower_bounds_[0] >= first[-1] - 1e-12
    cold = GaussianMixture(3, random_state=0, max_iter=4, tol=0)
    with pytest.warns(ConvergenceWarning):
        cold.fit(X)
    np.testing.assert_allclose(first + gm.lower_bounds_, cold.lower_bounds_, rtol=1e-10)


# --------------------------------------------------------------------------- float32
@pytest.mark.parametrize("cov", NAMES)
def test_float32_is_fitted_in_float32_and_agrees_with_float64(cov, rng, monkeypatch, make_blobs):
    X, _ = make_blobs(rng, n_per=(150, 120, 130), d=3)
    X = X + 500.0  # away from the origin, where float32 raw moments would cancel
    model = covariance.get(cov)
    seen = []
    # the E-step runs through the batched kernel when one exists, else model.log_prob: watch
    # the dtype of the rows each of them receives
    original = type(model).log_prob

    def spy_log_prob(self, Xc, means, prec_chol):
        seen.append(Xc.dtype)
        return original(self, Xc, means, prec_chol)

    monkeypatch.setattr(type(model), "log_prob", spy_log_prob)
    try:
        from gaussmix import _fast
    except ImportError:  # pragma: no cover - the reference kernel only
        _fast = None
    if _fast is not None:
        original_block = _fast.block_stats

        def spy_block(X, *args, **kwargs):
            seen.append(X.dtype)
            return original_block(X, *args, **kwargs)

        monkeypatch.setattr(_fast, "block_stats", spy_block)
    g32 = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X.astype(np.float32))
    assert seen and set(seen) == {np.dtype(np.float32)}
    seen.clear()
    g64 = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    assert set(seen) == {np.dtype(np.float64)}
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a = getattr(g32, attr)
        assert np.all(np.isfinite(a))
    assert np.all(np.asarray([np.linalg.eigvalsh(model.component_covariance(g32.covariances_, j, 3))
                              for j in range(3)]) > 0)
    assert g32.lower_bound_ == pytest.approx(g64.lower_bound_, rel=1e-4)
    assert g32.score(X) == pytest.approx(g64.score(X), rel=1e-4)
    assert g32.predict_proba(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(g32.predict(X), g64.predict(X))


def test_float32_agrees_with_float64_on_widely_separated_clusters(rng):
    """Quadratic expansions cancel in float32 when clusters are ~1e3 deviations apart: the fast
    pass must notice and keep the fit accurate."""
    sep = 1000.0
    X = np.vstack([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + sep,
                   rng.normal(size=(300, 3)) - sep])
    g64 = GaussianMixture(3, random_state=0).fit(X)
    g32 = GaussianMixture(3, random_state=0).fit(X.astype(np.float32))
    assert g32.lower_bound_ == pytest.approx(g64.lower_bound_, rel=1e-4)
    assert g32.score(X) == pytest.approx(g64.score(X), rel=1e-4)


# --------------------------------------------------------------------------- memory
@pytest.mark.parametrize("cov,init", [("full", "kmeans"), ("diag", "random")])
def test_memory_stays_bounded_with_chunks(rng, cov, init):
    """Peak memory beyond the data: O(n k) plus a fixed workspace, never n*d*k or n*d^2."""
    n, d, k, cs = 80_000, 16, 8, 512
    X = rng.normal(size=(n, d)) + np.repeat(rng.normal(scale=5, size=(k, d)), n // k, axis=0)
    nk_bytes = n * k * 8
    workspace = cs * (k * d + 4 * k + 2 * d) * 8
    try:  # the batched E-step keeps one fixed-size workspace per thread
        from gaussmix import _fast
        workspace += _fast.default_n_threads() * _fast.DEFAULT_BLOCK_BYTES
    except ImportError:  # pragma: no cover
        pass
    budget = 4 * nk_bytes + workspace
    assert budget < n * d * k * 8 / 2, "the test must tell an n*d*k temporary apart"
    gm = GaussianMixture(k, covariance_type=cov, init_params=init, chunk_size=cs, max_iter=2,
                         tol=0, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        gm.predict(X)
        gm.score_samples(X)
        proba = gm.predict_proba(X)
        _, predict_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert proba.shape == (n, k)
    assert fit_peak < budget, f"fit peak {fit_peak / 2**20:.1f} MiB > {budget / 2**20:.1f} MiB"
    assert predict_peak < budget, f"predict peak {predict_peak / 2**20:.1f} MiB"


# --------------------------------------------------------------------------- drop-in surface
def test_same_constructor_defaults_as_sklearn():
    ours = GaussianMixture().get_params()
    theirs = SkGaussianMixture().get_params()
    assert ours.pop("chunk_size") is None
    assert ours.pop("coreset_size") is None
    assert ours.pop("params") == "wmc"
    assert ours.pop("prior") is None
    assert ours.pop("missing") == "error"
    assert ours.pop("noise") is False
    assert ours.pop("noise_volume") is None
    assert ours == theirs
    import inspect
    for name in ("fit", "fit_predict", "predict", "predict_proba", "score", "score_samples",
                 "sample", "bic", "aic"):
        sk_params = list(inspect.signature(getattr(SkGaussianMixture, name)).parameters)
        our_params = list(inspect.signature(getattr(GaussianMixture, name)).parameters)
        assert our_params[:len(sk_params)] == sk_params, name


def test_verbose_reports_progress_on_stderr(blobs, capsys):
    X, _ = blobs
    GaussianMixture(3, random_state=0, verbose=2, verbose_interval=1).fit(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert "Initialization 0" in err and "Iteration 1" in err and "converged" in err


def test_feature_names_follow_sklearn(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(3, random_state=0).fit(df)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b", "c"])
    assert gm.n_features_in_ == 3
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(gm.predict(df), gm.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        gm.predict(df.rename(columns={"a": "z"}))
