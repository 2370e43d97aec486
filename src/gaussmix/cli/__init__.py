"""The ``gaussmix`` command-line tool.

Usage::

    gaussmix fit DATA -k K [--covariance full] [--seed S] -o MODEL
    gaussmix predict MODEL DATA [--proba] [--with-data] [-o OUT|-] [--json]
    gaussmix score MODEL DATA [--per-sample [--with-data] [-o OUT|-]] [--json]
    gaussmix sample MODEL -n N [--seed S] [-o OUT|-] [--json]
    gaussmix info MODEL [--json]
    gaussmix select DATA [-k A:B] [--covariance full,diag] [--criterion bic] [-o MODEL] [--json]
    gaussmix anomalies DATA [-k K|bic | --model MODEL] [--contamination C] [-o OUT|-] [--json]
    gaussmix segment IMAGE -k K -o OUT [--overlay] [--features color,position] [--json]
    gaussmix video-bg VIDEO -o MASK [--tracks CSV] [--shadows] [--history N]
    gaussmix plot MODEL [DATA] -o FIG [--kind KIND] [--dims I,J] [--json]
    gaussmix demo [--json]

``DATA`` is a CSV file (header optional, detected automatically), a Parquet file (``.parquet``,
``.pq``) or a ``.npy`` array; ``-`` reads CSV from standard input. A header's names are the
feature names: saved in the model by ``fit`` and ``select``, listed by ``info``, the header of
``sample``, the axis labels of ``plot``, and the column names of ``--with-data`` tables.
Tables go to ``-o FILE`` (``.npy`` when the name ends so), or to standard output with ``-o -``
or without ``-o``. Every command has ``--json``: a one-line JSON summary on standard output, or
on standard error when a table goes to standard output (with ``--json`` and no ``-o``, the
summary replaces the table). Model files, figures and images are files; ``-o -`` for them is a
usage error.

Output files
------------
No command writes over one of its inputs: an output (``-o``, ``--labels``, ``--proba``,
``--table``, ``--plot``) that names an input file, by any path or link, or another output of
the same command, is refused with exit code 2 before any work, as are output names whose format
cannot be written. Every file is written atomically (a temporary file in the same directory,
fsync, rename), so a failed write leaves the previous file as it was.

Exit codes
----------
0
    success.
1
    runtime failure: the command could not complete (a numerical failure, an I/O error while
    writing, an unexpected error).
2
    usage error or bad input: unknown options, unreadable or invalid data, a corrupt or tampered
    model file, data that does not match the model.

Errors are reported as one line on standard error, without a traceback.

Adding a subcommand
-------------------
A subcommand is a module ``gaussmix/cli/_<name>.py`` defining ``NAME``, ``HELP``,
``add_parser(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``; listing the module's
name in :data:`_COMMAND_MODULES` registers it.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from importlib import import_module

from .. import __version__
from ._data import CLIError

#: Subcommand modules, in the order ``gaussmix --help`` lists them.
_COMMAND_MODULES = ("_fit", "_predict", "_score", "_sample", "_info", "_select", "_anomalies",
                    "_segment", "_segment_train", "_video", "_plot", "_demo")

COMMANDS = [import_module(f"{__name__}.{_m}") for _m in _COMMAND_MODULES]
"""The subcommand modules (each with ``NAME``, ``HELP``, ``add_parser`` and ``run``)."""

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

__all__ = ["main", "build_parser", "COMMANDS", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with one sub-parser per module in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="gaussmix",
        description="Gaussian mixture models: fit, predict, score, sample and inspect.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 usage error or bad input.")
    parser.add_argument("--version", action="version", version=f"gaussmix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run, _name=module.NAME)
    return parser


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        msg = f"no such file: {exc.filename}"
    elif isinstance(exc, IsADirectoryError) and exc.filename is not None:
        msg = f"is a directory: {exc.filename}"
    return msg


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = " ".join(str(message).split())
    sys.stderr.write(f"gaussmix: warning: {text} ({category.__name__})\n")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    prog = f"gaussmix {args._name}"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            return int(args._run(args))
        except BrokenPipeError:
            # the reader went away (e.g. `gaussmix predict ... | head`): stop quietly
            _silence_stdout()
            return EXIT_OK
        except CLIError as exc:
            sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
            return exc.code
        except (ValueError, TypeError, OSError) as exc:
            # bad input: invalid data, model files, parameters, missing files
            sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
            return EXIT_USAGE
        except KeyboardInterrupt:
            sys.stderr.write(f"\n{prog}: interrupted\n")
            return 130
        except Exception as exc:  # noqa: BLE001 - the CLI reports every failure in one line
            sys.stderr.write(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)}\n")
            return EXIT_FAILURE
