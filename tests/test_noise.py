"""The uniform noise component (GaussianMixture(noise=...), gaussmix.hypvol, gaussmix.nn_clutter)."""
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

import gaussmix
from gaussmix import GaussianMixture, hypvol, nn_clutter


def _planted(rng, n_noise=150, d=2):
    """Three tight Gaussian clusters plus uniform noise over a much wider box."""
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [4.0, 7.0]])[:, :d]
    X = [c + rng.normal(scale=0.6, size=(250, d)) for c in centres]
    lo, hi = np.full(d, -10.0), np.full(d, 18.0)
    X.append(rng.uniform(lo, hi, size=(n_noise, d)))
    truth = np.r_[np.zeros(750, bool), np.ones(n_noise, bool)]
    return np.vstack(X), truth


@pytest.fixture
def planted(rng):
    return _planted(rng)


@pytest.fixture
def fitted(planted):
    X, _ = planted
    return GaussianMixture(3, noise=True, random_state=0).fit(X)


def _direct_hypvol(X):
    box = np.prod(np.ptp(X, axis=0))
    _, vecs = np.linalg.eigh(np.cov(X.T, bias=True))
    pc = np.prod(np.ptp((X - X.mean(axis=0)) @ vecs, axis=0))
    return box, pc


# ------------------------------------------------------------------------------- hypvol
def test_hypvol_is_the_smaller_of_box_and_principal_box(rng):
    # an elongated, rotated cloud: its principal-axis box is much smaller than its box
    Z = rng.normal(size=(400, 3)) * [5.0, 1.0, 0.2]
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    X = Z @ Q.T + 3.0
    box, pc = _direct_hypvol(X)
    assert pc < box
    assert hypvol(X) == pytest.approx(min(box, pc), rel=1e-10)
    # axis-aligned uniform rows: the box is the smaller
    U = rng.uniform([0, 0], [2, 5], size=(300, 2))
    box, pc = _direct_hypvol(U)
    assert hypvol(U) == pytest.approx(min(box, pc), rel=1e-10)
    assert min(box, pc) == box


def test_hypvol_weights_equal_repeated_rows(rng):
    X = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3))
    w = rng.integers(0, 4, size=50)
    assert hypvol(X, sample_weight=w) == pytest.approx(hypvol(np.repeat(X, w, axis=0)),
                                                       rel=1e-9)


def test_hypvol_errors():
    with pytest.raises(ValueError, match="2-D"):
        hypvol(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        hypvol(np.array([[0.0, np.nan]]))


# ------------------------------------------------------------------------------- nn_clutter
def test_nn_clutter_finds_planted_noise(planted):
    X, truth = planted
    mask, post = nn_clutter(X, k=5, return_posterior=True)
    assert mask.dtype == bool and mask.shape == truth.shape
    assert np.all((post >= 0) & (post <= 1))
    np.testing.assert_array_equal(mask, post > 0.5)
    assert mask[truth].mean() >= 0.85
    assert mask[~truth].mean() <= 0.05


def test_nn_clutter_does_not_depend_on_units(planted):
    X, _ = planted
    np.testing.assert_array_equal(nn_clutter(X), nn_clutter(1000.0 * X + 7.0))


def test_nn_clutter_errors():
    with pytest.raises(ValueError, match="more rows than k"):
        nn_clutter(np.zeros((3, 2)), k=5)
    with pytest.raises(ValueError, match="'k'"):
        nn_clutter(np.zeros((30, 2)), k=0)


# ------------------------------------------------------------------------------- the fit
def test_noise_labels_recover_planted_noise(planted, fitted):
    X, truth = planted
    lab = fitted.predict(X)
    assert (lab[truth] == -1).mean() >= 0.90
    assert (lab[~truth] == -1).mean() <= 0.05
    assert set(np.unique(lab)) == {-1, 0, 1, 2}
    # the weights of the Gaussians and of the noise form a probability vector
    assert fitted.weights_.shape == (3,)
    assert fitted.weights_.sum() + fitted.noise_weight_ == pytest.approx(1.0, abs=1e-12)
    assert fitted.noise_weight_ == pytest.approx(truth.mean(), abs=0.05)
    assert fitted.noise_volume_ == pytest.approx(min(_direct_hypvol(X)), rel=1e-10)
    np.testing.assert_allclose(fitted.noise_bounds_, [X.min(axis=0), X.max(axis=0)])


def test_log_likelihood_is_monotone(planted):
    X, _ = planted
    gm = GaussianMixture(3, noise=True, reg_covar=0.0, tol=1e-12, max_iter=60,
                         init_params="random_from_data", random_state=1)
    with pytest.warns(Warning):  # did not converge to tol=1e-12 (or a repair): irrelevant here
        gm.fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) > 5
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))


