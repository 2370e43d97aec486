"""``gaussmix anomalies DATA``: flag the rows of DATA with a low density under a mixture."""
from __future__ import annotations

import numpy as np

from ._data import (CLIError, by_position, command_parser, data_columns, load_data, load_model,
                    load_weights, model_input)
from ._output import check_paths, print_json, table_destination, write_table

NAME = "anomalies"
HELP = "flag low-density rows of DATA as anomalies"

_EPILOG = """\
examples:
  gaussmix anomalies data.csv -k bic --contamination 0.05 -o flags.csv
  gaussmix anomalies data.csv --model model.gmz --threshold -12.5 --json
  gaussmix anomalies data.npy -k 1:6 --contamination auto --only-outliers
  gaussmix anomalies data.csv --only-outliers --with-data -o - --json > outliers.csv

A row is an anomaly when its log-density is below the threshold: --threshold T, or the
--contamination quantile of DATA's log-densities, or with --contamination auto the boundary of
the model's 99% highest-density region. -k takes N, a range A:B, a list, bic/aic/icl (K in
1..10 by that criterion) or auto (the default: K chosen for detection by the held-out density
of the bulk, light components ignored, as the library's detector); --model uses a saved model
instead of fitting one.
Output: CSV with columns row, outlier (1 or 0), log_density, decision (log_density - threshold),
with DATA's columns (under their header names) after 'row' with --with-data; to -o OUT, or to
standard output. --json prints a summary with the outlier rows: to standard output, or to
standard error with -o -; without -o it replaces the table.
Exit codes: 0 success, 1 runtime failure, 2 bad input.
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("data", metavar="DATA", help="CSV file (header optional), .npy file, or - for stdin")
    src = p.add_mutually_exclusive_group()
    src.add_argument("-k", "--n-components", default=None, metavar="K",
                     help="components to fit: N, A:B, a list, bic/aic/icl, or auto (chosen for "
                          "detection on held-out rows; the default)")
    src.add_argument("--model", metavar="MODEL", help="use a fitted model file instead")
    p.add_argument("--covariance", "--covariance-types", dest="covariance_types", default="full",
                   help="covariance type(s), comma-separated (default: %(default)s)")
    p.add_argument("--contamination", default="auto",
                   help="expected outlier fraction in (0, 0.5], or auto (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=None,
                   help="explicit log-density threshold (overrides --contamination)")
    p.add_argument("--min-weight", default="auto",
                   help="score without components lighter than this, or auto (default: "
                        "%(default)s, as the library's detector)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--sample-weight", metavar="FILE",
                   help="per-row weights: a one-column CSV or a 1-D .npy file")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write the per-row table to OUT (CSV, or .npy if OUT ends in .npy); "
                        "'-' or no -o: standard output")
    p.add_argument("--only-outliers", action="store_true", help="list only the flagged rows")
    p.add_argument("--with-data", action="store_true",
                   help="put DATA's columns, under their header names, after the row number")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary: to standard output, or to standard error with "
                        "-o -; without -o, only the summary")
    return p


def _contamination(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        c = float(text)
    except ValueError:
        c = -1.0
    if not 0 < c <= 0.5:
        raise CLIError(f"--contamination must be 'auto' or a number in (0, 0.5]; got {text!r}.")
    return c


def run(args) -> int:
    from ..anomaly import GaussianMixtureOutlierDetector
    from ._select import parse_components, parse_covariances
    dest = table_destination(args.output, args.json)
    contamination = _contamination(args.contamination)
    cts = parse_covariances(args.covariance_types)
    min_weight = str(args.min_weight).strip().lower()
    if min_weight != "auto":
        try:
            min_weight = float(min_weight)
        except ValueError:
            raise CLIError(f"--min-weight must be a number in [0, 0.5) or auto; got "
                           f"{args.min_weight!r}.") from None
        if not 0 <= min_weight < 0.5:
            raise CLIError(f"--min-weight must be in [0, 0.5); got {args.min_weight}.")
    if args.threshold is not None and not np.isfinite(args.threshold):
        raise CLIError(f"--threshold must be a finite number; got {args.threshold}.")
    params = dict(contamination=contamination, threshold=args.threshold,
                  min_weight=min_weight, random_state=args.seed)
    if not args.model:
        k_text = (args.n_components or "auto").strip().lower()
        k = k_text if k_text in ("auto", "bic", "aic", "icl") else parse_components(k_text)
        if isinstance(k, list) and len(k) == 1 and len(cts) == 1:
            k = k[0]
    check_paths([("DATA", args.data), ("--model", args.model),
                 ("--sample-weight", args.sample_weight)], [("-o", dest)], stdout=("-o",))
    table = load_data(args.data)
    X = table.X
    w = load_weights(args.sample_weight, X.shape[0]) if args.sample_weight else None
    if args.model:
        gm = load_model(args.model)
        if X.shape[1] != gm.means_.shape[1]:
            raise CLIError(f"{args.data}: has {X.shape[1]} columns but the model expects "
                           f"{gm.means_.shape[1]}.")
        X = model_input(table, gm)
        with by_position():
            det = GaussianMixtureOutlierDetector.from_mixture(gm, X, sample_weight=w, **params)
    else:
        det = GaussianMixtureOutlierDetector(
            k, covariance_type=cts[0] if len(cts) == 1 else tuple(cts), **params)
        det.fit(X, sample_weight=w)
    with by_position():
        scores = det.score_samples(X)
    flag = scores < det.offset_
    rows = np.flatnonzero(flag) if args.only_outliers else np.arange(len(X))
    if dest is not None:
        table_out = np.column_stack([rows, flag[rows].astype(int), scores[rows],
                                     scores[rows] - det.offset_])
        cols, fmt = ["row", "outlier", "log_density", "decision"], ["%d", "%d", "%.10g", "%.10g"]
        if args.with_data:
            table_out = np.column_stack([table_out[:, :1], X[rows], table_out[:, 1:]])
            cols = cols[:1] + data_columns(table, det.mixture_) + cols[1:]
            fmt = fmt[:1] + ["%.17g"] * X.shape[1] + fmt[1:]
        write_table(table_out, dest, cols, fmt=fmt)
    if args.json:
        gm = det.mixture_
        print_json({"n_samples": int(len(X)), "n_outliers": int(flag.sum()),
                    "outlier_fraction": float(flag.mean()), "threshold": float(det.offset_),
                    "n_components": int(gm.n_components), "covariance_type": gm.covariance_type,
                    "dropped_components": det.dropped_components_.tolist(),
                    "outliers": np.flatnonzero(flag).tolist(), "output": dest}, dest)
    return 0
