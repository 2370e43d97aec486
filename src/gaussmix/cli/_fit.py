"""``gaussmix fit DATA -k K -o MODEL``: fit a mixture and save it."""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from .. import _criteria, covariance
from .._engine import progress
from .._estimator import GaussianMixture
from .._typing import INIT_PARAMS
from ._data import (CLIError, command_parser, feature_columns, load_data, load_weights,
                    record_names)
from ._output import check_paths, save_model
from ._progress import ProgressLine

NAME = "fit"
HELP = "fit a Gaussian mixture to DATA and save the model"

_EPILOG = """\
examples:
  gaussmix fit data.csv -k 5 -o model.gmz
  gaussmix fit data.npy -k 8 --covariance diag --n-init 3 --seed 0 -o model.gmz --json
  gaussmix fit huge.npy -k 10 --coreset-size 20000 -o model.gmz    # approximate, fast
  gaussmix fit huge.npy -k 10 --chunk-size 100000 -o model.gmz     # exact, memory-mapped
  gaussmix fit data.npy -k 10 --scheduler tcp://host:8786 -o model.gmz
  cat data.csv | gaussmix fit - -k 3 -o model.gmz

A CSV header's (or Parquet file's) column names are saved in the model as its feature names
('gaussmix info' lists them; 'sample', 'plot' and the --with-data tables use them).
A .npy DATA is memory-mapped and read in chunks, so it may be larger than memory. The summary's
log-likelihood, BIC and AIC come from the fit's last E-step (on the coreset with
--coreset-size), so the data are not read again; 'gaussmix score' evaluates the saved model.
Exit codes: 0 success, 1 runtime failure, 2 bad input.
"""

