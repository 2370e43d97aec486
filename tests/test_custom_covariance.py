"""A covariance model registered at runtime works through every public entry point.

Each custom model is a subclass of a built-in one under a new name, so its results must equal
the parent's exactly: anything that dispatched on the name instead of asking the model object
would fail here (rejected name, or a different code path).
"""
import json

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, covariance, select
from gaussmix.anomaly import GaussianMixtureOutlierDetector
from gaussmix.conditional import GaussianMixtureRegressor, condition
from gaussmix.covariance._diag import DiagCovariance
from gaussmix.covariance._full import FullCovariance
from gaussmix.covariance._spherical import SphericalCovariance
from gaussmix.covariance._tied import TiedCovariance
from gaussmix.selection import GaussianMixtureSelector

PARENTS = {"myfull": FullCovariance, "mytied": TiedCovariance, "mydiag": DiagCovariance,
           "myspherical": SphericalCovariance}


@pytest.fixture(params=sorted(PARENTS))
def custom(request):
    """``(custom name, parent name)``, the custom model registered for the test only."""
    name = request.param
    parent = PARENTS[name]
    model = type(f"Custom{parent.__name__}", (parent,), {"name": name})()
    covariance.register(model)
    try:
        yield name, parent.name
    finally:
        covariance.unregister(name)


@pytest.fixture
def X(rng, make_blobs):
    X, _ = make_blobs(rng, n_per=(70, 60, 80), d=3)
    return X


def assert_same_mixture(a, b, X):
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-12, atol=1e-14,
                                   err_msg=attr)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_registered_name_is_listed_and_then_gone(custom):
    name, _ = custom
    assert name in covariance.names()
    with pytest.raises(ValueError, match=f"'{name}'"):
        GaussianMixture(covariance_type="no-such-model").fit(np.zeros((4, 2)))


def test_estimator(custom, X):
    name, parent = custom
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    ours = GaussianMixture(3, covariance_type=name, random_state=0).fit(X, sample_weight=w)
    ref = GaussianMixture(3, covariance_type=parent, random_state=0).fit(X, sample_weight=w)
    assert ours.covariance_type == name
    assert_same_mixture(ours, ref, X)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-12)
    assert ours.n_parameters() == ref.n_parameters()
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-12)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-12)
    assert ours.icl(X) == pytest.approx(ref.icl(X), rel=1e-12)
    np.testing.assert_array_equal(ours.fit_predict(X), ref.fit_predict(X))
    np.testing.assert_allclose(ours.sample(20)[0], ref.sample(20)[0], rtol=1e-12)
    # model algebra keeps the custom type
    m = ours.marginal([2, 0])
    assert m.covariance_type == name
    np.testing.assert_allclose(m.score_samples(X[:, [2, 0]]),
                               ref.marginal([2, 0]).score_samples(X[:, [2, 0]]), rtol=1e-12)
    built = GaussianMixture.from_params(ours.weights_, ours.means_, ours.covariances_,
                                        covariance_type=name)
    np.testing.assert_allclose(built.score_samples(X), ours.score_samples(X), rtol=1e-10)
    with pytest.raises(ValueError, match="no scikit-learn counterpart"):
        ours.to_sklearn()


def test_partial_fit(custom, X):
    name, parent = custom
    ours = GaussianMixture(3, covariance_type=name, random_state=0)
    ref = GaussianMixture(3, covariance_type=parent, random_state=0)
    for batch in np.array_split(X, 3):
        ours.partial_fit(batch)
        ref.partial_fit(batch)
    assert_same_mixture(ours, ref, X)


def test_select_and_selector(custom, X):
    name, parent = custom
    res = select(X, [1, 2, 3], [name, parent], random_state=0)
    rows = {(r["n_components"], r["covariance_type"]): r for r in res.table}
    for k in (1, 2, 3):
        for col in ("log_likelihood", "bic", "aic", "icl", "heldout_log_likelihood"):
            assert rows[(k, name)][col] == pytest.approx(rows[(k, parent)][col], rel=1e-12)
    sel = GaussianMixtureSelector(n_components=(2, 3), covariance_types=(name,),
                                  random_state=0).fit(X)
    assert sel.covariance_type_ == name
    ref = GaussianMixtureSelector(n_components=(2, 3), covariance_types=(parent,),
                                  random_state=0).fit(X)
    assert sel.n_components_ == ref.n_components_
    np.testing.assert_allclose(sel.score_samples(X), ref.score_samples(X), rtol=1e-12)