def test_score_samples_against_scipy(fitted, planted):
    X, _ = planted
    far = np.array([[500.0, -300.0]])  # outside the hull: the uniform density still applies
    Y = np.vstack([X[::37], far])
    dens = sum(w * stats.multivariate_normal(m, c).pdf(Y)
               for w, m, c in zip(fitted.weights_, fitted.means_, fitted.covariances_))
    dens = dens + fitted.noise_weight_ / fitted.noise_volume_
    np.testing.assert_allclose(fitted.score_samples(Y), np.log(dens), rtol=1e-10)
    assert fitted.score_samples(far)[0] == pytest.approx(
        math.log(fitted.noise_weight_ / fitted.noise_volume_), rel=1e-12)
    assert fitted.predict(far)[0] == -1
    assert fitted.score(X) == pytest.approx(np.mean(fitted.score_samples(X)), rel=1e-12)


def test_predict_proba_has_a_noise_column(fitted, planted):
    X, _ = planted
    p = fitted.predict_proba(X)
    assert p.shape == (len(X), 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    lab = p.argmax(axis=1)
    lab[lab == 3] = -1
    np.testing.assert_array_equal(lab, fitted.predict(X))
    # posterior of the noise from the densities directly
    g = np.stack([w * stats.multivariate_normal(m, c).pdf(X[:50])
                  for w, m, c in zip(fitted.weights_, fitted.means_, fitted.covariances_)], 1)
    u = fitted.noise_weight_ / fitted.noise_volume_
    np.testing.assert_allclose(p[:50, 3], u / (g.sum(axis=1) + u), rtol=1e-9)


def test_bic_counts_the_noise_weight(fitted, planted):
    X, _ = planted
    plain = GaussianMixture(3, random_state=0).fit(X)
    assert fitted.n_parameters() == plain.n_parameters() + 1
    # mclust's nMclParams("VVV", d = 2, G = 3, noise = TRUE): 3 * (2 + 3) + 3 = 18
    assert fitted.n_parameters() == 18
    ll = fitted.score_samples(X).sum()
    n = len(X)
    assert fitted.bic(X) == pytest.approx(-2 * ll + 18 * math.log(n), rel=1e-12)
    assert fitted.aic(X) == pytest.approx(-2 * ll + 2 * 18, rel=1e-12)
    # the noise model describes planted noise better than a plain mixture
    assert fitted.bic(X) < plain.bic(X)


def test_integer_weights_equal_repeated_rows(planted, rng):
    X, _ = planted
    X = X[::3]
    w = rng.integers(1, 4, size=len(X))
    mask = nn_clutter(X)
    means = GaussianMixture(3, random_state=0).fit(X[~mask]).means_
    kw = dict(n_components=3, means_init=means, tol=0.0, max_iter=150)
    with pytest.warns(ConvergenceWarning):  # tol=0: exactly max_iter iterations for both
        a = GaussianMixture(noise=mask, **kw).fit(X, sample_weight=w)
    with pytest.warns(ConvergenceWarning):
        b = GaussianMixture(noise=np.repeat(mask, w), **kw).fit(np.repeat(X, w, axis=0))
    assert a.n_iter_ == b.n_iter_ == 150
    assert a.noise_weight_ == pytest.approx(b.noise_weight_, rel=1e-7)
    assert a.noise_volume_ == pytest.approx(b.noise_volume_, rel=1e-10)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-7)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6, atol=1e-9)


def test_mask_start_and_user_volume(planted):
    X, truth = planted
    gm = GaussianMixture(3, noise=truth, noise_volume=2000.0, random_state=0).fit(X)
    assert gm.noise_volume_ == 2000.0
    lab = gm.predict(X)
    assert (lab[truth] == -1).mean() >= 0.85 and (lab[~truth] == -1).mean() <= 0.05


