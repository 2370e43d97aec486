"""Tests of gaussmix.image: segmentation, colour summaries, overlays and metrics."""
import itertools
import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gaussmix import GaussianMixture
from gaussmix.image import Segmentation, match_labels, overlay, segment, segmentation_scores
from gaussmix.image._features import _distinct_colours, _sigma_points

COLOURS = np.array([[0.15, 0.2, 0.7], [0.85, 0.3, 0.2], [0.3, 0.8, 0.35], [0.9, 0.9, 0.6]])


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # the test images are small: BLAS threads only add synchronisation on a busy machine
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def phantom(shape=(96, 128)):
    """A label map with a background, a disk, a rectangle and a triangle (labels 0..3)."""
    h, w = shape
    r, c = np.mgrid[:h, :w]
    truth = np.zeros(shape, dtype=int)
    truth[(r - 0.35 * h) ** 2 + (c - 0.3 * w) ** 2 < (0.22 * h) ** 2] = 1
    truth[int(0.55 * h):int(0.9 * h), int(0.5 * w):int(0.9 * w)] = 2
    truth[(r > 0.1 * h) & (r < 0.45 * h) & (c - 0.6 * w > 0) & (c - 0.6 * w < (r - 0.1 * h))] = 3
    return truth


def noisy_rgb(truth, sigma, rng, dtype=np.uint8):
    img = COLOURS[truth] + sigma * rng.normal(size=truth.shape + (3,))
    img = np.clip(img, 0, 1)
    return np.rint(img * 255).astype(np.uint8) if dtype == np.uint8 else img.astype(dtype)


# ------------------------------------------------------------------------- planted phantoms
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("features", [("color",), ("color", "position")])
def test_recovers_rgb_phantom(rng, dtype, features):
    truth = phantom()
    img = noisy_rgb(truth, 0.06, rng, dtype)
    seg = segment(img, 4, features=features, random_state=0, n_init=2)
    scores = segmentation_scores(seg.labels, truth)
    assert scores["dice"].min() > 0.95, scores
    assert seg.labels.shape == truth.shape
    assert seg.probabilities.shape == truth.shape + (4,)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_recovers_greyscale_phantom(rng, dtype):
    truth = phantom()
    levels = np.array([0.1, 0.4, 0.65, 0.9])
    img = np.clip(levels[truth] + 0.04 * rng.normal(size=truth.shape), 0, 1)
    if dtype == np.uint8:
        img = np.rint(img * 255).astype(np.uint8)
    seg = segment(img, 4, random_state=0, n_init=2)
    assert segmentation_scores(seg.labels, truth)["dice"].min() > 0.95
    assert seg.recolored.shape == img.shape and seg.recolored.dtype == img.dtype
    # the segment painted brightest is the brightest true class
    matched = match_labels(seg.labels, truth)
    assert np.mean(matched[truth == 3] == 3) > 0.99


def test_lab_and_hsv_colour_spaces(rng):
    truth = phantom((48, 64))
    img = noisy_rgb(truth, 0.04, rng)
    for space in ("lab", "hsv", "ycbcr"):
        seg = segment(img, 4, colorspace=space, random_state=0, n_init=2)
        assert seg.model.n_features_in_ == 3
        assert segmentation_scores(seg.labels, truth)["mean_dice"] > 0.9, space


def test_more_noise_does_not_help(rng):
    truth = phantom((64, 80))
    dice = [segmentation_scores(segment(noisy_rgb(truth, s, np.random.default_rng(0)), 4,
                                        random_state=0).labels, truth)["mean_dice"]
            for s in (0.05, 0.35)]
    assert dice[0] > dice[1]


# ------------------------------------------------------------------------- invariants
def test_probabilities_labels_and_recolouring_are_consistent(rng):
    truth = phantom((40, 50))
    img = noisy_rgb(truth, 0.1, rng)
    seg = segment(img, 3, random_state=0)
    p = seg.probabilities
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(seg.labels, p.argmax(axis=-1))
    np.testing.assert_allclose(seg.uncertainty, 1 - p.max(axis=-1))
    # naive recolouring: every pixel gets the rounded mean colour of its segment
    expect = np.empty_like(img)
    for k in range(3):
        mask = seg.labels == k
        if mask.any():
            expect[mask] = np.rint(img[mask].astype(float).mean(axis=0)).astype(np.uint8)
    np.testing.assert_array_equal(seg.recolored, expect)


