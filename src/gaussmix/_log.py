"""Progress messages: to the user's logging configuration or to stderr, never both.

A message is *logged* when the ``gaussmix`` logger (or the named child) would pass it to a
handler: the logger is enabled for the message's level and a handler on it or on an ancestor it
propagates to (the root logger included) accepts that level. Otherwise, and only when the caller
asked for ``verbose`` output, it is *written to stderr*. So ``logging.basicConfig(level=INFO)``
with ``verbose=1`` prints each line once (through logging), and ``verbose=1`` without any logging
configuration prints it once on stderr.
"""
from __future__ import annotations

import logging
import sys

__all__ = ["logger", "say", "would_log"]

logger = logging.getLogger("gaussmix")


def would_log(log: logging.Logger, level: int = logging.INFO) -> bool:
    """Whether ``log.log(level, ...)`` reaches a handler that emits it.

    Python's last-resort handler (used when no handler is configured anywhere) does not count.
    """
    if not log.isEnabledFor(level):
        return False
    current: logging.Logger | None = log
    while current is not None:
        if any(level >= h.level for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent  # type: ignore[assignment]
    return False


def say(msg: str, *, verbose: int | bool, log: logging.Logger = logger,
        level: int = logging.INFO) -> None:
    """Send ``msg`` to ``log`` if logging is configured to show it, else to stderr if ``verbose``."""
    if would_log(log, level):
        log.log(level, msg)
    elif verbose:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
