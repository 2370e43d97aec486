"""Published mclust results reproduced with gaussmix's fourteen covariance structures.

``python -m benchmarks.mclust [--out benchmarks/results/mclust.md] [--quick]``

For each data set, every structure of mclust (``EII`` ... ``VVV``) is fitted for K = 1..9,
each fit started from model-based hierarchical clustering (``init_params="hc"``, mclust's
default start) where gaussmix has it, and from ten k-means starts; the better likelihood is
kept. The best model by BIC is compared with the row published by mclust's authors. mclust's
BIC is ``2 logL - p log n``; gaussmix's ``bic()`` is its negative, and the table shows mclust's
sign. Published rows (mclust 6 vignette and help pages):

- ``Mclust(faithful)``: EEE, 3 components, BIC -2314.316, logL -1126.326;
- ``Mclust(iris[, 1:4])``: VEV, 2 components, BIC -561.728;
- diabetes with the vignette's correction (``glucose[104] <- 455``): VVV, 3 components,
  BIC -4734.561.

- ``MclustDA(iris[, 1:4], iris$Species, modelType="EDDA")``: VEV, logL -187.7097,
  BIC -565.8236, training error 0.02 (:class:`gaussmix.GaussianMixtureClassifier`).

Speed (``--speed``, on by default; ``--no-speed`` skips it): a 14-structure x K = 1..9 grid on
10^5 rows with 8 features (:func:`benchmarks._data.blobs`, 5 blobs). Every fit runs 20 EM
iterations (``tol=0``) from the same weights and means; seconds per iteration are the median of
iterations 2..21 (timed through :func:`gaussmix._engine.progress`). scikit-learn has no mclust
structures, so each is compared with its closest scikit-learn model (the least constrained one
that contains it: diagonal structures with ``diag``, spherical with ``spherical``, EEE with
``tied``, the rest with ``full``), timed the same way in the same run (its ``_e_step`` and
``_m_step``, as :mod:`benchmarks.compare` does); and the iterative structures' cost per
iteration is reported against VVV's.

The BIC-by-structure plot (mclust's ``plot(mclustBIC)``) of faithful is written next to the
table (``mclust_bic.png``).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from gaussmix import GaussianMixture
from gaussmix import covariance
from gaussmix.covariance import MCLUST_NAMES

DATA = Path(__file__).parent / "data"

PUBLISHED = [
    # data set, structure, K, BIC (mclust's sign), logL or None
    ("faithful", "EEE", 3, -2314.316, -1126.326),
    ("iris", "VEV", 2, -561.728, None),
    ("diabetes", "VVV", 3, -4734.561, None),
]


def load(name: str) -> np.ndarray:
    if name == "iris":
        from sklearn.datasets import load_iris
        return load_iris().data.astype(np.float64)
    if name == "faithful":
        return np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=1)
    if name == "diabetes":
        # columns fpg, glucose, insulin (mclust's names after the vignette's renaming); the
        # file already carries the corrected glucose value 455 of observation 104
        return np.loadtxt(DATA / "diabetes.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    raise ValueError(name)


def _has_hc() -> bool:
    try:
        GaussianMixture(1, init_params="hc").fit(np.random.default_rng(0).normal(size=(20, 2)))
        return True
    except Exception:
        return False


#: reg_covar of every fit, and the eigenvalue (a multiple of it) below which a fitted component
#: counts as collapsed
REG_COVAR = 1e-8
SINGULAR = 10 * REG_COVAR


def singular(gm) -> bool:
    """Whether a component collapsed onto a lower-dimensional set (repeated values): a
    covariance eigenvalue within ``SINGULAR`` of zero, i.e. at ``reg_covar``'s floor. mclust
    does not regularise, so such a fit stops there as singular and its BIC is NA."""
    model = covariance.get(gm.covariance_type)
    d = gm.means_.shape[1]
    return any(np.linalg.eigvalsh(model.component_covariance(gm.covariances_, j, d)).min()
               < SINGULAR for j in range(gm.n_components))


def fit_best(X, name, k, hc: bool):
    """The fit with the highest log-likelihood over an hc start and ten k-means starts, among
    those that did not collapse (:func:`singular`)."""
    best = None
    starts = [dict(init_params="hc", n_init=1)] if hc else []
    starts.append(dict(init_params="kmeans", n_init=10))
    for start in starts:
        gm = GaussianMixture(k, covariance_type=name, tol=1e-8, max_iter=2000, random_state=0,
                             reg_covar=REG_COVAR, **start)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(X)
        except Exception:
            continue
        if singular(gm):
            continue
        loglik = gm.score(X) * len(X)
        if best is None or loglik > best[1]:
            best = (gm, loglik)
    return best


def run(dataset: str, ks, hc: bool):
    X = load(dataset)
    n = len(X)
    rows = []
    t0 = time.perf_counter()
    for name in MCLUST_NAMES:
        for k in ks:
            res = fit_best(X, name, k, hc)
            if res is None:
                continue
            gm, loglik = res
            rows.append((name, k, loglik, gm.n_parameters(), -gm.bic(X)))
    elapsed = time.perf_counter() - t0
    return X, rows, elapsed


#: scikit-learn's closest (containing) model for each mclust structure
CLOSEST_SKLEARN = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag",
                   "EVI": "diag", "VVI": "diag", "EEE": "tied"}
#: structures whose M-step iterates inside EM
ITERATIVE = ("VEI", "EVI", "VEE", "EVE", "VVE", "VEV", "EVV")


def speed_grid(n: int, d: int, ks, n_iter: int = 20):
    """Seconds per EM iteration of every structure and of its closest scikit-learn model."""
    from ._data import blobs
    from .compare import common_init, gaussmix_iterations, sklearn_iterations

    X = blobs(n, d, 5, seed=1)
    g_times, s_times = {}, {}
    for k in ks:
        inits = {}
        for name in MCLUST_NAMES:
            sk_type = CLOSEST_SKLEARN.get(name, "full")
            if sk_type not in inits:
                inits[sk_type] = common_init(X, k, sk_type)
                init, prec_chol, covs = inits[sk_type]
                t, _ = sklearn_iterations(X, k, sk_type, init, prec_chol, covs, n_iter)
                s_times[sk_type, k] = float(np.median(t[1:]))
            init = inits[sk_type][0]
            start = {"weights_init": init["weights_init"], "means_init": init["means_init"]}
            t, _ = gaussmix_iterations(X, k, name, start, n_iter)
            g_times[name, k] = float(np.median(t))
        print(f"  speed grid: K={k} done", flush=True)
    lines = [f"## Speed: 14 structures x K = {ks.start}..{ks.stop - 1}, n = {n:,}, d = {d}", "",
             f"Seconds per EM iteration (median of iterations 2..{n_iter + 1}, same start); "
             "speed-up = scikit-learn's closest model / gaussmix (median over K); cost vs VVV = "
             "the structure's seconds per iteration / gaussmix VVV's (median over K).", "",
             "| structure | M-step | closest scikit-learn | gaussmix s/iter (K=1 / 5 / 9) | "
             "scikit-learn s/iter (K=1 / 5 / 9) | speed-up | cost vs VVV |",
             "|---|---|---|---:|---:|---:|---:|"]
    kk = [k for k in (1, 5, 9) if k in ks] or list(ks)[:3]
    for name in MCLUST_NAMES:
        sk_type = CLOSEST_SKLEARN.get(name, "full")
        sp = np.median([s_times[sk_type, k] / g_times[name, k] for k in ks])
        vs = np.median([g_times[name, k] / g_times["VVV", k] for k in ks])
        lines.append(
            f"| {name} | {'iterative' if name in ITERATIVE else 'closed form'} | {sk_type} | "
            + " / ".join(f"{g_times[name, k]:.4f}" for k in kk) + " | "
            + " / ".join(f"{s_times[sk_type, k]:.4f}" for k in kk)
            + f" | {sp:.1f}x | {vs:.2f} |")
    total_g = sum(g_times.values()) * n_iter
    total_s = sum(s_times[CLOSEST_SKLEARN.get(nm, "full"), k] for nm in MCLUST_NAMES for k in ks)
    lines += ["", f"Whole grid at {n_iter} iterations per fit: gaussmix {total_g:.1f} s, the "
              f"closest scikit-learn models {total_s * n_iter:.1f} s "
              f"({total_s * n_iter / total_g:.1f}x)."]
    return lines


def bic_plot(rows, dataset: str, out: Path) -> None:
    """mclust's BIC plot: one line per structure, BIC (mclust's sign) against K."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(MCLUST_NAMES):
        pts = sorted((r[1], r[4]) for r in rows if r[0] == name)
        if pts:
            ks, bics = zip(*pts)
            ax.plot(ks, bics, marker="os^vD<>ph*xP+d"[i % 14], color=cmap(i), label=name, lw=1)
    ax.set_xlabel("number of components")
    ax.set_ylabel("BIC (mclust's sign: 2 logL - p log n)")
    ax.set_title(f"{dataset}: BIC by covariance structure")
    ax.legend(ncol=2, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def edda_row() -> str:
    """``MclustDA(iris, Species, modelType="EDDA")``: VEV chosen by BIC among the fourteen
    structures, logL -187.7097, BIC -565.8236, training error 0.02 (mclust's help page)."""
    from sklearn.datasets import load_iris

    from gaussmix import GaussianMixtureClassifier

    X, y = load_iris(return_X_y=True)
    t0 = time.perf_counter()
    clf = GaussianMixtureClassifier(covariance_type=MCLUST_NAMES, reg_covar=0.0).fit(X, y)
    elapsed = time.perf_counter() - t0
    vev = GaussianMixtureClassifier(covariance_type="VEV", reg_covar=0.0).fit(X, y)
    err = 1 - clf.score(X, y)
    return (f"| iris EDDA (n={len(X)}, d={X.shape[1]}; training error mclust 0.02, gaussmix "
            f"{err:.2f}) | VEV | -565.824 | -187.710 | {clf.covariance_type_} | "
            f"{-clf.bic(X, y):.3f} | {clf.log_likelihood_:.3f} | {vev.log_likelihood_:.3f} | "
            f"{vev.n_parameters()} | {elapsed:.1f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    ap.add_argument("--quick", action="store_true",
                    help="K = 1..4 only, and a 10^4-row speed grid")
    ap.add_argument("--no-speed", dest="speed", action="store_false",
                    help="skip the speed grid")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    ks = range(1, 5) if args.quick else range(1, 10)
    hc = _has_hc()
    lines = ["# mclust's published results, reproduced", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, no GPU; "
             f"Python {platform.python_version()}, numpy {np.__version__}. "
             f"Starts: {'hierarchical (hc) and ' if hc else ''}10 k-means; "
             f"grid: 14 structures x K = {ks.start}..{ks.stop - 1}; reg_covar = {REG_COVAR:g}; fits "
             f"with a collapsed component (a covariance eigenvalue below {SINGULAR:g}, at the "
             "floor reg_covar sets on repeated values) are left out, as mclust reports NA for "
             "the singular fits it stops at.", "",
             "BIC in mclust's sign (2 logL - p log n, higher is better) = -gaussmix.bic().", "",
             "| data | mclust best | mclust BIC | mclust logL | gaussmix best | gaussmix BIC "
             "| gaussmix logL | gaussmix logL of mclust's model | p | grid time (s) |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for dataset, pname, pk, pbic, plog in PUBLISHED:
        X, rows, elapsed = run(dataset, ks, hc)
        if dataset == "faithful" and args.out:
            bic_plot(rows, dataset, args.out.with_name("mclust_bic.png"))
        best = max(rows, key=lambda r: r[4])
        same = [r for r in rows if r[0] == pname and r[1] == pk]
        same_ll = f"{same[0][2]:.3f}" if same else "n/a"
        p = same[0][3] if same else best[3]
        lines.append(
            f"| {dataset} (n={len(X)}, d={X.shape[1]}) | {pname},{pk} | {pbic:.3f} | "
            f"{'' if plog is None else f'{plog:.3f}'} | {best[0]},{best[1]} | {best[4]:.3f} | "
            f"{best[2]:.3f} | {same_ll} | {p} | {elapsed:.1f} |")
        print(lines[-1], flush=True)
        top = sorted(rows, key=lambda r: -r[4])[:3]
        lines.append("")  # keep the table first; the top-3 per data set follow below
        lines.pop()
        lines_top = ", ".join(f"{r[0]},{r[1]} {r[4]:.3f}" for r in top)
        print(f"  top 3 by BIC: {lines_top}", flush=True)
        lines.insert(len(lines), f"<!-- {dataset} top 3: {lines_top} -->")
    lines.append(edda_row())
    print(lines[-1], flush=True)
    text = "\n".join(l for l in lines if not l.startswith("<!--")) + "\n\nTop models by BIC:\n\n" \
        + "\n".join("- " + l[5:-4] for l in lines if l.startswith("<!--")) + "\n"
    if args.speed:
        n = 10_000 if args.quick else 100_000
        text += "\n" + "\n".join(speed_grid(n, 8, ks)) + "\n"
    cmd = "python -m benchmarks.mclust" + " ".join(
        [""] + (["--quick"] if args.quick else []) + ([] if args.speed else ["--no-speed"])
        + ([f"--out {args.out}"] if args.out else []))
    text += (f"\nCommand: `{cmd}` ({time.perf_counter() - t_start:.0f} s in all; load average "
             f"{os.getloadavg()[0]:.1f} at the end).\n")
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
