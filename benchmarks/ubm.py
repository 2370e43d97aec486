"""Training a diagonal universal background model: gaussmix's engine next to scikit-learn's.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.ubm            # about 10 minutes on 2 cores
    PYTHONPATH=src python -m benchmarks.ubm --quick    # a smoke run

The frames are synthetic MFCC-like vectors (39 dims: 13 cepstra with variances falling with the
coefficient index, their deltas and delta-deltas at smaller scales) drawn from a 256-component
diagonal mixture, 10^6 of them. For each UBM size both libraries start from the same parameters
(means on random frames, uniform weights, the data's variances) and run a fixed number of EM
iterations (``tol=0``), so the time per iteration is compared on the same work; the final mean
log-likelihoods are reported to show that it is the same work.

scikit-learn holds several (n_frames, n_components) float64 arrays at once (9 GiB at 10^6 x 512
for its log-densities, log-responsibilities and responsibilities), which does not fit beside
other jobs on the 24 GiB benchmark machine; it is therefore timed on the first ``--sk-rows``
frames, where gaussmix is timed as well, and the ratio is taken at equal size. An EM iteration
costs the same for every row, so per-iteration times scale linearly with the number of frames.
Writes ``benchmarks/results/ubm.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def mfcc_like(n: int, d: int = 39, k: int = 256, seed: int = 0) -> np.ndarray:
    """``n`` float32 frames from a random diagonal mixture with an MFCC-like spread per feature."""
    rng = np.random.default_rng([seed, n, d, k])
    n_static = (d + 2) // 3
    idx = np.arange(d) % n_static
    block = np.arange(d) // n_static  # 0 static, 1 delta, 2 delta-delta
    scale = (1.0 / (1.0 + idx / 3.0)) * np.array([1.0, 0.4, 0.15])[block]
    means = rng.normal(0, 1.0, (k, d)) * scale * 2.0
    sds = scale * rng.uniform(0.4, 1.0, (k, d))
    weights = rng.dirichlet(np.full(k, 2.0))
    z = rng.choice(k, size=n, p=weights)
    X = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 2**17):
        zz = z[s:s + 2**17]
        X[s:s + 2**17] = means[zz] + sds[zz] * rng.standard_normal((len(zz), d))
    return X


def initial(X: np.ndarray, k: int, seed: int = 0):
    rng = np.random.default_rng([seed, k])
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    var = X.var(axis=0, dtype=np.float64)
    return np.full(k, 1.0 / k), means, np.tile(1.0 / var, (k, 1))


def time_fit(cls, X, k, iters, init, **kw):
    weights, means, precisions = init
    gm = cls(k, covariance_type="diag", max_iter=iters, tol=0.0, weights_init=weights,
             means_init=means, precisions_init=precisions, init_params="random_from_data",
             random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": the iteration count is fixed
        t0 = time.perf_counter()
        gm.fit(X)
        elapsed = time.perf_counter() - t0
    return elapsed, gm


def main(argv=None):
    from sklearn.mixture import GaussianMixture as SkGM

    from gaussmix import GaussianMixture

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sk-rows", type=int, default=200_000)
    ap.add_argument("--dims", type=int, default=39)
    ap.add_argument("--components", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 64 and 128 components")
    ap.add_argument("--output", default="benchmarks/results/ubm.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.sk_rows, args.components, args.iters = 20_000, 10_000, [64, 128], 2
    X32 = mfcc_like(args.rows, args.dims)
    X64 = X32.astype(np.float64)
    Xs = X64[:args.sk_rows]
    load0 = os.getloadavg()[0]
    rows = []
    for k in args.components:
        init = initial(X32, k)
        t_gm, gm = time_fit(GaussianMixture, X64, k, args.iters, init)
        t_gm32, gm32 = time_fit(GaussianMixture, X32, k, args.iters, init)
        t_gms, gms = time_fit(GaussianMixture, Xs, k, args.iters, init)
        sk_fits = k <= 1024 or args.quick
        if sk_fits:
            t_sk, sk = time_fit(SkGM, Xs, k, args.iters, init)
        row = dict(k=k, gm=t_gm / args.iters, gm32=t_gm32 / args.iters, gms=t_gms / args.iters,
                   ll_gm=gm.score(Xs), ll_gm32=gm32.score(Xs), ll_gms=gms.score(Xs),
                   sk=t_sk / args.iters if sk_fits else None,
                   ll_sk=sk.score(Xs) if sk_fits else None)
        rows.append(row)
        print(row, flush=True)
    load1 = os.getloadavg()[0]

    n, m = f"{args.rows:,}", f"{args.sk_rows:,}"
    lines = [
        "# Diagonal UBM training: gaussmix next to scikit-learn",
        "",
        f"Command: `PYTHONPATH=src python -m benchmarks.ubm"
        + (" --quick" if args.quick else "") + "`",
        "",
        f"Machine: {os.cpu_count()} cores (shared with other jobs: load average {load0:.1f} at "
        f"the start, {load1:.1f} at the end), 24 GiB RAM, no GPU, OpenBLAS; Python "
        f"{platform.python_version()}, numpy {np.__version__}.",
        "",
        f"Data: {n} synthetic MFCC-like frames, {args.dims} features (see the module docstring). "
        f"Both libraries start from the same parameters and run {args.iters} EM iterations "
        "(`tol=0`); times are per iteration, fit overhead included. scikit-learn is timed on the "
        f"first {m} frames (its (n, K) float64 arrays do not fit in memory beside other jobs at "
        f"{n} frames); the ratio compares the two at that size. Mean log-likelihoods (on the "
        f"first {m} frames) after the same iterations show the same computation.",
        "",
        f"| K | gaussmix, {n} frames, float64 | gaussmix, {n}, float32 | gaussmix, {m} | "
        f"scikit-learn, {m} | speed-up at {m} | projected 20 iterations, {n}, float32 | "
        "mean log-lik gaussmix / scikit-learn |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sk = f"{r['sk']:.2f} s" if r["sk"] is not None else "not run"
        ratio = f"{r['sk'] / r['gms']:.1f}x" if r["sk"] is not None else "-"
        ll = (f"{r['ll_gms']:.5f} / {r['ll_sk']:.5f}" if r["ll_sk"] is not None
              else f"{r['ll_gms']:.5f} / -")
        lines.append(f"| {r['k']} | {r['gm']:.2f} s | {r['gm32']:.2f} s | {r['gms']:.2f} s | "
                     f"{sk} | {ratio} | {20 * r['gm32'] / 60:.1f} min | {ll} |")
    lines += [
        "",
        "scikit-learn is not run at K = 2048 (each of its (n, K) float64 arrays would take "
        "3 GiB at 200,000 frames). The machine is shared: times of one run move with the load "
        "of other jobs (compare the load averages above), so the ratio within a row, measured "
        "minutes apart, is the number to read, not the trend across rows.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        with open(args.output, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
