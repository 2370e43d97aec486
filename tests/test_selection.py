"""Model selection over (n_components, covariance_type)."""
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gaussmix import GaussianMixture
from gaussmix.selection import GaussianMixtureSelector, SelectionResult, select


@pytest.fixture
def rng():
    return np.random.RandomState(7)


def _full_mixture(rng, n=300):
    """Three well separated, strongly correlated clusters: truth is K=3, full."""
    covs = [[[2.0, 1.6], [1.6, 2.0]], [[1.0, -0.8], [-0.8, 1.0]], [[1.5, 0.0], [0.0, 0.2]]]
    means = [[0, 0], [7, 0], [0, 7]]
    return np.vstack([rng.multivariate_normal(m, c, n) for m, c in zip(means, covs)])


def _diag_mixture(rng, n=300):
    """Three axis-aligned clusters with unequal per-axis variances: truth is K=3, diag."""
    sds = [[0.3, 2.0, 1.0], [1.5, 0.4, 0.8], [1.0, 1.0, 0.2]]
    means = [[0, 0, 0], [6, 6, 0], [-6, 5, 5]]
    return np.vstack([rng.normal(m, s, (n, 3)) for m, s in zip(means, sds)])


def _spherical_mixture(rng, n=300):
    sds = [0.5, 1.0, 2.0, 0.8]
    means = [[0, 0], [8, 0], [0, 10], [10, 10]]
    return np.vstack([rng.normal(m, s, (n, 2)) for m, s in zip(means, sds)])


@pytest.mark.parametrize("make,k,cov", [(_full_mixture, 3, "full"), (_diag_mixture, 3, "diag"),
                                        (_spherical_mixture, 4, "spherical")])
def test_bic_recovers_true_k_and_covariance_type(rng, make, k, cov):
    X = make(rng)
    res = select(X, range(1, 7), random_state=0, validation_fraction=None)
    assert res.best_params_ == {"n_components": k, "covariance_type": cov}
    assert res.best_estimator_.n_components == k
    assert res.best_estimator_.covariance_type == cov


def test_table_is_complete_ranked_and_consistent(rng):
    X = _full_mixture(rng, 150)
    res = select(X, [1, 2, 3, 4], ("full", "diag", "spherical", "tied"), random_state=0)
    assert isinstance(res, SelectionResult)
    assert len(res.table) == 16
    assert {(r["n_components"], r["covariance_type"]) for r in res.table} == \
        {(k, c) for k in (1, 2, 3, 4) for c in ("full", "diag", "spherical", "tied")}
    assert [r["rank"] for r in res.table] == list(range(1, 17))
    bics = [r["bic"] for r in res.table]
    assert bics == sorted(bics)
    for r in res.table:
        gm = res.estimators_[(r["n_components"], r["covariance_type"])]
        assert r["error"] is None
        assert math.isclose(r["bic"], gm.bic(X), rel_tol=1e-10)
        assert math.isclose(r["aic"], gm.aic(X), rel_tol=1e-10)
        assert math.isclose(r["log_likelihood"], gm.score(X) * len(X), rel_tol=1e-10)
        assert r["n_parameters"] == gm._n_parameters()
        assert math.isfinite(r["heldout_log_likelihood"])
        assert r["converged"] in (True, False)


def test_icl_is_never_better_than_bic(rng):
    X = np.vstack([_full_mixture(rng, 100), rng.uniform(-5, 10, (60, 2))])
    res = select(X, range(1, 7), random_state=1, validation_fraction=None)
    for r in res.table:
        assert r["icl"] >= r["bic"]
        if r["n_components"] == 1:
            assert r["icl"] == r["bic"]
    # the entropy term matches a direct computation
    r = next(r for r in res.table if (r["n_components"], r["covariance_type"]) == (3, "full"))
    z = res.estimators_[(3, "full")].predict_proba(X)
    ent = -np.sum(z * np.log(np.clip(z, 1e-300, None)))
    assert math.isclose(r["icl"], r["bic"] + 2 * ent, rel_tol=1e-9)


