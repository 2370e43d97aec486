"""``gaussmix score MODEL DATA``: log-likelihood, BIC and AIC of DATA under a model."""
from __future__ import annotations

import json
import sys

import numpy as np

from ._data import CLIError, command_parser, load_data, load_model, load_weights
from ._output import check_paths, write_table

NAME = "score"
HELP = "mean log-likelihood, BIC and AIC of DATA under MODEL"

_EPILOG = """\
examples:
  gaussmix score model.gmz data.csv
  gaussmix score model.gmz data.csv --json
  gaussmix score model.gmz data.npy --per-sample -o log_density.csv

Exit codes: 0 success, 1 runtime failure, 2 bad input.
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("data", metavar="DATA", help="CSV file, .npy file, or - for stdin")
    p.add_argument("--sample-weight", metavar="FILE",
                   help="per-row weights: a one-column CSV or a 1-D .npy file")
    p.add_argument("--per-sample", action="store_true",
                   help="write the log-density of every row (CSV) instead of the summary")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="with --per-sample: write to OUT (CSV or .npy) instead of standard output")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def run(args) -> int:
    if args.output and not args.per_sample:
        raise CLIError("-o/--output needs --per-sample; the summary goes to standard output.")
    check_paths([("MODEL", args.model), ("DATA", args.data),
                 ("--sample-weight", args.sample_weight)], [("-o", args.output)])
    gm = load_model(args.model)
    X = load_data(args.data).X
    w = load_weights(args.sample_weight, X.shape[0]) if args.sample_weight else None
    ll = gm.score_samples(X)
    if args.per_sample:
        write_table(ll, args.output, ["log_density"], fmt="%.12g")
        return 0
    wt = np.ones(len(ll)) if w is None else w
    total = float(np.dot(wt, ll))
    summary = {
        "n_samples": int(X.shape[0]),
        "log_likelihood": total / float(wt.sum()),
        "total_log_likelihood": total,
        "bic": float(gm.bic(X, sample_weight=w)),
        "aic": float(gm.aic(X, sample_weight=w)),
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write(
            f"samples: {summary['n_samples']}\n"
            f"mean log-likelihood: {summary['log_likelihood']:.10g}\n"
            f"total log-likelihood: {summary['total_log_likelihood']:.10g}\n"
            f"BIC: {summary['bic']:.10g}\n"
            f"AIC: {summary['aic']:.10g}\n")
    return 0
