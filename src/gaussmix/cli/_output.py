"""Output files of the subcommands: checked before any work, written atomically.

Two promises hold for every file a subcommand writes:

* **It is never one of the command's inputs.** :func:`check_paths` runs before the data are read
  or anything is fitted, and refuses (exit code 2) an output that names an input file, through
  a relative path, a symbolic link or a hard link alike, or that names the same file as another
  output of the same command. Its directory must exist (exit code 1 otherwise), so a long fit
  does not end in "cannot write".
* **It is either the old file or the complete new one.** Every writer goes through
  :func:`gaussmix._atomic.atomic_write`: a temporary file in the destination's directory, fsync,
  then :func:`os.replace`. A write that fails midway (disk full, file-size limit, an unsupported
  image mode) leaves the previous file untouched, and an input that is still memory-mapped is
  never truncated.

Formats are decided from the destination's name before the work starts (:func:`image_format`,
:func:`figure_target`), so a name the writer cannot handle is an error up front.

Standard output
---------------
``-o -`` means standard output for every table a command writes (``predict``, ``sample``,
``score --per-sample``, ``anomalies``, ``select --table``); a table goes there too when no
``-o`` is given, unless ``--json`` is, which then asks for the summary alone. Standard output
carries one thing: the table when it goes there, and then the summary (JSON with ``--json``,
or text) goes to standard error; otherwise the summary. Binary outputs (model files, figures,
images, ``.npy``) are files: ``-`` there is refused with exit code 2.
"""
from __future__ import annotations

import io
import os
import sys
from typing import Iterable

import numpy as np

from .._atomic import atomic_write, same_file
from ._data import CLIError

__all__ = ["STDOUT", "check_paths", "add_output_option", "table_destination", "summary_stream",
           "print_json", "write_table", "write_text", "write_npy", "image_format",
           "write_image", "figure_target", "save_figure", "save_model"]

#: The output name meaning standard output.
STDOUT = "-"

Named = Iterable[tuple[str, "str | os.PathLike | None"]]


def _real(path) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def _show(label: str, path) -> str:
    return f"{label} {os.fspath(path)!r}"


def check_paths(inputs: Named, outputs: Named, *, stdout: Iterable[str] = ()) -> None:
    """Refuse outputs that would overwrite an input or each other, or that cannot be created.

    Parameters
    ----------
    inputs, outputs : iterable of (label, path)
        The files a command reads and writes, each with the argument that named it (``"DATA"``,
        ``"-o"``, ``"--labels"``); ``None`` (an option not given) and ``"-"`` (standard input)
        are skipped.
    stdout : iterable of str
        Labels of the outputs that may be ``-`` (standard output: the tables); ``-`` for any
        other output (a model file, a figure, an image) is refused.

    Raises
    ------
    CLIError
        Code 2 when an output is an input, two outputs are one file, an output is a
        directory, or ``-`` names a binary output or more than one output; code 1 when an
        output's directory does not exist.
    """
    ins = [(lab, p) for lab, p in inputs if p is not None and os.fspath(p) != STDOUT]
    outs = [(lab, p) for lab, p in outputs if p is not None]
    to_stdout = [lab for lab, p in outs if os.fspath(p) == STDOUT]
    stdout = tuple(stdout)
    for lab in to_stdout:
        if lab not in stdout:
            raise CLIError(f"{lab} -: this output is a file (standard output carries only "
                           "tables); name a file to write.")
    if len(to_stdout) > 1:
        raise CLIError(f"{' and '.join(to_stdout)} both name standard output (-); give one "
                       "of them a file name.")
    outs = [(lab, p) for lab, p in outs if os.fspath(p) != STDOUT]
    for i, (olab, out) in enumerate(outs):
        if os.path.isdir(out):
            raise CLIError(f"{_show(olab, out)} is a directory; name a file to write.")
        for ilab, inp in ins:
            if same_file(out, inp) or _real(out) == _real(inp):
                raise CLIError(f"{_show(olab, out)} is the input {_show(ilab, inp)}; refusing "
                               "to overwrite an input, choose another output file.")
        for olab2, out2 in outs[:i]:
            if same_file(out, out2) or _real(out) == _real(out2):
                raise CLIError(f"{_show(olab2, out2)} and {_show(olab, out)} are the same "
                               "file; give each output its own name.")
        parent = os.path.dirname(os.path.abspath(os.fspath(out)))
        if not os.path.isdir(parent):
            raise CLIError(f"cannot write {os.fspath(out)}: no such directory {parent}", code=1)


def _failed(path, exc: OSError) -> CLIError:
    return CLIError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}", code=1)


def write_text(text: str, path) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    try:
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise _failed(path, exc) from None


def write_npy(arr: np.ndarray, path) -> None:
    """Write ``arr`` as a ``.npy`` file atomically (no pickled objects)."""
    try:
        with atomic_write(path, "wb") as fh:
            np.save(fh, np.asarray(arr), allow_pickle=False)
    except OSError as exc:
        raise _failed(path, exc) from None


