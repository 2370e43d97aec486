"""gaussmix against scikit-learn: seconds per EM iteration, whole fits, GFLOP/s and peak memory.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.compare            # all configurations, ~10 min idle

Options: ``--configs A,C`` to select configurations, ``--repeats``, ``--iters``, ``--fit-seeds``,
``--no-rss``, ``--out``; ``--quick`` runs every configuration briefly (a tenth of the rows, one
repeat, one fit seed, no peak memory: a few minutes) to compare two versions of the code. Writes ``benchmarks/results/compare.md`` and ``compare.png``.

Method
------
* Data: deterministic Gaussian blobs (:mod:`benchmarks._data`), float64; float32 is a cast.
* Same init: both libraries start from the same weights, means and precisions (gaussmix's
  initialisation on a tenth of the rows, ``max_iter=0``).
* Per-iteration time: the two libraries alternate within one run, ``--repeats`` times. A
  scikit-learn iteration is exactly the body of its ``fit`` loop (``_e_step`` then ``_m_step``),
  timed directly; a gaussmix iteration is timed inside a real ``fit(tol=0)`` through
  :func:`gaussmix._engine.progress` (the first iteration, which allocates the workspaces, is
  excluded). Reported: median over all timed iterations.
* Agreement: the per-iteration mean log-likelihoods of both from the same init must agree to
  1e-9 relative in float64, else no speed is reported for that configuration.
* float32: gaussmix on the float32 cast from the same init; its log-likelihoods are compared
  with gaussmix float64.
* Whole fit: default parameters (``init_params="kmeans"``, ``n_init=1``, ``tol=1e-3``),
  ``--fit-seeds`` random states, alternating; final lower bound compared on average.
* GFLOP/s: floating-point operations the gaussmix full-covariance iteration executes in its two
  matrix products (``4 n k p`` with ``p = d + d(d+1)/2 + 1``) per second, against the peak of a
  square 4096 x 4096 matrix product measured in the same run. The textbook count of the
  whitening formulation scikit-learn uses is ``4 n k d^2`` (about twice as many).
* Peak memory: peak RSS (``VmHWM``) of a fresh process per configuration and library that generates
  the data and runs the per-iteration fit (``max_iter=2`` from the same init).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._data import CONFIGS, blobs

RTOL_AGREE = 1e-9
RTOL_F32 = 1e-4


# ---------------------------------------------------------------------------------------------
# machine


def machine_description() -> dict:
    import sklearn
    from threadpoolctl import threadpool_info

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil
        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:  # pragma: no cover
        mem = "unknown memory"
    blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')} "
                             f"({i.get('architecture')}, {i.get('num_threads')} threads)"
                             for i in threadpool_info() if i.get("user_api") == "blas"}))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "blas": blas,
            "python": platform.python_version(), "numpy": np.__version__,
            "sklearn": sklearn.__version__, "gpu": "none"}


def matmul_peak(size: int = 4096, repeats: int = 3) -> dict:
    """Best GFLOP/s of a square matrix product in float64 and float32."""
    out = {}
    rng = np.random.default_rng(0)
    for dt in (np.float64, np.float32):
        a = rng.standard_normal((size, size)).astype(dt)
        b = rng.standard_normal((size, size)).astype(dt)
        a @ b
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        out[np.dtype(dt).name] = 2 * size ** 3 / best / 1e9
    return out


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


# ---------------------------------------------------------------------------------------------
# the two libraries


def common_init(X, k, cov):
    """Weights, means, precisions (and their Cholesky factors) both libraries start from."""
    from gaussmix import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(k, covariance_type=cov, max_iter=0, random_state=0).fit(X[::10])
    return {"weights_init": gm.weights_, "means_init": gm.means_,
            "precisions_init": gm.precisions_}, gm.precisions_cholesky_, gm.covariances_


def sklearn_iterations(X, k, cov, init, prec_chol, covs, n_iter):
    """Times (s) and mean log-likelihoods of ``n_iter`` scikit-learn EM iterations."""
    from sklearn.mixture import GaussianMixture as Sk

    sk = Sk(k, covariance_type=cov, tol=0, max_iter=n_iter, **init)
    sk.weights_ = init["weights_init"].copy()
    sk.means_ = init["means_init"].copy()
    sk.precisions_cholesky_ = prec_chol.copy()
    sk.covariances_ = covs.copy()
    times, lls = [], []
    for _ in range(n_iter):
        t = time.perf_counter()
        log_prob_norm, log_resp = sk._e_step(X)
        sk._m_step(X, log_resp)
        times.append(time.perf_counter() - t)
        lls.append(float(log_prob_norm))
    return times, lls


def gaussmix_iterations(X, k, cov, init, n_iter):
    """Times (s) of iterations 2..n_iter+1 and all mean log-likelihoods of a gaussmix fit."""
    from gaussmix import GaussianMixture
    from gaussmix._engine import progress

    stamps = []
    gm = GaussianMixture(k, covariance_type=cov, tol=0, max_iter=n_iter + 1, **init)
    with warnings.catch_warnings(), progress(lambda i, lb: stamps.append(time.perf_counter())):
        warnings.simplefilter("ignore")
        gm.fit(X)
    return list(np.diff(stamps)), list(gm.lower_bounds_)


def whole_fit(lib, X, k, cov, seed):
    if lib == "gaussmix":
        from gaussmix import GaussianMixture as Est
    else:
        from sklearn.mixture import GaussianMixture as Est
    est = Est(k, covariance_type=cov, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        est.fit(X)
        dt = time.perf_counter() - t
    return dt, float(est.lower_bound_), int(est.n_iter_)


def _proc_status(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes (``VmHWM``: peak RSS of this process).

    ``getrusage``'s ``ru_maxrss`` is not used: it survives ``exec`` and so reports the parent's
    peak in a freshly spawned child.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def rss_child(lib: str, name: str, cov: str) -> None:
    """Entry point of the fresh process measuring peak memory (prints one JSON line)."""
    n, d, k, _ = CONFIGS[name]
    X = blobs(n, d, k)
    import gaussmix  # noqa: F401  (both children import both libraries)
    import sklearn.mixture  # noqa: F401
    init, prec_chol, covs = common_init(X, k, cov)
    base = _proc_status("VmRSS")
    try:  # reset the peak to the current RSS, so the peak below is that of the EM alone
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    if lib == "gaussmix":
        gaussmix_iterations(X, k, cov, init, 1)
    else:
        from sklearn.mixture import GaussianMixture as Sk
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Sk(k, covariance_type=cov, tol=0, max_iter=2, init_params="random_from_data",
               **init).fit(X)
    peak = _proc_status("VmHWM")
    print(json.dumps({"peak": peak, "base": base, "data": X.nbytes}))


def measure_rss(lib, name, cov) -> dict | None:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--rss-child", lib, name, cov],
                       capture_output=True, text=True, env=env,
                       cwd=str(Path(__file__).resolve().parents[1]))
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# one configuration


#: Configurations with fewer than SMALL_NK rows x components time SMALL_ITERS iterations per run.
SMALL_NK = 10**6
SMALL_ITERS = 20


def executed_flops(n, d, k, cov) -> float | None:
    if cov != "full":
        return None
    p = d + d * (d + 1) // 2 + 1
    return 4.0 * n * k * p


def run_config(name, cov, args, peak) -> dict:
    n, d, k, _ = CONFIGS[name]
    n = max(1000, int(n * args.scale))
    label = name if len(CONFIGS[name][3]) == 1 else f"{name} {cov}"
    log(f"[{label}] n={n} d={d} k={k} {cov}: data")
    X = blobs(n, d, k)
    X32 = X.astype(np.float32)
    init, prec_chol, covs = common_init(X, k, cov)
    sk_t, gm_t, gm32_t = [], [], []
    agree, agree32 = 0.0, 0.0
    # an iteration of a small configuration takes milliseconds: time more of them per run
    n_iter = args.iters if n * k >= SMALL_NK else max(args.iters, SMALL_ITERS)
    for r in range(args.repeats):
        t, sk_ll = sklearn_iterations(X, k, cov, init, prec_chol, covs, n_iter)
        sk_t += t
        t, gm_ll = gaussmix_iterations(X, k, cov, init, n_iter)
        gm_t += t
        t, gm32_ll = gaussmix_iterations(X32, k, cov, init, n_iter)
        gm32_t += t
        m = min(len(sk_ll), len(gm_ll))
        agree = max(agree, float(np.max(np.abs(np.subtract(gm_ll[:m], sk_ll[:m]))
                                        / np.abs(sk_ll[:m]))))
        agree32 = max(agree32, float(np.max(np.abs(np.subtract(gm32_ll, gm_ll))
                                            / np.abs(gm_ll))))
        log(f"[{label}] repeat {r + 1}: sklearn {np.median(sk_t):.4f} s/it, gaussmix "
            f"{np.median(gm_t):.4f} (f32 {np.median(gm32_t):.4f}); rel. diff {agree:.1e}")
    res = {"label": label, "name": name, "cov": cov, "n": n, "d": d, "k": k,
           "sk_it": float(np.median(sk_t)), "gm_it": float(np.median(gm_t)),
           "gm32_it": float(np.median(gm32_t)), "agree": agree, "agree32": agree32,
           "n_timed": len(gm_t)}
    res["ok"] = agree <= RTOL_AGREE
    fl = executed_flops(n, d, k, cov)
    if fl is not None:
        res["gflops"] = fl / res["gm_it"] / 1e9
        res["gflops32"] = fl / res["gm32_it"] / 1e9
        res["textbook_gflops"] = 4.0 * n * k * d * d / res["gm_it"] / 1e9
        res["pct_peak"] = 100 * res["gflops"] / peak["float64"]
        res["pct_peak32"] = 100 * res["gflops32"] / peak["float32"]
    if name in args.fit_configs and args.fit_seeds > 0:
        fits = {"sklearn": [], "gaussmix": []}
        for seed in range(args.fit_seeds):
            for lib in ("sklearn", "gaussmix"):
                fits[lib].append(whole_fit(lib, X, k, cov, seed))
            log(f"[{label}] fit seed {seed}: sklearn {fits['sklearn'][-1][0]:.2f} s "
                f"(lb {fits['sklearn'][-1][1]:.5f}, {fits['sklearn'][-1][2]} it), gaussmix "
                f"{fits['gaussmix'][-1][0]:.2f} s (lb {fits['gaussmix'][-1][1]:.5f}, "
                f"{fits['gaussmix'][-1][2]} it)")
        res["sk_fit"] = float(np.median([f[0] for f in fits["sklearn"]]))
        res["gm_fit"] = float(np.median([f[0] for f in fits["gaussmix"]]))
        res["sk_fit_lb"] = float(np.mean([f[1] for f in fits["sklearn"]]))
        res["gm_fit_lb"] = float(np.mean([f[1] for f in fits["gaussmix"]]))
        res["sk_fit_iter"] = float(np.mean([f[2] for f in fits["sklearn"]]))
        res["gm_fit_iter"] = float(np.mean([f[2] for f in fits["gaussmix"]]))
    if args.rss:
        for lib in ("sklearn", "gaussmix"):
            m = measure_rss(lib, name, cov)
            if m is not None:
                res[f"rss_{lib}"] = m["peak"]
                res["rss_base"] = m["base"]
                res["data_bytes"] = m["data"]
        log(f"[{label}] peak RSS sklearn {res.get('rss_sklearn', 0) / 2**20:.0f} MiB, "
            f"gaussmix {res.get('rss_gaussmix', 0) / 2**20:.0f} MiB")
    return res


# ---------------------------------------------------------------------------------------------
# report

TARGET_IT = {"A": 10, "B": 10, "C": 5, "D": 10, "E": 5, "F": 10}


def fmt_ratio(x):
    return f"{x:.1f}x" if np.isfinite(x) else "-"


def write_report(results, machine, peaks, load, wall, args, out: Path) -> None:
    # only the load before the run says whether other jobs share the machine: the benchmark
    # itself keeps every core busy, so later samples read about the number of cores
    shared = load[0] > 0.5 * (machine["cores"] or 1)
    lines = ["# gaussmix vs scikit-learn: EM speed, agreement and memory", ""]
    lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, "
                 f"no GPU; BLAS: {machine['blas']}; Python {machine['python']}, numpy "
                 f"{machine['numpy']}, scikit-learn {machine['sklearn']}.")
    lines.append("")
    lines.append(f"Matrix-product peak measured in this run (4096^2, all cores): "
                 f"{peaks['float64']:.1f} GFLOP/s float64, {peaks['float32']:.1f} float32.")
    lines.append("")
    if shared:
        lines.append(f"**The machine was shared with other jobs during this run** (1-minute load "
                     f"average {load[0]:.1f} before it started, on {machine['cores']} cores): "
                     "absolute times are inflated and noisy; the two libraries were alternated "
                     "within the run so the ratios stay comparable.")
    else:
        lines.append(f"1-minute load average before the run: {load[0]:.1f} (idle machine); "
                     f"during it {min(load[1:] or load):.1f}-{max(load[1:] or load):.1f}, "
                     "the benchmark's own threads.")
    lines.append("")
    lines.append(f"Command: `{args.command}` ({wall / 60:.1f} min). Median of "
                 f"{args.repeats} alternated runs x {args.iters} timed iterations each "
                 f"({SMALL_ITERS} for configurations with n k < {SMALL_NK:.0e}); "
                 "tol=0, same data, same initial parameters.")
    lines.append("")
    lines.append("## Seconds per EM iteration")
    lines.append("")
    lines.append("| config | n | d | k | covariance | scikit-learn s/it | gaussmix f64 s/it | "
                 "ratio (target) | gaussmix f32 s/it | f32 gain | f32 vs f64 log-lik | "
                 "log-lik agreement |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        tgt = TARGET_IT[r["name"]]
        if r["ok"]:
            ratio = r["sk_it"] / r["gm_it"]
            cells = [f"{r['sk_it']:.4f}", f"{r['gm_it']:.4f}",
                     f"{fmt_ratio(ratio)} ({tgt}x) {'met' if ratio >= tgt else 'missed'}",
                     f"{r['gm32_it']:.4f}", fmt_ratio(r["gm_it"] / r["gm32_it"])]
        else:
            cells = ["-", "-", "not reported: disagrees", "-", "-"]
        lines.append(f"| {r['label']} | {r['n']:,} | {r['d']} | {r['k']} | {r['cov']} | "
                     + " | ".join(cells)
                     + f" | {r['agree32']:.1e} | {r['agree']:.1e} |")
    lines.append("")
    lines.append("Targets: >= 10x on A, B, D, F and >= 5x on C, E (float64); float32 >= 1.6x "
                 "over float64 on B and C with log-likelihood within 1e-4 relative; agreement "
                 "<= 1e-9 relative.")
    lines.append("")
    full = [r for r in results if "gflops" in r and r["ok"]]
    if full:
        lines.append("## Achieved GFLOP/s (full covariance)")
        lines.append("")
        lines.append("| config | executed GFLOP/s f64 | % of f64 peak | executed GFLOP/s f32 | "
                     "% of f32 peak | textbook-count GFLOP/s f64 |")
        lines.append("|---|---|---|---|---|---|")
        for r in full:
            lines.append(f"| {r['label']} | {r['gflops']:.1f} | {r['pct_peak']:.0f}% | "
                         f"{r['gflops32']:.1f} | {r['pct_peak32']:.0f}% | "
                         f"{r['textbook_gflops']:.1f} |")
        lines.append("")
        lines.append("Executed = the `4 n k p` flops of the two products gaussmix runs "
                     "(`p = d + d(d+1)/2 + 1`); textbook = `4 n k d^2` of the whitening "
                     "formulation. Target: >= 50% of the measured peak on C.")
        lines.append("")
    fits = [r for r in results if "sk_fit" in r]
    if fits:
        lines.append("## Whole fit (k-means init, n_init=1, tol=1e-3)")
        lines.append("")
        lines.append(f"Median over {args.fit_seeds} random states (alternated); mean final "
                     "lower bound (mean log-likelihood, higher is better) over the same seeds.")
        lines.append("")
        lines.append("| config | scikit-learn s | gaussmix s | ratio (target 5x) | "
                     "sklearn iters | gaussmix iters | sklearn mean lb | gaussmix mean lb |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in fits:
            ratio = r["sk_fit"] / r["gm_fit"]
            lines.append(f"| {r['label']} | {r['sk_fit']:.2f} | {r['gm_fit']:.2f} | "
                         f"{fmt_ratio(ratio)} {'met' if ratio >= 5 else 'missed'} | "
                         f"{r['sk_fit_iter']:.1f} | {r['gm_fit_iter']:.1f} | "
                         f"{r['sk_fit_lb']:.5f} | {r['gm_fit_lb']:.5f} |")
        lines.append("")
    mem = [r for r in results if "rss_gaussmix" in r and "rss_sklearn" in r]
    if mem:
        lines.append("## Peak memory (fresh process per configuration and library)")
        lines.append("")
        lines.append("Max RSS of a process that generates the data (float64) and runs two EM "
                     "iterations from the same init; `n k` is the size of one float64 (n, k) "
                     "array.")
        lines.append("")
        lines.append("| config | data MiB | before EM MiB | scikit-learn peak MiB | "
                     "gaussmix peak MiB | gaussmix - before EM | n k x 8 B MiB | <= sklearn |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in mem:
            nk = r["n"] * r["k"] * 8
            lines.append(
                f"| {r['label']} | {r['data_bytes'] / 2**20:.0f} | {r['rss_base'] / 2**20:.0f} | "
                f"{r['rss_sklearn'] / 2**20:.0f} | {r['rss_gaussmix'] / 2**20:.0f} | "
                f"{(r['rss_gaussmix'] - r['rss_base']) / 2**20:.0f} | {nk / 2**20:.0f} | "
                f"{'yes' if r['rss_gaussmix'] <= r['rss_sklearn'] else 'no'} |")
        lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    (out.with_suffix(".json")).write_text(json.dumps(
        {"machine": machine, "peaks": peaks, "load": load, "results": results}, indent=1))


def plot(results, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r["ok"]]
    labels = [r["label"] for r in ok]
    x = np.arange(len(ok))
    it = [r["sk_it"] / r["gm_it"] for r in ok]
    it32 = [r["sk_it"] / r["gm32_it"] for r in ok]
    fit = [r["sk_fit"] / r["gm_fit"] if "sk_fit" in r else np.nan for r in ok]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(x - 0.27, it, 0.27, label="per iteration, float64")
    ax.bar(x, it32, 0.27, label="per iteration, float32 input")
    ax.bar(x + 0.27, fit, 0.27, label="whole fit (k-means init)")
    for i, r in enumerate(ok):
        ax.plot([i - 0.45, i + 0.45], [TARGET_IT[r["name"]]] * 2, "k--", lw=1)
    ax.set_xticks(x, labels)
    ax.set_ylabel("scikit-learn time / gaussmix time")
    ax.set_yscale("log")
    ax.set_title("gaussmix speed-up over scikit-learn (dashed: per-iteration target)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=2, help="timed EM iterations per run")
    ap.add_argument("--fit-seeds", type=int, default=3)
    ap.add_argument("--fit-configs", default="A,B,C,D")
    ap.add_argument("--no-rss", dest="rss", action="store_false")
    ap.add_argument("--out", default="benchmarks/results/compare.md")
    ap.add_argument("--quick", action="store_true",
                    help="a tenth of the rows, one repeat and fit seed, no peak memory")
    ap.add_argument("--rss-child", nargs=3, metavar=("LIB", "CONFIG", "COV"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.scale = 1.0
    if args.quick:
        args.scale, args.repeats, args.fit_seeds, args.rss = 0.1, 1, 1, False
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0
    args.command = "python -m benchmarks.compare" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    args.fit_configs = set(args.fit_configs.split(","))
    t0 = time.perf_counter()
    load = [load_average()]
    machine = machine_description()
    log(f"machine: {machine}")
    peaks = matmul_peak()
    log(f"matrix-product peak: {peaks}")
    results = []
    out = Path(args.out)
    for name in args.configs.split(","):
        for cov in CONFIGS[name][3]:
            results.append(run_config(name, cov, args, peaks))
            load.append(load_average())
            write_report(results, machine, peaks, load, time.perf_counter() - t0, args, out)
    peaks2 = matmul_peak()
    peaks = {k: max(v, peaks2[k]) for k, v in peaks.items()}
    for r in results:
        if "gflops" in r:
            r["pct_peak"] = 100 * r["gflops"] / peaks["float64"]
            r["pct_peak32"] = 100 * r["gflops32"] / peaks["float32"]
    write_report(results, machine, peaks, load, time.perf_counter() - t0, args, out)
    plot(results, out.with_suffix(".png"))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
