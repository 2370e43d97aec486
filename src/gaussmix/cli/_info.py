"""``gaussmix info MODEL``: what a model file holds."""
from __future__ import annotations

import json
import sys

import numpy as np

from ._data import command_parser, feature_columns, load_model

NAME = "info"
HELP = "describe a model file"

_EPILOG = """\
examples:
  gaussmix info model.gmz
  gaussmix info model.gmz --json

The file is validated (checksums, shapes, positive definiteness) before anything is shown.
Exit codes: 0 success, 1 runtime failure, 2 bad input (e.g. a corrupt model file).
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("--json", action="store_true",
                   help="print everything, covariances included, as JSON")
    return p


def describe(gm) -> dict:
    """A JSON-ready description of a fitted model."""
    params = {k: v for k, v in gm.get_params().items()
              if v is None or isinstance(v, (bool, int, float, str))}
    return {
        "covariance_type": gm.covariance_type,
        "n_components": int(gm.means_.shape[0]),
        "n_features": int(gm.means_.shape[1]),
        "features": feature_columns(gm),
        "n_parameters": int(gm.n_parameters()),
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "lower_bound": float(gm.lower_bound_),
        "params": params,
        "weights": np.asarray(gm.weights_).tolist(),
        "means": np.asarray(gm.means_).tolist(),
        "covariances": np.asarray(gm.covariances_).tolist(),
    }


def _fmt(v) -> str:
    return np.array2string(np.asarray(v), precision=4, separator=", ", suppress_small=True,
                           max_line_width=1000, threshold=20)


def run(args) -> int:
    gm = load_model(args.model)
    info = describe(gm)
    info["file"] = args.model
    if args.json:
        sys.stdout.write(json.dumps(info) + "\n")
        return 0
    conv = "yes" if info["converged"] else "no"
    lines = [
        f"model: {args.model}",
        f"components: {info['n_components']} ({info['covariance_type']} covariance)",
        f"features: {info['n_features']} ({', '.join(info['features'][:8])}"
        + (", ..." if info["n_features"] > 8 else "") + ")",
        f"free parameters: {info['n_parameters']}",
        f"converged: {conv} after {info['n_iter']} iterations, lower bound "
        f"{info['lower_bound']:.6g}",
        "component  weight    mean",
    ]
    for j, (wj, mj) in enumerate(zip(gm.weights_, gm.means_)):
        lines.append(f"{j:>9}  {wj:.4f}    {_fmt(mj)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
