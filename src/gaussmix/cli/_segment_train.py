"""``gaussmix segment-train IMAGES... -k K -o MODEL``: train a deep segmenter on a set of images."""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from ._data import CLIError, command_parser
from ._output import check_paths

NAME = "segment-train"
HELP = "train a deep GMM segmenter (a U-Net) on a set of unlabelled images"

_EPILOG = """\
examples:
  gaussmix segment-train scans/*.png -k 4 -o brain.gmseg
  gaussmix segment-train t1t2_*.npy -k 3 -o mri.gmseg --epochs 40 --augment --json

Apply a trained model with `gaussmix segment new_scan.png --model brain.gmseg -o out.png`.
Every image needs the same number of channels (sizes may differ); .npy arrays of shape
(H, W) or (H, W, C) may have any number of channels (e.g. two MRI sequences). 8- and 16-bit
images are scaled to [0, 1], floats used as they are, as `gaussmix segment` does. The model
file is a zip of JSON and .npy arrays (no pickles), written atomically.
"""


def add_parser(subparsers):
    from .. import covariance
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("images", metavar="IMAGES", nargs="+", help="training images (PNG, TIFF, "
                   "JPEG, ... or .npy arrays)")
    p.add_argument("-k", "--n-components", type=int, required=True, metavar="K",
                   help="number of classes")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write")
    p.add_argument("--variant", default="deepSVG", choices=("deepSVG", "deepG"),
                   help="deep GMM variant (default: %(default)s)")
    p.add_argument("--covariance", "--covariance-type", dest="covariance_type",
                   default="full", choices=covariance.names(aliases=True),
                   help="covariance structure of the classes (default: %(default)s)")
    p.add_argument("--blind-spot", type=int, default=None, metavar="B",
                   help="side of the hidden squares, 0 for none (default: 5 for deepSVG)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: "
                   "%(default)s)")
    p.add_argument("--batch-size", type=int, default=4, help="images per step, grouped by "
                   "size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: "
                   "%(default)s)")
    p.add_argument("--augment", action="store_true", help="random flips and quarter turns")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    p.add_argument("-v", "--verbose", action="store_true", help="show training progress")
    return p


def as_unit_image(arr: np.ndarray) -> np.ndarray:
    """An image as float64 (H, W, C), 8/16-bit integers scaled to [0, 1] as in segment."""
    from ..image._features import _unit_scale
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        raise CLIError(f"expected a numeric image, got dtype {arr.dtype}.")
    return arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.float64) / _unit_scale(arr)


def run(args) -> int:
    from ._segment import read_image
    if args.n_components < 2:
        raise CLIError(f"-k must be at least 2, got {args.n_components}.")
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        raise CLIError("--epochs and --batch-size must be positive integers and --lr positive.")
    check_paths([("IMAGES", p) for p in args.images], [("-o", args.output)])
    try:
        from ..torch import DeepGMMSegmenter
    except ImportError:
        raise CLIError("segment-train needs PyTorch: pip install gaussmix[torch].",
                       code=1) from None
    images = []
    for path in args.images:
        img = as_unit_image(read_image(path))
        if images and img.shape[2] != images[0].shape[2]:
            raise CLIError(f"{path}: {img.shape[2]} channel(s), but {args.images[0]} has "
                           f"{images[0].shape[2]}; every image needs the same channels.")
        images.append(img)
    seg = DeepGMMSegmenter(args.n_components, variant=args.variant,
                           covariance_type=args.covariance_type, blind_spot=args.blind_spot,
                           epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           augment=args.augment, random_state=args.seed,
                           verbose=int(args.verbose))
    t0 = time.perf_counter()
    try:
        seg.fit(images)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    seg.save(args.output)
    summary = {"images": len(images), "channels": seg.n_channels_,
               "n_components": int(args.n_components), "variant": args.variant,
               "epochs": seg.n_epochs_, "final_loss": seg.history_[-1]["loss"],
               "means": np.round(seg.means_, 6).tolist(), "output": args.output,
               "seconds": round(elapsed, 3)}
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not args.quiet:
        sys.stdout.write(f"trained on {len(images)} images ({seg.n_channels_} channel(s)) for "
                         f"{seg.n_epochs_} epochs in {elapsed:.1f}s; model written to "
                         f"{args.output}\n")
    return 0