def test_outlier_detector(custom, X):
    name, parent = custom
    kw = dict(n_components=3, contamination=0.05, min_weight=0.3, random_state=0)
    ours = GaussianMixtureOutlierDetector(covariance_type=name, **kw).fit(X)
    ref = GaussianMixtureOutlierDetector(covariance_type=parent, **kw).fit(X)
    np.testing.assert_array_equal(ours.dropped_components_, ref.dropped_components_)
    assert ours.density_.covariance_type == name
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    # n_components chosen by BIC over the custom model
    auto = GaussianMixtureOutlierDetector(covariance_type=name, random_state=0).fit(X)
    auto_ref = GaussianMixtureOutlierDetector(covariance_type=parent, random_state=0).fit(X)
    assert auto.mixture_.n_components == auto_ref.mixture_.n_components


def test_regressor_and_condition(custom, X):
    name, parent = custom
    ours = GaussianMixtureRegressor(3, covariance_type=name, random_state=0).fit(X[:, :2], X[:, 2])
    ref = GaussianMixtureRegressor(3, covariance_type=parent, random_state=0).fit(X[:, :2],
                                                                                 X[:, 2])
    mean, std = ours.predict(X[:10, :2], return_std=True)
    mean_ref, std_ref = ref.predict(X[:10, :2], return_std=True)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-10)
    np.testing.assert_allclose(std, std_ref, rtol=1e-10)
    cm = condition(ours.mixture_, X[:3, 1], given=[1], targets=[0])
    cm_ref = condition(ref.mixture_, X[:3, 1], given=[1], targets=[0])
    np.testing.assert_allclose(cm.mean(), cm_ref.mean(), rtol=1e-10)


def test_save_load_round_trip(custom, X, tmp_path):
    name, parent = custom
    gm = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    path = tmp_path / "model.gmz"
    gm.save(path)
    back = gaussmix.load(path)
    assert back.covariance_type == name
    assert_same_mixture(back, gm, X)


def test_load_of_an_unregistered_model_names_the_type(X, tmp_path):
    model = type("Gone", (FullCovariance,), {"name": "gone"})()
    covariance.register(model)
    try:
        gm = GaussianMixture(2, covariance_type="gone", random_state=0).fit(X)
        gm.save(tmp_path / "m.gmz")
    finally:
        covariance.unregister("gone")
    with pytest.raises(gaussmix.ModelFileError, match="covariance_type"):
        gaussmix.load(tmp_path / "m.gmz")


def test_plots(custom, X):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse
    from gaussmix.plotting import pairplot, plot_density, plot_ellipses
    name, parent = custom
    ours = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    ref = GaussianMixture(3, covariance_type=parent, random_state=0).fit(X)
    try:
        shapes = []
        for gm in (ours, ref):
            ax = plot_ellipses(gm, X, dims=(2, 0))
            shapes.append([(e.center, e.width, e.height, e.angle)
                           for e in ax.patches if isinstance(e, Ellipse)])
        assert len(shapes[0]) == 9
        for a, b in zip(*shapes):
            np.testing.assert_allclose(np.hstack([a[0], a[1:]]), np.hstack([b[0], b[1:]]),
                                       rtol=1e-9, atol=1e-9)
        plot_density(ours, X, dims=(1, 2))
        assert pairplot(ours, X).shape == (3, 3)
    finally:
        plt.close("all")


def test_cli_fit_select_info(custom, X, tmp_path, capsys):
    from gaussmix.cli import main
    name, parent = custom
    data = tmp_path / "data.csv"
    np.savetxt(data, X, delimiter=",", header="a,b,c", comments="")
    models = {}
    for ct in (name, parent):
        out = tmp_path / f"{ct}.gmz"
        assert main(["fit", str(data), "-k", "3", "--covariance", ct, "--seed", "0", "-o",
                     str(out), "-q"]) == 0
        models[ct] = gaussmix.load(out)
    assert models[name].covariance_type == name
    assert_same_mixture(models[name], models[parent], X)
    capsys.readouterr()
    assert main(["info", str(tmp_path / f"{name}.gmz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["covariance_type"] == name
    assert info["n_parameters"] == models[parent].n_parameters()
    assert main(["select", str(data), "-k", "2:3", "--covariance", f"{name},{parent}",
                 "--seed", "0", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["table"]
    bic = {(r["n_components"], r["covariance_type"]): r["bic"] for r in table}
    for k in (2, 3):
        assert bic[(k, name)] == pytest.approx(bic[(k, parent)], rel=1e-12)
    # an unregistered name is refused with the valid ones listed
    assert main(["select", str(data), "--covariance", "nope"]) == 2
    assert name in capsys.readouterr().err
