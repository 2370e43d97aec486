"""Speaker verification with a GMM-UBM on synthesised speech, against two simpler baselines.

Runs offline on audio it makes itself: source-filter syllables (a glottal pulse train at the
speaker's pitch through the resonances of the speaker's vocal tract, with fricative noise and
pauses) from "speakers" that differ in pitch, vocal-tract length, formant idiosyncrasies, glottal
tilt, breathiness and speaking rate. Every session passes through its own random channel (a
band-limiting microphone/line response with a resonance) with noise at a random SNR, and the
speaker's pitch drifts between sessions. Features: 13 MFCCs with deltas and delta-deltas (librosa,
``pip install 'gaussmix[speech]'``), energy voice-activity detection, cepstral mean and variance
normalisation.

Background speakers train the universal background model (UBM); evaluation speakers are enrolled
from two sessions and tested on segments from other sessions against every enrolled model. Scores:
GMM-UBM (MAP-adapted means, average frame log-likelihood ratio, exact and top-5 fast scoring, and
with ZT-norm), a single full-covariance Gaussian per speaker against a background Gaussian, and the
cosine between mean MFCC vectors. Prints EER and minDCF, saves speaker_verification.png (DET curves).
"""
import time

import numpy as np
from _helpers import parse_args, plt, save
from scipy import signal
from scipy.stats import norm

from gaussmix import GaussianMixture, GMMUBMVerifier
from gaussmix.verification import det_curve, eer, mfcc_features, min_dcf, ztnorm

args = parse_args(__doc__.splitlines()[0])
rng = np.random.RandomState(0)
SR = 8000
# F1-F3 (Hz) of an adult male (Peterson & Barney 1952): i, e, ae, a, o, u, er
VOWELS = np.array([[270, 2290, 3010], [530, 1840, 2480], [660, 1720, 2410], [730, 1090, 2440],
                   [570, 840, 2410], [300, 870, 2240], [490, 1350, 1690]], dtype=float)
if args.quick:
    N_BG, N_EVAL, N_COMP, ENROL_S, TEST_S, N_TEST, BG_S = 12, 12, 32, 4.0, 2.0, 3, 6.0
else:
    N_BG, N_EVAL, N_COMP, ENROL_S, TEST_S, N_TEST, BG_S = 24, 24, 128, 8.0, 3.0, 4, 16.0


def make_speaker(rng):
    female = rng.rand() < 0.5
    return dict(
        f0=rng.uniform(165, 255) if female else rng.uniform(85, 150),
        vtl=rng.uniform(1.08, 1.22) if female else rng.uniform(0.92, 1.06),
        dev=np.exp(rng.normal(0, 0.06, VOWELS.shape)),  # idiosyncratic formant positions
        bw=rng.uniform(50, 110),
        tilt=rng.uniform(0.80, 0.96),
        breath=rng.uniform(0.01, 0.12),
        rate=rng.uniform(0.11, 0.22),
        fric=rng.uniform(1800, 3300),
        vowel_p=rng.dirichlet(np.full(len(VOWELS), 2.0)),
    )


def make_session(rng):
    lo, hi = rng.uniform(80, 400), rng.uniform(2600, 3900)
    sos = signal.butter(2, [lo, hi], btype="bandpass", fs=SR, output="sos")
    f, q, gain_db = rng.uniform(300, 3000), rng.uniform(0.7, 3), rng.uniform(-8, 8)
    b, a = _peaking(f, q, gain_db)
    return dict(sos=np.vstack([sos, np.r_[b, a]]), snr_db=rng.uniform(12, 30),
                f0_shift=np.exp(rng.normal(0, 0.05)))


def _peaking(f, q, gain_db):
    """RBJ audio-EQ-cookbook peaking filter (b, a), a[0] == 1."""
    A, w = 10 ** (gain_db / 40), 2 * np.pi * f / SR
    al = np.sin(w) / (2 * q)
    b = np.array([1 + al * A, -2 * np.cos(w), 1 - al * A])
    a = np.array([1 + al / A, -2 * np.cos(w), 1 - al / A])
    return b / a[0], a / a[0]