def test_out_of_core_equals_in_memory(planted):
    X, _ = planted
    a = GaussianMixture(3, noise=True, random_state=0).fit(X)
    b = GaussianMixture(3, noise=True, random_state=0).fit([X[:300], X[300:700], X[700:]])
    assert b.noise_weight_ == pytest.approx(a.noise_weight_, rel=1e-6)
    assert b.noise_volume_ == pytest.approx(a.noise_volume_, rel=1e-10)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-6, atol=1e-8)


def test_sample_draws_noise_in_the_box(fitted):
    X, y = fitted.sample(4000)
    assert X.shape == (4000, 2) and set(np.unique(y)) <= {-1, 0, 1, 2}
    noise = X[y == -1]
    lo, hi = fitted.noise_bounds_
    assert np.all((noise >= lo) & (noise <= hi))
    assert (y == -1).mean() == pytest.approx(fitted.noise_weight_, abs=0.03)


def test_save_load_round_trip(fitted, planted, tmp_path):
    X, _ = planted
    path = tmp_path / "noise.gmm"
    fitted.save(path)
    back = gaussmix.load(path)
    np.testing.assert_array_equal(back.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(back.score_samples(X), fitted.score_samples(X))
    assert back.noise_weight_ == fitted.noise_weight_
    assert back.bic(X) == fitted.bic(X)
    # a mask (an initial guess) is saved as noise=True
    masked = GaussianMixture(3, noise=nn_clutter(X), random_state=0).fit(X)
    masked.save(path)
    assert gaussmix.load(path).noise is True
    # a model without noise has no noise attributes after loading
    GaussianMixture(2, random_state=0).fit(X).save(path)
    assert not hasattr(gaussmix.load(path), "noise_weight_")


def test_refit_without_noise_clears_noise(planted):
    X, _ = planted
    gm = GaussianMixture(3, noise=True, random_state=0).fit(X)
    gm.set_params(noise=False).fit(X)
    assert not hasattr(gm, "noise_weight_")
    assert gm.predict_proba(X).shape == (len(X), 3)


def test_select_with_noise(planted):
    X, _ = planted
    res = gaussmix.select(X, n_components=range(2, 5), covariance_types=("full", "diag"),
                          noise=True, random_state=0)
    assert res.best_params_["n_components"] == 3
    best = res.best_estimator_
    assert hasattr(best, "noise_weight_")
    plain = GaussianMixture(3, covariance_type=res.best_params_["covariance_type"]).fit(X)
    row = [r for r in res.table if r["n_components"] == 3
           and r["covariance_type"] == res.best_params_["covariance_type"]][0]
    assert row["n_parameters"] == plain.n_parameters() + 1


def test_clear_errors(planted):
    X, truth = planted
    with pytest.raises(ValueError, match="2 entries but X has"):
        GaussianMixture(2, noise=np.array([True, False])).fit(X)
    with pytest.raises(ValueError, match="boolean mask"):
        GaussianMixture(2, noise=np.zeros(len(X))).fit(X)
    with pytest.raises(ValueError, match="coreset_size"):
        GaussianMixture(2, noise=True, coreset_size=100).fit(X)
    with pytest.raises(ValueError, match="partial_fit"):
        GaussianMixture(2, noise=True).partial_fit(X)
    with pytest.raises(ValueError, match="params must contain 'w'"):
        GaussianMixture(2, noise=True, params="mc", weights_init=[0.5, 0.5]).fit(X)
    with pytest.raises(ValueError, match="noise_volume"):
        GaussianMixture(2, noise=True, noise_volume=0.0).fit(X)
    with pytest.raises(ValueError, match="mask needs X in memory"):
        GaussianMixture(2, noise=truth).fit([X[:400], X[400:]])
    with pytest.raises(ValueError, match="hypervolume is 0"):
        GaussianMixture(1, noise=True).fit(np.c_[np.arange(50.0), np.zeros(50)])
    gm = GaussianMixture(3, noise=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="noise component"):
        gm.to_sklearn()


def test_dask_is_refused(planted):
    da = pytest.importorskip("dask.array")
    X, _ = planted
    with pytest.raises(ValueError, match="Dask"):
        GaussianMixture(2, noise=True).fit(da.from_array(X, chunks=300))
