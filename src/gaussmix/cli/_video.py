"""``gaussmix video-bg IN -o MASK``: foreground masks (and tracks) of a video."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np

from ._data import CLIError, command_parser
from ._output import check_paths, write_text

NAME = "video-bg"
HELP = "separate moving objects from the background of a video with per-pixel mixtures"

_EPILOG = """\
examples:
  gaussmix video-bg street.mp4 -o mask.mp4
  gaussmix video-bg street.mp4 -o mask.mkv --tracks tracks.csv --min-area 50 --opening 1
  gaussmix video-bg street.mp4 -o mask.mp4 --shadows --history 300 --var-threshold 25

The mask video holds 255 for foreground, 0 for background and, with --shadows, 127 for
shadows. --tracks writes one CSV row per confirmed track and frame:
frame,track,x,y,vx,vy,box_x,box_y,box_w,box_h,area (positions in pixels, velocities in
pixels per frame, the box and area those of the detection last assigned to the track).
Videos are read and written with PyAV (pip install 'gaussmix[video]'); the mask is encoded
with --codec (default libx264). The mask video is written to a temporary file next to OUT
and renamed over OUT only once complete.
"""

#: Containers the mask video may be written in, by extension.
_CONTAINERS = (".mp4", ".mkv", ".avi", ".mov")


def add_parser(subparsers):
    p = command_parser(subparsers, NAME, HELP, _EPILOG)
    p.add_argument("input", metavar="IN", help="input video file (any format FFmpeg reads)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output mask video (" + ", ".join(_CONTAINERS) + ")")
    p.add_argument("--tracks", metavar="CSV", help="also track the foreground blobs and write "
                                                    "the tracks to CSV")
    p.add_argument("--history", type=int, default=500,
                   help="frames that shape the background model (default: %(default)s)")
    p.add_argument("--var-threshold", type=float, default=16.0,
                   help="squared distance (in standard deviations) beyond which a pixel is "
                        "foreground (default: %(default)s)")
    p.add_argument("--n-components", type=int, default=5,
                   help="most mixture components per pixel (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="fixed learning rate in [0, 1] (default: 1/min(2n, history))")
    p.add_argument("--shadows", action="store_true", help="label shadows 127")
    p.add_argument("--grey", action="store_true", help="model grey levels instead of colour")
    p.add_argument("--min-area", type=int, default=20,
                   help="--tracks: smallest blob in pixels (default: %(default)s)")
    p.add_argument("--opening", type=int, default=1,
                   help="--tracks: radius of the opening that cleans the mask before finding "
                        "blobs, 0 for none (default: %(default)s)")
    p.add_argument("--max-distance", type=float, default=50.0,
                   help="--tracks: gating distance in pixels (default: %(default)s)")
    p.add_argument("--codec", default="libx264",
                   help="FFmpeg encoder of the mask video (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show a progress bar on standard error")
    return p


def _av():
    try:
        import av
    except ImportError:
        raise CLIError("reading and writing videos needs PyAV: pip install 'gaussmix[video]'",
                       code=1) from None
    return av


@contextmanager
def _atomic_path(path):
    """A temporary path next to ``path`` (same extension) that replaces it on success."""
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(root) + ".", suffix=ext,
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)  # the permissions an ordinary open() would have given
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _frames(container, stream, grey: bool):
    fmt = "gray" if grey else "rgb24"
    for frame in container.decode(stream):
        yield frame.to_ndarray(format=fmt)


def run(args) -> int:
    from ..video import BackgroundSubtractor, MultiObjectTracker, find_blobs
    from .._progress import progress_bar

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in _CONTAINERS:
        raise CLIError(f"-o {args.output!r}: write the mask video as one of "
                       f"{', '.join(_CONTAINERS)}.")
    check_paths([("IN", args.input)], [("-o", args.output), ("--tracks", args.tracks)])
    if not os.path.isfile(args.input):
        raise CLIError(f"no such file: {args.input}")
    for name, value, low in (("--min-area", args.min_area, 1), ("--opening", args.opening, 0)):
        if value < low:
            raise CLIError(f"{name} must be an integer >= {low}, got {value}.")
    if not args.max_distance > 0:
        raise CLIError(f"--max-distance must be positive, got {args.max_distance}.")
    bg = BackgroundSubtractor(args.n_components, history=args.history,
                              var_threshold=args.var_threshold, detect_shadows=args.shadows,
                              learning_rate=args.learning_rate)
    av = _av()
    tracker = MultiObjectTracker(args.max_distance) if args.tracks else None
    rows, ids = [], set()
    t0 = time.perf_counter()
    n = 0
    try:
        src = av.open(args.input)
    except (av.error.FFmpegError, OSError) as exc:
        raise CLIError(f"{args.input}: cannot read the video ({exc}).") from None
    with src:
        if not src.streams.video:
            raise CLIError(f"{args.input}: holds no video stream.")
        vin = src.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate or 25
        total = vin.frames or None
        with _atomic_path(args.output) as tmp, av.open(tmp, "w") as dst:
            try:
                vout = dst.add_stream(args.codec, rate=rate)
            except (av.error.FFmpegError, ValueError) as exc:
                raise CLIError(f"--codec {args.codec!r}: no such encoder ({exc}).") from None
            with progress_bar(total, "frames", args.verbose) as bar:
                try:
                    for frame in _frames(src, vin, args.grey):
                        mask = bg.apply(frame)
                        if n == 0:
                            h, w = mask.shape
                            vout.width, vout.height = w, h
                            even = h % 2 == 0 and w % 2 == 0
                            vout.pix_fmt = "yuv420p" if even else "yuv444p"
                        out = av.VideoFrame.from_ndarray(mask, format="gray")
                        for packet in vout.encode(out):
                            dst.mux(packet)
                        if tracker is not None:
                            blobs = find_blobs(mask, min_area=args.min_area,
                                               opening=args.opening)
                            for tr in tracker.update(blobs):
                                ids.add(tr.id)
                                box = tr.bbox or (np.nan,) * 4
                                rows.append((n, tr.id, *tr.state, *box,
                                             np.nan if tr.area is None else tr.area))
                        n += 1
                        bar.update(1)
                except av.error.FFmpegError as exc:
                    raise CLIError(f"{args.input}: cannot decode the video ({exc}).") from None
            if n == 0:
                raise CLIError(f"{args.input}: the video has no frames.")
            for packet in vout.encode():
                dst.mux(packet)
    seconds = time.perf_counter() - t0
    if args.tracks:
        lines = ["frame,track,x,y,vx,vy,box_x,box_y,box_w,box_h,area"]
        for r in rows:
            lines.append(f"{r[0]},{r[1]}," + ",".join(f"{v:.6g}" for v in r[2:6]) + ","
                         + ",".join("" if v != v else str(int(v)) for v in r[6:]))
        write_text("\n".join(lines) + "\n", args.tracks)
    summary = {"frames": n, "width": int(w), "height": int(h),
               "ms_per_frame": round(1e3 * seconds / n, 3), "output": args.output}
    if args.tracks:
        summary.update(tracks=len(ids), tracks_file=args.tracks)
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not args.quiet:
        extra = f", {len(ids)} tracks -> {args.tracks}" if args.tracks else ""
        sys.stdout.write(f"{n} frames {w}x{h}, {summary['ms_per_frame']} ms per frame: mask -> "
                         f"{args.output}{extra}\n")
    return 0
