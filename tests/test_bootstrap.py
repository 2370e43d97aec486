"""Bootstrap likelihood-ratio tests and bootstrap standard errors."""
import numpy as np
import pytest
from sklearn.base import clone

import gaussmix._bootstrap as gb
from gaussmix import GaussianMixture, bootstrap, bootstrap_lrt
from gaussmix._bootstrap import match_components


@pytest.fixture
def two_blobs(rng):
    return np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(7, 1, (80, 2))])


def test_lrt_picks_two_well_separated_components(two_blobs):
    res = bootstrap_lrt(two_blobs, "full", max_components=4, n_boot=39, random_state=0)
    assert res.n_components == 2
    assert list(res.null_components) == [1, 2]
    assert np.all((res.pvalue > 0) & (res.pvalue <= 1))
    assert res.pvalue[0] == pytest.approx(1 / 40)  # no replicate reaches the observed LRTS
    assert res.pvalue[1] >= 0.05
    # the p-value is the bootstrap tail frequency, recomputed from the stored replicates
    for s, p, b in zip(res.statistic, res.pvalue, res.boot):
        assert len(b) == 39
        assert p == pytest.approx((1 + np.sum(b >= s)) / (len(b) + 1))
    # the observed statistic is twice the log-likelihood gain of the data's own fits
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    ll = [GaussianMixture(g, random_state=seed).fit(two_blobs).score(two_blobs)
          * len(two_blobs) for g in (1, 2)]
    assert res.statistic[0] == pytest.approx(2 * (ll[1] - ll[0]), rel=1e-10)
    assert "1 vs 2" in res.table() and "Selected number of components: 2" in res.table()


def test_lrt_reproducible_and_independent_of_n_jobs(two_blobs):
    kw = dict(max_components=2, n_boot=6, random_state=3)
    a = bootstrap_lrt(two_blobs, "diag", **kw)
    b = bootstrap_lrt(two_blobs, "diag", **kw)
    import joblib
    with joblib.parallel_config(backend="threading"):  # worker processes are slow to start here
        c = bootstrap_lrt(two_blobs, "diag", n_jobs=2, **kw)
    for other in (b, c):
        np.testing.assert_array_equal(a.statistic, other.statistic)
        np.testing.assert_array_equal(a.boot[0], other.boot[0])
        np.testing.assert_array_equal(a.pvalue, other.pvalue)


def test_lrt_weights_equal_repeated_rows(rng):
    X = np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(5, 1, (30, 2))])
    w = rng.integers(1, 4, size=60)
    kw = dict(max_components=2, n_boot=4, random_state=1)
    a = bootstrap_lrt(X, "spherical", sample_weight=w.astype(float), **kw)
    b = bootstrap_lrt(np.repeat(X, w, axis=0), "spherical", **kw)
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=1e-7)
    np.testing.assert_allclose(a.boot[0], b.boot[0], rtol=1e-6)


def test_lrt_plot(two_blobs):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = bootstrap_lrt(two_blobs, "full", max_components=3, n_boot=9, random_state=0)
    axes = res.plot()
    assert len(axes) == len(res.statistic)
    with pytest.raises(ValueError, match="one Axes per test"):
        res.plot(ax=[axes[0]] * (len(axes) + 1))
    plt.close("all")


@pytest.mark.parametrize("method", ["nonparametric", "parametric", "weighted"])
def test_bootstrap_se_of_a_mean_is_sigma_over_root_n(rng, method):
    n = 400
    X = rng.normal(3.0, 2.0, size=(n, 1))
    gm = GaussianMixture(1).fit(X)
    res = bootstrap(gm, X, n_boot=120, method=method, random_state=0)
    textbook = X.std() / np.sqrt(n)
    assert res.se["means"][0, 0] == pytest.approx(textbook, rel=0.2)
    assert res.replicates["means"].shape == (120, 1, 1)
    lo, hi = res.ci["means"]
    assert lo[0, 0] < gm.means_[0, 0] < hi[0, 0]
    np.testing.assert_allclose(res.replicates["weights"], 1.0)  # one component: weight 1


