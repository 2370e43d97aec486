"""gaussmix.BayesianGaussianMixture against scikit-learn's, and what scikit-learn lacks."""
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from gaussmix import BayesianGaussianMixture

COV = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]
ATTRS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
         "mean_precision_", "degrees_of_freedom_"]


@pytest.fixture
def data(rng):
    X = np.vstack([rng.normal([0, 0, 0], 1.0, (150, 3)),
                   rng.normal([5, 5, 0], 0.5, (100, 3)),
                   rng.normal([0, 6, 6], 1.0, (80, 3))]) + 20.0
    return X


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("cov", COV)
def test_matches_sklearn_from_same_initialisation(data, cov, prior):
    # scikit-learn's init_params="random" with an int seed draws exactly these responsibilities
    k, seed = 6, 7
    resp = np.random.RandomState(seed).uniform(size=(len(data), k))
    resp /= resp.sum(axis=1)[:, None]
    kw = dict(n_components=k, covariance_type=cov, weight_concentration_prior_type=prior,
              max_iter=25, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkBGM(init_params="random", random_state=seed, **kw).fit(data)
        ours = BayesianGaussianMixture(**kw)
        ours._fit(data, None, init_resp=resp)
    ref = np.ravel(np.asarray(sk.lower_bounds_, dtype=float))  # tied: shape-(1,) arrays
    got = np.asarray(ours.lower_bounds_)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref) / np.abs(ref)) <= 1e-9
    for a in ATTRS:
        assert _rel(getattr(ours, a), getattr(sk, a)) <= 1e-10, a
    for a, b in zip(np.atleast_2d(ours.weight_concentration_),
                    np.atleast_2d(sk.weight_concentration_)):
        assert _rel(a, b) <= 1e-10
    # inference on the same posterior equals scikit-learn's
    conv = ours.to_sklearn()
    np.testing.assert_allclose(ours.score_samples(data), sk.score_samples(data), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(data), conv.predict_proba(data), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(data), sk.predict(data))


@pytest.mark.parametrize("cov", COV)
def test_lower_bound_monotone(data, cov):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = BayesianGaussianMixture(n_components=6, covariance_type=cov, reg_covar=0.0,
                                    max_iter=60, tol=0.0, init_params="random",
                                    random_state=0).fit(data)
    lb = np.asarray(m.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]))


@pytest.mark.parametrize("init", ["kmeans", "random", "k-means++", "random_from_data"])
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_integer_weights_equal_repeated_rows(data, rng, init, cov):
    w = rng.integers(0, 4, len(data))
    w[:3] = 1  # keep some rows
    rep = np.repeat(data, w, axis=0)
    kw = dict(n_components=4, covariance_type=cov, init_params=init, random_state=3,
              max_iter=30, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BayesianGaussianMixture(**kw).fit(data, sample_weight=w)
        b = BayesianGaussianMixture(**kw).fit(rep)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-9)
    for attr in ATTRS + ["covariance_prior_", "mean_prior_"]:
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-8, atol=1e-10)


def test_float32_computes_close_to_float64(data):
    kw = dict(n_components=3, random_state=0, max_iter=200)
    a = BayesianGaussianMixture(**kw).fit(data)
    b = BayesianGaussianMixture(**kw).fit(data.astype(np.float32))
    assert b.converged_
    np.testing.assert_allclose(np.sort(b.means_, axis=0), np.sort(a.means_, axis=0), atol=1e-3)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-5)


