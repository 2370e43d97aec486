"""Progress bars for long work (EM fits, selection grids, coreset builds, deep training).

One helper, :func:`progress_bar`, used everywhere: a :mod:`tqdm` bar on standard error when the
caller asked for ``verbose`` output, otherwise a silent stand-in with the same interface, so
code updates its bar unconditionally. Messages (as opposed to bars) go through
:func:`gaussmix._log.say`.
"""
from __future__ import annotations

import sys

__all__ = ["progress_bar"]


class _Silent:
    """The subset of tqdm's interface the library uses, doing nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: int | None, desc: str, verbose: int | bool, *, unit: str = "it",
                 leave: bool = False):
    """A progress bar over ``total`` steps (``None``: unknown) labelled ``desc``.

    Parameters
    ----------
    total : int or None
        Number of steps, or ``None`` when unknown.
    desc : str
        Label shown before the bar.
    verbose : int or bool
        Draw the bar only when true.
    unit : str, default="it"
        Name of one step.
    leave : bool, default=False
        Keep the finished bar on screen.

    Returns
    -------
    tqdm.tqdm or a silent stand-in
        Use as a context manager; call ``update(n)`` and ``set_postfix_str(text)``.
    """
    if not verbose:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.2)