_DEFAULTS = GaussianMixture().get_params()


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("data", metavar="DATA",
                   help="CSV file (header optional), Parquet file, .npy file, or - for CSV on "
                        "stdin; a header's names are saved as the feature names")
    p.add_argument("-k", "--n-components", type=int, default=_DEFAULTS["n_components"],
                   metavar="K", help="number of components (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="where to write the model file")
    p.add_argument("--covariance", "--covariance-type", dest="covariance_type",
                   choices=covariance.names(aliases=True), default=_DEFAULTS["covariance_type"],
                   help="covariance structure (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the initialisation")
    p.add_argument("--max-iter", type=int, default=_DEFAULTS["max_iter"],
                   help="EM iterations per initialisation (default: %(default)s)")
    p.add_argument("--n-init", type=int, default=_DEFAULTS["n_init"],
                   help="number of initialisations, the best is kept (default: %(default)s)")
    p.add_argument("--tol", type=float, default=_DEFAULTS["tol"],
                   help="convergence threshold on the mean log-likelihood (default: %(default)s)")
    p.add_argument("--reg-covar", type=float, default=_DEFAULTS["reg_covar"],
                   help="added to covariance diagonals (default: %(default)s)")
    p.add_argument("--init", dest="init_params", choices=INIT_PARAMS,
                   default=_DEFAULTS["init_params"],
                   help="initialisation method (default: %(default)s)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="rows processed at once (default: automatic)")
    p.add_argument("--coreset-size", type=int, default=None, metavar="M",
                   help="fit on a sensitivity coreset of M rows instead of all rows "
                        "(approximate, much faster on large data)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run exact EM on an existing Dask cluster (e.g. tcp://host:8786), or "
                        "'local' to start a dask LocalCluster for this fit; a .npy DATA is "
                        "read by the workers, so its path must be visible to them")
    p.add_argument("--sample-weight", metavar="FILE",
                   help="per-row weights: a one-column CSV or a 1-D .npy file")
    p.add_argument("--dtype", choices=("auto", "float32", "float64"), default="auto",
                   help="compute precision (auto: float32 .npy stays float32, else float64)")
    p.add_argument("--json", action="store_true", help="print the fit summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress line and no summary")
    return p


def _dtype(name):
    return None if name == "auto" else np.dtype(name).type


def _fit(gm, X, w, args) -> None:
    """``gm.fit`` on the data as given: a .npy file is memory-mapped (EM reads it in chunks, so
    it may be larger than memory); with --scheduler the rows go to the Dask cluster."""
    if args.scheduler is None:
        gm.fit(X, sample_weight=w)
        return
    try:
        import distributed
        from .. import dask as gdask
    except ImportError:
        raise CLIError("--scheduler needs dask and distributed (pip install "
                       "'gaussmix[dask]').", code=1) from None
    if isinstance(X, np.memmap):
        Xd = gdask.from_npy(args.data, args.chunk_size)
    else:
        import dask.array as da
        Xd = da.from_array(np.asarray(X), chunks=(args.chunk_size or 1_000_000, -1))
    try:
        client = (gdask.get_client("local") if args.scheduler == "local"
                  else distributed.Client(args.scheduler, timeout=30))
    except OSError as exc:
        raise CLIError(f"cannot reach the Dask scheduler at {args.scheduler}: {exc}",
                       code=1) from None
    with client:
        gm.fit(Xd, sample_weight=w)


def _summary(gm, X, w, args, elapsed) -> dict:
    """The fit summary from the fit's own statistics: ``lower_bound_`` is the weighted mean
    log-likelihood of the last E-step, so BIC and AIC follow without another pass over the data
    (which would cost, on a memory-mapped file, reading it again and an O(n_samples) array)."""
    n = int(X.shape[0])
    n_eff = float(np.sum(w)) if w is not None else float(n)  # BIC's n, as in ``gm.bic``
    mean_ll = float(gm.lower_bound_)
    p = gm.n_parameters()
    return {
        "model": args.output,
        "n_samples": n,
        "n_features": int(X.shape[1]),
        "features": feature_columns(gm),
        "n_components": int(gm.n_components),
        "covariance_type": gm.covariance_type,
        "dtype": str(X.dtype),
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "lower_bound": mean_ll,
        "log_likelihood": mean_ll,
        "bic": _criteria.bic(mean_ll * n_eff, n_eff, p),
        "aic": _criteria.aic(mean_ll * n_eff, p),
        "seconds": round(elapsed, 4),
    }


def run(args) -> int:
    if args.coreset_size is not None and args.coreset_size < 1:
        raise CLIError(f"--coreset-size must be a positive integer, got {args.coreset_size}.")
    check_paths([("DATA", args.data), ("--sample-weight", args.sample_weight)],
                [("-o", args.output)])
    table = load_data(args.data, _dtype(args.dtype))
    X = table.X
    w = load_weights(args.sample_weight, X.shape[0]) if args.sample_weight else None
    gm = GaussianMixture(
        n_components=args.n_components, covariance_type=args.covariance_type, tol=args.tol,
        reg_covar=args.reg_covar, max_iter=args.max_iter, n_init=args.n_init,
        init_params=args.init_params, random_state=args.seed, chunk_size=args.chunk_size,
        coreset_size=args.coreset_size)
    bar = ProgressLine(args.max_iter, args.n_init, delay=float("inf") if args.quiet else 1.0)
    t0 = time.perf_counter()
    try:
        with progress(bar):
            _fit(gm, X, w, args)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    record_names(gm, table)
    save_model(gm, args.output)
    summary = _summary(gm, X, w, args, elapsed)
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not args.quiet:
        conv = "converged" if summary["converged"] else "did not converge"
        sys.stdout.write(
            f"fitted {summary['n_components']} {summary['covariance_type']} components to "
            f"{summary['n_samples']} x {summary['n_features']} ({summary['dtype']}) in "
            f"{elapsed:.2f}s: {conv} after {summary['n_iter']} iterations\n"
            f"mean log-likelihood {summary['log_likelihood']:.6g}, BIC {summary['bic']:.6g}, "
            f"AIC {summary['aic']:.6g}\n"
            f"model written to {args.output}\n")
    return 0