def test_distinct_colour_path_matches_direct_prediction(rng):
    truth = phantom((40, 50))
    img = noisy_rgb(truth, 0.1, rng)
    seg = segment(img, 4, colorspace="lab", random_state=0)
    from skimage.color import rgb2lab
    X = rgb2lab(img.astype(np.float32) / 255).reshape(-1, 3).astype(np.float32)
    direct = seg.model.predict_proba(X).reshape(seg.probabilities.shape)
    np.testing.assert_allclose(seg.probabilities, direct, atol=1e-5)
    np.testing.assert_array_equal(seg.labels, seg.model.predict(X).reshape(seg.labels.shape))


@pytest.mark.parametrize("img_dtype", [np.uint8, np.float64])
def test_chunked_prediction_equals_unchunked(rng, img_dtype):
    truth = phantom((37, 53))  # pixel count not a multiple of the chunk size
    img = noisy_rgb(truth, 0.1, rng, img_dtype)
    kw = dict(features=("color", "position"), random_state=3)
    a = segment(img, 4, chunk_size=97, **kw)
    b = segment(img, 4, chunk_size=None, **kw)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    # and both equal one prediction of all pixels at once
    r, c = np.mgrid[:37, :53]
    scale = 255.0 if img_dtype == np.uint8 else 1.0
    X = np.column_stack([img.reshape(-1, 3) / scale, r.ravel() / 53, c.ravel() / 53])
    full = a.model.predict_proba(X.astype(a.model.means_.dtype))
    np.testing.assert_allclose(a.probabilities.reshape(-1, 4), full, atol=1e-5)


def test_fit_size_subsamples_but_labels_every_pixel(rng):
    truth = phantom((60, 80))
    img = noisy_rgb(truth, 0.05, rng, np.float64)
    seg = segment(img, 4, fit_size=500, random_state=0, n_init=2)
    assert seg.n_fit == 500
    assert seg.labels.shape == (60, 80)
    assert segmentation_scores(seg.labels, truth)["dice"].min() > 0.9


def test_same_seed_same_result(rng):
    img = noisy_rgb(phantom((30, 40)), 0.2, rng, np.float64)
    a = segment(img, 3, fit_size=300, random_state=7)
    b = segment(img, 3, fit_size=300, random_state=7)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_rgba_and_single_channel_inputs(rng):
    truth = phantom((30, 40))
    rgb = noisy_rgb(truth, 0.05, rng)
    rgba = np.concatenate([rgb, np.full(truth.shape + (1,), 77, np.uint8)], axis=2)
    a, b = segment(rgb, 4, random_state=0), segment(rgba, 4, random_state=0)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert b.recolored.shape == rgba.shape and np.all(b.recolored[..., 3] == 77)
    grey = rgb[..., :1]
    c = segment(grey, 2, random_state=0)
    assert c.recolored.shape == grey.shape


# ------------------------------------------------------------------------- colour summaries
def test_distinct_colours_roundtrip(rng):
    flat = rng.integers(0, 6, size=(500, 3)).astype(np.uint8) * 40
    colours, counts, inverse = _distinct_colours(flat)
    np.testing.assert_array_equal(colours[inverse], flat)
    assert counts.sum() == 500 and len(np.unique(flat, axis=0)) == len(colours)


def test_colour_sigma_points_match_dequantised_moments(rng):
    flat = np.clip(rng.normal(120, 30, size=(3000, 3)), 0, 255).astype(np.uint8)
    colours, counts, _ = _distinct_colours(flat)
    # the weighted points have the pixels' mean, and their covariance plus I/12
    pts, w = _sigma_points(colours, counts)
    np.testing.assert_allclose(w.sum(), 3000)
    np.testing.assert_allclose(np.average(pts, axis=0, weights=w), flat.mean(axis=0))
    np.testing.assert_allclose(np.cov(pts.T, aweights=w, bias=True),
                               np.cov(flat.T.astype(float), bias=True) + np.eye(3) / 12,
                               rtol=1e-10, atol=1e-9)