def test_out_of_core_iteration_equals_in_memory(data, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, data)
    mm = np.load(path, mmap_mode="r")
    kw = dict(n_components=4, random_state=0, max_iter=5, tol=0.0, warm_start=True,
              chunk_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = BayesianGaussianMixture(**kw).fit(data)
        a, b = (BayesianGaussianMixture(**kw), BayesianGaussianMixture(**kw))
        for m in (a, b):
            m.__dict__.update({k: v for k, v in start.__dict__.items() if k.endswith("_")})
        a.fit(data)
        b.fit(mm)                                      # memory map, 50-row chunks
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-11)
    for attr in ATTRS:
        np.testing.assert_allclose(getattr(b, attr), getattr(a, attr), rtol=1e-9, atol=1e-12)
    c = BayesianGaussianMixture(**{**kw, "warm_start": False, "max_iter": 500, "tol": 1e-3}).fit(
        [data[:100], data[100:]])                      # a re-iterable of chunks, own init
    assert c.converged_ and c.effective_n_components_ == 3


def test_svi_full_step_is_one_batch_iteration(data):
    kw = dict(n_components=4, random_state=2, init_params="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = BayesianGaussianMixture(max_iter=1, **kw).fit(data)
    svi = BayesianGaussianMixture(learning_offset=0.0, learning_decay=1.0, **kw)
    svi.partial_fit(data)  # rho_1 = 1: the step replaces the posterior by the batch's
    for attr in ATTRS:
        np.testing.assert_allclose(getattr(svi, attr), getattr(batch, attr), rtol=1e-10)
    np.testing.assert_allclose(svi.lower_bound_, batch.lower_bound_, rtol=1e-10)


def test_svi_recovers_the_batch_posterior(rng):
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    lab = rng.integers(0, 3, 30000)
    X = centres[lab] + rng.normal(size=(30000, 2))
    m = BayesianGaussianMixture(n_components=3, total_samples=len(X), random_state=0,
                                learning_offset=5.0, learning_decay=0.6)
    for epoch in range(3):
        for s in range(0, len(X), 1000):
            m.partial_fit(X[s:s + 1000])
    batch = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    order = np.argsort(m.means_[:, 0] + 0.01 * m.means_[:, 1])
    ref = np.argsort(batch.means_[:, 0] + 0.01 * batch.means_[:, 1])
    np.testing.assert_allclose(m.means_[order], centres, atol=0.1)
    np.testing.assert_allclose(m.means_[order], batch.means_[ref], atol=0.05)
    np.testing.assert_allclose(m.weights_[order], batch.weights_[ref], atol=0.01)
    np.testing.assert_allclose(m.covariances_[order], batch.covariances_[ref], atol=0.05)
    assert m.n_iter_ == 90 and len(m.lower_bounds_) == 90


def test_effective_components_and_summaries(data):
    m = BayesianGaussianMixture(n_components=8, random_state=0, max_iter=500,
                                weight_concentration_prior=1e-3).fit(data)
    assert m.effective_n_components_ == 3
    assert m.elbo_ == m.lower_bound_
    s = m.score_samples(data)
    np.testing.assert_allclose(s, logsumexp(m._weighted_log_prob(data), axis=1))
    assert m.score(data) == pytest.approx(s.mean())
    np.testing.assert_array_equal(m.fit_predict(data), m.predict(data))


def test_sklearn_round_trip(data):
    m = BayesianGaussianMixture(n_components=4, covariance_type="diag", random_state=0,
                                max_iter=300).fit(data)
    sk = m.to_sklearn()
    assert isinstance(sk, SkBGM)
    np.testing.assert_allclose(sk.score_samples(data), m.score_samples(data), rtol=1e-12)
    back = BayesianGaussianMixture.from_sklearn(sk)
    for attr in ATTRS + ["lower_bound_", "n_iter_"]:
        np.testing.assert_array_equal(getattr(back, attr), getattr(m, attr))
    X2, _ = back.sample(5)
    assert X2.shape == (5, 3)


@pytest.mark.parametrize("params, match", [
    ({"learning_decay": 0.4}, "learning_decay"),
    ({"covariance_type": "VEV"}, "covariance_type"),
    ({"weight_concentration_prior": -1.0}, "weight_concentration_prior"),
    ({"covariance_prior": np.eye(2)}, "full covariance_prior"),
    ({"mean_prior": [0.0, 1.0]}, "shape"),
])
def test_bad_parameters_named(data, params, match):
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(n_components=2, **params).fit(data)


def test_zero_weights_refused(data):
    # (dask arrays are fitted since gaussmix.dask maps the passes: tests/test_bayesian_dask.py)
    with pytest.raises(ValueError, match="weight"):
        BayesianGaussianMixture(n_components=2).fit(data, sample_weight=np.zeros(len(data)))


def test_fast_pass_used_with_pruned_components_and_equals_reference(data, monkeypatch):
    from gaussmix import _bayesian, covariance
    from gaussmix._data import ArraySource
    from gaussmix._engine import e_pass_reference
    m = BayesianGaussianMixture(n_components=8, random_state=0, max_iter=500,
                                weight_concentration_prior=1e-3).fit(data)
    src = ArraySource(data, np.ones(len(data)), 64)
    params, c = m._engine_params(m._state(), 3)
    model, shift = covariance.get("full"), data.mean(axis=0)
    calls = []
    monkeypatch.setattr(_bayesian, "e_pass_reference",
                        lambda *a, **k: calls.append(1) or e_pass_reference(*a, **k))
    fast = _bayesian._vb_pass(src, params, model, shift, data.dtype, m._prior_diag())
    assert not calls  # the fast kernel served the pass
    ref = e_pass_reference(src, params, model, shift, data.dtype, 0)
    assert ref.nk.min() < 1e-6  # pruned components of negligible mass
    np.testing.assert_allclose(fast.nk, ref.nk, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.scatter, ref.scatter,
                               rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fast.log_likelihood, ref.log_likelihood, rtol=1e-12)


# --------------------------------------------------------------------------- model files
_SAVED = ATTRS + ["weight_concentration_", "weight_concentration_prior_", "mean_precision_prior_",
                  "mean_prior_", "degrees_of_freedom_prior_", "covariance_prior_", "converged_",
                  "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
                  "effective_n_components_"]


def _assert_identical(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_identical(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert type(a) is type(b) and a == b


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("cov", COV)
def test_save_load_round_trip_is_exact(data, cov, prior, tmp_path):
    import gaussmix
    kw = dict(covariance_type=cov, weight_concentration_prior_type=prior, random_state=0,
              max_iter=30, weight_threshold=0.02)
    if cov == "full":  # array-valued priors travel as arrays, a float prior as a JSON number
        kw.update(mean_prior=np.full(3, 20.0), covariance_prior=2.0 * np.eye(3))
    elif cov == "spherical":
        kw.update(covariance_prior=1.5, mean_precision_prior=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm = BayesianGaussianMixture(5, **kw).fit(data)
    bgm.save(tmp_path / "m.gmz")
    back = gaussmix.load(tmp_path / "m.gmz")
    assert type(back) is BayesianGaussianMixture
    for attr in _SAVED:
        _assert_identical(getattr(bgm, attr), getattr(back, attr))
    pa, pb = bgm.get_params(), back.get_params()
    assert pa.keys() == pb.keys()
    for k in pa:
        if isinstance(pa[k], np.ndarray):
            np.testing.assert_array_equal(pa[k], pb[k])
        else:
            assert pa[k] == pb[k], k
    for method in ("score_samples", "predict", "predict_proba"):
        np.testing.assert_array_equal(getattr(bgm, method)(data), getattr(back, method)(data))
    # the loaded model keeps fitting: a warm start continues from the saved posterior
    back.set_params(warm_start=True, max_iter=1)
    bgm.set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(back.fit(data).means_, bgm.fit(data).means_)


def test_bayesian_model_file_is_checked(data, tmp_path):
    import json
    import zipfile

    import gaussmix
    from gaussmix import ModelFileError
    bgm = BayesianGaussianMixture(3, random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(data)
    path = tmp_path / "m.gmz"
    bgm.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
        assert all(not n.endswith(".pkl") for n in members)
    doc = json.loads(members["model.json"])
    assert doc["estimator"] == "BayesianGaussianMixture"
    assert doc["arrays"]["bayes/weight_concentration.npy"]["shape"] == [2, 3]

    def rewrite(edit):
        d = json.loads(members["model.json"])
        edit(d)
        out = dict(members, **{"model.json": json.dumps(d).encode()})
        bad = tmp_path / "bad.gmz"
        with zipfile.ZipFile(bad, "w") as zf:
            for n, b in out.items():
                zf.writestr(n, b)
        return bad

    # a parameter of the other estimator, a missing posterior member, a wrong shape
    with pytest.raises(ModelFileError, match="params.init_params_x|not a known key"):
        gaussmix.load(rewrite(lambda d: d["params"].__setitem__("init_params_x", 1)))
    with pytest.raises(ModelFileError, match="mean_precision.npy.*missing"):
        gaussmix.load(rewrite(lambda d: d["arrays"].pop("bayes/mean_precision.npy")))
    with pytest.raises(ModelFileError, match="weight_concentration.npy.*shape"):
        gaussmix.load(rewrite(lambda d: d["params"].__setitem__(
            "weight_concentration_prior_type", "dirichlet_distribution")))
    with pytest.raises(ModelFileError, match="not a parameter of GaussianMixture"):
        gaussmix.load(rewrite(lambda d: d.__setitem__("estimator", "GaussianMixture")))


# --------------------------------------------------------------------------- selection
def test_select_bayesian_ranks_by_elbo_of_the_same_fits(data):
    from gaussmix.selection import BayesianSelectionResult, select_bayesian
    ks, cts = [1, 3, 6], ["full", "diag"]
    res = select_bayesian(data, ks, cts, random_state=3, max_iter=200)
    assert isinstance(res, BayesianSelectionResult)
    assert len(res.table) == len(ks) * len(cts)
    elbos = [r["elbo"] for r in res.table]
    assert elbos == sorted(elbos, reverse=True)
    # every cell is exactly the estimator fitted on its own, with the stored seed
    for row in res.table:
        est = res.estimators_[(row["n_components"], row["covariance_type"])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            alone = BayesianGaussianMixture(**est.get_params()).fit(data)
        assert row["elbo"] == alone.lower_bound_
        np.testing.assert_array_equal(row["weights"], alone.weights_)
        w = np.asarray(row["weights"])
        assert row["effective_n_components"] == int(np.count_nonzero(w > est.weight_threshold))
        np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)
    assert res.best_estimator_.lower_bound_ == max(elbos)
    # three well-separated clusters: the best fit keeps three of its components
    assert res.best_params_["n_components"] >= 3
    assert res.effective_n_components_ == 3
    assert "| rank |" in res.to_markdown()


def test_select_bayesian_checks_its_arguments(data):
    from gaussmix.selection import select_bayesian
    with pytest.raises(ValueError, match="'n_components'"):
        select_bayesian(data, [0, 2])
    with pytest.raises(ValueError, match="'covariance_types'.*closed-form"):
        select_bayesian(data, 2, "VEV")
    # mclust's names of the closed-form types are accepted, EII/EEI included
    res = select_bayesian(data, 2, ("VVV", "EII"), random_state=0, max_iter=20)
    assert {row["covariance_type"] for row in res.table} == {"VVV", "EII"}
    with pytest.raises(TypeError, match="sets 'covariance_type'"):
        select_bayesian(data, 2, **{"covariance_type": "full"})
    with pytest.raises(ValueError, match="max_iter"):
        select_bayesian(data, 2, max_iter=-1)
    with pytest.raises(TypeError, match="select_bayesian"):
        select_bayesian(data, 2, not_a_parameter=1)
    with pytest.raises(ValueError, match="every fit in the grid failed"):
        select_bayesian(data[:5], 8, "full")
