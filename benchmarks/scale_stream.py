"""Streaming coreset over a ``.npy`` file larger than 8 GiB: throughput and peak memory.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.scale_stream            # 8.3 GiB file, deleted afterwards
    PYTHONPATH=src python -m benchmarks.scale_stream --rows 20000000 --dir /tmp

Writes ``n`` rows (default 2.8e8, D=8, float32: 8.3 GiB) of the unbalanced 10-component
mixture of ``benchmarks.scale_coreset`` to a ``.npy`` file chunk by chunk, evicts the file from
the page cache (``posix_fadvise(DONTNEED)``, this file only) so that it is read from disk, and
then, in a fresh child process (so that its peak resident memory is its own):

1. streams the file through :class:`gaussmix._data.NpyChunks` (2^20-row reads into one
   buffer) into ``StreamingCoreset(size, 10)``, timing points/s and recording peak RSS and the
   number of rows held;
2. fits ``GaussianMixture(10)`` on the final coreset and compares its held-out mean
   log-likelihood with the true mixture's.

The file is deleted at the end. Writes ``benchmarks/results/scale_stream.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from benchmarks.scale_coreset import K, unbalanced


def mixture_params(d=8, k=K, param_seed=0):
    prng = np.random.default_rng(param_seed)
    weights = 1000.0 ** (-np.arange(k) / (k - 1))
    weights /= weights.sum()
    side = 10.0 * d ** 0.25
    centres = prng.uniform(-side / 2, side / 2, size=(k, d))
    covs = []
    for _ in range(k):
        A = prng.standard_normal((d, d))
        covs.append((A @ A.T / d + 0.1 * np.eye(d)) * prng.uniform(0.3, 1.5))
    return weights, centres, np.array(covs)


def true_log_likelihood(X):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    w, mu, cov = mixture_params()
    lp = np.stack([np.log(w[j]) + multivariate_normal(mu[j], cov[j]).logpdf(X)
                   for j in range(len(w))], axis=1)
    return float(logsumexp(lp, axis=1).mean())


def write_file(path, n, chunk=1 << 22):
    d = 8
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
              "shape": (n, d)}
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for i, s in enumerate(range(0, n, chunk)):
            m = min(chunk, n - s)
            X, _ = unbalanced(m, seed=1000 + i)
            X = X[np.random.default_rng(i).permutation(m)]
            f.write(X.tobytes())
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return time.perf_counter() - t0


def child(path, size, read_rows):
    """Run in a fresh process: stream, then report JSON on stdout."""
    from gaussmix import GaussianMixture
    from gaussmix._data import NpyChunks
    from gaussmix.coreset import StreamingCoreset

    warnings.simplefilter("ignore")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reader = NpyChunks(path, chunk_size=read_rows)
    sc = StreamingCoreset(size, K, random_state=0)
    max_stored = 0
    t0 = time.perf_counter()
    for X in reader:
        sc.partial_fit(X)
        max_stored = max(max_stored, sc.n_stored_)
    P, W = sc.coreset()
    t_stream = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter()
    gm = GaussianMixture(K, random_state=0).fit(P, sample_weight=W)
    t_fit = time.perf_counter() - t1
    Xte, _ = unbalanced(200_000, seed=2)
    json.dump({"n": sc.n_samples_seen_, "t_stream": t_stream, "t_fit": t_fit,
               "rss_before_kib": rss0, "peak_rss_kib": rss1, "max_stored": max_stored,
               "coreset_rows": len(P), "total_weight": float(W.sum()),
               "ll_coreset_fit": gm.score(Xte), "ll_true": true_log_likelihood(Xte),
               "shape": list(reader.shape), "leaf": sc._leaf}, sys.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=280_000_000)
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--read-rows", type=int, default=1 << 20)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--output", default="benchmarks/results/scale_stream.md")
    ap.add_argument("--child", nargs=3, metavar=("PATH", "SIZE", "READ_ROWS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    load0 = os.getloadavg()
    path = os.path.join(args.dir, f"gaussmix_stream_{os.getpid()}.npy")
    try:
        t_write = write_file(path, args.rows)
        nbytes = os.path.getsize(path)
        sys.stderr.write(f"wrote {nbytes / 2**30:.2f} GiB in {t_write:.0f}s\n")
        env = dict(os.environ)
        proc = subprocess.run([sys.executable, "-m", "benchmarks.scale_stream", "--child", path,
                               str(args.size), str(args.read_rows)],
                              capture_output=True, text=True, env=env, check=True)
        r = json.loads(proc.stdout)
    finally:
        if os.path.exists(path):
            os.remove(path)
    load1 = os.getloadavg()
    n = r["n"]
    lines = [
        "# Streaming coreset over a .npy file larger than 8 GiB",
        "",
        f"Command: `PYTHONPATH=src python -m benchmarks.scale_stream --rows {args.rows} "
        f"--size {args.size}`",
        "",
        f"Machine: 2 cores (shared with other jobs: load average {load0[0]:.1f} at the start, "
        f"{load1[0]:.1f} at the end), 24 GiB RAM, no GPU, OpenBLAS; Python "
        f"{platform.python_version()}, numpy {np.__version__}.",
        "",
        f"File: {n:,} rows × 8 float32 = {nbytes / 2**30:.2f} GiB (unbalanced 10-component "
        "mixture, weights spanning 1000:1), written in chunks in "
        f"{t_write:.0f} s and evicted from the page cache before reading. Streamed with "
        f"`NpyChunks(path, chunk_size={args.read_rows})` into `StreamingCoreset(size={args.size}, "
        f"n_clusters=10)` (merge and reduce, leaf {r['leaf']:,} rows) in a fresh process.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| rows streamed | {n:,} |",
        f"| streaming time (read + coreset, final reduce included) | {r['t_stream']:.1f} s |",
        f"| throughput | {n / r['t_stream'] / 1e6:.2f} M points/s "
        f"({nbytes / r['t_stream'] / 2**20:.0f} MiB/s) |",
        f"| peak RSS of the process (whole run, incl. interpreter and imports) | "
        f"{r['peak_rss_kib'] / 2**10:.0f} MiB |",
        f"| RSS after imports, before streaming | {r['rss_before_kib'] / 2**10:.0f} MiB |",
        f"| peak RSS / file size | {r['peak_rss_kib'] * 1024 / nbytes * 100:.2f}% |",
        f"| most rows held by the coreset (buffer + levels) | {r['max_stored']:,} |",
        f"| final coreset rows | {r['coreset_rows']:,} |",
        f"| coreset total weight / n | {r['total_weight'] / n:.4f} |",
        f"| GaussianMixture(10) fit on the coreset | {r['t_fit']:.1f} s |",
        f"| held-out mean log-lik, coreset fit | {r['ll_coreset_fit']:.5f} |",
        f"| held-out mean log-lik, true mixture | {r['ll_true']:.5f} |",
        f"| relative gap to the true mixture | "
        f"{abs(r['ll_true'] - r['ll_coreset_fit']) / abs(r['ll_true']) * 100:.3f}% |",
        "",
        "The file is deleted at the end of the run.",
        "",
    ]
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
