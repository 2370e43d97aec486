"""The one training loop of the torch models: epochs, early stopping, best state, progress.

The gradient fit of a mixture, the deep classifier and the deep segmenter differ only in what
one epoch does (their optimisation steps, a closure) and in what they watch (a loss or a
log-likelihood, on the training data or a validation split). :func:`train_epochs` runs the
rest in one way for all of them: up to ``max_epochs`` epochs, each followed by an evaluation;
the best evaluation (improving by more than ``tol``) is kept with a snapshot of what the caller
wants back (a state dict, a posterior); training stops after ``patience`` epochs without
improvement. Progress shows as a bar (``gaussmix._progress.progress_bar``) and as a message
every ``interval`` epochs (``gaussmix._log.say``: logged, or else written on stderr).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._log import say
from .._progress import progress_bar
from .._validation import Interval, Kinds, Options, check_params
from ._validation import as_2d_tensor, make_generator

logger = logging.getLogger("gaussmix.torch")

#: Constraints shared by the torch trainers' parameters (see ``gaussmix._validation``).
POSITIVE_INT = [Interval(int, 1, None)]
NON_NEGATIVE_INT = [Interval(int, 0, None)]
POSITIVE_FLOAT = [Interval(float, 0, None, closed="neither")]
NON_NEGATIVE_FLOAT = [Interval(float, 0, None)]
BOOL = [Kinds(bool, np.bool_, label="a bool")]
VERBOSE = [Interval(int, 0, None), *BOOL]
CALLBACK = [Kinds(None, Callable, label="None or a callable")]

#: Parameters of :func:`train_mixture` (and so of ``GaussianMixture.fit``/``fit_gradient``).
GRADIENT_FIT_TABLE = {
    "optimizer": [Options("adam", "sgd")],
    "lr": POSITIVE_FLOAT,
    "batch_size": [Interval(int, 1, None), Options(None)],
    "max_epochs": POSITIVE_INT,
    "patience": POSITIVE_INT,
    "tol": NON_NEGATIVE_FLOAT,
    "verbose": VERBOSE,
    "verbose_interval": POSITIVE_INT,
    "callback": CALLBACK,
}


class Progress:
    """Report ``epoch`` and ``loss`` every ``interval`` epochs to ``logging`` or else on stderr.

    A non-finite loss raises ``FloatingPointError`` with what to change. While
    :func:`train_epochs` shows a progress bar, messages are written around it.
    """

    def __init__(self, name, verbose, interval=10, max_epochs=None):
        self.name = name
        self.verbose = int(verbose)
        self.interval = max(int(interval), 1)
        self.max_epochs = max_epochs
        self.start = time.perf_counter()
        self.bar = None

    def _say(self, msg):
        pause = getattr(type(self.bar), "external_write_mode", None)
        with pause(file=sys.stderr) if pause is not None else contextlib.nullcontext():
            say(msg, verbose=self.verbose, log=logger)

    def __call__(self, epoch, loss, **extra):
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"{self.name}: the loss became {loss} at epoch {epoch}. Lower the learning "
                "rate, standardise the inputs, or use float64."
            )
        if self.verbose <= 0 or (epoch % self.interval and epoch != 1):
            return
        total = f"/{self.max_epochs}" if self.max_epochs else ""
        parts = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in extra.items())
        self._say(f"[{self.name}] epoch {epoch}{total} loss={loss:.6g} {parts} "
                  f"({time.perf_counter() - self.start:.1f}s)".rstrip())

    def done(self, epoch, reason):
        if self.verbose > 0:
            self._say(f"[{self.name}] stopped after {epoch} epochs: {reason}")


@dataclass
class Evaluation:
    """What an epoch's evaluation reports to :func:`train_epochs`.

    ``loss`` is shown (and must be finite); ``monitor`` is the value early stopping and the
    best state follow (``None``: this epoch is not judged); ``extra`` is shown with the loss.
    """

    loss: float
    monitor: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    n_epochs: int       #: epochs run
    best: float         #: best monitored value (the start value if never improved)
    best_state: object  #: the snapshot taken at the best value (None without one)
    stopped: bool       #: stopped by ``patience`` rather than by ``max_epochs``


def train_epochs(step: Callable[[int], None], evaluate: Callable[[int], Evaluation], *,
                 max_epochs: int, progress: Progress, patience: int | None = None,
                 tol: float = 0.0, maximize: bool = False, snapshot=None, restore=None,
                 start: float | None = None, on_epoch=None,
                 stop_reason: str = "early stopping") -> TrainResult:
    """Run up to ``max_epochs`` epochs of ``step`` with early stopping on ``evaluate``.

    Parameters
    ----------
    step : callable
        ``step(epoch)``: the optimisation steps of one epoch (the caller's closure).
    evaluate : callable
        ``evaluate(epoch) -> Evaluation`` after the steps of the epoch.
    max_epochs : int
    progress : Progress
        Messages and the label of the progress bar.
    patience : int or None
        Stop after this many judged epochs without improvement; ``None`` never stops early.
    tol : float
        An improvement is a monitored value above ``best + tol`` (``maximize``) or below
        ``best - tol``.
    maximize : bool
        Whether a larger monitored value is better.
    snapshot : callable, optional
        ``snapshot()``: what to keep at the best value (e.g. a copy of a state dict).
    restore : callable, optional
        ``restore(best_state)`` at the end, when a snapshot was taken.
    start : float, optional
        Monitored value of the starting point, which then counts as the first best (with its
        snapshot); otherwise the first judged epoch is.
    on_epoch : callable, optional
        ``on_epoch(epoch, evaluation)`` after the epoch is reported, before it is judged.
    stop_reason : str
        Reported when ``patience`` stops training.

    Returns
    -------
    TrainResult
    """
    best = start if start is not None else (-np.inf if maximize else np.inf)
    best_state = snapshot() if start is not None and snapshot is not None else None
    stale, stopped, epoch = 0, False, 0
    with progress_bar(max_epochs, progress.name, progress.verbose, unit="epoch") as bar:
        progress.bar = bar
        try:
            for epoch in range(1, max_epochs + 1):
                step(epoch)
                ev = evaluate(epoch)
                progress(epoch, ev.loss, **ev.extra)
                bar.update(1)
                bar.set_postfix_str(f"loss={ev.loss:.4g}")
                if on_epoch is not None:
                    on_epoch(epoch, ev)
                if ev.monitor is None:
                    continue
                if ev.monitor > best + tol if maximize else ev.monitor < best - tol:
                    best, stale = ev.monitor, 0
                    if snapshot is not None:
                        best_state = snapshot()
                else:
                    stale += 1
                    if patience is not None and stale >= patience:
                        stopped = True
                        break
        finally:
            progress.bar = None
    if restore is not None and best_state is not None:
        restore(best_state)
    progress.done(epoch, stop_reason if stopped else "max_epochs reached")
    return TrainResult(epoch, best, best_state, stopped)


def minibatches(n, batch_size, generator, device):
    """Index tensors of a random partition of ``range(n)`` into batches of ``batch_size``."""
    perm = torch.randperm(n, generator=generator).to(device)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def train_mixture(module, X, *, optimizer="adam", lr=0.01, batch_size=256, max_epochs=200,
                  patience=10, tol=1e-5, random_state=None, verbose=0, verbose_interval=10,
                  callback=None):
    """Maximum likelihood for a mixture module by mini-batch gradient descent (in place).

    Parameters as in :func:`gaussmix.torch.fit_gradient`. The mean log-likelihood of the
    whole data set is evaluated before training and after every epoch; the best parameters
    are kept. Returns ``module`` with ``history_``, ``converged_``, ``n_iter_`` and
    ``lower_bound_`` set.
    """
    check_params("fit_gradient", {"optimizer": optimizer, "lr": lr, "batch_size": batch_size,
                                  "max_epochs": max_epochs, "patience": patience, "tol": tol,
                                  "verbose": verbose, "verbose_interval": verbose_interval,
                                  "callback": callback}, GRADIENT_FIT_TABLE)
    ref = module.means
    X = as_2d_tensor(X, dtype=ref.dtype, device=ref.device, n_features=module.n_features)
    n = X.shape[0]
    bs = n if batch_size is None else min(int(batch_size), n)
    g = make_generator(random_state)
    opt = (torch.optim.Adam(module.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9))

    def full_score():
        with torch.no_grad():
            return float(module(X)[0].mean())

    def step(epoch):
        for idx in minibatches(n, bs, g, X.device):
            opt.zero_grad(set_to_none=True)
            loss = -module(X[idx])[0].mean()
            loss.backward()
            opt.step()

    def evaluate(epoch):
        ll = full_score()
        return Evaluation(loss=-ll, monitor=ll, extra={"log_likelihood": ll})

    def on_epoch(epoch, ev):
        record = {"epoch": epoch, "seconds": time.perf_counter() - start,
                  "log_likelihood": ev.monitor}
        module.history_.append(record)
        if callback is not None:
            callback(module, record)

    ll0 = full_score()
    module.history_ = [{"epoch": 0, "seconds": 0.0, "log_likelihood": ll0}]
    start = time.perf_counter()
    result = train_epochs(
        step, evaluate, max_epochs=int(max_epochs), patience=int(patience), tol=float(tol),
        maximize=True, start=ll0, snapshot=lambda: copy.deepcopy(module.state_dict()),
        restore=module.load_state_dict, on_epoch=on_epoch, stop_reason="no improvement",
        progress=Progress("fit_gradient", verbose, verbose_interval, int(max_epochs)))
    module.converged_ = result.stopped
    module.n_iter_ = result.n_epochs
    module.lower_bound_ = result.best
    return module
