"""``gaussmix segment IN -k K -o OUT``: segment an image with a Gaussian mixture."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from ._data import CLIError, command_parser
from ._output import check_paths, image_format, write_image, write_npy

NAME = "segment"
HELP = "segment an image into K regions with a Gaussian mixture over pixel colours"

_EPILOG = """\
examples:
  gaussmix segment photo.jpg -k 4 -o segments.png
  gaussmix segment photo.jpg -k 4 -o overlay.png --overlay --colorspace lab
  gaussmix segment scan.png -k bic -o out.png --labels labels.npy --json
  gaussmix segment photo.jpg -k 2:6 -o out.png --features color,position
  gaussmix segment new_scan.png --model brain.gmseg -o segments.png

-k takes a number, a range A:B (K chosen by BIC among A..B) or one of bic, aic, icl
(K chosen in 2..8 by that criterion). The output image holds each pixel painted with the
mean colour of its segment, or with --overlay the segments drawn over the image.
--labels writes the label map losslessly: .npy (any K), or PNG, TIFF, BMP or PPM as
8-bit grey levels (K <= 256). Every option and output name is checked before segmenting.
Image files are turned upright by their EXIF orientation tag before segmenting, so every
output has the orientation an image viewer shows.
"""


def add_parser(subparsers):
    from .. import covariance
    from ..image import COLORSPACES
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, TIFF, ...) or .npy array")
    p.add_argument("-k", "--n-components", default=None, metavar="K",
                   help="number of segments: N, A:B, bic, aic or icl (required without "
                        "--model)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output image (format from the extension)")
    p.add_argument("--overlay", action="store_true",
                   help="draw the segments over the image instead of recolouring it")
    p.add_argument("--alpha", type=float, default=0.45,
                   help="opacity of the overlay colours (default: %(default)s)")
    p.add_argument("--features", default="color",
                   help="comma-separated pixel features: color or color,position "
                        "(default: %(default)s)")
    p.add_argument("--colorspace", default="rgb", choices=COLORSPACES,
                   help="colour space of the colour features (default: %(default)s)")
    p.add_argument("--covariance", "--covariance-type", dest="covariance_type",
                   default="full", choices=covariance.names(aliases=True),
                   help="covariance structure, any registered covariance model "
                        "(default: %(default)s)")
    p.add_argument("--method", default="em", choices=("em", "deep"),
                   help="em: a Gaussian mixture over pixels; deep: a U-Net trained on the "
                        "mixture likelihood, needs PyTorch (default: %(default)s)")
    p.add_argument("--model", metavar="MODEL",
                   help="segment with a model trained by `gaussmix segment-train` (forward "
                        "passes, no fitting; implies --method deep)")
    p.add_argument("--fit-size", type=int, default=50_000, metavar="N",
                   help="em: fit on at most N points (0: every pixel) (default: %(default)s)")
    p.add_argument("--n-init", type=int, default=1,
                   help="em: number of initialisations (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--labels", metavar="FILE",
                   help="also write the label map (.npy, or an 8-bit .png/.tif/.bmp with "
                        "K <= 256)")
    p.add_argument("--proba", metavar="FILE.npy",
                   help="also write the per-pixel probabilities, shape (H, W, K)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show progress bars on standard error while fitting and labelling")
    return p


def _parse_k(text: str):
    t = text.strip().lower()
    if t in ("bic", "aic", "icl"):
        return t
    try:
        if ":" in t:
            a, b = (int(v) for v in t.split(":"))
            if a < 1 or b < a:
                raise ValueError
            return range(a, b + 1)
        k = int(t)
    except ValueError:
        raise CLIError(f"-k must be a positive integer, a range A:B with 1 <= A <= B, or one "
                       f"of bic, aic, icl; got {text!r}.") from None
    if k < 1:
        raise CLIError(f"-k must be at least 1, got {k}.")
    return k


def read_image(path: str) -> np.ndarray:
    """An image file as an array (H, W), (H, W, 3) or (H, W, 4); ``.npy`` is read as is.

    An image file carrying an EXIF orientation tag (cameras store the sensor's pixels and
    record how to turn them) is rotated and flipped to the orientation a viewer shows.
    """
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, expected an image file.")
    if path.lower().endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise CLIError(f"{path}: not a numeric .npy array ({exc}).") from None
        if arr.ndim not in (2, 3):
            raise CLIError(f"{path}: expected an image array of shape (H, W) or (H, W, C), "
                           f"got {arr.shape}.")
        return arr
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            mode = im.mode
            if mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA", "RGBX"):
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
            elif mode.startswith("I;16"):
                return np.asarray(im, dtype=np.uint16)
            elif mode == "I":
                return np.asarray(im, dtype=np.float64)
            return np.asarray(im)
    except UnidentifiedImageError:
        raise CLIError(f"{path}: not an image file Pillow can read.") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot read the image ({exc}).") from None


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    a = arr.astype(np.float64)
    lo, hi = a.min(), a.max()
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo if hi > lo else 1.0)
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


#: Pillow formats that store an 8-bit grey label map exactly (no lossy compression).
_LABEL_FORMATS = ("PNG", "TIFF", "BMP", "PPM")
#: Largest K an 8-bit label image can hold.
_MAX_LABEL_IMAGE_K = 256


def _max_k(k) -> int:
    """The largest number of segments ``-k`` can produce (a criterion chooses in 2..8)."""
    if isinstance(k, range):
        return k[-1]
    if isinstance(k, str):
        return 8
    return k


def _check_options(args):
    """Every option checked before the image is read: ``(k, features, image format, label
    image format or None)``."""
    from ..image import FEATURES
    model = None
    if args.model is not None:
        k = None if args.n_components is None else _parse_k(args.n_components)
        model = _load_model(args.model)
        if k is not None and k != model.n_components:
            raise CLIError(f"-k {args.n_components} but the model {args.model!r} has "
                           f"{model.n_components} classes.")
        k = model.n_components
    elif args.n_components is None:
        raise CLIError("-k is required (or --model MODEL).")
    else:
        k = _parse_k(args.n_components)
    feats = tuple(f.strip() for f in args.features.split(",") if f.strip())
    bad = [f for f in feats if f not in FEATURES]
    if bad or not feats:
        raise CLIError(f"--features must be a comma-separated list of {', '.join(FEATURES)}; "
                       f"got {args.features!r}.")
    if args.fit_size < 0:
        raise CLIError(f"--fit-size must be >= 0, got {args.fit_size}.")
    if args.n_init < 1:
        raise CLIError(f"--n-init must be a positive integer, got {args.n_init}.")
    if not 0 <= args.alpha <= 1:
        raise CLIError(f"--alpha must be in [0, 1], got {args.alpha}.")
    if args.proba and not args.proba.lower().endswith(".npy"):
        raise CLIError(f"--proba must name a .npy file, got {args.proba!r}.")
    out_format = image_format(args.output, "-o")
    label_format = None
    if args.labels and not args.labels.lower().endswith(".npy"):
        label_format = image_format(args.labels, "--labels", _LABEL_FORMATS)
        if _max_k(k) > _MAX_LABEL_IMAGE_K:
            raise CLIError(f"--labels {args.labels!r}: an 8-bit label image holds at most "
                           f"{_MAX_LABEL_IMAGE_K} segments but -k {args.n_components} allows "
                           f"{_max_k(k)}; write the labels to a .npy file.")
    check_paths([("IN", args.input), ("--model", args.model)],
                [("-o", args.output), ("--labels", args.labels), ("--proba", args.proba)])
    return k, feats, out_format, label_format, model


def _load_model(path):
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path}")
    try:
        from ..torch import DeepGMMSegmenter
    except ImportError:
        raise CLIError("--model needs PyTorch: pip install gaussmix[torch].", code=1) from None
    try:
        return DeepGMMSegmenter.load(path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def run(args) -> int:
    from ..image import overlay, segment
    k, feats, out_format, label_format, model = _check_options(args)
    image = read_image(args.input)
    t0 = time.perf_counter()
    if model is not None:
        try:
            seg = segment(image, k, method="deep", model=model)
        except ValueError as exc:
            raise CLIError(f"{args.input}: {exc}") from None
    else:
        options = dict(fit_size=args.fit_size or None, n_init=args.n_init) \
            if args.method == "em" else {}
        seg = segment(image, k, features=feats, colorspace=args.colorspace,
                      covariance_type=args.covariance_type, method=args.method,
                      random_state=args.seed, verbose=int(args.verbose), **options)
    elapsed = time.perf_counter() - t0
    out = overlay(image, seg.labels, alpha=args.alpha) if args.overlay else seg.recolored
    write_image(_to_uint8(np.asarray(out)), args.output, out_format)
    if args.labels:
        if label_format is None:
            write_npy(seg.labels.astype(np.int32), args.labels)
        else:
            write_image(seg.labels.astype(np.uint8), args.labels, label_format)
    if args.proba:
        write_npy(seg.probabilities, args.proba)
    h, w = seg.labels.shape
    share = np.bincount(seg.labels.ravel(), minlength=seg.n_components) / seg.labels.size
    summary = {
        "input": args.input, "output": args.output, "height": h, "width": w,
        "n_components": int(seg.n_components), "features": list(seg.features),
        "colorspace": seg.colorspace,
        "method": "deep" if model is not None else args.method, "n_fit": int(seg.n_fit),
        "segment_fractions": [round(float(s), 6) for s in share],
        "seconds": round(elapsed, 4),
    }
    if seg.criteria is not None:
        summary["criteria"] = seg.criteria
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not args.quiet:
        sys.stdout.write(
            f"segmented {w} x {h} pixels into {seg.n_components} segments in {elapsed:.2f}s "
            f"(sizes {', '.join(f'{100 * s:.1f}%' for s in share)})\n"
            f"{'overlay' if args.overlay else 'recoloured image'} written to {args.output}\n")
    return 0
