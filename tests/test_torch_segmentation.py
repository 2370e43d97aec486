"""Deep GMM image segmentation (deepG / deepSVG)."""
import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from benchmarks.torch_phantom import dice_matched, phantom  # noqa: E402
from gaussmix.torch import UNet, segment_deep  # noqa: E402


def test_dice_matched_against_naive_permutation_search():
    from itertools import permutations

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (20, 20))
    labels = np.where(rng.random((20, 20)) < 0.8, (truth + 1) % 3, rng.integers(0, 3, (20, 20)))
    best = None
    for perm in permutations(range(3)):
        mapped = np.array(perm)[labels]
        d = [2 * np.sum((mapped == c) & (truth == c)) / (np.sum(mapped == c) + np.sum(truth == c))
             for c in range(3)]
        if best is None or np.mean(d) > np.mean(best):
            best = d
    np.testing.assert_allclose(dice_matched(labels, truth, 3), best)


@pytest.mark.parametrize("variant, kw", [
    ("deepSVG", dict(max_epochs=5)),
    ("deepSVG", dict(max_epochs=5, likelihood_power=0.0)),
    ("deepSVG", dict(max_epochs=5, likelihood_power=1.0)),
    ("deepSVG", dict(blind_spot=0, max_epochs=20, pretrain_epochs=60)),
    ("deepG", dict(max_epochs=20, pretrain_epochs=60)),
])
def test_recovers_low_noise_phantom(variant, kw):
    img, truth = phantom(size=32, noise=0.08, seed=0)
    labels, proba = segment_deep(img, 4, variant=variant, base_channels=8, random_state=0, **kw)
    assert labels.shape == (32, 32) and labels.dtype.kind == "i"
    assert proba.shape == (32, 32, 4)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(labels, proba.argmax(-1))
    dice = dice_matched(labels, truth, 4)
    assert dice.mean() > 0.9, dice


def test_blind_spot_posterior_beats_pixelwise_em_at_high_noise():
    from benchmarks.torch_deep_segmentation import em_segment

    rng = np.random.default_rng(0)
    truth = np.zeros((32, 32), int)
    truth[8:24, 6:26] = 1
    img = truth * 2.0 + 0.9 * rng.normal(size=truth.shape)  # ~7 % pixel-wise errors
    em = dice_matched(em_segment(img, 2, 0), truth, 2).mean()
    labels, proba = segment_deep(img, 2, max_epochs=10, base_channels=8, random_state=0)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(labels, proba.argmax(-1))
    assert dice_matched(labels, truth, 2).mean() > em + 0.05


def test_blind_spot_random_init_two_classes():
    rng = np.random.default_rng(1)
    truth = np.zeros((24, 24), int)
    truth[6:18, 4:20] = 1
    img = truth * 2.0 + 0.5 * rng.normal(size=truth.shape)
    labels, _ = segment_deep(img, 2, init="random", blind_spot=3, max_epochs=10,
                             base_channels=8, covariance_type="spherical", random_state=0)
    assert dice_matched(labels, truth, 2).mean() > 0.9


def test_random_init_and_mean_regulariser_two_classes():
    rng = np.random.default_rng(1)
    truth = np.zeros((24, 24), int)
    truth[6:18, 4:20] = 1
    img = truth * 2.0 + 0.2 * rng.normal(size=truth.shape)
    labels, _ = segment_deep(img, 2, init="random", max_epochs=60, lr=1e-2, base_channels=8,
                             covariance_type="spherical", mean_regularization=1.0,
                             mean_prior=[[0.0], [2.0]], random_state=0)
    assert dice_matched(labels, truth, 2).mean() > 0.9


def test_deterministic_and_progress(capsys):
    img, _ = phantom(size=16, noise=0.3, seed=2)
    for extra in (dict(blind_spot=0, pretrain_epochs=5), dict(blind_spot=3)):
        kw = dict(max_epochs=5, base_channels=4, random_state=5, covariance_type="diag", **extra)
        a = segment_deep(img, 3, verbose=1, **kw)
        b = segment_deep(img, 3, **kw)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        err = capsys.readouterr().err
        assert "segment_deep:deepSVG" in err and "epoch 1/5" in err


def test_unet_shapes_for_odd_sizes():
    net = UNet(3, 5, base_channels=4, depth=3)
    assert net(torch.zeros(2, 3, 13, 27)).shape == (2, 5, 13, 27)


def test_bad_input_errors():
    img = np.zeros((8, 8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        segment_deep(np.zeros((2, 8, 8, 1)), 2)
    bad = img.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        segment_deep(bad, 2)
    with pytest.raises(ValueError, match="n_components"):
        segment_deep(img, 1)
    with pytest.raises(ValueError, match="variant"):
        segment_deep(img, 2, variant="deepX")
    with pytest.raises(ValueError, match="mean_prior"):
        segment_deep(img + np.arange(8), 2, mean_prior=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="needs mean_prior"):
        segment_deep(img + np.arange(8), 2, init="random", mean_regularization=1.0)
    with pytest.raises(ValueError, match="likelihood_power"):
        segment_deep(img, 2, likelihood_power=1.5)
    with pytest.raises(ValueError, match="likelihood_power"):
        segment_deep(img, 2, likelihood_power=-0.1)
    with pytest.raises(ValueError, match="odd"):
        segment_deep(img, 2, blind_spot=4)
    with pytest.raises(ValueError, match="'blind_spot' parameter of segment_deep must be an int"):
        segment_deep(img, 2, blind_spot=-1)
    with pytest.raises(ValueError, match="needs variant='deepSVG'"):
        segment_deep(img, 2, variant="deepG", blind_spot=3)
    with pytest.raises(ValueError, match="needs variant='deepSVG'"):
        segment_deep(img, 2, blind_spot=3, mean_regularization=1.0, mean_prior=[[0], [1]])
    with pytest.raises(ValueError, match="pretrain_epochs must be 0"):
        segment_deep(img, 2, pretrain_epochs=10)
    with pytest.raises(TypeError, match="numeric"):
        segment_deep(np.array([["a", "b"], ["c", "d"]]), 2)


def test_docstring_examples():
    from gaussmix.torch import _segmentation

    assert doctest.testmod(_segmentation).failed == 0
