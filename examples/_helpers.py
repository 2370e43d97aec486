"""Small shared helpers for the example scripts (argument parsing, ellipses, saving figures)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "output"


def parse_args(description: str) -> argparse.Namespace:
    """``--output DIR`` (default examples/output) and ``--quick`` (or GAUSSMIX_EXAMPLES_QUICK=1)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                    help="directory for the figures (created if missing)")
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("GAUSSMIX_EXAMPLES_QUICK", "") not in ("", "0"),
                    help="smaller problem, for smoke tests")
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    return args


def component_covariances(gm) -> np.ndarray:
    """Dense (k, d, d) covariances of any covariance type."""
    k, d = gm.means_.shape
    c = np.asarray(gm.covariances_)
    if gm.covariance_type == "full":
        return c
    if gm.covariance_type == "tied":
        return np.broadcast_to(c, (k, d, d))
    if gm.covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([v * np.eye(d) for v in c])


def draw_ellipses(ax, gm, dims=(0, 1), color="k", n_std=(1, 2)):
    """Outline each component at ``n_std`` standard deviations, opacity from its weight."""
    covs = component_covariances(gm)
    i, j = dims
    wmax = gm.weights_.max()
    for mean, cov, w in zip(gm.means_, covs, gm.weights_):
        sub = cov[np.ix_([i, j], [i, j])]
        vals, vecs = np.linalg.eigh(sub)
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        for s in n_std:
            ax.add_patch(Ellipse((mean[i], mean[j]), 2 * s * np.sqrt(vals[-1]),
                                 2 * s * np.sqrt(vals[0]), angle=angle, fill=False,
                                 ec=color, lw=1.5, alpha=0.25 + 0.75 * w / wmax))
        ax.plot(mean[i], mean[j], "+", color=color, ms=8, alpha=0.25 + 0.75 * w / wmax)


def save(fig, args, name: str) -> Path:
    path = args.output / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")
    return path
