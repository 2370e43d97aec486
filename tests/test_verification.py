"""MAP adaptation and GMM-UBM speaker verification (gaussmix.verification)."""
import copy
import doctest

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import NotFittedError

import gaussmix
from gaussmix import GaussianMixture, GMMUBMVerifier, map_adapt
from gaussmix.verification import det_curve, eer, min_dcf, mfcc_features, tnorm, znorm, ztnorm

COV_TYPES = ["diag", "spherical", "full", "tied"]


# ---------------------------------------------------------------------- naive references
def _dense_covs(gm):
    k, d = gm.means_.shape
    c = np.asarray(gm.covariances_)
    return {"full": lambda: c, "tied": lambda: np.broadcast_to(c, (k, d, d)),
            "diag": lambda: np.stack([np.diag(v) for v in c]),
            "spherical": lambda: np.stack([v * np.eye(d) for v in c])}[gm.covariance_type]()


def _naive_resp(weights, means, covs, X):
    """Responsibilities from scipy.stats densities, one row and one component at a time."""
    n, k = len(X), len(weights)
    lp = np.empty((n, k))
    for t in range(n):
        for j in range(k):
            lp[t, j] = np.log(weights[j]) + multivariate_normal.logpdf(X[t], means[j], covs[j])
    return np.exp(lp - logsumexp(lp, axis=1, keepdims=True))


def _naive_map(ubm, X, r, params, w=None, resp_params=None):
    """The paper's updates in raw-moment form, accumulated frame by frame.

    ``resp_params`` (weights, means, dense covs): the model whose responsibilities are used
    (the UBM by default; the previous adapted model for a second MAP step).
    """
    n, d = X.shape
    k = ubm.n_components
    w = np.ones(n) if w is None else w
    W0, M0, C0 = ubm.weights_, ubm.means_, _dense_covs(ubm)
    resp = _naive_resp(*(resp_params or (W0, M0, C0)), X)
    reg = ubm.reg_covar
    nk = np.zeros(k)
    ex = np.zeros((k, d))
    exx = np.zeros((k, d, d))
    exx_mu = np.zeros((k, d, d))  # second moment about the UBM mean
    for t in range(n):
        for j in range(k):
            g = w[t] * resp[t, j]
            nk[j] += g
            ex[j] += g * X[t]
            exx[j] += g * np.outer(X[t], X[t])
            exx_mu[j] += g * np.outer(X[t] - M0[j], X[t] - M0[j])
    T = w.sum()
    ex /= nk[:, None]
    exx /= nk[:, None, None]
    exx_mu /= nk[:, None, None]
    alpha = nk / (nk + r)
    mu_hat = np.array([alpha[j] * ex[j] + (1 - alpha[j]) * M0[j] for j in range(k)])
    means = mu_hat if "m" in params else M0.copy()
    if "w" in params:
        wts = np.array([alpha[j] * nk[j] / T + (1 - alpha[j]) * W0[j] for j in range(k)])
        wts /= wts.sum()
    else:
        wts = W0.copy()
    covs = None
    if "c" in params:
        I = np.eye(d)
        if "m" in params:
            S = np.array([alpha[j] * (exx[j] + reg * I)
                          + (1 - alpha[j]) * (C0[j] + np.outer(M0[j], M0[j]))
                          - np.outer(mu_hat[j], mu_hat[j]) for j in range(k)])
        else:
            S = np.array([alpha[j] * (exx_mu[j] + reg * I) + (1 - alpha[j]) * C0[j]
                          for j in range(k)])
        ct = ubm.covariance_type
        if ct == "full":
            covs = S
        elif ct == "diag":
            covs = np.array([np.diag(s) for s in S])
        elif ct == "spherical":
            covs = np.array([np.trace(s) / d for s in S])
        else:  # tied: pooled with each component's mass n_k + r
            covs = sum((nk[j] + r) * S[j] for j in range(k)) / (nk + r).sum()
    return wts, means, covs


