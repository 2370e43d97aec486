"""``gaussmix predict MODEL DATA [--proba]``: component labels or probabilities."""
from __future__ import annotations

from ._data import command_parser, load_data, load_model
from ._output import add_output_option, check_paths, write_table

NAME = "predict"
HELP = "assign each row of DATA to its most likely component"

_EPILOG = """\
examples:
  gaussmix predict model.gmz data.csv                 # one label per row, to stdout
  gaussmix predict model.gmz data.npy --proba -o resp.csv

Exit codes: 0 success, 1 runtime failure, 2 bad input (e.g. a different number of features).
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("data", metavar="DATA", help="CSV file, .npy file, or - for stdin")
    p.add_argument("--proba", action="store_true",
                   help="write the posterior probability of every component instead of labels")
    add_output_option(p, "the labels or probabilities")
    return p


def run(args) -> int:
    check_paths([("MODEL", args.model), ("DATA", args.data)], [("-o", args.output)])
    gm = load_model(args.model)
    X = load_data(args.data).X
    if args.proba:
        out = gm.predict_proba(X)
        cols = [f"p{j}" for j in range(out.shape[1])]
        write_table(out, args.output, cols, header=not args.no_header, fmt="%.10g")
    else:
        write_table(gm.predict(X), args.output, ["component"], header=not args.no_header,
                    fmt="%d")
    return 0
