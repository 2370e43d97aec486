"""DeepGMMSegmenter: a deep GMM segmenter trained on a set of images."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gaussmix.torch import DeepGMMSegmenter  # noqa: E402
from gaussmix.torch._segmenter import _hidden_mask  # noqa: E402

TINY = dict(base_channels=4, depth=1, epochs=3, em_pixels=2000)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def phantoms(n, size=20, channels=1, seed=0, noise=0.15):
    """Bright square on a dark background, random position; returns images and truth."""
    rng = np.random.default_rng(seed)
    imgs, truth = [], []
    s = size if np.ndim(size) == 0 else None
    for i in range(n):
        h, w = (s, s) if s is not None else size[i]
        lab = np.zeros((h, w), int)
        y, x = rng.integers(1, h // 2), rng.integers(1, w // 2)
        lab[y:y + h // 2, x:x + w // 2] = 1
        means = np.stack([np.zeros(channels), np.linspace(1.0, 2.0, channels)])
        img = means[lab] + noise * rng.normal(size=(h, w, channels))
        imgs.append(img if channels > 1 else img[..., 0])
        truth.append(lab)
    return imgs, truth


def accuracy(labels, truth):
    acc = (labels == truth).mean()
    return max(acc, 1 - acc)


@pytest.mark.parametrize("kw", [{}, {"blind_spot": 0},
                                {"variant": "deepG", "epochs": 60, "lr": 1e-2}])
def test_fit_predict_segments_phantoms(kw):
    imgs, truth = phantoms(6)
    seg = DeepGMMSegmenter(2, random_state=0, **{**TINY, **kw}).fit(np.stack(imgs[:4]))
    labels = seg.predict(np.stack(imgs[4:]))
    assert labels.shape == (2, 20, 20) and labels.dtype == np.int64
    for lab, t in zip(labels, truth[4:]):
        assert accuracy(lab, t) > 0.95
    proba = seg.predict_proba(imgs[4])
    assert proba.shape == (20, 20, 2)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba.argmax(-1), labels[0])
    assert np.isfinite(seg.score(imgs[4:])) and len(seg.history_) == seg.n_epochs_


def test_score_is_mean_pixel_log_likelihood_in_image_units():
    imgs, _ = phantoms(4)
    seg = DeepGMMSegmenter(2, variant="deepG", random_state=0, **TINY).fit(imgs)
    # deepG: log Σ_k w_k N(x | μ_k, σ_k²) with the fitted classes, against scipy.
    from scipy.stats import norm
    cp = seg.class_params_
    sd = np.exp(-cp["log_diag"].double().numpy()).reshape(-1) * seg.channel_std_[0]
    mu = seg.means_[:, 0]
    x = imgs[0]
    dens = sum(w * norm.pdf(x, m, s) for w, m, s in zip(seg.weights_, mu, sd))
    np.testing.assert_allclose(seg.score_samples(x), np.log(dens), rtol=1e-4, atol=1e-4)
    assert seg.score(x) == pytest.approx(np.log(dens).mean(), rel=1e-5)


def test_hidden_squares_of_four_shifts_tile_the_image():
    mask = _hidden_mask(13, 17, 3, [(0, 0), (0, 3), (3, 0), (3, 3)], "cpu")
    np.testing.assert_array_equal(mask.sum(0).numpy(), 1.0)


def test_deterministic_with_random_state():
    imgs, _ = phantoms(4)
    a = DeepGMMSegmenter(2, random_state=3, augment=True, **TINY).fit(imgs)
    b = DeepGMMSegmenter(2, random_state=3, augment=True, **TINY).fit(imgs)
    np.testing.assert_array_equal(a.predict_proba(imgs[0]), b.predict_proba(imgs[0]))
    assert a.history_ == b.history_


def test_multichannel_input_and_wrong_channel_count():
    imgs, truth = phantoms(5, channels=3)
    seg = DeepGMMSegmenter(2, random_state=0, **TINY).fit(imgs[:4])
    assert seg.n_channels_ == 3 and seg.means_.shape == (2, 3)
    assert accuracy(seg.predict(imgs[4]), truth[4]) > 0.95
    with pytest.raises(ValueError, match="2 channel.*trained on images with 3"):
        seg.predict(imgs[4][..., :2])
    with pytest.raises(ValueError, match="image 1 has 1 channel.*trained on images with 3"):
        seg.predict([imgs[4], imgs[4][..., 0]])
    with pytest.raises(ValueError, match="image 1 has 2 channel"):
        DeepGMMSegmenter(2, **TINY).fit([imgs[0], imgs[1][..., :2]])


def test_list_of_different_sizes_and_dataset():
    sizes = [(20, 24), (16, 16), (20, 24), (28, 18), (16, 16)]
    imgs, truth = phantoms(5, size=sizes)
    seg = DeepGMMSegmenter(2, random_state=0, batch_size=2, **TINY).fit(imgs[:4])
    out = seg.predict(imgs)
    assert isinstance(out, list) and [o.shape for o in out] == sizes
    assert accuracy(out[4], truth[4]) > 0.95

    class Set(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.as_tensor(imgs[i]), 0

    seg2 = DeepGMMSegmenter(2, random_state=0, batch_size=2, **TINY).fit(Set())
    np.testing.assert_array_equal(seg2.predict(imgs[4]), out[4])
    gen = DeepGMMSegmenter(2, random_state=0, batch_size=2, **TINY).fit(im for im in imgs[:4])
    np.testing.assert_array_equal(gen.predict(imgs[4]), out[4])


def test_save_load_round_trip(tmp_path):
    imgs, _ = phantoms(5, channels=2)
    seg = DeepGMMSegmenter(2, random_state=0, covariance_type="diag", **TINY).fit(imgs[:4])
    path = tmp_path / "model.gmseg"
    seg.save(path)
    back = DeepGMMSegmenter.load(path)
    np.testing.assert_array_equal(back.predict_proba(imgs[4]), seg.predict_proba(imgs[4]))
    np.testing.assert_array_equal(back.means_, seg.means_)
    assert back.score(imgs[4]) == seg.score(imgs[4])
    import zipfile
    with zipfile.ZipFile(path) as zf:
        assert all(n.endswith((".npy", ".json")) for n in zf.namelist())
    (tmp_path / "bad").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read deep segmenter file"):
        DeepGMMSegmenter.load(tmp_path / "bad")


def test_refine_steps_change_the_network_per_image_only():
    imgs, truth = phantoms(5)
    seg = DeepGMMSegmenter(2, random_state=0, **TINY).fit(imgs[:4])
    before = {k: v.clone() for k, v in seg.network_.state_dict().items()}
    plain = seg.predict_proba(imgs[4])
    seg.refine_steps = 3
    refined = seg.predict_proba(imgs[4])
    assert not np.array_equal(plain, refined)
    assert accuracy(refined.argmax(-1), truth[4]) > 0.95
    for k, v in seg.network_.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("kw, match", [
    ({"variant": "deep"}, "'variant' parameter of DeepGMMSegmenter must be one of"),
    ({"epochs": 0}, "'epochs' parameter"),
    ({"blind_spot": 3, "variant": "deepG"}, "blind_spot > 0 needs variant='deepSVG'"),
    ({"covariance_type": "nope"}, "nope"),
])
def test_parameter_errors(kw, match):
    imgs, _ = phantoms(2)
    with pytest.raises(ValueError, match=match):
        DeepGMMSegmenter(2, **kw).fit(imgs)


def test_predict_before_fit_and_bad_images():
    with pytest.raises(RuntimeError, match="not fitted"):
        DeepGMMSegmenter(2).predict(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="images is empty"):
        DeepGMMSegmenter(2).fit([])
    with pytest.raises(ValueError, match="NaN"):
        DeepGMMSegmenter(2).fit([np.full((8, 8), np.nan)])


def test_image_segment_with_trained_model_accepts_two_channels():
    from gaussmix.image import segment
    imgs, truth = phantoms(5, channels=2)
    seg = DeepGMMSegmenter(2, random_state=0, **TINY).fit(imgs[:4])
    out = segment(imgs[4], None, method="deep", model=seg)
    np.testing.assert_array_equal(out.labels, seg.predict(imgs[4]))
    np.testing.assert_allclose(out.probabilities, seg.predict_proba(imgs[4]), rtol=1e-6)
    assert out.recolored.shape == (20, 20, 2) and out.n_components == 2
    for k in range(2):  # each segment painted with its mean
        np.testing.assert_allclose(out.recolored[out.labels == k][0],
                                   imgs[4][out.labels == k].mean(0))
    with pytest.raises(ValueError, match="n_components=3 but the model has 2"):
        segment(imgs[4], 3, method="deep", model=seg)
    with pytest.raises(ValueError, match="needs method='deep'"):
        segment(imgs[4], 2, model=seg)
    with pytest.raises(ValueError, match="1 channel.*trained on images with 2"):
        segment(imgs[4][..., 0], None, method="deep", model=seg)


def test_cli_segment_train_and_segment_with_model(tmp_path, capsys):
    import json

    from gaussmix.cli import main
    imgs, truth = phantoms(5, channels=2)
    paths = []
    for i, im in enumerate(imgs):
        paths.append(str(tmp_path / f"im{i}.npy"))
        np.save(paths[-1], im)
    model = str(tmp_path / "m.gmseg")
    rc = main(["segment-train", *paths[:4], "-k", "2", "-o", model, "--epochs", "2",
               "--seed", "0", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["images"] == 4 and summary["channels"] == 2
    labels = str(tmp_path / "lab.npy")
    rc = main(["segment", paths[4], "--model", model, "-o", str(tmp_path / "out.png"),
               "--labels", labels, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["method"] == "deep" and out["n_components"] == 2
    seg = DeepGMMSegmenter.load(model)
    np.testing.assert_array_equal(np.load(labels), seg.predict(imgs[4]))
    # refusing to overwrite an input, and a wrong -k
    assert main(["segment-train", *paths[:2], "-k", "2", "-o", paths[0]]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert main(["segment", paths[4], "--model", model, "-k", "3", "-o",
                 str(tmp_path / "o.png")]) == 2
    assert "has 2 classes" in capsys.readouterr().err
    assert main(["segment", paths[4], "-o", str(tmp_path / "o.png")]) == 2
    assert "-k is required" in capsys.readouterr().err


def test_segment_deep_large_image_crops_and_grid_subset():
    # Larger than the training crop: steps train on crops, epochs evaluate a subset of the
    # masking grids, the labels come from every grid of the best network.
    from gaussmix.torch import segment_deep
    from gaussmix.torch import _segmentation as impl
    rng = np.random.default_rng(0)
    truth = np.zeros((72, 72), int)
    truth[20:52, 16:56] = 1
    img = truth + 0.2 * rng.normal(size=truth.shape)
    assert -(-impl._BS_EVAL_PIXELS // img.size) < 100  # a subset of the 100 grids
    labels, proba = segment_deep(img, 2, max_epochs=3, base_channels=4, depth=1,
                                 random_state=0)
    assert labels.shape == (72, 72) and proba.shape == (72, 72, 2)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    assert accuracy(labels, truth) > 0.97
    again, _ = segment_deep(img, 2, max_epochs=3, base_channels=4, depth=1, random_state=0)
    np.testing.assert_array_equal(labels, again)