def add_output_option(parser, what: str, *, with_data: bool = True) -> None:
    """``-o/--output``, ``--no-header``, ``--json`` and (with ``with_data``) ``--with-data``."""
    parser.add_argument("-o", "--output", metavar="OUT",
                        help=f"write {what} to OUT (CSV, or .npy if OUT ends in .npy); '-' or "
                             "no -o: standard output")
    parser.add_argument("--no-header", action="store_true",
                        help="omit the CSV header line")
    if with_data:
        parser.add_argument("--with-data", action="store_true",
                            help="put DATA's columns, under their header names (or the "
                                 "model's feature names), before the results")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary: to standard output, or to standard error "
                             "when the table goes there (-o -); without -o, only the summary")


def table_destination(output, json_summary: bool):
    """Where a command's table goes: ``output`` if given; else standard output (``"-"``),
    unless ``--json`` asked for the summary alone (``None``: no table)."""
    if output is not None:
        return output
    return None if json_summary else STDOUT


def summary_stream(destination):
    """Standard error when the table goes to standard output, else standard output."""
    return sys.stderr if destination is not None and os.fspath(destination) == STDOUT \
        else sys.stdout


def print_json(obj, destination=None) -> None:
    """One line of JSON on :func:`summary_stream` for a table written to ``destination``."""
    import json
    stream = summary_stream(destination)
    stream.write(json.dumps(obj) + "\n")
    stream.flush()


def write_table(arr: np.ndarray, path: str | None, columns: list[str], *, header: bool = True,
                fmt="%.10g") -> None:
    """Write ``arr`` (n,) or (n, m) as CSV to ``path`` (standard output if ``None`` or
    ``"-"``) or, when ``path`` ends in ``.npy``, as a ``.npy`` file. ``fmt`` is one format or
    one per column."""
    arr = np.asarray(arr)
    if path is not None and path != STDOUT and str(path).lower().endswith(".npy"):
        write_npy(arr, path)
        return
    buf = io.StringIO()
    np.savetxt(buf, arr.reshape(len(arr), -1), delimiter=",", fmt=fmt,
               header=",".join(columns) if header else "", comments="")
    text = buf.getvalue()
    if not header:
        text = text.lstrip("\n")
    if path is None or path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_text(text, path)


def image_format(path, option: str, allowed: Iterable[str] | None = None) -> str:
    """The Pillow format that writes ``path`` (from its extension), or a usage error.

    ``allowed`` restricts the formats (e.g. lossless ones for a label map).
    """
    from PIL import Image
    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise CLIError(f"cannot write {option} {os.fspath(path)!r}: no image format Pillow "
                       f"can write has the extension {ext!r} (use e.g. .png, .jpg, .tif).")
    if allowed is not None:
        allowed = tuple(allowed)
        if fmt not in allowed:
            raise CLIError(f"{option} {os.fspath(path)!r}: {fmt} is not allowed here; use "
                           f"one of {', '.join(allowed)} (or .npy).")
    return fmt


def write_image(img: np.ndarray, path, fmt: str) -> None:
    """Write a uint8 array as an image of Pillow format ``fmt`` atomically."""
    from PIL import Image
    try:
        with atomic_write(path, "wb") as fh:
            Image.fromarray(img).save(fh, format=fmt)
    except (OSError, ValueError) as exc:  # e.g. a mode the format cannot store
        raise CLIError(f"cannot write {os.fspath(path)}: {exc}", code=1) from None


def figure_target(path, option: str = "-o") -> tuple[str, str]:
    """``(path, format)`` of a Matplotlib figure file, checked before drawing.

    As :meth:`matplotlib.figure.Figure.savefig` does, a name without an extension gets
    ``savefig.format`` (PNG by default) and that extension appended.
    """
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase
    path = os.fspath(path)
    if path == STDOUT:
        raise CLIError(f"{option} -: a figure is a file (standard output carries only tables); "
                       "name a file to write.")
    ext = os.path.splitext(path)[1][1:].lower()
    if not ext:
        ext = str(matplotlib.rcParams["savefig.format"]).lower()
        path = f"{path}.{ext}"
    supported = FigureCanvasBase.get_supported_filetypes()
    if ext not in supported:
        raise CLIError(f"{option} {path!r}: Matplotlib cannot write .{ext} figures; use one of "
                       f"{', '.join('.' + e for e in sorted(supported))}.")
    return path, ext


def save_figure(fig, path: str, fmt: str, **kwargs) -> None:
    """``fig.savefig`` into ``path`` atomically, in format ``fmt``."""
    try:
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format=fmt, **kwargs)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}",
                       code=1) from None


def save_model(est, path) -> None:
    """``est.save(path)`` (the model writer is atomic), with failures as exit code 1."""
    try:
        est.save(path)
    except OSError as exc:
        raise _failed(path, exc) from None
