"""``gaussmix demo``: fit a mixture to the iris measurements and compare with scikit-learn.

The iris data ship with scikit-learn, so nothing is downloaded. Three full-covariance components
are fitted with default settings; the summary gives the fit, its BIC, how well the components
match the three species (adjusted Rand index), and the fit time next to
:class:`sklearn.mixture.GaussianMixture` on the same data with the same seed.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from .._estimator import GaussianMixture
from ._data import command_parser

NAME = "demo"
HELP = "fit 3 components to the iris data and compare with scikit-learn"

_EPILOG = """\
examples:
  gaussmix demo
  gaussmix demo --seed 1 --json

Exit codes: 0 success, 1 runtime failure.
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="fits per library; the fastest time is reported (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _best_time(make, X, repeat):
    best, model = float("inf"), None
    for _ in range(max(1, repeat)):
        est = make()
        t0 = time.perf_counter()
        est.fit(X)
        best = min(best, time.perf_counter() - t0)
        model = est
    return model, best


def run(args) -> int:
    from sklearn.datasets import load_iris
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    iris = load_iris()
    X, species = iris.data, iris.target
    names = [str(s) for s in iris.target_names]
    settings = dict(n_components=3, covariance_type="full", random_state=args.seed)
    gm, t_gm = _best_time(lambda: GaussianMixture(**settings), X, args.repeat)
    sk, t_sk = _best_time(lambda: SkGaussianMixture(**settings), X, args.repeat)
    labels = gm.predict(X)
    components = []
    for j in range(gm.n_components):
        members = species[labels == j]
        counts = np.bincount(members, minlength=len(names))
        top = int(np.argmax(counts))
        components.append({
            "weight": float(gm.weights_[j]),
            "mean": [float(v) for v in gm.means_[j]],
            "n_assigned": int(len(members)),
            "majority_species": names[top],
            "majority_count": int(counts[top]),
        })
    summary = {
        "dataset": "iris",
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "features": [str(f) for f in iris.feature_names],
        "n_components": 3,
        "covariance_type": "full",
        "seed": args.seed,
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "log_likelihood": float(gm.score(X)),
        "bic": float(gm.bic(X)),
        "adjusted_rand_index": float(adjusted_rand_score(species, labels)),
        "components": components,
        "sklearn": {
            "log_likelihood": float(sk.score(X)),
            "bic": float(sk.bic(X)),
            "adjusted_rand_index": float(adjusted_rand_score(species, sk.predict(X))),
        },
        "seconds": {"gaussmix": t_gm, "sklearn": t_sk, "speedup": t_sk / t_gm if t_gm > 0 else None},
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    sec = summary["seconds"]
    out = [
        f"iris: {summary['n_samples']} flowers x {summary['n_features']} measurements, "
        f"3 full-covariance components (seed {args.seed})",
        f"converged: {'yes' if summary['converged'] else 'no'} after {summary['n_iter']} iterations",
        f"mean log-likelihood: {summary['log_likelihood']:.4f}   BIC: {summary['bic']:.2f}",
        f"agreement with the species (adjusted Rand index): {summary['adjusted_rand_index']:.3f}",
        "",
        "component  weight  mean (" + ", ".join(f.replace(" (cm)", "") for f in summary["features"])
        + ")   majority species",
    ]
    for j, c in enumerate(components):
        mean = ", ".join(f"{v:.2f}" for v in c["mean"])
        out.append(f"{j:>9}  {c['weight']:.3f}   [{mean}]   {c['majority_species']} "
                   f"({c['majority_count']}/{c['n_assigned']})")
    sk_s = summary["sklearn"]
    out += [
        "",
        f"scikit-learn, same data and seed: log-likelihood {sk_s['log_likelihood']:.4f}, "
        f"BIC {sk_s['bic']:.2f}, adjusted Rand index {sk_s['adjusted_rand_index']:.3f}",
        f"fit time (best of {max(1, args.repeat)}): gaussmix {sec['gaussmix'] * 1e3:.1f} ms, "
        f"scikit-learn {sec['sklearn'] * 1e3:.1f} ms ({sec['speedup']:.2f}x)",
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return 0
