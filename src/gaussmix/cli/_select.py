"""``gaussmix select DATA``: fit a grid of mixtures and rank them by BIC, AIC, ICL or held-out fit."""
from __future__ import annotations

import json
import math
import sys

from .. import covariance
from ._data import CLIError, command_parser, load_data, load_weights, record_names
from ._output import (STDOUT, check_paths, figure_target, save_figure, save_model, summary_stream,
                      write_text)

NAME = "select"
HELP = "choose the number of components and covariance type for DATA"

_EPILOG = """\
examples:
  gaussmix select data.csv                          # K in 1..10, all covariance types, BIC
  gaussmix select data.csv -k 2:8 --covariance full,diag --criterion icl -o best.gmz
  gaussmix select data.npy --criterion heldout --table ranking.csv --plot bic.png
  gaussmix select data.csv --json > ranking.json
  gaussmix select data.parquet -k 1:5 --table - -o best.gmz > ranking.csv

-k takes a number, a range A:B or a comma-separated list. The ranked table (best first) goes to
standard output as markdown, or as JSON with --json; failed fits are listed with their error.
--table - writes the table as CSV to standard output, and the summary then goes to standard
error. A CSV header's names are saved in the best model.
Exit codes: 0 success, 1 runtime failure (every fit failed, cannot write), 2 bad input.
"""

def parse_components(text: str) -> list[int]:
    """``"3"`` -> [3], ``"2:5"`` -> [2, 3, 4, 5], ``"1,3,5"`` -> [1, 3, 5]."""
    t = text.strip()
    try:
        if ":" in t:
            a, b = (int(v) for v in t.split(":"))
            if a < 1 or b < a:
                raise ValueError
            return list(range(a, b + 1))
        ks = [int(v) for v in t.split(",")]
        if not ks or min(ks) < 1:
            raise ValueError
        return ks
    except ValueError:
        raise CLIError(f"-k must be a positive integer, a range A:B with 1 <= A <= B, or a "
                       f"comma-separated list of positive integers; got {text!r}.") from None


def parse_covariances(text: str) -> list[str]:
    """``"full,diag"`` -> ["full", "diag"]; every name must be a registered covariance model
    or an alias (mclust's ``VVV`` ...); ``all`` is every registered structure."""
    valid = covariance.names(aliases=True)
    if text.strip() == "all":
        return list(covariance.names())
    cts = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in cts if c not in valid]
    if bad or not cts:
        raise CLIError(f"--covariance must be 'all' or a comma-separated list of "
                       f"{', '.join(valid)}; "
                       f"got {text!r}.")
    return cts


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("data", metavar="DATA", help="CSV file (header optional), .npy file, or - for stdin")
    p.add_argument("-k", "--n-components", default="1:10", metavar="K",
                   help="numbers of components: N, A:B or a list (default: %(default)s)")
    p.add_argument("--covariance", "--covariance-types", dest="covariance_types",
                   default=",".join(covariance.BUILTIN_NAMES),
                   help="comma-separated covariance types, any of "
                        f"{', '.join(covariance.names(aliases=True))}, or all (default: "
                        "%(default)s)")
    p.add_argument("--criterion", choices=("bic", "aic", "icl", "heldout"), default="bic",
                   help="ranking criterion (default: %(default)s)")
    p.add_argument("--n-init", type=int, default=1, help="EM restarts per fit (default: 1)")
    p.add_argument("--validation-fraction", type=float, default=0.2,
                   help="rows held out for the held-out log-likelihood column; 0 skips it "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("-j", "--jobs", type=int, default=None, help="parallel jobs (default: 1)")
    p.add_argument("--max-iter", type=int, default=100,
                   help="EM iterations per fit (default: %(default)s)")
    p.add_argument("--reg-covar", type=float, default=1e-6,
                   help="added to covariance diagonals (default: %(default)s)")
    p.add_argument("--sample-weight", metavar="FILE",
                   help="per-row weights: a one-column CSV or a 1-D .npy file")
    p.add_argument("-o", "--output", metavar="MODEL", help="save the best model to MODEL")
    p.add_argument("--table", metavar="FILE",
                   help="also write the ranked table to FILE (.csv, .json or markdown; '-': "
                        "CSV on standard output)")
    p.add_argument("--plot", metavar="FIG", help="also plot the criterion against K to FIG")
    p.add_argument("--json", action="store_true",
                   help="print the best model and the ranked table as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p


def _jsonable(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _write_table(res, path: str) -> None:
    low = path.lower()
    if path == STDOUT or low.endswith(".csv"):
        import csv
        import io
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        cols = list(dict.fromkeys(c for row in res.table for c in row))
        writer.writerow(cols)
        for row in res.table:
            writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v
                             for v in (row.get(c) for c in cols)])
        text = buf.getvalue()
    elif low.endswith(".json"):
        text = json.dumps([_jsonable(r) for r in res.table], indent=1) + "\n"
    else:
        text = res.to_markdown() + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text(text, path)


def run(args) -> int:
    from ..selection import select
    ks = parse_components(args.n_components)
    cts = parse_covariances(args.covariance_types)
    vf = args.validation_fraction
    if not 0 <= vf < 1:
        raise CLIError(f"--validation-fraction must be in [0, 1); got {vf}.")
    if args.n_init < 1:
        raise CLIError(f"--n-init must be a positive integer; got {args.n_init}.")
    if args.criterion == "heldout" and vf == 0:
        raise CLIError("--criterion heldout needs --validation-fraction > 0.")
    plot_path = plot_format = None
    if args.plot:
        try:
            import matplotlib
        except ImportError:
            raise CLIError("--plot needs matplotlib: pip install gaussmix[plot]", code=1) from None
        matplotlib.use("Agg")
        plot_path, plot_format = figure_target(args.plot, "--plot")
    check_paths([("DATA", args.data), ("--sample-weight", args.sample_weight)],
                [("-o", args.output), ("--table", args.table), ("--plot", plot_path)],
                stdout=("--table",))
    table = load_data(args.data)
    X = table.X
    w = load_weights(args.sample_weight, X.shape[0]) if args.sample_weight else None
    try:
        res = select(X, ks, cts, args.criterion, n_init=args.n_init, sample_weight=w,
                     n_jobs=args.jobs, random_state=args.seed,
                     validation_fraction=vf or None, max_iter=args.max_iter,
                     reg_covar=args.reg_covar)
    except ValueError as exc:
        if "every fit in the grid failed" in str(exc):
            raise CLIError(str(exc), code=1) from None
        raise
    best = res.best_estimator_
    record_names(best, table)
    if args.output:
        save_model(best, args.output)
    if args.table:
        _write_table(res, args.table)
    if args.plot:
        import matplotlib.pyplot as plt
        fig = res.plot().figure
        try:
            save_figure(fig, plot_path, plot_format, dpi=110, bbox_inches="tight")
        finally:
            plt.close(fig)
    if args.json:
        out = {"criterion": res.criterion, "best": dict(res.best_params_),
               "model": args.output, "table": [_jsonable(r) for r in res.table]}
        summary_stream(args.table).write(json.dumps(out) + "\n")
    elif not args.quiet:
        p = res.best_params_
        summary_stream(args.table).write(
                         res.to_markdown() + "\n\n"
                         f"best by {res.criterion}: {p['n_components']} components, "
                         f"covariance '{p['covariance_type']}'"
                         + (f"; model written to {args.output}" if args.output else "") + "\n")
    return 0