def _ubm(ct, rng, k=3, d=3, n=300):
    X = np.vstack([rng.normal(c, 1.0, (n // 3, d)) for c in (-3.0, 0.0, 3.0)])
    return GaussianMixture(k, covariance_type=ct, random_state=0, reg_covar=1e-3).fit(X)


def _adapt_data(rng, n=40, d=3):
    return rng.normal(0.7, 1.3, (n, d)) + np.linspace(-2, 2, n)[:, None]


# ---------------------------------------------------------------------- MAP adaptation
@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("params", ["m", "w", "c", "mc", "wm", "wmc"])
def test_map_adapt_matches_the_paper(ct, params, rng):
    ubm = _ubm(ct, rng)
    X = _adapt_data(rng)
    sw = rng.uniform(0.2, 2.0, len(X))
    got = map_adapt(ubm, X, relevance_factor=6.0, params=params, sample_weight=sw)
    wts, means, covs = _naive_map(ubm, X, 6.0, params, sw)
    np.testing.assert_allclose(got.weights_, wts, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got.means_, means, rtol=1e-10, atol=1e-12)
    if covs is None:
        np.testing.assert_array_equal(got.covariances_, ubm.covariances_)
    else:
        np.testing.assert_allclose(got.covariances_, covs, rtol=1e-9, atol=1e-12)
    assert got.covariance_type == ct and got.n_iter_ == 1
    # the returned model is consistent: its precisions belong to its covariances
    back = GaussianMixture.from_params(got.weights_, got.means_, got.covariances_,
                                       covariance_type=ct)
    np.testing.assert_allclose(got.precisions_cholesky_, back.precisions_cholesky_, rtol=1e-10)


@pytest.mark.parametrize("ct", ["diag", "full"])
def test_second_map_step_uses_the_adapted_responsibilities(ct, rng):
    ubm = _ubm(ct, rng)
    X = _adapt_data(rng)
    one = map_adapt(ubm, X, relevance_factor=4.0, params="wmc")
    two = map_adapt(ubm, X, relevance_factor=4.0, params="wmc", n_iter=2)
    wts, means, covs = _naive_map(ubm, X, 4.0, "wmc",
                                  resp_params=(one.weights_, one.means_, _dense_covs(one)))
    np.testing.assert_allclose(two.weights_, wts, rtol=1e-10)
    np.testing.assert_allclose(two.means_, means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(two.covariances_, covs, rtol=1e-9, atol=1e-12)
    assert two.n_iter_ == 2


@pytest.mark.parametrize("ct", COV_TYPES)
def test_ubm_untouched(ct, rng):
    ubm = _ubm(ct, rng)
    before = {k: copy.deepcopy(v) for k, v in vars(ubm).items()}
    for params in ("m", "wmc"):
        map_adapt(ubm, _adapt_data(rng), params=params, n_iter=2)
    assert set(vars(ubm)) == set(before)
    for key, val in before.items():
        now = vars(ubm)[key]
        if isinstance(val, np.ndarray):
            assert now.dtype == val.dtype and now.tobytes() == val.tobytes(), key
        else:
            assert now == val or (now != now and val != val), key


def test_component_without_data_keeps_the_background_parameters(rng):
    ubm = _ubm("diag", rng)
    far = int(np.argmax(ubm.means_[:, 0]))
    X = ubm.means_[np.argmin(ubm.means_[:, 0])] - 60.0 + rng.normal(0, 0.1, (50, 3))
    assert np.all(ubm.predict_proba(X)[:, far] == 0)  # the data never reach it
    got = map_adapt(ubm, X, params="mc")
    np.testing.assert_array_equal(got.means_[far], ubm.means_[far])
    np.testing.assert_allclose(got.covariances_[far], ubm.covariances_[far], rtol=1e-15)


def test_large_relevance_keeps_the_ubm_and_small_relevance_is_an_em_step(rng):
    ubm = _ubm("full", rng)
    X = _adapt_data(rng, n=200)
    stiff = map_adapt(ubm, X, relevance_factor=1e12, params="wmc")
    np.testing.assert_allclose(stiff.means_, ubm.means_, atol=1e-8)
    np.testing.assert_allclose(stiff.covariances_, ubm.covariances_, atol=1e-8)
    # r -> 0: the M-step of EM from the UBM's responsibilities (scikit-learn's formulas)
    loose = map_adapt(ubm, X, relevance_factor=1e-12, params="wmc")
    resp = ubm.predict_proba(X)
    nk = resp.sum(0)
    means = resp.T @ X / nk[:, None]
    covs = np.stack([(resp[:, j, None] * (X - means[j])).T @ (X - means[j]) / nk[j]
                     + ubm.reg_covar * np.eye(3) for j in range(3)])
    np.testing.assert_allclose(loose.weights_, nk / len(X), rtol=1e-9)
    np.testing.assert_allclose(loose.means_, means, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(loose.covariances_, covs, rtol=1e-8, atol=1e-10)


def test_integer_weights_equal_repeated_frames(rng):
    ubm = _ubm("diag", rng)
    X = _adapt_data(rng, n=20)
    reps = rng.integers(0, 4, len(X))
    a = map_adapt(ubm, X, params="wmc", sample_weight=reps)
    b = map_adapt(ubm, np.repeat(X, reps, axis=0), params="wmc")
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10)


def test_map_adapt_keeps_settings_and_accepts_a_scikit_learn_ubm(rng):
    from sklearn.mixture import GaussianMixture as SkGM
    X = rng.normal(size=(300, 2))
    sk = SkGM(3, covariance_type="diag", random_state=0, reg_covar=1e-4).fit(X)
    Y = X[:40] + 1
    got = map_adapt(sk, Y, params="wmc")
    ref = map_adapt(GaussianMixture.from_sklearn(sk), Y, params="wmc")
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-12)
    assert got.reg_covar == 1e-4 and got.covariance_type == "diag"
    assert isinstance(got, GaussianMixture)


def test_map_adapt_bad_input(rng):
    ubm = _ubm("diag", rng)
    X = _adapt_data(rng)
    with pytest.raises(ValueError, match="relevance_factor"):
        map_adapt(ubm, X, relevance_factor=-1.0)
    with pytest.raises(ValueError, match="relevance_factor"):
        map_adapt(ubm, X, relevance_factor=0.0)
    with pytest.raises(ValueError, match=r"unknown letter\(s\) 'v'"):
        map_adapt(ubm, X, params="mv")
    with pytest.raises(ValueError, match="'params'"):
        map_adapt(ubm, X, params="")
    with pytest.raises(ValueError, match="'params'"):
        map_adapt(ubm, X, params=["m"])
    with pytest.raises(ValueError, match="'n_iter'"):
        map_adapt(ubm, X, n_iter=0)
    with pytest.raises(ValueError, match="2 features per frame, but the background model was "
                                         "fitted on 3"):
        map_adapt(ubm, X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        map_adapt(ubm, np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="sample_weight"):
        map_adapt(ubm, X, sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="gaussmix.GaussianMixture"):
        map_adapt("ubm", X)
    with pytest.raises(NotFittedError):
        map_adapt(GaussianMixture(2), X)


# ---------------------------------------------------------------------- metrics
def test_eer_hand_computed():
    # thresholds 0.1 .. 0.9: at 0.4 (fa 1/4, miss 0) and 0.7 (fa 1/4, miss 1/3) the rates cross
    # on a segment of constant false-alarm rate: EER = 1/4
    assert eer([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1], [1, 1, 1, 0, 0, 0, 0]) == pytest.approx(0.25)
    # a tie at 0.5: the operating points (fa 1/2, miss 0) at t=0.5 and (fa 0, miss 1/3) at
    # t=0.9; the segment between them meets fa == miss at lambda = 0.5 / (0.5 + 1/3) = 0.6,
    # fa = 0.5 - 0.6 * 0.5 = 0.2
    assert eer([0.5, 0.9, 0.95, 0.5, 0.1], [1, 1, 1, 0, 0]) == pytest.approx(0.2)
    assert eer([2.0, 3.0, 0.0, 1.0], [True, True, False, False]) == 0.0
    assert eer([0.0, 1.0, 2.0, 3.0], [1, 1, 0, 0]) == 1.0


def test_det_curve_matches_scikit_learn(rng):
    from sklearn.metrics import det_curve as sk_det
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 1.5, 1.0), 1)  # ties included
    fpr, fnr, thr = det_curve(s, y)
    assert np.all(np.diff(fpr) <= 0) and np.all(np.diff(fnr) >= 0)
    assert (fpr[0], fnr[0], fpr[-1], fnr[-1]) == (1.0, 0.0, 0.0, 1.0)
    sfpr, sfnr, sthr = sk_det(y, s)
    pos = np.searchsorted(thr, sthr)
    np.testing.assert_array_equal(thr[pos], sthr)
    np.testing.assert_allclose(fpr[pos], sfpr)
    np.testing.assert_allclose(fnr[pos], sfnr)


def test_eer_against_roc_interpolation(rng):
    from sklearn.metrics import roc_curve
    y = rng.integers(0, 2, 500)
    s = rng.normal(y * 1.0, 1.0)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    i = np.flatnonzero(fnr > fpr)[-1]  # roc points run from strict to lenient thresholds
    a, b = (fpr[i], fnr[i]), (fpr[i + 1], fnr[i + 1])
    lam = (a[1] - a[0]) / ((a[1] - a[0]) - (b[1] - b[0]))
    assert eer(s, y) == pytest.approx(a[0] + lam * (b[0] - a[0]), abs=1e-12)


def test_min_dcf_against_brute_force(rng):
    y = rng.integers(0, 2, 200).astype(bool)
    s = rng.normal(y * 2.0, 1.0)
    for p, cm, cf in [(0.01, 1, 1), (0.5, 1, 1), (0.05, 10, 1)]:
        best = np.inf
        for t in np.r_[-np.inf, np.sort(s), np.inf]:
            miss = np.mean(s[y] < t)
            fa = np.mean(s[~y] >= t)
            best = min(best, cm * p * miss + cf * (1 - p) * fa)
        got = min_dcf(s, y, p_target=p, c_miss=cm, c_fa=cf)
        assert got == pytest.approx(best / min(cm * p, cf * (1 - p)), rel=1e-12)
        assert min_dcf(s, y, p_target=p, c_miss=cm, c_fa=cf, normalize=False) == \
            pytest.approx(best, rel=1e-12)


def test_metric_bad_input():
    with pytest.raises(ValueError, match="both target and non-target"):
        eer([1.0, 2.0], [1, 1])
    with pytest.raises(ValueError, match="0/1"):
        eer([1.0, 2.0], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        det_curve([1.0, 2.0], [1])
    with pytest.raises(ValueError, match="NaN"):
        eer([np.nan, 2.0], [1, 0])
    with pytest.raises(ValueError, match="'p_target'"):
        min_dcf([1.0, 2.0], [1, 0], p_target=1.0)
    with pytest.raises(ValueError, match="'c_fa'"):
        min_dcf([1.0, 2.0], [1, 0], c_fa=0)


# ---------------------------------------------------------------------- score normalisation
def test_score_normalisation_arithmetic(rng):
    s = rng.normal(size=(3, 5))
    imp = rng.normal(1.0, 2.0, size=(3, 7))
    coh = rng.normal(-1.0, 3.0, size=(4, 5))
    coh_imp = rng.normal(0.5, 1.5, size=(4, 7))
    z = znorm(s, imp)
    t = tnorm(s, coh)
    for i in range(3):
        for j in range(5):
            assert z[i, j] == pytest.approx((s[i, j] - imp[i].mean()) / imp[i].std(ddof=1))
            assert t[i, j] == pytest.approx(
                (s[i, j] - coh[:, j].mean()) / coh[:, j].std(ddof=1))
    zc = (coh - coh_imp.mean(1, keepdims=True)) / coh_imp.std(1, ddof=1, keepdims=True)
    expect = (z - zc.mean(0)) / zc.std(0, ddof=1)
    np.testing.assert_allclose(ztnorm(s, imp, coh, coh_imp), expect, rtol=1e-12)
    with pytest.raises(ValueError, match="impostor_scores has 2 rows"):
        znorm(s, imp[:2])
    with pytest.raises(ValueError, match="cohort_scores has 4 columns"):
        tnorm(s, coh[:, :4])
    with pytest.raises(ValueError, match="zero standard deviation"):
        znorm(s, np.ones((3, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        tnorm(s, coh[:1])


# ---------------------------------------------------------------------- verification
def _speakers(rng, n_speakers=8, d=4):
    """Synthetic "speakers": each a two-component mixture at its own place in feature space."""
    centres = rng.normal(0, 1.5, (n_speakers, 2, d))

    def frames(s, n):
        pick = rng.integers(0, 2, n)
        return centres[s, pick] + rng.normal(0, 0.8, (n, d))
    return frames


@pytest.fixture
def verifier(rng):
    frames = _speakers(rng)
    ver = GMMUBMVerifier(16, random_state=0, relevance_factor=8.0)
    ver.fit_ubm([frames(s, 250) for s in range(8)])
    for s in range(6):
        ver.enrol(s, frames(s, 150))
    return ver, frames


def test_targets_outscore_impostors(verifier):
    ver, frames = verifier
    segs = [frames(s, 60) for s in range(6) for _ in range(4)]
    owner = np.repeat(np.arange(6), 4)
    S = ver.score_trials(list(range(6)), segs)
    labels = owner[None, :] == np.arange(6)[:, None]
    assert S[labels].mean() > 0 > S[~labels].mean()
    assert eer(S.ravel(), labels.ravel()) < 0.05
    fast = ver.score_trials(list(range(6)), segs, top_c=3)
    assert eer(fast.ravel(), labels.ravel()) < 0.05
    assert np.corrcoef(fast.ravel(), S.ravel())[0, 1] > 0.99


def test_scores_are_average_log_likelihood_ratios(verifier):
    ver, frames = verifier
    X = frames(2, 50)
    spk, ubm = ver.speakers_[2], ver.ubm_
    expect = np.mean(spk.score_samples(X) - ubm.score_samples(X))
    assert ver.score(2, X) == pytest.approx(expect, rel=1e-9, abs=1e-9)
    assert ver.score(2, X, top_c=ubm.n_components) == pytest.approx(expect, rel=1e-9, abs=1e-9)
    # top-C by a naive loop: each frame's C best UBM components, both models on those only
    C = 2
    total = 0.0
    for x in X:
        lu = np.array([np.log(ubm.weights_[j]) + multivariate_normal.logpdf(
            x, ubm.means_[j], np.diag(ubm.covariances_[j])) for j in range(ubm.n_components)])
        top = np.argsort(lu)[-C:]
        ls = [np.log(spk.weights_[j]) + multivariate_normal.logpdf(
            x, spk.means_[j], np.diag(spk.covariances_[j])) for j in top]
        total += logsumexp(ls) - logsumexp(lu[top])
    assert ver.score(2, X, top_c=C) == pytest.approx(total / len(X), rel=1e-9)


@pytest.mark.parametrize("ct", ["full", "tied", "spherical"])
def test_other_covariance_types_score_exactly(ct, rng):
    frames = _speakers(rng, n_speakers=3, d=3)
    ver = GMMUBMVerifier(4, covariance_type=ct, random_state=0, params="mc")
    ver.fit_ubm(np.vstack([frames(s, 100) for s in range(3)])).enrol("a", frames(0, 80))
    X = frames(0, 30)
    expect = np.mean(ver.speakers_["a"].score_samples(X) - ver.ubm_.score_samples(X))
    assert ver.score("a", X) == pytest.approx(expect, rel=1e-9)
    assert ver.score("a", X, top_c=4) == pytest.approx(expect, rel=1e-9)


def test_from_ubm_and_enrolment_equal_map_adapt(rng):
    frames = _speakers(rng, n_speakers=3)
    ubm = GaussianMixture(5, covariance_type="diag", random_state=0).fit(
        np.vstack([frames(s, 100) for s in range(3)]))
    ver = GMMUBMVerifier.from_ubm(ubm, relevance_factor=10.0, params="wm")
    sessions = [frames(1, 40), frames(1, 30)]
    ver.enrol("b", sessions)
    ref = map_adapt(ubm, np.vstack(sessions), relevance_factor=10.0, params="wm")
    np.testing.assert_array_equal(ver.speakers_["b"].means_, ref.means_)
    np.testing.assert_array_equal(ver.speakers_["b"].weights_, ref.weights_)
    assert ver.ubm_ is ubm and ver.n_components == 5


def test_verifier_bad_input(verifier):
    ver, frames = verifier
    with pytest.raises(KeyError, match="speaker 'carol' is not enrolled"):
        ver.score("carol", frames(0, 10))
    with pytest.raises(ValueError, match="3 features per frame, but the background model was "
                                         "fitted on 4"):
        ver.score(0, frames(0, 10)[:, :3])
    with pytest.raises(ValueError, match="3 features per frame"):
        ver.enrol("x", frames(0, 10)[:, :3])
    with pytest.raises(ValueError, match="'top_c'"):
        ver.score(0, frames(0, 10), top_c=0)
    with pytest.raises(ValueError, match="'top_c'"):
        ver.score(0, frames(0, 10), top_c=17)
    with pytest.raises(NotFittedError, match="fit_ubm"):
        GMMUBMVerifier(4).enrol("a", frames(0, 10))
    with pytest.raises(ValueError, match="relevance_factor"):
        GMMUBMVerifier(4, relevance_factor=-2.0).fit_ubm(frames(0, 50))
    with pytest.raises(ValueError, match=r"unknown letter\(s\) 'x'"):
        GMMUBMVerifier(4, params="mx").fit_ubm(frames(0, 50))
    with pytest.raises(TypeError, match="background model"):
        GMMUBMVerifier.from_ubm(np.zeros(3))


# ---------------------------------------------------------------------- features
def test_mfcc_features_shape_deltas_and_gain_invariance(rng):
    librosa = pytest.importorskip("librosa")
    sr = 16000
    t = np.arange(sr) / sr
    y = (np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
         + 0.05 * rng.normal(size=sr)).astype(np.float32)
    F = mfcc_features(y, sr, cmvn=False)
    assert F.shape == (101, 60)
    base = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_fft=512, hop_length=160,
                                win_length=400, n_mels=40, fmin=20.0)
    np.testing.assert_allclose(F[:, :20], base.T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(F[:, 20:40], librosa.feature.delta(base, width=9).T,
                               rtol=1e-5, atol=1e-4)
    # a gain shifts only c0 by a constant, which mean normalisation removes
    a = mfcc_features(y, sr)
    b = mfcc_features(4.0 * y, sr)
    np.testing.assert_allclose(a, b, atol=1e-3)
    np.testing.assert_allclose(a.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(a.std(0), 1, atol=1e-9)
    # energy voice-activity detection drops the silent half
    quiet = np.r_[y, np.zeros(sr, dtype=np.float32)]
    assert 95 <= len(mfcc_features(quiet, sr, vad_db=40)) <= 110
    with pytest.raises(ValueError, match="mono"):
        mfcc_features(np.zeros((2, 400)), sr)
    with pytest.raises(ValueError, match="deltas"):
        mfcc_features(y, sr, deltas=3)


def test_public_names_and_doctests():
    import gaussmix._map
    from gaussmix.verification import _features, _metrics, _norm, _verifier
    assert gaussmix.map_adapt is map_adapt and gaussmix.verification.map_adapt is map_adapt
    for name in gaussmix.verification.__all__:
        assert hasattr(gaussmix.verification, name)
    for mod in (gaussmix._map, _features, _metrics, _norm, _verifier):
        assert doctest.testmod(mod).failed == 0, mod.__name__