def test_weighted_colour_fit_is_as_good_as_fitting_every_pixel():
    from sklearn.datasets import load_sample_image
    img = load_sample_image("china.jpg")[::6, ::6]
    seg = segment(img, 5, random_state=0, n_init=2, fit_size=None)
    assert seg.n_fit < img.shape[0] * img.shape[1] * 6  # the distinct-colour summary was used
    X = img.reshape(-1, 3) / 255.0
    X_dequantised = X + (np.random.default_rng(0).random(X.shape) - 0.5) / 255
    sk = SkGaussianMixture(5, random_state=0, n_init=2, reg_covar=seg.model.reg_covar)
    sk.fit(X_dequantised)
    # the same likelihood of the dequantised pixels as scikit-learn fitted on every pixel
    np.testing.assert_allclose(seg.model.score(X_dequantised), sk.score(X_dequantised),
                               rtol=2e-3)


# ------------------------------------------------------------------------- choosing K
def test_k_by_bic_finds_the_planted_classes(rng):
    truth = phantom((48, 64))
    img = noisy_rgb(truth, 0.05, rng, np.float64)
    seg = segment(img, "bic", fit_size=2000, random_state=0, n_init=2)
    assert seg.n_components == 4
    assert [r["n_components"] for r in seg.criteria] == list(range(2, 9))
    for r in seg.criteria:
        assert r["icl"] >= r["bic"] and r["covariance_type"] == "full"
    best = min(seg.criteria, key=lambda r: r["bic"])
    assert best["n_components"] == 4
    seg2 = segment(img, [2, 3, 4], fit_size=2000, random_state=0, n_init=2)
    assert seg2.n_components == 4 and len(seg2.criteria) == 3


# ------------------------------------------------------------------------- real images
def test_real_photo_rgb_and_skimage_greyscale():
    from skimage import data
    from sklearn.datasets import load_sample_image
    img = load_sample_image("flower.jpg")[::8, ::8]
    seg = segment(img, 4, colorspace="lab", random_state=0)
    assert len(np.unique(seg.recolored.reshape(-1, 3), axis=0)) <= 4
    assert isinstance(seg, Segmentation) and "n_components=4" in repr(seg)
    coins = data.coins()[::4, ::4]
    seg = segment(coins, 2, features=("color", "position"), random_state=0)
    # the coins are brighter than the background
    bright = seg.labels == seg.labels.flat[np.argmax(coins)]
    assert coins[bright].mean() > coins[~bright].mean() + 40


# ------------------------------------------------------------------------- deep method
def test_deep_method_calls_segment_deep(rng):
    torch_mod = pytest.importorskip("gaussmix.torch")
    if not hasattr(torch_mod, "segment_deep"):
        pytest.skip("gaussmix.torch.segment_deep is not available")
    truth = phantom((32, 32))
    img = noisy_rgb(truth, 0.05, rng)
    seg = segment(img, 4, method="deep", random_state=0, max_epochs=15)
    assert seg.model is None and seg.probabilities.shape == (32, 32, 4)
    np.testing.assert_allclose(seg.probabilities.sum(-1), 1, atol=1e-4)
    assert segmentation_scores(seg.labels, truth)["mean_dice"] > 0.8


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("image, kwargs, exc, match", [
    (np.zeros((5, 5, 2)), {}, ValueError, "shape"),
    (np.zeros(10), {}, ValueError, "shape"),
    (np.array([["a"]]), {}, TypeError, "numeric"),
    (np.full((4, 4), np.nan), {}, ValueError, "NaN"),
    (np.zeros((4, 4)), {"n_components": 0}, ValueError, "n_components"),
    (np.zeros((4, 4)), {"n_components": "many"}, ValueError, "n_components"),
    (np.zeros((4, 4)), {"n_components": [0, 2]}, ValueError, "n_components"),
    (np.zeros((4, 4)), {"colorspace": "cmyk"}, ValueError, "colorspace"),
    (np.zeros((4, 4)), {"colorspace": "lab"}, ValueError, "RGB"),
    (np.zeros((4, 4, 3)) + 2, {"colorspace": "lab"}, ValueError, r"\[0, 1\]"),
    (np.zeros((4, 4)), {"features": ("position",)}, ValueError, "color"),
    (np.zeros((4, 4)), {"features": ("colour",)}, ValueError, "features"),
    (np.zeros((4, 4)), {"method": "magic"}, ValueError, "method"),
    (np.zeros((4, 4)), {"fit_size": 0}, ValueError, "fit_size"),
    (np.zeros((4, 4)), {"reg_covar": -1.0}, ValueError, "reg_covar"),
    (np.zeros((4, 4)), {"max_epochs": 3}, TypeError, "deep"),
    (np.zeros((2, 2), np.uint8), {"n_components": 5}, ValueError, "n_components"),
])
def test_bad_input(image, kwargs, exc, match):
    kwargs.setdefault("n_components", 2)
    with pytest.raises(exc, match=match):
        segment(image, **kwargs)


