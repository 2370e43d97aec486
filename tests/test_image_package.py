"""Tests of the gaussmix.image package layout and its conventions.

K chosen through gaussmix.select, parameters checked by the declarative table, covariance
names from the registry, EXIF orientation of image files, progress bars when verbose.
"""
import doctest
import importlib
import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import gaussmix.image
from gaussmix import covariance
from gaussmix.image import pixel_features, segment

COLOURS = np.array([[0.15, 0.2, 0.7], [0.85, 0.3, 0.2], [0.3, 0.8, 0.35]])


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def bands(shape=(24, 30)):
    """Three vertical bands, labels 0..2 (not symmetric under any rotation or flip)."""
    h, w = shape
    truth = np.zeros(shape, dtype=int)
    truth[:, w // 4:w // 2] = 1
    truth[: h // 2, w // 2:] = 2
    return truth


def noisy(truth, sigma, rng):
    return np.clip(COLOURS[truth] + sigma * rng.normal(size=truth.shape + (3,)), 0, 1)


# ------------------------------------------------------------------------- package layout
def test_public_names_are_exported_and_documented():
    for name in ("segment", "Segmentation", "overlay", "label_colors", "match_labels",
                 "segmentation_scores", "pixel_features", "COLORSPACES", "FEATURES"):
        assert name in gaussmix.image.__all__
        assert getattr(gaussmix.image, name) is not None
    for mod in ("_features", "_segment", "_overlay", "_metrics", "_result"):
        m = importlib.import_module(f"gaussmix.image.{mod}")
        assert doctest.testmod(m).failed == 0, mod


def test_pixel_features_match_a_naive_construction(rng):
    img = rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
    X = pixel_features(img, features=("position", "color"))  # order of names is free
    naive = [[*(img[r, c] / 255.0), r / 7, c / 7] for r in range(5) for c in range(7)]
    np.testing.assert_allclose(X, naive, rtol=1e-6)
    assert X.dtype == np.float32
    from skimage.color import rgb2lab
    lab = pixel_features(img.astype(np.float64) / 255, colorspace="LAB")
    np.testing.assert_allclose(lab, rgb2lab(img / 255.0).reshape(-1, 3), rtol=1e-10)


# ------------------------------------------------------------------------- choosing K
def _naive_mixture_loglik(gm, X):
    dens = sum(wk * multivariate_normal(mk, ck).pdf(X)
               for wk, mk, ck in zip(gm.weights_, gm.means_, gm.covariances_))
    return float(np.log(dens).sum())


def test_k_is_chosen_by_select_on_the_weighted_summary(rng, monkeypatch):
    import gaussmix.image._segment as seg_mod
    calls = []
    real = seg_mod.select

    def spy(X, *args, **kwargs):
        res = real(X, *args, **kwargs)
        calls.append((X, args, kwargs, res))
        return res

    monkeypatch.setattr(seg_mod, "select", spy)
    truth = bands()
    img = noisy(truth, 0.04, rng)
    seg = segment(img, [2, 3, 4], fit_size=None, random_state=0)
    assert len(calls) == 1
    X, args, kwargs, res = calls[0]
    assert list(args[0]) == [2, 3, 4] and kwargs["sample_weight"] is not None
    assert seg.model is res.best_estimator_ and seg.n_components == 3
    assert [r["n_components"] for r in seg.criteria] == [2, 3, 4]
    # a float image fitted on every pixel: the criteria are those of the pixels themselves
    Xp = img.reshape(-1, 3)
    best = next(r for r in seg.criteria if r["n_components"] == seg.n_components)
    d, k = 3, seg.n_components
    p = (k - 1) + k * d + k * d * (d + 1) // 2
    ll = _naive_mixture_loglik(seg.model, Xp)
    assert best["n_parameters"] == p
    np.testing.assert_allclose(best["log_likelihood"], ll, rtol=1e-9)
    np.testing.assert_allclose(best["bic"], -2 * ll + p * np.log(len(Xp)), rtol=1e-9)
    np.testing.assert_allclose(best["aic"], -2 * ll + 2 * p, rtol=1e-9)
    assert all(r["icl"] >= r["bic"] for r in seg.criteria)
    assert best["bic"] == min(r["bic"] for r in seg.criteria)


def test_k_with_position_features_ranked_by_the_same_criteria(rng):
    truth = bands()
    img = noisy(truth, 0.04, rng)
    seg = segment(img, "aic", features=("color", "position"), fit_size=None, random_state=0,
                  n_init=1)
    assert [r["n_components"] for r in seg.criteria] == list(range(2, 9))
    X = pixel_features(img, features=("color", "position"))
    for r in seg.criteria:
        k, d = r["n_components"], 5
        assert r["n_parameters"] == (k - 1) + k * d + k * d * (d + 1) // 2
        np.testing.assert_allclose(r["aic"], -2 * r["log_likelihood"] + 2 * r["n_parameters"])
        assert r["icl"] >= r["bic"]
    best = min(seg.criteria, key=lambda r: r["aic"])
    assert seg.n_components == best["n_components"]
    np.testing.assert_allclose(seg.model.aic(X), best["aic"], rtol=1e-9)
    np.testing.assert_allclose(_naive_mixture_loglik(seg.model, X), best["log_likelihood"],
                               rtol=1e-9)


# ------------------------------------------------------------------------- parameter table
@pytest.mark.parametrize("kwargs, name, allowed", [
    ({"n_init": 0}, "n_init", "an int in the range [1, inf)"),
    ({"max_iter": 1.5}, "max_iter", "an int in the range [0, inf)"),
    ({"tol": -1.0}, "tol", "a float in the range [0, inf)"),
    ({"chunk_size": 0}, "chunk_size", "None or an int in the range [1, inf)"),
    ({"fit_size": True}, "fit_size", "None or an int in the range [1, inf)"),
    ({"reg_covar": "big"}, "reg_covar", "one of 'auto' or a float in the range [0, inf)"),
    ({"random_state": "seed"}, "random_state", "None, an int or a numpy.random.RandomState"),
    ({"verbose": -1}, "verbose", "an int in the range [0, inf) or a bool"),
    ({"method": "magic"}, "method", "one of 'em', 'deep'"),
    ({"colorspace": "cmyk"}, "colorspace", "one of 'rgb', 'lab'"),
    ({"covariance_type": "banana"}, "covariance_type", "one of 'full', 'tied'"),
    ({"n_components": [2, 0]}, "n_components", "a non-empty sequence of ints >= 1"),
    ({"n_components": "many"}, "n_components", "one of 'bic', 'aic', 'icl'"),
    ({"features": ("color", "color")}, "features", "distinct names"),
])
def test_parameter_errors_name_parameter_allowed_and_received(kwargs, name, allowed):
    kwargs.setdefault("n_components", 2)
    with pytest.raises(ValueError) as info:
        segment(np.zeros((4, 4)), **kwargs)
    msg = str(info.value)
    assert f"The {name!r} parameter of segment must be" in msg
    assert allowed in msg
    assert f"Got {kwargs[name]!r} instead." in msg


def test_option_names_are_case_insensitive(rng):
    img = noisy(bands(), 0.03, rng)
    a = segment(img, "BIC", colorspace="Lab", random_state=0, fit_size=300)
    b = segment(img, "bic", colorspace="lab", random_state=0, fit_size=300)
    assert a.colorspace == "lab"
    np.testing.assert_array_equal(a.labels, b.labels)


def test_overlay_parameters_through_the_table():
    img = np.zeros((3, 3), np.uint8)
    lab = np.zeros((3, 3), int)
    with pytest.raises(ValueError, match=r"'alpha' parameter of overlay .*\[0, 1\].* Got 2"):
        gaussmix.image.overlay(img, lab, alpha=2)
    with pytest.raises(ValueError, match="'boundaries' parameter of overlay must be a bool"):
        gaussmix.image.overlay(img, lab, boundaries="yes")
    with pytest.raises(ValueError, match="colors"):
        gaussmix.image.overlay(img, lab, colors=[1, 2, 3])


# ------------------------------------------------------------------------- covariance names
@pytest.fixture
def mydiag():
    """A registered covariance model that is a diagonal one under a new name."""
    from gaussmix.covariance._diag import DiagCovariance

    class MyDiag(DiagCovariance):
        name = "mydiag"

    model = covariance.register(MyDiag())
    yield model
    covariance.unregister("mydiag")


def test_registered_covariance_model_segments_like_its_parent(rng, mydiag):
    img = noisy(bands(), 0.04, rng)
    kw = dict(fit_size=None, random_state=0)
    mine = segment(img, 3, covariance_type="mydiag", **kw)
    diag = segment(img, 3, covariance_type="diag", **kw)
    assert mine.model.covariance_type == "mydiag"
    np.testing.assert_array_equal(mine.labels, diag.labels)
    np.testing.assert_allclose(mine.model.covariances_, diag.model.covariances_)
    # K chosen through select, and with position features, with the registered model
    for features in (("color",), ("color", "position")):
        seg = segment(img, [2, 3], covariance_type="mydiag", features=features, **kw)
        d = 3 + 2 * (len(features) == 2)
        for r in seg.criteria:
            k = r["n_components"]
            assert r["covariance_type"] == "mydiag"
            assert r["n_parameters"] == (k - 1) + k * d + k * d  # diagonal: k * d variances


def test_cli_covariance_choices_come_from_the_registry(tmp_path, capsys, rng, mydiag):
    from PIL import Image

    from gaussmix.cli import build_parser, main
    parser = build_parser()
    for name in covariance.names():
        assert parser.parse_args(["segment", "i.png", "-k", "2", "-o", "o.png",
                                  "--covariance", name]).covariance_type == name
    assert "mydiag" in covariance.names()
    Image.fromarray(np.rint(noisy(bands(), 0.04, rng) * 255).astype(np.uint8)).save(
        tmp_path / "i.png")
    code = main(["segment", str(tmp_path / "i.png"), "-k", "3", "-o", str(tmp_path / "o.png"),
                 "--covariance", "mydiag", "--json", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["n_components"] == 3
    # an unknown name: segment()'s own check lists the registered names, the new one included
    with pytest.raises(ValueError, match="covariance_type") as info:
        segment(np.zeros((4, 4)), 2, covariance_type="nosuch")
    assert "'mydiag'" in str(info.value) and "Got 'nosuch' instead" in str(info.value)


# ------------------------------------------------------------------------- EXIF orientation
# orientation tag -> how the stored pixels are turned into the displayed image
_ORIENT = {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2),
           4: np.flipud, 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1)}


def _save_with_orientation(arr, path, orientation, **kw):
    from PIL import Image
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif, **kw)


@pytest.mark.parametrize("orientation", sorted(_ORIENT))
@pytest.mark.parametrize("mode", ["rgb", "grey16"])
def test_read_image_applies_exif_orientation_png(tmp_path, rng, orientation, mode):
    from gaussmix.cli._segment import read_image
    if mode == "rgb":
        stored = rng.integers(0, 256, size=(5, 8, 3)).astype(np.uint8)
    else:
        stored = rng.integers(0, 65536, size=(5, 8)).astype(np.uint16)
    path = tmp_path / "o.png"
    _save_with_orientation(stored, path, orientation)
    got = read_image(str(path))
    np.testing.assert_array_equal(got, _ORIENT[orientation](stored))
    assert got.dtype == stored.dtype


def test_cli_segments_a_rotated_jpeg_upright(tmp_path, capsys, rng):
    """A camera JPEG stored sideways (orientation 6): the labels are in the upright frame."""
    from gaussmix.cli import main
    truth = bands((24, 36))  # as seen upright
    upright = np.rint(COLOURS[truth] * 255).astype(np.uint8)
    stored = np.rot90(upright, 1).copy()  # what the sensor wrote; displayed = rot90(stored, -1)
    src = tmp_path / "photo.jpg"
    _save_with_orientation(stored, src, 6, quality=95)
    code = main(["segment", str(src), "-k", "3", "-o", str(tmp_path / "o.png"), "--labels",
                 str(tmp_path / "l.npy"), "--seed", "0", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["height"], summary["width"]) == truth.shape
    labels = np.load(tmp_path / "l.npy")
    assert labels.shape == truth.shape
    assert gaussmix.image.segmentation_scores(labels, truth)["mean_dice"] > 0.99


# ------------------------------------------------------------------------- progress
def test_progress_bars_only_when_verbose(rng, capsys):
    img = noisy(bands(), 0.04, rng)
    kw = dict(features=("color", "position"), fit_size=200, random_state=0, chunk_size=100)
    quiet = segment(img, [2, 3], **kw)
    assert capsys.readouterr().err == ""
    loud = segment(img, [2, 3], verbose=1, **kw)
    err = capsys.readouterr().err
    assert "segment: choosing K by bic" in err and "segment: classifying pixels" in err
    np.testing.assert_array_equal(quiet.labels, loud.labels)


def test_cli_verbose_shows_progress(tmp_path, capsys, rng):
    from PIL import Image

    from gaussmix.cli import main
    Image.fromarray(np.rint(noisy(bands(), 0.04, rng) * 255).astype(np.uint8)).save(
        tmp_path / "i.png")
    code = main(["segment", str(tmp_path / "i.png"), "-k", "2", "-o", str(tmp_path / "o.png"),
                 "--features", "color,position", "-q", "-v", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert "segment: classifying pixels" in err