def test_icl_prefers_fewer_components_than_bic_on_overlapping_clusters(rng):
    # one skewed cluster is fitted better by two overlapping Gaussians (BIC) but ICL
    # penalises their overlap
    X = np.column_stack([rng.gamma(2.0, 1.0, 1200), rng.normal(size=1200)])
    bic = select(X, range(1, 5), "full", "bic", random_state=0, validation_fraction=None)
    icl = select(X, range(1, 5), "full", "icl", random_state=0, validation_fraction=None)
    assert icl.best_params_["n_components"] <= bic.best_params_["n_components"]
    assert bic.best_params_["n_components"] > 1


def test_shared_initialisation_equals_plain_fit(rng):
    X = _diag_mixture(rng, 100)
    res = select(X, [2, 3], ("full", "diag"), n_init=2, random_state=3, validation_fraction=None)
    for (k, ct), gm in res.estimators_.items():
        assert gm.get_params()["means_init"] is None
        again = clone(gm).fit(X)
        np.testing.assert_allclose(again.means_, gm.means_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(again.covariances_, gm.covariances_, rtol=1e-8, atol=1e-10)
        assert again.lower_bound_ == pytest.approx(gm.lower_bound_, rel=1e-12)


def test_parallel_equals_serial(rng):
    X = _full_mixture(rng, 80)
    a = select(X, range(1, 4), ("full", "tied"), random_state=0, n_jobs=1)
    b = select(X, range(1, 4), ("full", "tied"), random_state=0, n_jobs=2)
    drop = lambda t: [{k: v for k, v in r.items() if k != "fit_time"} for r in t]  # noqa: E731
    assert drop(a.table) == drop(b.table)


def test_integer_weights_equal_repeated_rows(rng):
    X = _full_mixture(rng, 60)
    w = rng.randint(0, 3, len(X)).astype(float)
    a = select(X, [1, 2, 3], ("full", "diag"), sample_weight=w, random_state=0,
               validation_fraction=None)
    b = select(np.repeat(X, w.astype(int), axis=0), [1, 2, 3], ("full", "diag"),
               random_state=0, validation_fraction=None)
    key = lambda r: (r["n_components"], r["covariance_type"])  # noqa: E731
    for ra, rb in zip(sorted(a.table, key=key), sorted(b.table, key=key)):
        for col in ("bic", "aic", "icl", "log_likelihood"):
            assert ra[col] == pytest.approx(rb[col], rel=1e-7)


def test_heldout_criterion(rng):
    X = _full_mixture(rng, 200)
    res = select(X, range(1, 6), ("full",), "heldout", random_state=0)
    vals = [r["heldout_log_likelihood"] for r in res.table]
    assert vals == sorted(vals, reverse=True)
    assert res.best_params_["n_components"] >= 3
    with pytest.raises(ValueError, match="validation_fraction"):
        select(X, [1, 2], criterion="heldout", validation_fraction=None)


def test_failed_fits_are_reported_not_raised(rng):
    X = rng.normal(size=(6, 2))
    res = select(X, [1, 2, 8], ("full", "spherical"), random_state=0, validation_fraction=None)
    failed = [r for r in res.table if r["error"]]
    assert {(r["n_components"], r["covariance_type"]) for r in failed} == {(8, "full"),
                                                                           (8, "spherical")}
    assert all("exceeds the number of samples" in r["error"] for r in failed)
    assert res.table[-1]["error"] and res.table[-2]["error"]
    assert math.isnan(failed[0]["bic"])
    # a collapsed column with no regularisation: EM floors the singular variance with a
    # warning, so every fit in the grid completes
    Xc = np.column_stack([rng.normal(size=40), np.zeros(40)])
    res = select(Xc, [1, 2], ("full", "spherical"), reg_covar=0.0, random_state=0,
                 validation_fraction=None)
    for r in res.table:
        assert r["error"] is None and math.isfinite(r["bic"])
    with pytest.raises(ValueError, match="every fit in the grid failed"):
        select(X, [7, 8], random_state=0, validation_fraction=None)


def test_renderings_and_plot(rng, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    X = _full_mixture(rng, 60)
    res = select(X, [1, 2, 3], ("full", "diag"), random_state=0)
    md = res.to_markdown()
    assert md.count("\n") == 1 + len(res.table)
    assert "| rank | n_components |" in md
    assert str(res) == md
    assert "best n_components" in repr(res)
    df = res.to_frame()
    assert list(df["rank"]) == [1, 2, 3, 4, 5, 6]
    vals = res.criterion_values("aic")
    assert set(vals) == {"full", "diag"} and vals["full"][0].tolist() == [1, 2, 3]
    ax = res.plot()
    assert len(ax.get_lines()) == 3
    ax.figure.savefig(tmp_path / "bic.png")
    assert (tmp_path / "bic.png").stat().st_size > 1000
    _, ax2 = plt.subplots()
    assert res.plot(ax=ax2, criterion="heldout") is ax2
    plt.close("all")


@pytest.mark.parametrize("kwargs,match", [
    (dict(criterion="bogus"), "'criterion' must be one of"),
    (dict(covariance_types=("full", "banana")), "covariance_type"),
    (dict(n_components=[]), "empty"),
    (dict(n_components=[0, 2]), "integers >= 1"),
    (dict(n_components="3"), "integers >= 1"),
    (dict(validation_fraction=1.5), "validation_fraction"),
    (dict(n_init=0), "n_init"),
    (dict(tol=-1.0), "tol"),
])
def test_bad_arguments(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        select(rng.normal(size=(20, 2)), **kwargs)


def test_bad_data(rng):
    X = rng.normal(size=(20, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        select(X, [1, 2])
    with pytest.raises(ValueError, match="sample_weight"):
        select(rng.normal(size=(20, 2)), [1, 2], sample_weight=np.ones(3))


# ------------------------------------------------------------------------------ estimator


def test_selector_delegates_to_best_model(rng):
    X = _full_mixture(rng, 100)
    sel = GaussianMixtureSelector(n_components=(1, 2, 3, 4), covariance_types=("full", "diag"),
                                  random_state=0).fit(X)
    best = sel.best_estimator_
    assert (sel.n_components_, sel.covariance_type_) == (3, "full")
    np.testing.assert_array_equal(sel.predict(X), best.predict(X))
    np.testing.assert_allclose(sel.predict_proba(X), best.predict_proba(X))
    np.testing.assert_allclose(sel.score_samples(X), best.score_samples(X))
    assert sel.score(X) == best.score(X)
    assert sel.bic(X) == best.bic(X) and sel.aic(X) == best.aic(X)
    assert sel.sample(5)[0].shape == (5, 2)
    np.testing.assert_array_equal(sel.fit_predict(X), sel.predict(X))


def test_selector_in_pipeline(rng):
    X = _full_mixture(rng, 100) * [100.0, 0.01]
    pipe = make_pipeline(StandardScaler(), GaussianMixtureSelector(
        n_components=(2, 3, 4), covariance_types=("full",), random_state=0))
    labels = pipe.fit(X).predict(X)
    assert len(np.unique(labels)) == 3
    assert pipe[-1].n_components_ == 3


def test_selector_forwards_prior_and_noise(rng):
    X = _full_mixture(rng, 100)
    grid = dict(n_components=(2, 3), covariance_types=("VVV", "EEE"), random_state=0,
                validation_fraction=None)
    sel = GaussianMixtureSelector(prior="conjugate", **grid).fit(X)
    res = select(X, grid["n_components"], grid["covariance_types"], random_state=0,
                 validation_fraction=None, prior="conjugate")
    assert sel.best_estimator_.prior == "conjugate"
    assert (sel.n_components_, sel.covariance_type_) == (res.best_params_["n_components"],
                                                         res.best_params_["covariance_type"])
    np.testing.assert_allclose(sel.best_estimator_.means_, res.best_estimator_.means_)
    # a uniform noise component over planted clutter: the selected model predicts -1 for it
    box = rng.uniform(X.min(axis=0) - 5, X.max(axis=0) + 5, size=(40, 2))
    Xn = np.vstack([X, box])
    noisy = GaussianMixtureSelector(noise=True, **grid).fit(Xn)
    assert noisy.best_estimator_.noise_weight_ > 0
    assert (noisy.predict(Xn) == -1).sum() > 0
    assert clone(noisy).get_params()["noise"] is True
    with pytest.raises(ValueError, match="VEE"):
        GaussianMixtureSelector(prior="conjugate", n_components=(2,),
                                covariance_types=("VEE",)).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_selector_sklearn_conventions():
    from sklearn.utils.estimator_checks import check_estimator
    check_estimator(GaussianMixtureSelector(n_components=(1, 2), covariance_types=("full", "diag"),
                                            random_state=0))


# ------------------------------------------------------------------------------ CLI


@pytest.fixture
def csv_data(rng, tmp_path):
    X = _full_mixture(rng, 60)
    path = tmp_path / "data.csv"
    np.savetxt(path, X, delimiter=",", header="u,v", comments="")
    return X, path


def _cli(capsys, *argv):
    from gaussmix.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_select_end_to_end(capsys, csv_data, tmp_path):
    import json
    from gaussmix import load
    X, path = csv_data
    model, table, fig = tmp_path / "best.gmz", tmp_path / "rank.csv", tmp_path / "bic.png"
    code, out, err = _cli(capsys, "select", path, "-k", "1:4", "--covariance", "full,diag",
                          "--seed", "0", "-o", model, "--table", table, "--plot", fig)
    assert code == 0, err
    assert "best by bic: 3 components, covariance 'full'" in out
    assert out.startswith("| rank | n_components |")
    lib = select(X, range(1, 5), ("full", "diag"), random_state=0)
    gm = load(model)
    np.testing.assert_allclose(np.sort(gm.means_, axis=0),
                               np.sort(lib.best_estimator_.means_, axis=0), rtol=1e-10)
    import pandas as pd
    assert list(pd.read_csv(table)["bic"]) == [r["bic"] for r in lib.table]
    assert fig.stat().st_size > 1000
    code, out, err = _cli(capsys, "select", path, "-k", "2,3", "--covariance", "full",
                          "--criterion", "icl", "--json", "--seed", "1")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["criterion"] == "icl" and len(doc["table"]) == 2
    assert doc["best"] == {"n_components": 3, "covariance_type": "full"}


@pytest.mark.parametrize("argv,code,fragment", [
    (["-k", "0:3"], 2, "-k must be"),
    (["-k", "x"], 2, "-k must be"),
    (["--covariance", "full,round"], 2, "--covariance must be"),
    (["--criterion", "mdl"], 2, "invalid choice"),
    (["--validation-fraction", "1.5"], 2, "--validation-fraction"),
    (["--criterion", "heldout", "--validation-fraction", "0"], 2, "heldout"),
    (["-k", "500"], 1, "every fit in the grid failed"),
])
def test_cli_select_bad_input(capsys, csv_data, argv, code, fragment):
    _, path = csv_data
    got, out, err = _cli(capsys, "select", path, *argv)
    assert got == code
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 or "usage:" in err


def test_cli_select_bad_files(capsys, tmp_path):
    code, _, err = _cli(capsys, "select", tmp_path / "missing.csv")
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")
    code, _, err = _cli(capsys, "select", bad)
    assert code == 2 and "not numeric" in err and len(err.strip().splitlines()) == 1


def test_cli_select_subprocess(csv_data, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    _, path = csv_data
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src)
    ok = subprocess.run([sys.executable, "-m", "gaussmix", "select", str(path), "-k", "1:2",
                         "--covariance", "full", "-q"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "", ok.stderr
    bad = subprocess.run([sys.executable, "-m", "gaussmix", "select", str(path), "-k", "-1"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