def _resonator(f, bw):
    r, th = np.exp(-np.pi * bw / SR), 2 * np.pi * f / SR
    a = np.array([1.0, -2 * r * np.cos(th), r * r])
    return np.array([a.sum()]), a  # unit gain at 0 Hz


def utterance(spk, sess, seconds, rng):
    pieces, n_total = [], 0
    while n_total < seconds * SR:
        n = int(rng.uniform(0.7, 1.3) * spk["rate"] * SR * 1.6)
        t = np.arange(n) / SR
        f0 = (spk["f0"] * sess["f0_shift"] * np.exp(rng.normal(0, 0.06))
              * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
              * (1 + 0.01 * rng.normal(size=n)))
        pulses = np.diff(np.floor(np.cumsum(f0 / SR)), prepend=0.0)
        src = signal.lfilter([1.0], [1, -2 * spk["tilt"], spk["tilt"] ** 2], pulses)
        src = src / (np.abs(src).max() + 1e-9) + spk["breath"] * rng.normal(size=n)
        v = rng.choice(len(VOWELS), p=spk["vowel_p"])
        y = src
        for f, bw in zip(VOWELS[v] * spk["vtl"] * spk["dev"][v], spk["bw"] * np.r_[1, 1.3, 1.8]):
            b, a = _resonator(min(f, 0.45 * SR), bw)
            y = signal.lfilter(b, a, y)
        env = np.minimum(1, np.minimum(t, t[::-1]) / 0.02)
        pieces.append(y / (np.abs(y).max() + 1e-9) * env * rng.uniform(0.5, 1.0))
        if rng.rand() < 0.6:  # a fricative consonant
            m = int(rng.uniform(0.04, 0.09) * SR)
            sos = signal.butter(2, min(spk["fric"] * rng.uniform(0.9, 1.1), 0.45 * SR),
                                btype="highpass", fs=SR, output="sos")
            pieces.append(0.15 * signal.sosfilt(sos, rng.normal(size=m)))
        pieces.append(np.zeros(int(rng.uniform(0.02, 0.12) * SR)))
        n_total += sum(len(p) for p in pieces[-3:])
    y = np.concatenate(pieces)
    y = signal.lfilter([1, -0.97], [1], y)  # radiation at the lips
    y = signal.sosfilt(sess["sos"], y)
    noise = rng.normal(size=len(y))
    y = y + noise * np.sqrt(np.mean(y ** 2) / 10 ** (sess["snr_db"] / 10))
    return (y / np.abs(y).max()).astype(np.float32)


def features(y, cmvn=True):
    return mfcc_features(y, SR, n_mfcc=13, n_mels=24, fmin=60.0, deltas=2, vad_db=35,
                         cmvn=cmvn)


t0 = time.perf_counter()
speakers = [make_speaker(rng) for _ in range(N_BG + N_EVAL)]
bg, ev = speakers[:N_BG], speakers[N_BG:]
bg_audio = [utterance(s, make_session(rng), BG_S, rng) for s in bg]
enrol_audio = [[utterance(s, make_session(rng), ENROL_S / 2, rng) for _ in range(2)] for s in ev]
tests = [(i, utterance(s, make_session(rng), TEST_S, rng)) for i, s in enumerate(ev)
         for _ in range(N_TEST)]
imp_audio = [utterance(s, make_session(rng), TEST_S, rng) for s in bg for _ in range(2)]
seconds = (sum(map(len, bg_audio)) + sum(len(a) for e in enrol_audio for a in e)
           + sum(len(a) for _, a in tests)) / SR
print(f"synthesised {seconds:.0f} s "
      f"of audio from {len(speakers)} speakers in {time.perf_counter() - t0:.1f} s")

t0 = time.perf_counter()
bg_feats = [features(y) for y in bg_audio]
enrol_feats = [[features(y) for y in e] for e in enrol_audio]
test_feats = [features(y) for _, y in tests]
imp_feats = [features(y) for y in imp_audio]
owner = np.array([i for i, _ in tests])
labels = owner[None, :] == np.arange(N_EVAL)[:, None]  # (models, segments)
print(f"MFCC features ({bg_feats[0].shape[1]} per frame, {sum(map(len, bg_feats))} background "
      f"frames) in {time.perf_counter() - t0:.1f} s")

