"""Exact EM on a dask LocalCluster vs in-memory EM: seconds per iteration, same result.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.scale_dask
    PYTHONPATH=src python -m benchmarks.scale_dask --n 2000000 --iters 6

Both fits start from the same parameters (a fit on a coreset) and run ``--iters`` EM iterations
with ``tol=0`` on the unbalanced 10-component, 8-D, float32 mixture of
``benchmarks.scale_coreset``. The dask fit runs on ``LocalCluster(n_workers=2,
threads_per_worker=1, processes=True)`` with the data in ``--blocks`` row blocks persisted on the
workers. Per-iteration times are the medians of the gaps between consecutive iterations (the
first iteration, which includes the setup, is reported separately). Writes
``benchmarks/results/scale_dask.md``.

A second section times a *small* array, where the fixed cost of the scheduler dominates:
``GaussianMixture(2).fit`` on a 20,000 x 2 float64 dask array (one block) against the same fit
on the NumPy array, with no distributed Client (the default threaded scheduler), and with
``scheduler="local"`` (a LocalCluster started and closed per fit, the behaviour before the
active scheduler was used). ``--quick`` runs only this section and prints it::

    PYTHONPATH=src python -m benchmarks.scale_dask --quick
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from benchmarks.scale_coreset import K, unbalanced


def timed_fit(gm, X):
    from gaussmix._engine import progress

    stamps = []
    t0 = time.perf_counter()
    with progress(lambda i, lb: stamps.append(time.perf_counter())):
        gm.fit(X)
    total = time.perf_counter() - t0
    return total, stamps[0] - t0, float(np.median(np.diff(stamps))), gm


def small_array(repeats: int = 5, n: int = 20_000):
    """Markdown lines: seconds per fit of a small dask array vs the NumPy array."""
    import dask.array as da

    import gaussmix.dask as gdask
    from gaussmix import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, (n // 2, 2)) for c in (0.0, 5.0)])
    Xd = da.from_array(X)

    def best(fit, r):
        times = []
        for _ in range(r):
            t0 = time.perf_counter()
            fit()
            times.append(time.perf_counter() - t0)
        return min(times), float(np.median(times))

    first = best(lambda: GaussianMixture(2, random_state=0).fit(Xd), 1)[0]
    numpy = best(lambda: GaussianMixture(2, random_state=0).fit(X), repeats)
    dask_ = best(lambda: GaussianMixture(2, random_state=0).fit(Xd), repeats)
    local = best(lambda: gdask.fit(GaussianMixture(2, random_state=0), Xd, scheduler="local"),
                 max(1, repeats // 3))
    return [
        f"## Small array: {n:,} x 2 float64, one block, K = 2",
        "",
        f"Seconds per fit (best and median of {repeats}; `scheduler=\"local\"`: of "
        f"{max(1, repeats // 3)}). The first dask fit in a process took {first:.2f} s (dask "
        "imports its optional modules once).",
        "",
        "| | best | median | / NumPy (best) |",
        "|---|---|---|---|",
        f"| NumPy array | {numpy[0]:.3f} | {numpy[1]:.3f} | 1 |",
        f"| dask array, no Client (threaded scheduler) | {dask_[0]:.3f} | {dask_[1]:.3f} | "
        f"{dask_[0] / numpy[0]:.1f}× |",
        f"| dask array, `scheduler=\"local\"` (LocalCluster per fit) | {local[0]:.3f} | "
        f"{local[1]:.3f} | {local[0] / numpy[0]:.0f}× |",
        "",
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--output", default="benchmarks/results/scale_dask.md")
    ap.add_argument("--quick", action="store_true",
                    help="only the small-array section, printed (nothing written)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.quick:
        print("\n".join(small_array()))
        return
    import dask.array as da
    import distributed

    from gaussmix import GaussianMixture

    load0 = os.getloadavg()
    X, _ = unbalanced(args.n, seed=1)
    init = GaussianMixture(K, random_state=0).fit(X, coreset_size=5000)
    kw = dict(weights_init=init.weights_, means_init=init.means_,
              precisions_init=init.precisions_, tol=0.0, max_iter=args.iters)
    mem = timed_fit(GaussianMixture(K, **kw), X)
    t_cluster = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        t_cluster = time.perf_counter() - t_cluster
        Xd = da.from_array(X, chunks=(-(-args.n // args.blocks), X.shape[1]))
        dsk = timed_fit(GaussianMixture(K, **kw), Xd)
        del client
    load1 = os.getloadavg()
    a, b = mem[3], dsk[3]
    dmeans = float(np.abs(a.means_ - b.means_).max())
    dcov = float(np.abs(a.covariances_ - b.covariances_).max())
    dlb = float(np.abs(np.array(a.lower_bounds_) - np.array(b.lower_bounds_)).max())
    lines = [
        "# Distributed EM on a dask LocalCluster vs in-memory EM",
        "",
        f"Command: `PYTHONPATH=src python -m benchmarks.scale_dask --n {args.n} --iters "
        f"{args.iters} --blocks {args.blocks}`",
        "",
        f"Machine: 2 cores (shared with other jobs: load average {load0[0]:.1f} at the start, "
        f"{load1[0]:.1f} at the end), 24 GiB, no GPU, OpenBLAS; Python "
        f"{platform.python_version()}, numpy {np.__version__}.",
        "",
        f"Data: n = {args.n:,}, D = 8, K = {K}, float32 (unbalanced mixture, weights 1000:1); "
        f"{args.iters} EM iterations from the same initial parameters, tol = 0. Dask: "
        f"`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` (started in "
        f"{t_cluster:.1f} s, not counted), {args.blocks} row blocks persisted on the workers; "
        "each iteration is a map of per-block sufficient statistics and a fixed binary-tree "
        "merge, the M-step on the client.",
        "",
        "| | in-memory EM | dask EM | dask / in-memory |",
        "|---|---|---|---|",
        f"| seconds per iteration (median, iterations 2..{args.iters}) | {mem[2]:.3f} | "
        f"{dsk[2]:.3f} | {dsk[2] / mem[2]:.2f}× |",
        f"| first iteration incl. setup (dask: persist, block validation, block coresets) | "
        f"{mem[1]:.2f} | {dsk[1]:.2f} | |",
        f"| whole fit | {mem[0]:.2f} | {dsk[0]:.2f} | {dsk[0] / mem[0]:.2f}× |",
        "",
        f"Same result: max |Δ means| = {dmeans:.1e}, max |Δ covariances| = {dcov:.1e}, "
        f"max |Δ lower bound| = {dlb:.1e} (float32 data, float64 statistics; the two sum "
        "the per-chunk statistics in a different order).",
        "",
    ] + small_array()
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