# ------------------------------------------------------------------------- overlay
def test_overlay(rng):
    img = rng.integers(0, 256, size=(10, 12, 3)).astype(np.uint8)
    lab = np.zeros((10, 12), dtype=int)
    lab[:, 6:] = 1
    out = overlay(img, lab, alpha=0.0, boundaries=False)
    np.testing.assert_array_equal(out, img)
    out = overlay(img, lab, alpha=1.0, boundaries=True)
    assert out.dtype == np.uint8 and out.shape == (10, 12, 3)
    assert np.all(out[:, 6] == 255) and np.all(out[:, :6] == [31, 119, 180])
    assert np.all(out[:, 7:] == [255, 127, 14])
    grey = overlay(np.linspace(-5, 5, 120).reshape(10, 12), lab, alpha=0.0, boundaries=False)
    assert grey.min() == 0 and grey.max() == 255 and grey.shape == (10, 12, 3)
    many = overlay(img, np.arange(120).reshape(10, 12), alpha=1.0, boundaries=False)
    assert len(np.unique(many.reshape(-1, 3), axis=0)) == 120
    with pytest.raises(ValueError, match="shape"):
        overlay(img, lab[:5])
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, lab, alpha=2)


# ------------------------------------------------------------------------- metrics
def _brute_force_best(labels, truth):
    kp, kt = labels.max() + 1, truth.max() + 1
    best = -1
    for perm in itertools.permutations(range(int(max(kp, kt))), int(kp)):
        best = max(best, int(np.sum(np.array(perm)[labels] == truth)))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_match_labels_is_optimal(seed):
    r = np.random.default_rng(seed)
    truth = r.integers(0, 3, size=60)
    labels = np.where(r.random(60) < 0.7, (truth + 1) % 3, r.integers(0, 4, size=60))
    matched = match_labels(labels, truth)
    assert int(np.sum(matched == truth)) == _brute_force_best(labels, truth)
    # a relabelling is a bijection: same partition
    assert len(np.unique(matched)) == len(np.unique(labels))
    s = segmentation_scores(labels, truth)
    for j in range(3):
        p, t = matched == j, truth == j
        np.testing.assert_allclose(s["dice"][j], 2 * (p & t).sum() / (p.sum() + t.sum()))
        np.testing.assert_allclose(s["iou"][j], (p & t).sum() / (p | t).sum())
    np.testing.assert_allclose(s["accuracy"], np.mean(matched == truth))


def test_scores_of_a_perfect_relabelled_segmentation():
    truth = phantom((20, 20))
    s = segmentation_scores((truth + 2) % 4, truth)
    assert s["mean_dice"] == 1.0 and s["mean_iou"] == 1.0 and s["accuracy"] == 1.0


def test_no_degenerate_warnings_on_flat_colour_images():
    img = np.zeros((30, 30, 3), dtype=np.uint8)
    img[5:20, 5:20] = [200, 30, 30]
    img[22:, :] = [20, 200, 40]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seg = segment(img, 3, random_state=0)
    truth = np.zeros((30, 30), int)
    truth[5:20, 5:20] = 1
    truth[22:, :] = 2
    assert segmentation_scores(seg.labels, truth)["mean_dice"] == 1.0
    assert isinstance(seg.model, GaussianMixture)


