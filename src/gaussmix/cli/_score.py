"""``gaussmix score MODEL DATA``: log-likelihood, BIC and AIC of DATA under a model."""
from __future__ import annotations

import sys

import numpy as np

from ._data import (CLIError, by_position, command_parser, data_columns, load_data, load_model,
                    load_weights, model_input)
from ._output import (check_paths, print_json, summary_stream, table_destination,
                      write_table)

NAME = "score"
HELP = "mean log-likelihood, BIC and AIC of DATA under MODEL"

_EPILOG = """\
examples:
  gaussmix score model.gmz data.csv
  gaussmix score model.gmz data.csv --json
  gaussmix score model.gmz data.npy --per-sample -o log_density.csv
  gaussmix score model.gmz data.csv --per-sample --with-data -o - --json > scored.csv

--per-sample writes the log-density of every row (column 'log_density', after DATA's columns
under their header names with --with-data) to -o OUT, or to standard output; the summary then
goes to standard error with -o -, or with --json and no -o replaces the table.
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
                   help="with --per-sample: write to OUT (CSV, or .npy if OUT ends in .npy); "
                        "'-' or no -o: standard output")
    p.add_argument("--no-header", action="store_true", help="omit the CSV header line")
    p.add_argument("--with-data", action="store_true",
                   help="with --per-sample: put DATA's columns, under their header names, "
                        "before the log-densities")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON (to standard error when the per-sample "
                        "table goes to standard output)")
    return p


def run(args) -> int:
    if args.output and not args.per_sample:
        raise CLIError("-o/--output needs --per-sample; the summary goes to standard output.")
    if args.with_data and not args.per_sample:
        raise CLIError("--with-data needs --per-sample (it adds DATA's columns to that table).")
    dest = table_destination(args.output, args.json) if args.per_sample else None
    check_paths([("MODEL", args.model), ("DATA", args.data),
                 ("--sample-weight", args.sample_weight)], [("-o", dest)], stdout=("-o",))
    gm = load_model(args.model)
    table = load_data(args.data)
    X = model_input(table, gm)
    w = load_weights(args.sample_weight, X.shape[0]) if args.sample_weight else None
    with by_position():
        ll = gm.score_samples(X)
    if dest is not None:
        out, cols, fmt = ll, ["log_density"], ["%.12g"]
        if args.with_data:
            out = np.column_stack([X, ll])
            cols = data_columns(table, gm) + cols
            fmt = ["%.17g"] * X.shape[1] + fmt
        write_table(out, dest, cols, header=not args.no_header, fmt=fmt)
        if not args.json:
            return 0
    with by_position():
        bic, aic = gm.bic(X, sample_weight=w), gm.aic(X, sample_weight=w)
    wt = np.ones(len(ll)) if w is None else w
    total = float(np.dot(wt, ll))
    summary = {
        "n_samples": int(X.shape[0]),
        "log_likelihood": total / float(wt.sum()),
        "total_log_likelihood": total,
        "bic": float(bic),
        "aic": float(aic),
    }
    if args.per_sample:
        summary["output"] = dest
    if args.json:
        print_json(summary, dest)
    else:
        summary_stream(dest).write(
            f"samples: {summary['n_samples']}\n"
            f"mean log-likelihood: {summary['log_likelihood']:.10g}\n"
            f"total log-likelihood: {summary['total_log_likelihood']:.10g}\n"
            f"BIC: {summary['bic']:.10g}\n"
            f"AIC: {summary['aic']:.10g}\n")
    return 0
