"""Anomaly detection: ROC AUC of the Gaussian mixture detector vs IsolationForest and EllipticEnvelope.

Unsupervised protocol: each detector is fitted on a contaminated set (inliers plus a few planted
anomalies, labels unseen) and scores the same rows; the labels only enter the ROC AUC. Data sets
ship with scikit-learn (no downloads):

* breast_cancer: benign tumours are inliers; 5% malignant ones are planted (30 features).
* wine: cultivars 0 and 1 are inliers (two modes); 5% of cultivar 2 is planted (13 features).
* digits: all digits but one are inliers (nine modes), 3% of the left-out digit are planted;
  the left-out digit cycles over 0..9; PCA to 20 dimensions (fitted unsupervised on the whole
  contaminated set).
* digits, 8s: every digit but 8 is an inlier, 5% of 8s are planted; all 64 pixels.
* iris: two species are inliers, 5% of the third are planted; the planted species cycles over
  the three.
* synthetic: a 3-component, 5-D Gaussian mixture with 5% uniform noise in its bounding box.
* synthetic, clustered anomalies: the same inliers with 4% anomalies in one tight cluster
  (anomalies that resemble each other: the case that defeats BIC's choice).

Detectors: the gaussmix detector at its defaults (``n_components="auto"``: K by the held-out
likelihood of the bulk, ``min_weight="auto"``); the previous default (K in 1..10 by BIC, full
covariance, all components scored); gaussmix with one full Gaussian (the default before that);
and scikit-learn's IsolationForest and EllipticEnvelope with default parameters.

Features are standardised (fitted on the contaminated set). Each configuration is repeated over
several seeds (different planted anomalies); the table gives mean and standard deviation of
the AUC and the median fit+score time.

Run from the repository root: ``python -m benchmarks.anomaly_auc [--seeds N]``.
Timings are single-process wall clock (threads as the libraries choose).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.covariance import EllipticEnvelope
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from gaussmix.anomaly import GaussianMixtureOutlierDetector

RESULTS = Path(__file__).resolve().parent / "results" / "anomaly.md"


def _plant(X_in, X_out, frac, rng):
    n_out = max(2, int(round(frac * len(X_in) / (1 - frac))))
    pick = rng.choice(len(X_out), size=min(n_out, len(X_out)), replace=False)
    X = np.vstack([X_in, X_out[pick]])
    y = np.r_[np.zeros(len(X_in)), np.ones(len(pick))]
    return X, y


def breast_cancer(seed):
    d = load_breast_cancer()
    rng = np.random.RandomState(seed)
    return _plant(d.data[d.target == 1], d.data[d.target == 0], 0.05, rng)


def wine(seed):
    d = load_wine()
    rng = np.random.RandomState(seed)
    return _plant(d.data[d.target != 2], d.data[d.target == 2], 0.05, rng)


def digits(seed):
    d = load_digits()
    rng = np.random.RandomState(seed)
    out = seed % 10
    X, y = _plant(d.data[d.target != out], d.data[d.target == out], 0.03, rng)
    return PCA(20, random_state=0).fit_transform(StandardScaler().fit_transform(X)), y


def digits_eights(seed):
    d = load_digits()
    rng = np.random.RandomState(seed)
    return _plant(d.data[d.target != 8], d.data[d.target == 8], 0.05, rng)


def iris(seed):
    d = load_iris()
    rng = np.random.RandomState(seed)
    out = seed % 3
    return _plant(d.data[d.target != out], d.data[d.target == out], 0.05, rng)


def _three_modes(rng):
    means = rng.uniform(-6, 6, (3, 5))
    parts = []
    for m in means:
        A = rng.normal(size=(5, 5)) * 0.6
        parts.append(rng.multivariate_normal(m, A @ A.T + 0.2 * np.eye(5), 400))
    return np.vstack(parts)


def synthetic(seed):
    rng = np.random.RandomState(seed)
    X_in = _three_modes(rng)
    lo, hi = X_in.min(axis=0), X_in.max(axis=0)
    X_out = rng.uniform(lo, hi, (2000, 5))
    return _plant(X_in, X_out, 0.05, rng)


def synthetic_clustered(seed):
    rng = np.random.RandomState(seed)
    X_in = _three_modes(rng)
    lo, hi = X_in.min(axis=0), X_in.max(axis=0)
    centre = rng.uniform(lo, hi)
    X_out = rng.normal(centre, 0.15, (2000, 5))
    return _plant(X_in, X_out, 0.04, rng)


DATASETS = {"breast_cancer": breast_cancer, "wine": wine, "digits (PCA 20)": digits,
            "digits, 8s (64-D)": digits_eights, "iris": iris,
            "synthetic (5-D, 3 modes)": synthetic,
            "synthetic, clustered anomalies": synthetic_clustered}

DEFAULT = "gaussmix default"
BIC = "gaussmix, K by BIC (previous default)"


def detectors(seed):
    return {
        DEFAULT: GaussianMixtureOutlierDetector(random_state=seed),
        BIC: GaussianMixtureOutlierDetector("bic", min_weight=0.0, random_state=seed),
        "gaussmix, K=1 full": GaussianMixtureOutlierDetector(1, random_state=seed),
        "IsolationForest": IsolationForest(random_state=seed),
        "EllipticEnvelope": EllipticEnvelope(random_state=seed),
    }


def run(n_seeds: int):
    rows = []
    for name, make in DATASETS.items():
        aucs: dict = {}
        times: dict = {}
        chosen: dict = {}
        shape = None
        for seed in range(n_seeds):
            X, y = make(seed)
            X = StandardScaler().fit_transform(X)
            shape = X.shape
            for det_name, det in detectors(seed).items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    det.fit(X)
                    s = det.score_samples(X)
                times.setdefault(det_name, []).append(time.perf_counter() - t0)
                aucs.setdefault(det_name, []).append(roc_auc_score(y, -s))
                if det_name == DEFAULT:
                    # the search's choice and how many of its components were light
                    best = max(det.search_, key=lambda r: r["score"])
                    k, drop = best["n_components"], best["n_dropped"]
                    chosen.setdefault(det_name, []).append(f"{k}" + (f"−{drop}" if drop else ""))
                elif det_name == BIC:
                    chosen.setdefault(det_name, []).append(str(det.mixture_.n_components))
            print(f"{name} seed {seed}: " + ", ".join(
                f"{k}={v[-1]:.3f}" for k, v in aucs.items()), flush=True)
        rows.append((name, shape, n_seeds, aucs, times, chosen))
    return rows


def machine():
    try:
        import threadpoolctl
        libs = {i["internal_api"] for i in threadpoolctl.threadpool_info()}
    except Exception:  # noqa: BLE001
        libs = set()
    mem = ""
    try:
        import psutil
        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB"
    except Exception:  # noqa: BLE001
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores{mem}, no GPU, "
            f"BLAS: {', '.join(sorted(libs)) or 'unknown'}; Python {platform.python_version()}")


def write(rows, n_seeds, path=RESULTS):
    import sklearn
    names = list(detectors(0))
    lines = [
        "# Anomaly detection: ROC AUC on planted anomalies",
        "",
        "Generated by `python -m benchmarks.anomaly_auc"
        + (f" --seeds {n_seeds}" if n_seeds != 5 else "") + "`; "
        f"scikit-learn {sklearn.__version__}; machine: {machine()}.",
        "",
        "Unsupervised: each detector is fitted on the contaminated rows and scores them; labels "
        "are used only for the AUC. Mean ± standard deviation over seeds (different planted "
        "anomalies; for digits (PCA 20) a different left-out digit per seed, for iris a "
        "different planted species). Default parameters for every method. The gaussmix "
        "default chooses K for detection: held-out likelihood of the bulk (lowest 10% of a "
        "25% validation split left out), scored without components lighter than "
        "min(0.1, 0.5/K), search stopped two K past the best. The previous default picks K in "
        "1..10 by BIC (full covariance) and scores with every component. Bold: best mean per "
        "row.",
        "",
        "| data set | n × d | seeds | " + " | ".join(names) + " |",
        "|---|---|---:|" + "---:|" * len(names),
    ]
    for name, shape, n, aucs, _, _ in rows:
        best = max(np.mean(aucs[k]) for k in names)
        cells = []
        for k in names:
            m, s = np.mean(aucs[k]), np.std(aucs[k])
            cell = f"{m:.3f} ± {s:.3f}"
            cells.append(f"**{cell}**" if m == best else cell)
        lines.append(f"| {name} | {shape[0]} × {shape[1]} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "Median fit + score time in seconds (ratio to IsolationForest in brackets):", "",
              "| data set | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, _, _, _, times, _ in rows:
        ref = np.median(times["IsolationForest"])
        lines.append(f"| {name} | " + " | ".join(
            f"{np.median(times[k]):.3f} ({np.median(times[k]) / ref:.2f}×)" for k in names) + " |")
    wins = {k: 0 for k in names if k != DEFAULT}
    for _, _, _, aucs, _, _ in rows:
        for k in wins:
            wins[k] += int(np.mean(aucs[DEFAULT]) > np.mean(aucs[k]))
    lines += ["", "Rows where the gaussmix default's mean AUC is higher: " + ", ".join(
        f"{wins[k]}/{len(rows)} against {k}" for k in wins) + ".", ""]
    lines += ["Components chosen per seed (for the default: the searched K, and −m when m of "
              "its components were light and left out of the bulk's model):", ""]
    for name, _, _, _, _, chosen in rows:
        lines.append(f"- {name}: " + "; ".join(
            f"{k}: {', '.join(v)}" for k, v in chosen.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="repetitions per data set")
    ap.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    args = ap.parse_args(argv)
    rows = run(args.seeds)
    path = write(rows, args.seeds, args.output)
    print(path.read_text())


if __name__ == "__main__":
    main()
