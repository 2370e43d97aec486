"""Cost of the order-free initialisations: k-means (``init_params="kmeans"``) and k-means++.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.init_seeding                 # n = 1e5 and 1e6, d=10, k=8
    PYTHONPATH=src python -m benchmarks.init_seeding --n 1e6 --repeats 5

Each measurement runs in a fresh process (one BLAS thread), so that two source trees can be
compared on the same machine, alternating, with ``--src`` (a ``src`` directory, for instance
one exported with ``git archive <rev> src | tar -x -C /tmp/rev``)::

    PYTHONPATH=src python -m benchmarks.init_seeding --src /tmp/rev/src --src src

Reported: the minimum over ``--repeats`` runs of the wall time and of the CPU time (the CPU
time is less disturbed by other work on a shared machine) of ``_kmeans.kmeans`` (weighted
subsample, Lloyd, refinement on all rows) and ``_kmeans.kmeans_plusplus`` on Gaussian blobs
(:func:`benchmarks._data.blobs`), unit weights.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, sys, time
import numpy as np
from benchmarks._data import blobs
from gaussmix._kmeans import kmeans, kmeans_plusplus
n, d, k, what = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X = blobs(n, d, k)
w = np.ones(n)
fn = {"kmeans": lambda: kmeans(X, k, w, np.random.RandomState(0)),
      "k-means++": lambda: kmeans_plusplus(X, k, w, np.random.RandomState(0))}[what]
fn()  # warm up (workspaces, imports)
t, c = time.perf_counter(), time.process_time()
fn()
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""


def measure(src: str, n: int, d: int, k: int, what: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.abspath(src), os.getcwd()]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(d), str(k), what],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1e5,1e6", help="comma-separated row counts")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--src", action="append", help="source trees to compare (default: src)")
    args = ap.parse_args(argv)
    srcs = args.src or ["src"]
    sizes = [int(float(v)) for v in args.n.split(",")]
    best: dict = {}
    for _ in range(args.repeats):
        for n in sizes:
            for what in ("kmeans", "k-means++"):
                for src in srcs:  # alternate the trees so that load hits them alike
                    r = measure(src, n, args.d, args.k, what)
                    b = best.setdefault((n, what, src), {"wall": float("inf"), "cpu": float("inf")})
                    b["wall"], b["cpu"] = min(b["wall"], r["wall"]), min(b["cpu"], r["cpu"])
    print(f"| n | init | {' | '.join(f'{s} wall / cpu (ms)' for s in srcs)} |")
    print("|---|---|" + "---|" * len(srcs))
    for n in sizes:
        for what in ("kmeans", "k-means++"):
            cells = [f"{best[(n, what, s)]['wall'] * 1e3:.0f} / {best[(n, what, s)]['cpu'] * 1e3:.0f}"
                     for s in srcs]
            print(f"| {n:,} | {what} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