# ------------------------------------------------------------------------- CLI
def _cli(argv, capsys):
    from gaussmix.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_segment_end_to_end(tmp_path, capsys, rng):
    from PIL import Image
    truth = phantom((48, 64))
    src = tmp_path / "in.png"
    Image.fromarray(noisy_rgb(truth, 0.04, rng)).save(src)
    out, lab = tmp_path / "out.png", tmp_path / "labels.npy"
    code, stdout, err = _cli(["segment", src, "-k", "4", "-o", out, "--labels", lab,
                              "--proba", tmp_path / "p.npy", "--seed", "0"], capsys)
    assert code == 0, err
    assert "4 segments" in stdout
    recol = np.asarray(Image.open(out))
    assert recol.shape == (48, 64, 3) and len(np.unique(recol.reshape(-1, 3), axis=0)) <= 4
    labels = np.load(lab)
    assert segmentation_scores(labels, truth)["mean_dice"] > 0.95
    assert np.load(tmp_path / "p.npy").shape == (48, 64, 4)
    # overlay, JSON summary, position features, K chosen by BIC over a range
    code, stdout, err = _cli(["segment", src, "-k", "3:5", "-o", tmp_path / "ov.png",
                              "--overlay", "--features", "color,position", "--json",
                              "--seed", "0", "--labels", tmp_path / "labels.png"], capsys)
    assert code == 0, err
    import json
    summary = json.loads(stdout)
    assert summary["n_components"] in (3, 4, 5) and len(summary["criteria"]) == 3
    assert summary["features"] == ["color", "position"]
    assert np.asarray(Image.open(tmp_path / "ov.png")).shape == (48, 64, 3)
    assert np.asarray(Image.open(tmp_path / "labels.png")).max() < summary["n_components"]
    # greyscale 16-bit input and a .npy float image
    Image.fromarray((np.clip(truth * 15000 + 3000, 0, 65535)).astype(np.uint16)).save(
        tmp_path / "g16.png")
    code, _, err = _cli(["segment", tmp_path / "g16.png", "-k", "4", "-o",
                         tmp_path / "g.png", "-q"], capsys)
    assert code == 0, err
    np.save(tmp_path / "f.npy", noisy_rgb(truth, 0.04, rng, np.float64))
    code, _, err = _cli(["segment", tmp_path / "f.npy", "-k", "4", "-o", tmp_path / "f.png",
                         "-q", "--colorspace", "lab"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("argv, expect", [
    (["{tmp}/missing.png", "-k", "3"], "no such file"),
    (["{tmp}/not_an_image.png", "-k", "3"], "not an image"),
    (["{tmp}/good.png", "-k", "0"], "-k must be at least 1"),
    (["{tmp}/good.png", "-k", "many"], "-k must be"),
    (["{tmp}/good.png", "-k", "5:2"], "-k must be"),
    (["{tmp}/good.png", "-k", "2", "--features", "position"], "color"),
    (["{tmp}/good.png", "-k", "2", "--alpha", "3"], "--alpha"),
    (["{tmp}/good.png", "-k", "2", "--proba", "{tmp}/p.txt"], ".npy"),
    (["{tmp}/bad.npy", "-k", "2"], "shape"),
])
def test_cli_segment_bad_input(tmp_path, capsys, argv, expect):
    from PIL import Image
    (tmp_path / "not_an_image.png").write_text("hello, I am text\n")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    np.save(tmp_path / "bad.npy", np.zeros(5))
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, out, err = _cli(["segment", *argv, "-o", tmp_path / "o.png"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gaussmix segment: error:"), err
    assert expect in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_cli_segment_unwritable_output(tmp_path, capsys):
    from PIL import Image
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    code, _, err = _cli(["segment", tmp_path / "good.png", "-k", "1", "-o",
                         tmp_path / "no_dir" / "o.png"], capsys)
    assert code == 1 and "cannot write" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(["segment", tmp_path / "good.png", "-k", "1", "-o",
                         tmp_path / "o.unknownext"], capsys)
    assert code == 2 and "cannot write" in err


def test_cli_segment_as_a_process(tmp_path):
    import os
    import subprocess
    import sys
    from PIL import Image
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(["src", os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "gaussmix", "segment", str(tmp_path / "good.png"),
                          "-k", "0", "-o", str(tmp_path / "o.png")],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
