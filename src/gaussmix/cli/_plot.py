"""``gaussmix plot MODEL [DATA] -o FIG``: draw a fitted mixture (needs matplotlib)."""
from __future__ import annotations

import json
import sys

import numpy as np

from ._data import (CLIError, by_position, command_parser, load_data, load_model,
                    model_input)
from ._output import check_paths, figure_target, save_figure

NAME = "plot"
HELP = "draw a fitted mixture (ellipses, density, uncertainty, pairs, convergence)"

KINDS = ("auto", "ellipses", "density", "uncertainty", "pairplot", "lower-bounds")

_EPILOG = """\
examples:
  gaussmix plot model.gmm data.csv -o fig.png
  gaussmix plot model.gmm data.npy -o fig.svg --kind uncertainty --dims 0,2
  gaussmix plot model.gmm -o convergence.png --kind lower-bounds

kinds:
  auto          density contours, 1-3 sigma ellipses and the data for 2 features;
                a pair plot for more
  ellipses      component ellipses (opacity = weight) over the data coloured by component
  density       log-density contours over the data
  uncertainty   1 - max posterior over the plane, the data coloured by it
  pairplot      ellipses for every pair of features, marginal densities on the diagonal
  lower-bounds  mean log-likelihood at every EM iteration of the fit

With more than two features, the 2-D kinds show the two features --dims (the marginal
mixture on them).
"""


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("model", metavar="MODEL", help="model file written by 'gaussmix fit'")
    p.add_argument("data", metavar="DATA", nargs="?",
                   help="CSV file (header optional) or .npy file with the model's features")
    p.add_argument("-o", "--output", required=True, metavar="FIG",
                   help="figure file; the format follows the extension (png, svg, pdf, ...)")
    p.add_argument("--kind", choices=KINDS, default="auto", help="what to draw "
                   "(default: %(default)s)")
    p.add_argument("--dims", default="0,1", metavar="I,J",
                   help="features on the x and y axes (default: %(default)s); for pairplot, "
                        "any number of features, default all")
    p.add_argument("--n-std", default="1,2,3", metavar="R,...",
                   help="ellipse radii in standard deviations (default: %(default)s)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--dpi", type=int, default=120, help="resolution of raster formats")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def _ints(text, what):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated integers, got {text!r}.") from None


def _draw(gm, X, kind, dims, n_std, args):
    import matplotlib.pyplot as plt

    from .. import plotting
    d = int(gm.means_.shape[1])
    if kind == "pairplot":
        dims = list(range(min(d, 8))) if args.dims == "0,1" and d > 2 else dims
        axes = plotting.pairplot(gm, X, dims=dims, n_std=n_std)
        fig = axes[0, 0].figure
    else:
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
        if kind == "overview":
            plotting.plot_density(gm, X, dims=dims, ax=ax, filled=False, cmap="Greys")
            plotting.plot_ellipses(gm, X, dims=dims, n_std=n_std, ax=ax)
        elif kind == "ellipses":
            plotting.plot_ellipses(gm, X, dims=dims, n_std=n_std, ax=ax)
        elif kind == "density":
            plotting.plot_density(gm, X, dims=dims, ax=ax, filled=True)
        elif kind == "uncertainty":
            plotting.plot_uncertainty(gm, X, dims=dims, ax=ax)
        else:
            if not getattr(gm, "lower_bounds_", None):
                raise CLIError(f"{args.model}: the model file records no EM iterations.")
            plotting.plot_lower_bounds(gm, ax=ax)
    return fig


def run(args) -> int:
    try:
        import matplotlib
    except ImportError:
        raise CLIError("plotting needs matplotlib: pip install gaussmix[plot]", code=1) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output, fmt = figure_target(args.output)
    check_paths([("MODEL", args.model), ("DATA", args.data)], [("-o", output)])
    try:
        n_std = [float(v) for v in args.n_std.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--n-std must be comma-separated numbers, got {args.n_std!r}.") from None
    dims = _ints(args.dims, "--dims")
    gm = load_model(args.model)
    d = int(gm.means_.shape[1])
    kind = args.kind
    if kind == "auto":
        kind = "overview" if d == 2 else ("pairplot" if d > 2 else "lower-bounds")
    if kind in ("ellipses", "density", "uncertainty", "overview") and d < 2:
        raise CLIError(f"--kind {args.kind} needs at least 2 features; the model has {d}.")
    if kind == "pairplot" and d < 2:
        raise CLIError(f"--kind pairplot needs at least 2 features; the model has {d}.")
    if kind not in ("pairplot", "lower-bounds") and len(dims) != 2:
        raise CLIError(f"--dims must name two features, got {args.dims!r}.")
    X = None
    if args.data is not None:
        X = np.asarray(model_input(load_data(args.data), gm), dtype=np.float64)
        if X.shape[1] != d:
            raise CLIError(f"{args.data}: has {X.shape[1]} columns but the model has {d} "
                           "features.")
    with by_position():
        fig = _draw(gm, X, kind, dims, n_std, args)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    try:
        save_figure(fig, output, fmt, dpi=args.dpi)
    finally:
        plt.close(fig)
    if args.json:
        sys.stdout.write(json.dumps({"model": args.model, "data": args.data,
                                     "output": output, "kind": kind}) + "\n")
    return 0
