"""Data and model loading shared by the subcommands (writing is in :mod:`._output`).

``DATA`` may be

* a ``.npy`` file: read with ``np.load(allow_pickle=False, mmap_mode="r")``, so object arrays are
  refused and large arrays are not copied into memory;
* a Parquet file (``.parquet`` or ``.pq``): read with pyarrow; every column must be numeric
  (integer, floating or boolean) and hold no missing values;
* a CSV file (any other name), or ``-`` for CSV on standard input. The delimiter is detected from
  the first line (comma, semicolon, tab or whitespace), and so is a header: the first line is a
  header when one of its fields is not a number. Lines starting with ``#`` are comments. Every
  column must be numeric; a non-numeric column or an empty field is refused with a message
  naming its column and line.

A header's names (and a Parquet file's column names) are the features' names: ``fit`` stores
them in the model (``feature_names_in_``, saved in the model file), and ``info``, ``sample``,
``plot`` and the tables that echo the input columns (``--with-data``) use them.

CSV readers
-----------
CSV is parsed by :func:`pandas.read_csv` with its C engine. Its pyarrow engine was measured on
a 1e6 x 8 CSV (157 MB) and not chosen: 2.5x slower and 3.4x the peak memory of the C engine
on two cores (it holds the whole text and the Arrow columns before converting), while the C
engine read the file 9x faster than the NumPy reader with a ninth of its peak memory. pandas
and pyarrow are the ``io`` extra (``pip install "gaussmix[io]"``), not core dependencies:
without pandas a NumPy reader (:func:`numpy.loadtxt`, slower, and holding the text in memory)
reads the same files with the same results and messages, so ``pip install gaussmix`` is enough
for ``gaussmix fit data.csv``. Parquet needs pyarrow.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["CLIError", "Table", "load_data", "load_weights", "command_parser", "feature_columns",
           "record_names", "model_input", "by_position", "data_columns", "load_model"]


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


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not line.startswith("#")


def _load_csv_numpy(path: str, dtype) -> Table:
    """The reader without pandas: the whole text in memory, then :func:`numpy.loadtxt`."""
    try:
        text, name = _read_text(path)
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text CSV file (use .npy for binary arrays).") from None
    lines = text.splitlines()
    first_idx = next((i for i, ln in enumerate(lines) if _is_content(ln)), None)
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
    body = [ln for ln in lines[body_start:] if _is_content(ln)]
    if not body:
        raise CLIError(f"{name}: no data rows"
                       + (" after the header." if columns is not None else "."))
    try:
        X = np.loadtxt(io.StringIO("\n".join(body)), delimiter=delim, dtype=dtype, ndmin=2,
                       comments=None, encoding=None, quotechar='"')
    except ValueError:
        _explain_csv_error(name, lines, body_start, delim, ncol, columns)
        raise  # pragma: no cover - _explain always raises
    if X.shape[1] != ncol:
        raise CLIError(f"{name}: the header has {ncol} columns but the rows have {X.shape[1]}.")
    return Table(X, columns, name)


def csv_engine() -> str | None:
    """The CSV parser: ``"c"`` (:func:`pandas.read_csv`'s C engine) or ``None`` (no pandas:
    the NumPy reader)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return None
    return "c"


#: Spellings of NaN a CSV field may use (the NumPy reader's set); an empty field is *not* NaN.
_NAN_TEXT = ["nan", "NaN", "NAN", "-nan", "-NaN", "+nan"]


def _sniff(source) -> tuple[int, str | None, list[str]]:
    """``(lines before the first content line, its delimiter, its fields)`` from the first
    lines of ``source`` (a path, or the bytes read from standard input)."""
    fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    with fh:
        skipped = 0
        for raw in fh:
            line = raw.decode("utf-8-sig" if skipped == 0 else "utf-8")
            if _is_content(line):
                delim = _delimiter(line)
                return skipped, delim, _split(line.rstrip("\r\n"), delim)
            skipped += 1
    raise CLIError("no data (the file is empty).")


def _load_csv_pandas(path: str, dtype, engine: str) -> Table:
    """:func:`pandas.read_csv` of a numeric CSV; a parse failure is explained from the text.

    Columns are read with their inferred types (with ``dtype=float`` the reader would turn
    ``true`` into 1.0); a column that is not integer or floating is then explained from the
    text as a parse failure is.
    """
    import pandas as pd
    name = "<stdin>" if path == "-" else path
    source = sys.stdin.buffer.read() if path == "-" else path
    try:
        skipped, delim, head = _sniff(source)
    except UnicodeDecodeError:
        raise CLIError(f"{name}: not a text CSV file (use .npy for binary arrays).") from None
    except CLIError as exc:
        raise CLIError(f"{name}: {exc}") from None
    columns = None if all(_parse_float(f) for f in head) else head
    options = dict(sep=delim if delim is not None else r"\s+",
                   header=0 if columns is not None else None, skiprows=skipped,
                   encoding="utf-8-sig", keep_default_na=False, na_values=_NAN_TEXT,
                   comment="#", engine=engine)
    data = io.BytesIO(source) if path == "-" else source
    try:
        df = pd.read_csv(data, **options)
        if any(t.kind not in "iuf" for t in df.dtypes):
            raise ValueError("a column is not numeric")
    except (ValueError, pd.errors.ParserError) as exc:
        _explain_from_text(path, name, source, exc)
    if len(df) == 0:
        raise CLIError(f"{name}: no data rows"
                       + (" after the header." if columns is not None else "."))
    if df.shape[1] != len(head):
        raise CLIError(f"{name}: the header has {len(head)} columns but the rows have "
                       f"{df.shape[1]}.")
    X = df.to_numpy(dtype=dtype)
    del df
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    return Table(X, columns, name)


