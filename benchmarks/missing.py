"""EM with missing values (``GaussianMixture(missing="marginalize")``): accuracy and cost.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.missing            # about 8 minutes on 2 cores
    PYTHONPATH=src python -m benchmarks.missing --rows 200000 --seeds 1   # quick

1. Accuracy, on scikit-learn's wine (178 x 13) and breast cancer (569 x 30) data sets
   (standardised; bundled with scikit-learn, offline) and a planted 3-component mixture
   (2000 x 6): 70/30 train/test split, entries of the training rows removed completely at
   random at 10, 20 and 40 % (rows left with nothing observed are dropped), then

   * held-out log-likelihood (mean per test row, complete test rows) of the mixture fitted to
     the incomplete training rows (Ghahramani-Jordan EM) against the mixture fitted to the
     complete training rows, and against a fit to mean-imputed training rows;
   * imputation RMSE (standardised units) on the removed entries: the fitted mixture's
     conditional expectation (``impute``), column means, ``KNNImputer(5)`` and
     ``IterativeImputer(max_iter=10)`` (Bayesian ridge).

   Averages over ``--seeds`` random removals.
2. Cost: time per EM iteration on ``--rows`` rows (default 10^6, d=8, K=8, float64, full
   covariances) with 0, 10 and 30 % of the entries missing, from the same initial parameters;
   the median of the per-iteration wall times reported by ``gaussmix._engine.progress``.

Writes ``benchmarks/results/missing.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

RESULTS = os.path.join(os.path.dirname(__file__), "results", "missing.md")
RATES = (0.1, 0.2, 0.4)


def machine():
    """The machine line of :mod:`benchmarks.anomaly_auc`, with numpy's version and the load."""
    from .anomaly_auc import machine as base
    load = ""
    try:
        load = f" (load average {os.getloadavg()[0]:.1f} at the end)"
    except OSError:
        pass
    return f"{base()}, numpy {np.__version__}{load}"


def planted(n, d, k, seed):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((k, d)) * 3.0
    A = rng.standard_normal((k, d, d)) / np.sqrt(d)
    covs = A @ np.swapaxes(A, 1, 2) + 0.3 * np.eye(d)
    z = rng.choice(k, size=n, p=np.full(k, 1.0 / k))
    L = np.linalg.cholesky(covs)
    return means[z] + np.einsum("nij,nj->ni", L[z], rng.standard_normal((n, d)))


def datasets():
    from sklearn.datasets import load_breast_cancer, load_wine
    return [("wine", load_wine().data, 3), ("breast cancer", load_breast_cancer().data, 2),
            ("planted mixture", planted(2000, 6, 3, 0), 3)]


def accuracy(seeds):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    from gaussmix import GaussianMixture

    rows = []
    for name, X, k in datasets():
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        for rate in RATES:
            acc = {key: [] for key in ("ll_incomplete", "ll_complete", "ll_meanimp", "gmm",
                                       "mean", "knn", "iterative")}
            for seed in range(seeds):
                rng = np.random.default_rng(100 + seed)
                perm = rng.permutation(len(X))
                cut = int(0.7 * len(X))
                tr, te = X[perm[:cut]], X[perm[cut:]]
                Xm = tr.copy()
                Xm[rng.random(tr.shape) < rate] = np.nan
                keep = ~np.isnan(Xm).all(axis=1)
                tr, Xm = tr[keep], Xm[keep]
                miss = np.isnan(Xm)
                kw = dict(n_components=k, reg_covar=1e-3, n_init=3, random_state=seed,
                          max_iter=300)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    inc = GaussianMixture(missing="marginalize", **kw).fit(Xm)
                    com = GaussianMixture(**kw).fit(tr)
                    col = np.nanmean(Xm, axis=0)
                    mi = np.where(miss, col, Xm)
                    mimp = GaussianMixture(**kw).fit(mi)
                    fills = {
                        "gmm": inc.impute(Xm),
                        "mean": mi,
                        "knn": KNNImputer(n_neighbors=5).fit_transform(Xm),
                        "iterative": IterativeImputer(max_iter=10, random_state=seed)
                        .fit_transform(Xm),
                    }
                acc["ll_incomplete"].append(inc.score(te))
                acc["ll_complete"].append(com.score(te))
                acc["ll_meanimp"].append(mimp.score(te))
                for key, F in fills.items():
                    acc[key].append(float(np.sqrt(np.mean((F[miss] - tr[miss]) ** 2))))
            res = {key: float(np.mean(v)) for key, v in acc.items()}
            rows.append((name, X.shape, k, rate, res))
            print(name, rate, {key: round(v, 3) for key, v in res.items()}, flush=True)
    return rows


