"""Data and model loading shared by the subcommands (writing is in :mod:`._output`).

``DATA`` may be

* a ``.npy`` file: read with ``np.load(allow_pickle=False, mmap_mode="r")``, so object arrays are
  refused and large arrays are not copied into memory;
* a CSV file (any other name), or ``-`` for CSV on standard input. The delimiter is detected from
  the first line (comma, semicolon, tab or whitespace), and so is a header: the first line is a
  header when one of its fields is not a number. Every column must be numeric; a non-numeric
  column is refused with a message naming it.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys

import numpy as np

__all__ = ["CLIError", "Table", "load_data", "load_weights", "command_parser", "feature_columns",
           "load_model"]


class CLIError(Exception):
    """An error reported on one line, with an exit code (2: bad input, 1: runtime failure)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class Table:
    """A loaded data matrix and its column names (``None`` when the input had no header)."""

    def __init__(self, X: np.ndarray, columns: list[str] | None, source: str):
        self.X = X
        self.columns = columns
        self.source = source

    def column_name(self, j: int) -> str:
        if self.columns is not None:
            return repr(self.columns[j])
        return f"{j + 1}"


def _parse_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _delimiter(line: str) -> str | None:
    for d in (",", "\t", ";"):
        if d in line:
            return d
    return None  # whitespace


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=delim))]


def _read_text(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    with open(path, encoding="utf-8-sig") as fh:
        return fh.read(), path


def _load_csv(path: str, dtype) -> Table:
    try:
        text, name = _read_text(path)
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text CSV file (use .npy for binary arrays).") from None
    lines = text.splitlines()
    first_idx = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")),
                     None)
    if first_idx is None:
        raise CLIError(f"{name}: no data (the file is empty).")
    first = lines[first_idx]
    delim = _delimiter(first)
    head = _split(first, delim)
    columns = None
    body_start = first_idx
    if not all(_parse_float(f) for f in head):
        columns = head
        body_start = first_idx + 1
    ncol = len(head)
    body = [ln for ln in lines[body_start:] if ln.strip() and not ln.startswith("#")]
    if not body:
        raise CLIError(f"{name}: no data rows"
                       + (" after the header." if columns is not None else "."))
    try:
        X = np.loadtxt(io.StringIO("\n".join(body)), delimiter=delim, dtype=dtype, ndmin=2,
                       comments=None, encoding=None, quotechar='"')
    except ValueError:
        _explain_csv_error(name, body, body_start, lines, delim, ncol, columns)
        raise  # pragma: no cover - _explain always raises
    if X.shape[1] != ncol:
        raise CLIError(f"{name}: the header has {ncol} columns but the rows have {X.shape[1]}.")
    return Table(X, columns, name)


def _explain_csv_error(name, body, body_start, lines, delim, ncol, columns):
    """Find the first offending field and raise a :class:`CLIError` that names its column."""
    def colname(j):
        return repr(columns[j]) if columns is not None and j < len(columns) else str(j + 1)

    # line numbers as a text editor shows them (1-based, counting the header and blank lines)
    numbered = [(i + 1, ln) for i, ln in enumerate(lines[body_start:], start=body_start)
                if ln.strip() and not ln.startswith("#")]
    for lineno, ln in numbered:
        fields = _split(ln, delim)
        if len(fields) != ncol:
            raise CLIError(f"{name}: line {lineno} has {len(fields)} fields, expected {ncol}.")
        for j, f in enumerate(fields):
            if f == "":
                raise CLIError(f"{name}: column {colname(j)} has an empty value at line {lineno}; "
                               "missing values are not supported.")
            if not _parse_float(f):
                raise CLIError(f"{name}: column {colname(j)} is not numeric (value {f!r} at line "
                               f"{lineno}); remove or encode non-numeric columns.")
    raise CLIError(f"{name}: cannot parse the CSV data.")


def _load_npy(path: str, dtype) -> Table:
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise CLIError(f"{path}: not a valid .npy file (no NumPy header).")
    try:
        X = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise CLIError(f"{path}: holds Python objects (pickled data); only numeric arrays "
                           "are accepted.") from None
        raise CLIError(f"{path}: not a valid .npy file ({exc}).") from None
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CLIError(f"{path}: not a valid .npy file ({exc}).") from None
    if not isinstance(X, np.ndarray):
        raise CLIError(f"{path}: not a single .npy array.")
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{path}: array has dtype {X.dtype}; a numeric array is required.")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array (n_samples, n_features), got shape {X.shape}.")
    if dtype is not None and X.dtype != dtype:
        X = np.asarray(X, dtype=dtype)
    elif X.dtype.kind != "f":
        X = np.asarray(X, dtype=np.float64)
    return Table(X, None, path)


def load_data(path: str, dtype=None) -> Table:
    """Load ``path`` (CSV, ``.npy`` or ``-``) as a 2-D floating array.

    Parameters
    ----------
    path : str
        File name; ``.npy`` files are memory-mapped, anything else is read as CSV.
    dtype : {None, numpy.float32, numpy.float64}
        ``None`` keeps a floating ``.npy`` array's dtype and reads CSV as float64.
    """
    if os.fspath(path) != "-" and os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, expected a CSV or .npy file.")
    if str(path).lower().endswith(".npy"):
        return _load_npy(path, dtype)
    return _load_csv(path, dtype or np.float64)


def load_weights(path: str, n_samples: int) -> np.ndarray:
    """Sample weights from a one-column CSV or a 1-D ``.npy`` file, shape (n_samples,)."""
    t = load_data(path, np.float64)
    if t.X.shape[1] != 1:
        raise CLIError(f"{path}: sample weights must be a single column, got {t.X.shape[1]}.")
    w = np.asarray(t.X[:, 0])
    if len(w) != n_samples:
        raise CLIError(f"{path}: has {len(w)} weights but the data has {n_samples} rows.")
    return w


def command_parser(subparsers, name: str, help: str, epilog: str) -> argparse.ArgumentParser:
    """The sub-parser of one command: its one-line help, and an epilog of examples kept as typed."""
    return subparsers.add_parser(name, help=help, description=help + ".", epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def feature_columns(est) -> list[str]:
    """Column names for rows of a fitted model's feature space."""
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return [str(s) for s in names]
    return [f"x{j}" for j in range(est.n_features_in_)]


def load_model(path: str):
    """:func:`gaussmix.load`, with a missing file reported as bad input."""
    from .. import load
    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    return load(path)