def test_bootstrap_weights_are_frequencies(rng):
    X = rng.normal(size=(50, 2))
    w = rng.integers(1, 4, size=50)
    gm = GaussianMixture(1).fit(X, sample_weight=w)
    a = bootstrap(gm, X, n_boot=5, method="parametric", sample_weight=w, random_state=0)
    gmr = GaussianMixture(1).fit(np.repeat(X, w, axis=0))
    b = bootstrap(gmr, np.repeat(X, w, axis=0), n_boot=5, method="parametric", random_state=0)
    np.testing.assert_allclose(a.replicates["means"], b.replicates["means"], rtol=1e-6,
                               atol=1e-10)


def test_match_components_undoes_a_permutation(rng):
    means = rng.normal(scale=5, size=(4, 3))
    prec = np.stack([np.eye(3)] * 4)
    perm = np.array([2, 0, 3, 1])
    other = means[perm] + 0.01 * rng.normal(size=(4, 3))
    back = match_components(means, prec, other)
    np.testing.assert_allclose(other[back], means, atol=0.1)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_bootstrap_matches_labels_when_replicates_permute_components(rng, monkeypatch, cov):
    X = np.vstack([rng.normal(m, 0.5, (60, 2)) for m in (0, 5, 10)])
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    order = np.argsort(gm.means_[:, 0])

    def permuted_warm(model, **changes):
        # each refit starts from the model's components in reversed order
        p = np.arange(3)[::-1]
        prec = model.precisions_ if cov == "tied" else model.precisions_[p]
        return clone(model).set_params(weights_init=model.weights_[p],
                                       means_init=model.means_[p], precisions_init=prec,
                                       n_init=1, **changes)

    monkeypatch.setattr(gb, "_warm", permuted_warm)
    res = bootstrap(gm, X, n_boot=8, random_state=0)
    # without matching, replicate means would be reversed; matched, they sit on the estimates
    dev = np.abs(res.replicates["means"] - gm.means_[None]).max()
    assert dev < 0.5
    assert res.se["means"].max() < 0.3
    assert res.se["weights"].max() < 0.1
    np.testing.assert_array_equal(np.argsort(res.replicates["means"][0][:, 0]), order)
    assert res.replicates["covariances"].shape[1:] == np.shape(gm.covariances_)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="jackknife"), "'method' parameter of bootstrap must be one of"),
    (dict(n_boot=1), "'n_boot' parameter of bootstrap must be an int in the range \\[2"),
    (dict(level=1.5), "'level' parameter of bootstrap"),
    (dict(n_jobs=0), "'n_jobs' parameter of bootstrap"),
    (dict(random_state="x"), "'random_state' parameter of bootstrap"),
    (dict(sample_weight=np.full(40, 0.01)), "frequency weights"),
])
def test_bootstrap_bad_arguments(rng, kwargs, message):
    X = rng.normal(size=(40, 2))
    gm = GaussianMixture(1).fit(X)
    with pytest.raises(ValueError, match=message):
        bootstrap(gm, X, **kwargs)


def test_bootstrap_needs_a_fitted_model_and_matching_features(rng):
    X = rng.normal(size=(40, 2))
    with pytest.raises(TypeError, match="fitted gaussmix.GaussianMixture"):
        bootstrap(object(), X)
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        bootstrap(GaussianMixture(1), X)
    gm = GaussianMixture(1).fit(X)
    with pytest.raises(ValueError, match="X has 3 features but the model was fitted on 2"):
        bootstrap(gm, rng.normal(size=(40, 3)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(covariance_type="VVX"), "'covariance_type' parameter of bootstrap_lrt"),
    (dict(max_components=1), "'max_components' parameter of bootstrap_lrt"),
    (dict(n_boot=0), "'n_boot' parameter of bootstrap_lrt"),
    (dict(level=0.0), "'level' parameter of bootstrap_lrt"),
    (dict(init_params="bogus"), "'init_params'"),
])
def test_bootstrap_lrt_bad_arguments(rng, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_lrt(rng.normal(size=(40, 2)), **kwargs)
