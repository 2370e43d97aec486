"""A progress line on standard error for fits that take longer than a second."""
from __future__ import annotations

import sys
import time


class ProgressLine:
    """Receives ``(n_iter, lower_bound)`` after every EM iteration and draws a progress bar.

    Nothing is drawn during the first ``delay`` seconds, so quick fits stay silent. On a
    terminal the line is redrawn in place; otherwise a line is written at most every
    ``interval`` seconds.
    """

    def __init__(self, max_iter: int, n_init: int, stream=None, delay: float = 1.0,
                 interval: float | None = None):
        self.max_iter = max(int(max_iter), 1)
        self.n_init = max(int(n_init), 1)
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self.interval = interval if interval is not None else (0.1 if self.tty else 2.0)
        self.t0 = time.perf_counter()
        self.last_draw = -float("inf")
        self.init = 1
        self.prev_iter = 0
        self.drawn = False
        self.width = 0

    def __call__(self, n_iter: int, lower_bound: float) -> None:
        if n_iter <= self.prev_iter:
            self.init += 1  # the iteration count restarted: the next initialisation
        self.prev_iter = n_iter
        now = time.perf_counter()
        if now - self.t0 < self.delay or now - self.last_draw < self.interval:
            return
        self.last_draw = now
        self._draw(n_iter, lower_bound, now - self.t0)

    def _draw(self, n_iter, lower_bound, elapsed):
        done = ((self.init - 1) * self.max_iter + n_iter) / (self.n_init * self.max_iter)
        filled = int(round(20 * min(done, 1.0)))
        bar = "#" * filled + "-" * (20 - filled)
        init = f" init {self.init}/{self.n_init}" if self.n_init > 1 else ""
        text = (f"fit [{bar}]{init} iteration {n_iter}/{self.max_iter} "
                f"lower bound {lower_bound:.6g} ({elapsed:.1f}s)")
        if self.tty:
            pad = " " * max(0, self.width - len(text))
            self.stream.write("\r" + text + pad)
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self, n_iter: int | None = None, lower_bound: float | None = None) -> None:
        """Finish the line (only if anything was drawn)."""
        if self.drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()
