"""gaussmix.BayesianGaussianMixture against scikit-learn's: per iteration, whole fits, SVI.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.compare_bayes          # ~5 min on 2 cores

Both libraries run on ``--threads`` BLAS threads (gaussmix's E-pass on as many), default 1:
on a small shared machine, single-threaded timings are the reproducible ones.

Options: ``--scale`` (fraction of the rows of :data:`benchmarks._data.CONFIGS`, default 0.1),
``--iters``, ``--svi-rows`` (rows of the memory-mapped SVI run, default 10**6), ``--out``.
Writes ``benchmarks/results/compare_bayes.md``.

Method
------
* Data: the blobs of :mod:`benchmarks.compare` (:mod:`benchmarks._data`), same configurations,
  rows scaled by ``--scale`` (:data:`SCALE_OVERRIDE` for C) so that the whole run fits in a few minutes on a small machine.
* Same init: both start from the same random responsibilities (scikit-learn's
  ``_initialize(X, resp)``; gaussmix's test path ``_fit(X, None, init_resp=resp)``).
* Per-iteration time: a scikit-learn iteration is exactly the body of its ``fit`` loop
  (``_e_step``, ``_m_step``, ``_compute_lower_bound``), timed directly, median of ``--iters``;
  gaussmix's is the body of its own loop (engine parameters, E-pass, entropy term, M-step,
  bound), timed the same way (its first iteration, which allocates the workspaces, excluded).
  The two alternate iteration by iteration, so a change of the machine's load hits both.
* Agreement: the largest relative difference of the per-iteration lower bounds (ELBO) over the
  iterations run from the same init.
* Whole fit: default parameters (``init_params="kmeans"``, ``tol=1e-3``) but ``max_iter``
  ``--fit-iter`` (default 30, to bound the run), ``random_state=0``; the initialisations differ (each library's own k-means), so the final
  bounds are shown side by side, not compared.
* SVI: ``partial_fit`` over a float32 memory map read in batches of 10,000 rows, one epoch,
  ``total_samples`` set, against a chunked batch fit of the same memory map.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ._data import CONFIGS, blobs
from .compare import load_average, machine_description


#: configurations run at a smaller fraction than ``--scale`` (scikit-learn's full-covariance
#: M-step at d=64, k=32 costs tens of seconds per iteration on the reference machine)
SCALE_OVERRIDE = {"C": 0.05}


def interleaved_iterations(X, resp, kw, n_iter):
    """Iterations of both libraries from the same responsibilities, alternating one by one
    (so that a change in the machine's load hits both alike). Returns the median seconds per
    iteration and the lower bounds of each: ``(t_sk, lb_sk, t_gm, lb_gm)``."""
    from sklearn.mixture import BayesianGaussianMixture as Sk
    from gaussmix import BayesianGaussianMixture, covariance
    from gaussmix._bayesian import _vb_pass
    sk = Sk(**kw)
    sk._check_parameters(X)
    sk._initialize(X, resp)
    est = BayesianGaussianMixture(**{**kw, "max_iter": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = est._fit(X, None, init_resp=resp)  # priors and the initial M-step
    model = covariance.get(est.covariance_type)
    shift, d = source.weighted_mean(), X.shape[1]
    st = est._state()
    t_sk, lb_sk, t_gm, lb_gm = [], [], [], []
    for _ in range(n_iter):
        # scikit-learn: exactly the body of its fit loop
        t0 = time.perf_counter()
        log_prob_norm, log_resp = sk._e_step(X)
        sk._m_step(X, log_resp)
        lb = sk._compute_lower_bound(log_resp, log_prob_norm)
        t_sk.append(time.perf_counter() - t0)
        lb_sk.append(float(np.ravel(lb)[0]))
        # gaussmix: the body of its fit loop, same pieces in the same order
        t0 = time.perf_counter()
        params, c = est._engine_params(st, d)
        stats = _vb_pass(source, params, model, shift, X.dtype, est._prior_diag())
        ent = est._entropy_term(stats, st, c, d)
        st = est._m_step(stats)
        lb_gm.append(est._lower_bound(ent, st, d, stats))
        t_gm.append(time.perf_counter() - t0)
    # the first gaussmix iteration allocates the workspaces: excluded, as in benchmarks.compare
    return (float(np.median(t_sk)), lb_sk,
            float(np.median(t_gm[1:] if n_iter > 1 else t_gm)), lb_gm)


def whole_fit(lib, X, k, cov, max_iter):
    if lib == "sklearn":
        from sklearn.mixture import BayesianGaussianMixture as B
    else:
        from gaussmix import BayesianGaussianMixture as B
    est = B(n_components=k, covariance_type=cov, random_state=0, max_iter=max_iter)
    t0 = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - t0, est


def run_config(name, cov, args):
    n, d, k, _ = CONFIGS[name]
    n = int(n * SCALE_OVERRIDE.get(name, args.scale))
    X = blobs(n, d, k, seed=0)
    resp = np.random.RandomState(1).uniform(size=(n, k))
    resp /= resp.sum(axis=1)[:, None]
    kw = dict(n_components=k, covariance_type=cov, tol=0.0)
    t_sk, lb_sk, t_gm, lb_gm = interleaved_iterations(X, resp, kw, args.iters)
    agree = float(np.max(np.abs(np.subtract(lb_gm, lb_sk)) / np.abs(lb_sk)))
    f_sk, e_sk = whole_fit("sklearn", X, k, cov, args.fit_iter)
    f_gm, e_gm = whole_fit("gaussmix", X, k, cov, args.fit_iter)
    return {"name": name, "cov": cov, "n": n, "d": d, "k": k, "it_sk": t_sk, "it_gm": t_gm,
            "agree": agree, "fit_sk": f_sk, "fit_gm": f_gm, "n_iter_sk": e_sk.n_iter_,
            "n_iter_gm": e_gm.n_iter_, "lb_sk": float(np.ravel(e_sk.lower_bound_)[0]), "lb_gm": e_gm.lower_bound_}


def svi_run(rows, d=16, k=16, batch=10_000):
    from gaussmix import BayesianGaussianMixture
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "svi.npy"
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, d))
        mm[:] = blobs(rows, d, k, seed=0, dtype=np.float32)  # rows shuffled: iid batches
        mm.flush()
        del mm
        X = np.load(path, mmap_mode="r")
        svi = BayesianGaussianMixture(n_components=k, total_samples=rows, random_state=0,
                                      learning_offset=10.0, learning_decay=0.6)
        t0 = time.perf_counter()
        for s in range(0, rows, batch):
            svi.partial_fit(np.asarray(X[s:s + batch]))
        t_svi = time.perf_counter() - t0
        full = BayesianGaussianMixture(n_components=k, random_state=0, max_iter=20)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full.fit(X)
        t_full = time.perf_counter() - t0
        # the batch fit's bound, and the bound of one more batch iteration from the SVI
        # posterior (the same functional evaluated on the whole data)
        probe = BayesianGaussianMixture(n_components=k, max_iter=1, warm_start=True)
        probe.__dict__.update({a: v for a, v in svi.__dict__.items()
                               if a.endswith("_") and not a.startswith("_")})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe.fit(X)
    return {"rows": rows, "d": d, "k": k, "batch": batch, "t_svi": t_svi,
            "t_full": t_full, "full_iter": full.n_iter_, "lb_full": full.lower_bound_,
            "lb_svi": probe.lower_bound_, "eff_svi": svi.effective_n_components_,
            "eff_full": full.effective_n_components_}


def write_report(results, svi, machine, wall, args, out: Path):
    lines = [
        "# BayesianGaussianMixture: gaussmix vs scikit-learn",
        "",
        f"`PYTHONPATH=src python -m benchmarks.compare_bayes --scale {args.scale} --iters "
        f"{args.iters} --fit-iter {args.fit_iter} --svi-rows {args.svi_rows} --threads "
        f"{args.threads}` ({wall:.0f} s, both libraries on {args.threads} thread(s); load "
        f"average {load_average():.1f} at the end: the machine was shared). "
        f"Machine: {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['memory']}; {machine['blas']}; numpy "
        f"{machine['numpy']}, scikit-learn {machine['sklearn']}.",
        "",
        f"Configurations of `benchmarks.compare` with {args.scale:g} of the rows "
        f"(overrides: {SCALE_OVERRIDE}); float64. "
        "Per iteration: median seconds, same initial responsibilities; agreement: largest "
        "relative difference of the per-iteration ELBO. Whole fit: defaults "
        f"(k-means init, each library's own), max_iter={args.fit_iter}.",
        "",
        "| config | n | d | k | cov | s/iter sklearn | s/iter gaussmix | ratio | ELBO agreement "
        "| fit sklearn (s, iters) | fit gaussmix (s, iters) | fit ratio | final ELBO sklearn "
        "| final ELBO gaussmix |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['n']:,} | {r['d']} | {r['k']} | {r['cov']} | {r['it_sk']:.4f} "
            f"| {r['it_gm']:.4f} | {r['it_sk'] / r['it_gm']:.1f}x | {r['agree']:.1e} | "
            f"{r['fit_sk']:.2f} ({r['n_iter_sk']}) | {r['fit_gm']:.2f} ({r['n_iter_gm']}) | "
            f"{r['fit_sk'] / r['fit_gm']:.1f}x | {r['lb_sk']:.6g} | {r['lb_gm']:.6g} |")
    if svi:
        lines += [
            "",
            f"SVI (`partial_fit`, one epoch, batches of {svi['batch']:,}, float32 memory map "
            f"of {svi['rows']:,} x {svi['d']}, k={svi['k']}, total_samples set): "
            f"{svi['t_svi']:.1f} s; chunked batch fit of the same memory map: "
            f"{svi['t_full']:.1f} s for {svi['full_iter']} iterations. ELBO on the whole data "
            f"after one more batch iteration from the SVI posterior: {svi['lb_svi']:.7g} "
            f"(batch fit: {svi['lb_full']:.7g}); effective components: SVI "
            f"{svi['eff_svi']}, batch {svi['eff_full']}.",
        ]
    out.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--fit-iter", type=int, default=30)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--svi-rows", type=int, default=10**6)
    ap.add_argument("--out", default="benchmarks/results/compare_bayes.md")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads and gaussmix E-pass threads, for both libraries")
    args = ap.parse_args(argv)
    import os
    from threadpoolctl import threadpool_limits
    os.environ["GAUSSMIX_NUM_THREADS"] = str(args.threads)
    with threadpool_limits(limits=args.threads):
        return _run(args)


def _run(args) -> int:
    t0 = time.perf_counter()
    results = []
    for name in args.configs.split(","):
        for cov in CONFIGS[name][3]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = run_config(name, cov, args)
            print(f"{name} {cov}: {r['it_sk']:.4f} vs {r['it_gm']:.4f} s/iter "
                  f"({r['it_sk'] / r['it_gm']:.1f}x), agreement {r['agree']:.1e}", flush=True)
            results.append(r)
    svi = svi_run(args.svi_rows) if args.svi_rows > 0 else None
    if svi:
        print(f"SVI {svi}", flush=True)
    write_report(results, svi, machine_description(), time.perf_counter() - t0, args,
                 Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
