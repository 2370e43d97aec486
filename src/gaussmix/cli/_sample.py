"""``gaussmix sample MODEL -n N``: draw rows from a fitted mixture."""
from __future__ import annotations

import argparse

import numpy as np

from ._data import command_parser, feature_columns, load_model
from ._output import (add_output_option, check_paths, print_json, table_destination,
                      write_table)

NAME = "sample"
HELP = "draw N random rows from MODEL"

_EPILOG = """\
examples:
  gaussmix sample model.gmz -n 1000 --seed 0 -o new.csv
  gaussmix sample model.gmz -n 10 --labels            # with the component of each row
  gaussmix sample model.gmz -n 500 -o - --json > rows.csv

The header holds the model's feature names (a CSV header's names when it was fitted by
'gaussmix fit'), else x0, x1, ... --json prints a summary (rows per component): to standard
output, or to standard error with -o -; without -o it replaces the rows.
Exit codes: 0 success, 1 runtime failure, 2 bad input.
"""


def _positive(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("-n", "--n-samples", type=_positive, default=1, metavar="N",
                   help="number of rows (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: the model's random_state)")
    p.add_argument("--labels", action="store_true",
                   help="add a last column with the component each row was drawn from")
    add_output_option(p, "the rows", with_data=False)
    return p


def run(args) -> int:
    dest = table_destination(args.output, args.json)
    check_paths([("MODEL", args.model)], [("-o", dest)], stdout=("-o",))
    gm = load_model(args.model)
    if args.seed is not None:
        gm.set_params(random_state=args.seed)
    X, y = gm.sample(args.n_samples)
    cols = feature_columns(gm)
    if dest is not None:
        fmt = ["%.10g"] * X.shape[1]
        if args.labels:
            X = np.column_stack([X, y])
            cols = cols + ["component"]
            fmt = fmt + ["%d"]
        write_table(X, dest, cols, header=not args.no_header, fmt=fmt)
    if args.json:
        print_json({"model": args.model, "output": dest, "n_samples": int(len(y)),
                    "features": feature_columns(gm), "seed": args.seed,
                    "counts": np.bincount(y, minlength=gm.n_components).tolist()}, dest)
    return 0
