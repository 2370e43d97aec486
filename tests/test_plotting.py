"""Tests of gaussmix.plotting: every plot renders to PNG with Agg and draws the right thing."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402

from gaussmix import GaussianMixture  # noqa: E402
from gaussmix import plotting  # noqa: E402
from gaussmix.image import overlay, segment  # noqa: E402
from gaussmix.plotting import _log_components, _logsumexp, _marginal  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield
    plt.close("all")


@pytest.fixture(scope="module")
def data2():
    rng = np.random.default_rng(0)
    A = rng.multivariate_normal([0, 0], [[2, 1.2], [1.2, 1]], 150)
    B = rng.multivariate_normal([5, 3], [[0.5, -0.2], [-0.2, 0.3]], 100)
    return np.vstack([A, B])


@pytest.fixture(scope="module")
def data4():
    rng = np.random.default_rng(1)
    cov = np.array([[1, .5, .2, 0], [.5, 2, .3, .1], [.2, .3, 1, .4], [0, .1, .4, .8]])
    return np.vstack([rng.multivariate_normal(np.zeros(4), cov, 150),
                      rng.multivariate_normal([4, 1, -3, 2], cov / 2, 150)])


def _png(ax_or_axes, tmp_path, name="fig.png"):
    fig = np.ravel(ax_or_axes)[0].figure
    path = tmp_path / name
    fig.savefig(path, dpi=50)
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    return path


def _criteria_rows(X):
    rows = []
    for cov in ("full", "diag"):
        for k in range(1, 5):
            gm = GaussianMixture(k, covariance_type=cov, random_state=0).fit(X)
            rows.append({"n_components": k, "covariance_type": cov, "bic": gm.bic(X),
                         "aic": gm.aic(X), "icl": gm.bic(X) + 1.0})
    return rows


# ------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("cov", ["full", "spherical"])
def test_every_plot_renders_to_png_and_returns_axes(tmp_path, data2, data4, cov):
    gm2 = GaussianMixture(2, covariance_type=cov, random_state=0).fit(data2)
    gm4 = GaussianMixture(2, covariance_type=cov, random_state=0).fit(data4)
    img = np.zeros((24, 30, 3), dtype=np.uint8)
    img[6:18, 8:20] = [200, 40, 40]
    seg = segment(img, 2, random_state=0)
    calls = {
        "ellipses": lambda: plotting.plot_ellipses(gm2, data2),
        "ellipses_projected": lambda: plotting.plot_ellipses(gm4, data4, dims=(1, 3)),
        "density": lambda: plotting.plot_density(gm2, data2),
        "density_filled": lambda: plotting.plot_density(gm4, None, dims=(2, 0), filled=True),
        "uncertainty": lambda: plotting.plot_uncertainty(gm4, data4, dims=(0, 2)),
        "uncertainty_map": lambda: plotting.plot_uncertainty(seg),
        "lower_bounds": lambda: plotting.plot_lower_bounds(gm2),
        "criteria": lambda: plotting.plot_criteria(_criteria_rows(data2)),
        "segmentation": lambda: plotting.plot_segmentation(img, seg),
    }
    for name, call in calls.items():
        ax = call()
        assert isinstance(ax, Axes), name
        _png(ax, tmp_path, f"{name}.png")
        plt.close("all")
    axes = plotting.pairplot(gm4, data4, dims=[0, 1, 3])
    assert axes.shape == (3, 3) and all(isinstance(a, Axes) for a in axes.ravel())
    _png(axes, tmp_path, "pairplot.png")


def test_functions_draw_on_the_given_axes(data2):
    gm = GaussianMixture(2, random_state=0).fit(data2)
    fig, ax = plt.subplots()
    for fn in (plotting.plot_ellipses, plotting.plot_density, plotting.plot_uncertainty):
        assert fn(gm, data2, ax=ax) is ax
    assert plotting.plot_lower_bounds(gm, ax=ax) is ax
    assert len(fig.axes) >= 1 and fig.axes[0] is ax


# ------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_ellipses_lie_at_the_mahalanobis_radii(data4, cov):
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(data4)
    dims = (1, 3)
    ax = plotting.plot_ellipses(gm, dims=dims, n_std=(1, 2, 3))
    sk = gm.to_sklearn()
    full = {"full": lambda j: sk.covariances_[j],
            "tied": lambda j: sk.covariances_,
            "diag": lambda j: np.diag(sk.covariances_[j]),
            "spherical": lambda j: np.eye(4) * sk.covariances_[j]}[cov]
    patches = ax.patches
    assert len(patches) == 3 * 3
    alphas = []
    for p, (j, r) in zip(patches, [(j, r) for j in range(3) for r in (1, 2, 3)]):
        S = full(j)[np.ix_(dims, dims)]
        # the on-curve vertices of the Bezier path (every third after the first)
        verts = p.get_patch_transform().transform(p.get_path().vertices[:-1:3])
        diff = verts - gm.means_[j, list(dims)]
        maha = np.sqrt(np.einsum("ni,ij,nj->n", diff, np.linalg.inv(S), diff))
        np.testing.assert_allclose(maha, r, rtol=1e-6)
        alphas.append(p.get_alpha())
    # opacity follows the weights: the heaviest component's 1-sigma ellipse is the most opaque
    inner = np.array(alphas)[::3]
    assert np.argmax(inner) == np.argmax(gm.weights_)


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_marginal_density_matches_scipy(data4, cov):
    gm = GaussianMixture(2, covariance_type=cov, random_state=0).fit(data4)
    dims = (2, 0)
    w, mu, S = _marginal(gm, dims)
    sk = gm.to_sklearn()
    P = np.random.default_rng(0).normal(size=(50, 2))
    expect = np.zeros(50)
    for j in range(2):
        if cov == "full":
            C = sk.covariances_[j]
        elif cov == "tied":
            C = sk.covariances_
        elif cov == "diag":
            C = np.diag(sk.covariances_[j])
        else:
            C = np.eye(4) * sk.covariances_[j]
        expect += sk.weights_[j] * multivariate_normal(sk.means_[j, list(dims)],
                                                       C[np.ix_(dims, dims)]).pdf(P)
    got = _logsumexp(_log_components(P, w, mu, S))
    np.testing.assert_allclose(got, np.log(expect), rtol=1e-10)


def test_density_of_a_2d_model_is_its_score_samples(data2):
    gm = GaussianMixture(2, random_state=0).fit(data2)
    P = data2[:40]
    np.testing.assert_allclose(_logsumexp(_log_components(P, *_marginal(gm))),
                               gm.score_samples(P), rtol=1e-10)
    ax = plotting.plot_density(gm, data2, levels=5)
    assert ax.collections  # contours were drawn


def test_uncertainty_plane_and_map(data2):
    gm = GaussianMixture(2, random_state=0).fit(data2)
    ax = plotting.plot_uncertainty(gm, data2)
    pts = ax.collections[-1]
    unc = pts.get_array()
    np.testing.assert_allclose(unc, 1 - gm.predict_proba(data2).max(axis=1), atol=1e-10)
    assert unc.min() >= 0 and unc.max() <= 0.5
    img = np.random.default_rng(0).integers(0, 255, (20, 20)).astype(np.uint8)
    seg = segment(img, 3, random_state=0)
    ax = plotting.plot_uncertainty(seg)
    np.testing.assert_allclose(ax.images[0].get_array(), seg.uncertainty)


def test_pairplot_diagonal_is_the_marginal_density(data4):
    gm = GaussianMixture(2, random_state=0).fit(data4)
    axes = plotting.pairplot(gm)
    for a in range(4):
        total = axes[a, a].get_lines()[-1]
        x, y = total.get_xdata(), total.get_ydata()
        assert abs(np.trapezoid(y, x) - 1) < 0.01
    assert len(axes[0, 1].patches) == 6


# ------------------------------------------------------------------------- diagnostics
def test_criteria_curves_from_any_table_form(data2):
    rows = _criteria_rows(data2)
    ax = plotting.plot_criteria(rows, criterion="bic")
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
    assert [ln.get_label() for ln in lines] == ["full BIC", "diag BIC"]
    np.testing.assert_allclose(lines[0].get_ydata(), [r["bic"] for r in rows[:4]])
    star = [ln for ln in ax.get_lines() if ln.get_marker() == "*"][0]
    best = min(rows, key=lambda r: r["bic"])
    assert star.get_xdata()[0] == best["n_components"]
    assert star.get_ydata()[0] == pytest.approx(best["bic"])

    pd = pytest.importorskip("pandas")

    class Result:
        table = pd.DataFrame(rows)

    columns = {k: [r[k] for r in rows] for k in rows[0]}
    for form in (pd.DataFrame(rows), columns, Result()):
        ax2 = plotting.plot_criteria(form, criterion=("bic", "aic", "icl"))
        assert len([ln for ln in ax2.get_lines() if ln.get_marker() == "o"]) == 6
        np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), lines[0].get_ydata())


def test_criteria_skips_failed_fits_and_reports_bad_tables():
    rows = [{"n_components": 1, "covariance_type": "full", "bic": 10.0},
            {"n_components": 2, "covariance_type": "full", "bic": float("nan")},
            {"n_components": 3, "covariance_type": "full", "bic": None},
            {"n_components": 4, "covariance_type": "full", "bic": 8.0}]
    ax = plotting.plot_criteria(rows, criterion="bic")
    assert ax.get_lines()[0].get_xdata().tolist() == [1, 4]
    with pytest.raises(ValueError, match="none of the columns"):
        plotting.plot_criteria(rows, criterion="icl")
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_criteria([])
    with pytest.raises(ValueError, match="n_components"):
        plotting.plot_criteria([{"bic": 1.0}])


def test_heldout_criterion_marks_the_maximum():
    rows = [{"n_components": k, "covariance_type": "diag",
             "heldout_log_likelihood": -abs(k - 2) - 1.0} for k in range(1, 5)]
    ax = plotting.plot_criteria(rows, criterion="heldout")
    star = [ln for ln in ax.get_lines() if ln.get_marker() == "*"][0]
    assert star.get_xdata()[0] == 2 and star.get_ydata()[0] == -1.0


def test_criteria_of_a_selection_result(data2):
    selection = pytest.importorskip("gaussmix.selection")
    res = selection.select(data2, n_components=range(1, 4), covariance_types=("full", "diag"),
                           random_state=0)
    ax = plotting.plot_criteria(res, criterion=("bic", "icl"))
    assert len([ln for ln in ax.get_lines() if ln.get_marker() == "o"]) == 4


def test_criteria_of_a_segmentation_with_k_chosen():
    img = np.zeros((20, 20), np.uint8)
    img[5:15, 5:15] = 200
    img[15:, :] = 90
    seg = segment(img + np.random.default_rng(0).integers(0, 20, img.shape).astype(np.uint8),
                  [2, 3, 4], random_state=0)
    ax = plotting.plot_criteria(seg, criterion=("bic", "icl"))
    assert len([ln for ln in ax.get_lines() if ln.get_marker() == "o"]) == 2
    with pytest.raises(ValueError, match="not selected"):
        plotting.plot_criteria(segment(img, 2, random_state=0))


def test_lower_bounds_curve(data2):
    gms = [GaussianMixture(k, random_state=0).fit(data2) for k in (1, 2, 3)]
    ax = plotting.plot_lower_bounds(gms)
    for line, gm in zip(ax.get_lines(), gms):
        np.testing.assert_allclose(line.get_ydata(), gm.lower_bounds_)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, gm.n_iter_ + 1))
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="lower_bounds_"):
        plotting.plot_lower_bounds([])


def test_segmentation_overlay_shows_the_overlay_array():
    from sklearn.datasets import load_sample_image
    img = load_sample_image("china.jpg")[::10, ::10]
    seg = segment(img, 3, random_state=0)
    ax = plotting.plot_segmentation(img, seg, alpha=0.3)
    np.testing.assert_array_equal(ax.images[0].get_array(),
                                  overlay(img, seg.labels, alpha=0.3))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == len(np.unique(seg.labels)) and texts[0].startswith("segment 0")


# ------------------------------------------------------------------------- bad input
def test_bad_input(data2, data4):
    gm = GaussianMixture(2, random_state=0).fit(data4)
    with pytest.raises(ValueError, match="dims"):
        plotting.plot_ellipses(gm, dims=(0, 0))
    with pytest.raises(ValueError, match="dims"):
        plotting.plot_density(gm, dims=(0, 7))
    with pytest.raises(ValueError, match="dims"):
        plotting.pairplot(gm, dims=[1])
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_ellipses(gm, data2)
    with pytest.raises(TypeError, match="fitted"):
        plotting.plot_ellipses(GaussianMixture(2), data2)
    with pytest.raises(ValueError, match="n_std"):
        plotting.plot_ellipses(gm, n_std=(-1,))


# ------------------------------------------------------------------------- CLI
def _cli(argv, capsys):
    from gaussmix.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model_files(tmp_path, data2, data4):
    gm2 = GaussianMixture(2, random_state=0).fit(data2)
    gm4 = GaussianMixture(2, covariance_type="diag", random_state=0).fit(data4)
    gm2.save(tmp_path / "m2.gmm")
    gm4.save(tmp_path / "m4.gmm")
    np.savetxt(tmp_path / "d2.csv", data2, delimiter=",", header="x,y", comments="")
    np.save(tmp_path / "d4.npy", data4)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["m2.gmm", "d2.csv"],
    ["m2.gmm", "d2.csv", "--kind", "uncertainty"],
    ["m2.gmm", "--kind", "lower-bounds"],
    ["m4.gmm", "d4.npy"],
    ["m4.gmm", "d4.npy", "--kind", "density", "--dims", "1,3", "--title", "t"],
    ["m4.gmm", "d4.npy", "--kind", "ellipses", "--dims", "0,2", "--n-std", "1,2"],
    ["m4.gmm", "d4.npy", "--kind", "pairplot", "--dims", "0,1,2"],
])
def test_cli_plot_end_to_end(model_files, capsys, args):
    out = model_files / "fig.png"
    code, stdout, err = _cli(["plot", *[model_files / a if a.endswith((".gmm", ".csv", ".npy"))
                                         else a for a in args], "-o", out, "--dpi", "40",
                              "--json"], capsys)
    assert code == 0, err
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    import json
    assert json.loads(stdout)["output"] == str(out)


@pytest.mark.parametrize("args, expect", [
    (["missing.gmm", "d2.csv"], "no such model file"),
    (["d2.csv", "d2.csv"], ""),
    (["m2.gmm", "missing.csv"], "no such file"),
    (["m2.gmm", "d4.npy"], "columns"),
    (["m4.gmm", "d4.npy", "--dims", "0,9"], "dims"),
    (["m4.gmm", "d4.npy", "--dims", "a,b"], "dims"),
    (["m2.gmm", "d2.csv", "--n-std", "x"], "n-std"),
])
def test_cli_plot_bad_input(model_files, capsys, args, expect):
    argv = [model_files / a if a.endswith((".gmm", ".csv", ".npy")) else a for a in args]
    code, _, err = _cli(["plot", *argv, "-o", model_files / "fig.png"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gaussmix plot: error:") and expect in lines[0]
    assert not (model_files / "fig.png").exists()


def test_cli_plot_unknown_format(model_files, capsys):
    code, _, err = _cli(["plot", model_files / "m2.gmm", "-o", model_files / "fig.xyz"], capsys)
    assert code == 2 and "cannot write" in err


# --------------------------------------------------------------------------- Bayesian weights
@pytest.fixture(scope="module")
def bayes2(data2):
    from gaussmix import BayesianGaussianMixture
    return BayesianGaussianMixture(6, random_state=0, max_iter=500,
                                   weight_concentration_prior=1e-3).fit(data2)


def test_plot_weights_bars_are_the_weights_and_pruned_are_grey(bayes2):
    import matplotlib.colors as mcolors
    w = bayes2.weights_
    pruned = w <= bayes2.weight_threshold
    assert pruned.any() and (~pruned).any()  # the plot has both kinds to show
    ax = plotting.plot_weights(bayes2)
    bars = ax.patches
    assert len(bars) == len(w)
    np.testing.assert_allclose([b.get_height() for b in bars], w)
    grey = mcolors.to_rgba(plotting._PRUNED_GREY)
    for b, p in zip(bars, pruned):
        assert (b.get_facecolor() == grey) == p
    assert str(int((~pruned).sum())) in ax.get_title()
    assert bayes2.effective_n_components_ == int((~pruned).sum())
    # a threshold line at the model's weight_threshold
    assert any(np.allclose(line.get_ydata(), bayes2.weight_threshold) for line in ax.get_lines())
    ax.figure.savefig(__import__("io").BytesIO(), format="png")


def test_plot_weights_threshold_and_errors(bayes2, data2):
    ax = plotting.plot_weights(bayes2, threshold=0.0)
    import matplotlib.colors as mcolors
    grey = mcolors.to_rgba(plotting._PRUNED_GREY)
    n_grey = sum(b.get_facecolor() == grey for b in ax.patches)
    assert n_grey == int(np.count_nonzero(bayes2.weights_ <= 0.0))
    with pytest.raises(ValueError, match="'threshold'"):
        plotting.plot_weights(bayes2, threshold=2.0)
    with pytest.raises(TypeError, match="fitted Gaussian mixture"):
        plotting.plot_weights(object())
    gm = GaussianMixture(2, random_state=0).fit(data2)
    ax = plotting.plot_weights(gm)  # no threshold: nothing greyed
    assert all(b.get_facecolor() != grey for b in ax.patches)


def test_plot_ellipses_greys_pruned_bayesian_components(bayes2, data2):
    import matplotlib.colors as mcolors
    ax = plotting.plot_ellipses(bayes2, data2, n_std=(1,))
    grey = mcolors.to_rgba(plotting._PRUNED_GREY)[:3]
    pruned = bayes2.weights_ <= bayes2.weight_threshold
    got = [tuple(np.round(e.get_edgecolor()[:3], 6)) == tuple(np.round(grey, 6))
           for e in ax.patches]
    assert got == list(pruned)
