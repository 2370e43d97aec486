"""``gaussmix predict MODEL DATA [--proba]``: component labels or probabilities."""
from __future__ import annotations

import numpy as np

from ._data import by_position, command_parser, data_columns, load_data, load_model, model_input
from ._output import (add_output_option, check_paths, print_json, table_destination,
                      write_table)

NAME = "predict"
HELP = "assign each row of DATA to its most likely component"

_EPILOG = """\
examples:
  gaussmix predict model.gmz data.csv                 # one label per row, to stdout
  gaussmix predict model.gmz data.npy --proba -o resp.csv
  gaussmix predict model.gmz data.csv --with-data -o labelled.csv --json
  gaussmix predict model.gmz data.parquet -o - --json > labels.csv

Output: a column 'component' (or p0, p1, ... with --proba), after DATA's columns under their
header names with --with-data. --json prints a summary (rows per component): to standard output,
or to standard error with -o -; without -o it replaces the table.
Exit codes: 0 success, 1 runtime failure, 2 bad input (e.g. a different number of features).
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("data", metavar="DATA",
                   help="CSV file, Parquet file, .npy file, or - for CSV on stdin")
    p.add_argument("--proba", action="store_true",
                   help="write the posterior probability of every component instead of labels")
    add_output_option(p, "the labels or probabilities")
    return p


def run(args) -> int:
    dest = table_destination(args.output, args.json)
    check_paths([("MODEL", args.model), ("DATA", args.data)], [("-o", dest)], stdout=("-o",))
    gm = load_model(args.model)
    table = load_data(args.data)
    X = model_input(table, gm)
    with by_position():
        proba = gm.predict_proba(X) if args.proba or args.json else None
        labels = gm.predict(X)
    if dest is not None:
        if args.proba:
            out, cols, fmt = proba, [f"p{j}" for j in range(proba.shape[1])], "%.10g"
        else:
            out, cols, fmt = labels, ["component"], "%d"
        fmts = [fmt] * (1 if out.ndim == 1 else out.shape[1])
        if args.with_data:
            cols = data_columns(table, gm) + cols
            fmts = ["%.17g"] * X.shape[1] + fmts
            out = np.column_stack([X, out])
        write_table(out, dest, cols, header=not args.no_header, fmt=fmts)
    if args.json:
        counts = np.bincount(labels, minlength=gm.n_components)
        print_json({"model": args.model, "data": args.data, "output": dest,
                    "n_samples": int(X.shape[0]), "n_components": int(gm.n_components),
                    "counts": counts.tolist(),
                    "mean_max_probability": float(proba.max(axis=1).mean()) if len(X) else None},
                   dest)
    return 0