def _explain_from_text(path, name, source, exc):
    """Find the offending field in the text (on the error path only) and raise its message."""
    text = source.decode("utf-8-sig") if isinstance(source, bytes) else _read_text(path)[0]
    lines = text.splitlines()
    first_idx = next(i for i, ln in enumerate(lines) if _is_content(ln))
    first = lines[first_idx]
    delim = _delimiter(first)
    head = _split(first, delim)
    columns = None if all(_parse_float(f) for f in head) else head
    body_start = first_idx + (columns is not None)
    if not any(_is_content(ln) for ln in lines[body_start:]):
        raise CLIError(f"{name}: no data rows"
                       + (" after the header." if columns is not None else "."))
    _explain_csv_error(name, lines, body_start, delim, len(head), columns,
                       fallback=" ".join(str(exc).split()))


def _load_csv(path: str, dtype) -> Table:
    engine = csv_engine()
    if engine is None:
        return _load_csv_numpy(path, dtype)
    return _load_csv_pandas(path, dtype, engine)


def _explain_csv_error(name, lines, body_start, delim, ncol, columns, fallback=None):
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
    raise CLIError(f"{name}: cannot parse the CSV data"
                   + (f" ({fallback})." if fallback else "."))


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
    """Load ``path`` (CSV, ``.npy``, Parquet or ``-``) as a 2-D floating array.

    Parameters
    ----------
    path : str
        File name; ``.npy`` files are memory-mapped, ``.parquet``/``.pq`` files read with
        pyarrow, anything else is read as CSV (see the module docstring).
    dtype : {None, numpy.float32, numpy.float64}
        ``None`` keeps a floating ``.npy`` array's dtype and reads CSV as float64.
    """
    if os.fspath(path) != "-" and os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, expected a CSV or .npy file.")
    low = str(path).lower()
    if low.endswith(".npy"):
        return _load_npy(path, dtype)
    if low.endswith((".parquet", ".pq")):
        return _load_parquet(path, dtype)
    table = _load_csv(path, dtype or np.float64)
    if table.columns is not None:
        _check_names(table.source, table.columns)
    return table


def _check_names(name: str, columns: list[str]) -> None:
    seen = set()
    for c in columns:
        if c in seen:
            raise CLIError(f"{name}: the header names the column {c!r} twice; feature names "
                           "must be unique.")
        seen.add(c)


def _load_parquet(path: str, dtype) -> Table:
    """A Parquet file's numeric columns as a 2-D array, with the columns' names."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError(f"{path}: reading Parquet needs pyarrow: pip install "
                       "\"gaussmix[io]\"") from None
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise CLIError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())})."
                       ) from None
    if table.num_columns == 0 or table.num_rows == 0:
        raise CLIError(f"{path}: no data (the Parquet file has {table.num_rows} rows and "
                       f"{table.num_columns} columns).")
    names = [str(n) for n in table.column_names]
    dtype = dtype or np.float64
    X = np.empty((table.num_rows, table.num_columns), dtype=dtype)
    for j, (col_name, col) in enumerate(zip(names, table.columns)):
        t = col.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or pa.types.is_decimal(t)):
            raise CLIError(f"{path}: column {col_name!r} is not numeric (type {t}); remove or "
                           "encode non-numeric columns.")
        if col.null_count:
            first = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise CLIError(f"{path}: column {col_name!r} has {col.null_count} missing values "
                           f"(first at row {first}); missing values are not supported.")
        X[:, j] = col.to_numpy(zero_copy_only=False)
    _check_names(path, names)
    return Table(X, names, path)


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


def record_names(est, table: Table) -> None:
    """Store a header's names on a model fitted by the CLI, as scikit-learn does for a DataFrame.

    The CLI fits on arrays (a memory-mapped ``.npy``, a coreset, a Dask array and a model
    selection grid all take arrays), so the names of a CSV header or a Parquet file are given to
    the fitted model here; the model file saves them.
    """
    if table.columns is not None and getattr(est, "feature_names_in_", None) is None:
        est.feature_names_in_ = np.asarray(table.columns, dtype=object)


def model_input(table: Table, est) -> np.ndarray:
    """``table.X`` for a fitted model, checked by name when both have feature names.

    A header that names other features than the model's (or the same in another order) is
    refused; data without a header are taken by position.
    """
    names = getattr(est, "feature_names_in_", None)
    if table.columns is not None and names is not None \
            and list(table.columns) != [str(n) for n in names]:
        raise CLIError(f"{table.source}: its columns {table.columns} are not the model's "
                       f"features {[str(n) for n in names]}; name and order the columns as in "
                       "the data the model was fitted to (or drop the header).")
    return table.X


@contextmanager
def by_position():
    """Silence scikit-learn's warning that an array has no feature names: the CLI checks names
    itself (:func:`model_input`) and passes arrays."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


def data_columns(table: Table, est=None) -> list[str]:
    """Names of ``table``'s columns: its header, else the model's feature names, else x0..."""
    if table.columns is not None:
        return list(table.columns)
    if est is not None:
        return feature_columns(est)
    return [f"x{j}" for j in range(table.X.shape[1])]


def load_model(path: str):
    """:func:`gaussmix.load`, with a missing file reported as bad input."""
    from .. import load
    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    return load(path)