results = {}
t0 = time.perf_counter()
ver = GMMUBMVerifier(N_COMP, covariance_type="diag", relevance_factor=16.0, max_iter=50,
                     random_state=0).fit_ubm(bg_feats)
print(f"UBM with {N_COMP} diagonal components in {time.perf_counter() - t0:.1f} s "
      f"(converged: {ver.ubm_.converged_}, {ver.ubm_.n_iter_} iterations)")
for i, e in enumerate(enrol_feats):
    ver.enrol(i, e)
t0 = time.perf_counter()
results["GMM-UBM"] = ver.score_trials(range(N_EVAL), test_feats)
t_full = time.perf_counter() - t0
t0 = time.perf_counter()
results["GMM-UBM, top-5 scoring"] = ver.score_trials(range(N_EVAL), test_feats, top_c=5)
t_fast = time.perf_counter() - t0
print(f"scoring {labels.size} trials: exact {t_full:.2f} s, top-5 {t_fast:.2f} s")
# ZT-norm: impostor segments from one half of the background speakers (Z), a cohort of models
# enrolled from the other half (T), so that no cohort model meets its own speaker
half = N_BG // 2
imp_segs = [f for j, f in enumerate(imp_feats) if j // 2 < half]
cohort = [("cohort", j) for j in range(half, N_BG)]
for j in range(half, N_BG):
    ver.enrol(("cohort", j), bg_feats[j][: len(bg_feats[j]) // 2])
results["GMM-UBM + ZT-norm"] = ztnorm(
    results["GMM-UBM"], ver.score_trials(range(N_EVAL), imp_segs),
    ver.score_trials(cohort, test_feats), ver.score_trials(cohort, imp_segs))

# baseline 1: one full-covariance Gaussian per speaker against one background Gaussian
bg_gauss = GaussianMixture(1, covariance_type="full").fit(np.vstack(bg_feats))
spk_gauss = [GaussianMixture(1, covariance_type="full").fit(np.vstack(e)) for e in enrol_feats]
results["single Gaussian per speaker"] = np.array(
    [[np.mean(g.score_samples(f) - bg_gauss.score_samples(f)) for f in test_feats]
     for g in spk_gauss])
# baseline 2: cosine between mean MFCC vectors (without per-utterance normalisation, centred on
# the background mean)
raw = lambda y: features(y, cmvn=False).mean(axis=0)  # noqa: E731
centre = np.mean([raw(y) for y in bg_audio], axis=0)
unit = lambda v: (v - centre) / np.linalg.norm(v - centre)  # noqa: E731
E = np.array([unit(np.mean([raw(y) for y in e], axis=0)) for e in enrol_audio])
T = np.array([unit(raw(y)) for _, y in tests])
results["cosine of mean MFCCs"] = E @ T.T

print(f"\n{labels.sum()} target and {(~labels).sum()} non-target trials")
print(f"{'system':32s} {'EER':>7s} {'minDCF(0.01)':>13s}")
fig, ax = plt.subplots(figsize=(6.5, 6))
ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.4])
for name, S in results.items():
    e = eer(S.ravel(), labels.ravel())
    print(f"{name:32s} {100 * e:6.2f}% {min_dcf(S.ravel(), labels.ravel()):13.3f}")
    fpr, fnr, _ = det_curve(S.ravel(), labels.ravel())
    clip = lambda p: np.clip(p, 5e-4, 1 - 5e-4)  # noqa: E731
    ax.plot(norm.ppf(clip(fpr)), norm.ppf(clip(fnr)), lw=1.8,
            label=f"{name} (EER {100 * e:.1f}%)")
ax.plot(norm.ppf([5e-4, 0.5]), norm.ppf([5e-4, 0.5]), "k:", lw=0.8)
ax.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
ax.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
ax.set_xlim(norm.ppf(5e-4), norm.ppf(0.5))
ax.set_ylim(norm.ppf(5e-4), norm.ppf(0.5))
ax.set_xlabel("false alarm rate (%)")
ax.set_ylabel("miss rate (%)")
ax.set_title(f"DET curves: {N_EVAL} synthetic speakers, {labels.size} trials")
ax.legend(loc="upper right", fontsize="small")
ax.grid(alpha=0.3)
save(fig, args, "speaker_verification.png")