def timing(n_rows, d=8, k=8):
    from gaussmix import GaussianMixture
    from gaussmix._engine import progress

    X = planted(n_rows, d, k, 1)
    ref = GaussianMixture(k, max_iter=2, random_state=0, init_params="random_from_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X[:20000])
    init = dict(weights_init=ref.weights_, means_init=ref.means_,
                precisions_init=ref.precisions_)
    out = []
    for rate in (0.0, 0.1, 0.3):
        rng = np.random.default_rng(7)
        Xm = X.copy()
        if rate:
            Xm[rng.random(X.shape) < rate] = np.nan
            Xm = Xm[~np.isnan(Xm).all(axis=1)]
        n_complete = int((~np.isnan(Xm).any(axis=1)).sum())
        n_patterns = len(np.unique(np.isnan(Xm), axis=0))
        stamps = []
        gm = GaussianMixture(k, max_iter=6, tol=0.0, init_params="random_from_data",
                             missing="marginalize", random_state=0, **init)
        with warnings.catch_warnings(), progress(lambda i, lb: stamps.append(
                time.perf_counter())):
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            gm.fit(Xm)
            total = time.perf_counter() - t0
        per_iter = float(np.median(np.diff(stamps)))
        out.append((rate, len(Xm), n_complete, n_patterns, per_iter, total))
        print(f"missing {rate:.0%}: {per_iter:.3f} s/iteration ({n_patterns} patterns)",
              flush=True)
    return out


def write(acc_rows, time_rows, seeds, n_rows, elapsed, path=RESULTS):
    import sklearn
    lines = [
        "# EM with missing values",
        "",
        f"Command: `PYTHONPATH=src python -m benchmarks.missing --seeds {seeds} "
        f"--rows {n_rows}` ({elapsed / 60:.1f} min)",
        "",
        f"Machine: {machine()}; scikit-learn {sklearn.__version__}.",
        "",
        "## Held-out log-likelihood and imputation RMSE",
        "",
        "Standardised data, 70/30 split, entries of the training rows removed completely at "
        f"random; mean over {seeds} removals. `GaussianMixture(n_components=K, reg_covar=1e-3, "
        "n_init=3)`, full covariances. Held-out: mean log-likelihood per complete test row "
        "(higher is better) of the fit to the incomplete rows (`missing=\"marginalize\"`), to "
        "the complete rows (the ceiling), and to mean-imputed rows. RMSE on the removed "
        "entries (lower is better): `impute` of the incomplete-data fit, column means, "
        "`KNNImputer(5)`, `IterativeImputer(max_iter=10)`.",
        "",
        "| data (n x d, K) | missing | held-out LL: incomplete fit | complete fit | "
        "mean-imputed fit | RMSE: gaussmix | mean | KNN | Iterative |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, shape, k, rate, r in acc_rows:
        best = min(r["gmm"], r["mean"], r["knn"], r["iterative"])

        def cell(v):
            return f"**{v:.3f}**" if v == best else f"{v:.3f}"
        lines.append(
            f"| {name} ({shape[0]} x {shape[1]}, {k}) | {rate:.0%} | {r['ll_incomplete']:.3f} "
            f"| {r['ll_complete']:.3f} | {r['ll_meanimp']:.3f} | {cell(r['gmm'])} | "
            f"{cell(r['mean'])} | {cell(r['knn'])} | {cell(r['iterative'])} |")
    lines += [
        "",
        "## Cost per EM iteration",
        "",
        f"{n_rows:,} rows of a planted 8-component mixture, d = 8, K = 8, full covariances, "
        "float64, the same initial parameters; median wall time of 6 iterations. Complete rows "
        "take the fast kernels; incomplete rows are grouped by missingness pattern, with each "
        "pattern's marginal Cholesky factors computed once per iteration.",
        "",
        "| missing entries | rows | complete rows | patterns | s / iteration | vs complete data "
        "|",
        "|---|---|---|---|---|---|",
    ]
    base = time_rows[0][4]
    for rate, n, nc, npat, it, _ in time_rows:
        lines.append(f"| {rate:.0%} | {n:,} | {nc:,} | {npat} | {it:.3f} | {it / base:.1f}x |")
    lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--out", default=RESULTS)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    acc_rows = accuracy(a.seeds)
    time_rows = timing(a.rows)
    write(acc_rows, time_rows, a.seeds, a.rows, time.perf_counter() - t0, a.out)


if __name__ == "__main__":
    main()
