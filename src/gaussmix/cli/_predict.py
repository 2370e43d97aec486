"""``gaussmix predict MODEL DATA [--proba]``: component labels or probabilities."""
from __future__ import annotations

from ._data import add_output_option, load_data, load_model, write_table

NAME = "predict"
HELP = "assign each row of DATA to its most likely component"


def add_parser(subparsers):
    p = subparsers.add_parser(NAME, help=HELP, description=HELP + ".")
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("data", metavar="DATA", help="CSV file, .npy file, or - for stdin")
    p.add_argument("--proba", action="store_true",
                   help="write the posterior probability of every component instead of labels")
    add_output_option(p, "the labels or probabilities")
    return p


def run(args) -> int:
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
