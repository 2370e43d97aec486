"""Gaussian mixtures on Dask: exact distributed EM, distributed coresets, lazy inference.

``GaussianMixture.fit`` accepts a :class:`dask.array.Array` directly; this module is what it
calls, and can be used on its own to choose the scheduler::

    import dask.array as da
    from gaussmix import GaussianMixture
    import gaussmix.dask

    X = da.from_zarr("points.zarr")                 # (n_samples, n_features), chunked by rows
    gm = GaussianMixture(10, random_state=0).fit(X)  # on the active scheduler (threads if none)
    gaussmix.dask.fit(GaussianMixture(10), X, scheduler="tcp://10.0.0.1:8786")
    gaussmix.dask.fit(GaussianMixture(10), X, scheduler="local")  # a LocalCluster for the call
    labels = gm.predict(X)                           # a lazy dask array

**Exact EM as map-reduce.** Each iteration maps :func:`gaussmix._engine.e_pass` over the row
blocks (each block returns its :class:`~gaussmix._stats.SufficientStats`), reduces them with
``merge`` in a fixed binary tree, and runs the M-step in the calling process through the same
:func:`~gaussmix._engine.run_em` loop as every other fit. The result equals in-memory EM from
the same initialisation up to floating-point summation order, and does not depend on which
worker computed what: when a worker dies, the scheduler recomputes its blocks and tasks from the
graph and the fixed reduction tree gives bit-identical statistics.

**Variational fits.** ``BayesianGaussianMixture.fit`` accepts a dask array too: its
variational E-pass (a Gaussian log-density plus per-component constants) is mapped over the
blocks the same way (:meth:`BlockSource.map_pass`), as is the pass giving the default priors;
the conjugate M-step needs only the merged statistics. The result equals the in-memory fit
from the same starting posterior up to summation order.

**Initialisation.** The first pass validates every block (a block containing NaN or inf fails
with an error naming the block and its rows), computes the weighted mean, and builds a
coreset of each block; the block coresets are merged and reduced, and ``init_params`` runs on
the result (explicit ``means_init`` etc. are honoured).

**Scheduler.** With ``scheduler=None`` (the default, and what ``GaussianMixture.fit`` uses) the
work runs where the rest of your dask code runs: a scheduler set in ``dask.config`` (e.g.
``dask.config.set(scheduler="synchronous")``), else the active :class:`distributed.Client`, else
dask's default, the threaded scheduler. No cluster is ever started unless asked for:
``scheduler="local"`` (CLI ``--scheduler local``) starts a :class:`distributed.LocalCluster` of
worker processes for the call and closes it afterwards. A small array therefore costs about what
the NumPy fit costs. On a distributed scheduler the blocks are persisted in worker memory for
the fit; a single-machine scheduler recomputes them from the graph on each pass (persist ``X``
first if its graph is costly). Distributed workers must be able to import ``gaussmix``. dask
is imported only when this module is used.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._data import ArraySource, DaskSource
from ._engine import e_pass
from ._passfit import INIT_CORESET_SIZE
from ._reduce import tree_reduce
from ._typing import RandomStateLike

if TYPE_CHECKING:  # optional dependencies, imported where they are used
    import dask.array as da
    from distributed import Client

    import gaussmix  # the estimator imports this module: annotations name it through the package

__all__ = ["fit", "coreset", "from_npy", "predict", "predict_proba", "score_samples",
           "get_client", "open_blocks", "LOCAL_SCHEDULERS"]

logger = logging.getLogger("gaussmix")


# ---------------------------------------------------------------------------------------------
# scheduler

#: Dask's single-machine schedulers, passed to :func:`dask.compute` as they are.
LOCAL_SCHEDULERS = ("threads", "threading", "processes", "multiprocessing", "synchronous",
                    "sync", "single-threaded")


class _Runner:
    """Where the graphs of one call run: a :class:`distributed.Client`, or ``dask.compute``
    with a single-machine scheduler (``None``: the one ``dask.config`` selects)."""

    def __init__(self, client=None, scheduler=None, pool=None):
        self.client = client
        self.scheduler = scheduler
        self.pool = pool

    def persist(self, x):
        # On a cluster the blocks stay in worker memory for all the passes. A single-machine
        # scheduler recomputes them from the graph on each pass, as the out-of-core fit reads
        # its chunks again: memory stays at a few blocks (persist X first if it is costly).
        if x is None or self.client is None:
            return x
        return self.client.persist(x)

    def compute(self, obj):
        if self.client is not None:
            return self.client.compute(obj).result()
        import dask
        if self.pool is not None:
            return dask.compute(obj, scheduler=self.scheduler, pool=self.pool)[0]
        return dask.compute(obj, scheduler=self.scheduler)[0]

    def __str__(self) -> str:
        if self.client is not None:
            return f"the distributed scheduler at {self.client.scheduler.address}"
        return f"the {self.scheduler or 'configured'} dask scheduler"


def _active_client():
    """The active :class:`distributed.Client`, or ``None``. A client can exist only once
    ``distributed`` has been imported, so a process that never imported it pays nothing."""
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import get_client as active
    try:
        return active()
    except ValueError:  # no client
        return None


def _check_scheduler(scheduler):
    if scheduler is None or scheduler == "local" or scheduler in LOCAL_SCHEDULERS:
        return
    if isinstance(scheduler, str):
        if ":" in scheduler:  # an address: tcp://host:8786, host:8786, inproc://...
            return
        raise ValueError(
            f"scheduler must be None (the active scheduler), 'local' (start a LocalCluster), "
            f"one of {', '.join(map(repr, LOCAL_SCHEDULERS))}, a scheduler address such as "
            f"'tcp://host:8786', or a distributed.Client; got {scheduler!r}.")
    if type(scheduler).__module__.split(".")[0] != "distributed":
        raise TypeError("scheduler must be None, a string or a distributed.Client; got "
                        f"{type(scheduler).__name__}.")


@contextmanager
def _runner(scheduler=None):
    """The :class:`_Runner` for ``scheduler`` (see :func:`fit`), closing what it started."""
    _check_scheduler(scheduler)
    if scheduler is None:
        import dask

        configured = dask.config.get("scheduler", None)
        if configured is not None and configured not in ("dask.distributed", "distributed"):
            yield _Runner(scheduler=None)  # set by the user: dask.compute honours it
            return
        client = _active_client()
        yield _Runner(client) if client is not None else _Runner(scheduler=None)
        return
    if scheduler in ("processes", "multiprocessing"):
        # one pool for all the passes: dask's process scheduler otherwise starts a new pool
        # (new interpreters importing gaussmix) for every graph, that is every EM iteration
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask

        context = multiprocessing.get_context(dask.config.get("multiprocessing.context",
                                                               "spawn"))
        with ProcessPoolExecutor(dask.config.get("num_workers", None),
                                 mp_context=context) as pool:
            yield _Runner(scheduler=scheduler, pool=pool)
        return
    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        yield _Runner(scheduler=scheduler)
        return
    with get_client(scheduler, set_as_default=False) as client:
        yield _Runner(client)


@contextmanager
def get_client(scheduler: str | Client | None = "local", *,
               set_as_default: bool = True) -> Iterator[Client]:
    """Context manager yielding a :class:`distributed.Client`.

    Parameters
    ----------
    scheduler : str or distributed.Client, default="local"
        ``"local"`` starts a :class:`distributed.LocalCluster` of worker processes, closed on
        exit; an address (``"tcp://host:8786"``) connects to a running scheduler; a client is
        yielded as it is (and not closed); ``None`` yields the active client.
    set_as_default : bool, default=True
        Make a new client the active one inside the block, so that ``GaussianMixture.fit``
        and ``dask.compute`` run on it.

    Yields
    ------
    distributed.Client
        The client, usable inside the ``with`` block.

    Raises
    ------
    ValueError
        ``scheduler=None`` and no client is active.
    """
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        client = _active_client()
        if client is None:
            raise ValueError("no distributed.Client is active; create one, or pass "
                             "scheduler='local' to start a LocalCluster.")
        yield client
        return
    _check_scheduler(scheduler)
    if scheduler == "local":
        from distributed import LocalCluster

        logger.info("starting a dask LocalCluster for this call")
        with LocalCluster(processes=True, dashboard_address=None) as cluster, \
                Client(cluster, set_as_default=set_as_default) as client:
            yield client
        return
    if scheduler in LOCAL_SCHEDULERS:
        raise ValueError(f"scheduler={scheduler!r} is a single-machine dask scheduler, not a "
                         "distributed one; use 'local' to start a LocalCluster.")
    with Client(scheduler, set_as_default=set_as_default) as client:
        yield client


# ---------------------------------------------------------------------------------------------
# inputs


def _rows(X):
    """``X`` as a 2-D float dask array with a single block along the features."""
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(f"expected a dask.array.Array, got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X must be numeric; got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X has blocks of unknown length; call X.compute_chunk_sizes() first.")
    return X


def _weights(sample_weight, X):
    """Sample weights as a dask array chunked like the rows of ``X`` (or ``None``)."""
    import dask.array as da

    if sample_weight is None:
        return None
    if isinstance(sample_weight, da.Array):
        w = sample_weight
    else:
        w = da.from_array(np.asarray(sample_weight, dtype=np.float64), chunks=(X.chunks[0],))
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight must have shape ({X.shape[0]},); got {w.shape}.")
    return w.astype(np.float64).rechunk((X.chunks[0],))


def _blocks(X, w):
    """Delayed row blocks of ``X`` and ``w`` (``None`` entries without weights) and row offsets."""
    xb = list(X.to_delayed().ravel())
    wb = list(w.to_delayed().ravel()) if w is not None else [None] * len(xb)
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int).tolist()
    return xb, wb, starts


def _tree(parts, fn):
    """Reduce delayed ``parts`` pairwise in a fixed binary tree (deterministic order)."""
    from dask import delayed

    return tree_reduce(parts, lambda a, b, level, i, _: delayed(fn, pure=True)(a, b, level, i))


# ---------------------------------------------------------------------------------------------
# tasks (module-level so that workers import them by reference)


def _check_block(X, w, i, start):
    X = np.asarray(X)
    rows = f"block {i} (rows {start}..{start + len(X) - 1})"
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))
        raise ValueError(f"{rows} contains {len(bad)} NaN or inf value(s) (first at row "
                         f"{start + int(bad[0][0])}, column {int(bad[0][1])}); remove or impute "
                         "them before fitting.")
    if w is None:
        return X, np.ones(len(X))
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"sample_weight in {rows} has negative, NaN or inf values.")
    return X, w


def _scan_block(X, w, i, start, size, k, seed):
    from .coreset import build

    X, w = _check_block(X, w, i, start)
    out = {"tot": w @ X.astype(np.float64), "weight": float(w.sum()), "n": len(X),
           "n_pos": int(np.count_nonzero(w)), "dtype": X.dtype.str}
    out["coreset"] = (build(X, size, n_clusters=k, sample_weight=w, random_state=seed)
                      if out["n_pos"] else (X[:0], w[:0]))
    return out


def _merge_scans(a, b, size, k, seed):
    from .coreset import reduce

    parts = [p for p in (a["coreset"], b["coreset"]) if len(p[0])]
    cs = (reduce(parts, size, k, check_random_state(seed)) if parts else a["coreset"])
    return {"tot": a["tot"] + b["tot"], "weight": a["weight"] + b["weight"],
            "n": a["n"] + b["n"], "n_pos": a["n_pos"] + b["n_pos"],
            "dtype": np.result_type(np.dtype(a["dtype"]), np.dtype(b["dtype"])).str,
            "coreset": cs}


def _block_stats(X, w, dtype, chunk_size, fn, args, kwargs):
    X = np.asarray(X, dtype=dtype)
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    return fn(ArraySource(X, w, chunk_size), *args, **kwargs)


def _merge_stats(a, b, level, i):
    return a.merge(b)


def _call(block, est, method):
    return getattr(est, method)(block)


# ---------------------------------------------------------------------------------------------
# public


def _scan(runner, xb, wb, starts, size, k, rng):
    from dask import delayed

    seeds = rng.randint(np.iinfo(np.int32).max, size=2 * len(xb))
    parts = [delayed(_scan_block, pure=True)(x, w, i, s, size, k, int(seeds[i]))
             for i, (x, w, s) in enumerate(zip(xb, wb, starts))]
    total = _tree_with(parts, _merge_scans, size, k, seeds[len(xb):])
    return runner.compute(total)


def _tree_with(parts, fn, size, k, seeds):
    """:func:`_tree` for coreset merges: ``fn(a, b, size, k, seed)``, one seed per merge."""
    from dask import delayed

    return tree_reduce(parts, lambda a, b, level, i, j: delayed(fn, pure=True)(
        a, b, size, k, int(seeds[j % len(seeds)])))


def fit(estimator: gaussmix.GaussianMixture | gaussmix.BayesianGaussianMixture, X: da.Array,
        sample_weight: npt.ArrayLike | da.Array | None = None, *,
        scheduler: str | Client | None = None
        ) -> gaussmix.GaussianMixture | gaussmix.BayesianGaussianMixture:
    """Fit ``estimator`` on a dask array: exact EM, or exact variational inference.

    The same as ``estimator.fit(X, sample_weight=sample_weight)``, on the scheduler given here.
    A :class:`gaussmix.GaussianMixture` runs EM; with its ``coreset_size`` set, the fit is
    instead on a distributed coreset of that many rows (:func:`coreset`, on the same
    scheduler), as ``GaussianMixture.fit`` does. A :class:`gaussmix.BayesianGaussianMixture`
    runs its coordinate ascent with the variational E-pass mapped over the blocks (the default
    ``mean_prior`` and ``covariance_prior`` from one more map-reduce pass), initialised on the
    first pass's coreset.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        The estimator to fit, with its constructor parameters.
    X : dask.array.Array of shape (n_samples, n_features)
        Chunked along rows (column chunks are merged).
    sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
        Non-negative row weights.
    scheduler : None, str or distributed.Client, default=None
        Where to run. ``None``: the active scheduler (a scheduler set in ``dask.config``, else
        the active :class:`distributed.Client`, else dask's threaded scheduler); one of
        :data:`LOCAL_SCHEDULERS` (``"threads"``, ``"processes"``, ``"synchronous"``, ...):
        that single-machine scheduler; ``"local"``: a :class:`distributed.LocalCluster`
        started for this call and closed afterwards; an address (``"tcp://host:8786"``): a
        client connected for this call; a client: that client.

    Returns
    -------
    estimator : GaussianMixture or BayesianGaussianMixture
        Fitted; its parameters are NumPy arrays.
    """
    _check_scheduler(scheduler)
    return estimator.fit(DaskSource(_rows(X), sample_weight, scheduler=scheduler))


class BlockSource(DaskSource):
    """The row blocks of a dask array on an open scheduler: what a fit's passes map over.

    Made by :func:`open_blocks`, for the duration of one fit. :meth:`scan` is the first,
    validating pass; :meth:`map_pass` runs any pass ``fn(source, *args) -> SufficientStats``
    of the engine on every block (as an in-memory :class:`~gaussmix._data.ArraySource`) and
    merges the statistics in a fixed binary tree, so a pass written for in-memory data (the
    E-pass of maximum-likelihood EM, the variational E-pass of
    :class:`~gaussmix.BayesianGaussianMixture`) runs distributed unchanged.

    Attributes
    ----------
    n_blocks : int
        Number of row blocks.
    chunk_size : int or None
        Rows per chunk of the pass inside a block (``None``: the pass's default); set by the
        estimator once the first pass has told it the data's size.
    """

    def __init__(self, runner: _Runner, X: da.Array, w: da.Array | None, scheduler=None):
        super().__init__(X, w, scheduler=scheduler)
        self.runner = runner
        self.x_blocks, self.w_blocks, self.starts = _blocks(X, w)
        self.n_blocks = len(self.x_blocks)
        self.chunk_size: int | None = None

    def scan(self, k: int, rng: np.random.RandomState,
             coreset_size: int = INIT_CORESET_SIZE) -> dict:
        """First pass: validate every block, weighted mean, counts, and a coreset of
        ``coreset_size`` rows (``k`` k-means++ centres) for the initialisation.

        Returns
        -------
        info : dict
            ``n_samples``, ``n_features``, ``dtype``, ``weight``, ``shift`` (weighted mean),
            ``n_positive`` and ``coreset`` (``(points, weights)``), as
            :func:`gaussmix._outofcore.scan`.
        """
        logger.info("dask fit: %d rows in %d blocks on %s", self.X.shape[0], self.n_blocks,
                    self.runner)
        scan = _scan(self.runner, self.x_blocks, self.w_blocks, self.starts, coreset_size, k,
                     rng)
        if not scan["weight"] > 0:
            raise ValueError("all sample weights are zero: at least one row needs a positive "
                             "weight.")
        self.dtype = np.dtype(np.float32 if np.dtype(scan["dtype"]) == np.float32
                              else np.float64)
        self.n_samples = int(scan["n"])
        return {"n_samples": self.n_samples, "n_features": self.n_features,
                "dtype": self.dtype, "weight": scan["weight"],
                "shift": scan["tot"] / scan["weight"], "n_positive": scan["n_pos"],
                "coreset": scan["coreset"]}

    def map_pass(self, fn, *args, **kwargs):
        """``fn(block_source, *args, **kwargs)`` on every block, merged in a fixed tree.

        ``fn`` must be a module-level function (workers import it by reference) returning
        :class:`~gaussmix._stats.SufficientStats`; each block is served to it as an
        :class:`~gaussmix._data.ArraySource` in the data's dtype with :attr:`chunk_size`.
        """
        from dask import delayed

        cs = self.chunk_size or max(1, max(self.X.chunks[0]))
        parts = [delayed(_block_stats, pure=True)(x, w, self.dtype.str, cs, fn, args, kwargs)
                 for x, w in zip(self.x_blocks, self.w_blocks)]
        return self.runner.compute(_tree(parts, _merge_stats))

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for x, w in zip(self.x_blocks, self.w_blocks):
            Xc, wc = self.runner.compute((x, w))
            yield (np.asarray(Xc, dtype=self.dtype),
                   np.ones(len(Xc)) if wc is None else np.asarray(wc, dtype=np.float64))


@contextmanager
def open_blocks(X: da.Array | DaskSource,
                sample_weight: npt.ArrayLike | da.Array | None = None, *,
                scheduler: str | Client | None = None) -> Iterator[BlockSource]:
    """Open ``scheduler`` for one fit and yield the row blocks of ``X`` on it.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features) or DaskSource
        The rows (column chunks are merged). A :class:`~gaussmix._data.DaskSource` brings its
        own sample weights and scheduler.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
        Non-negative row weights (not with a ``DaskSource``).
    scheduler : None, str or distributed.Client, default=None
        Where to run, as in :func:`fit`; what is started here is closed on exit.

    Yields
    ------
    BlockSource
        The blocks (persisted in worker memory on a distributed scheduler).
    """
    if isinstance(X, DaskSource):
        if sample_weight is not None:
            raise ValueError("sample_weight cannot be given with a data source; give it to "
                             "the source.")
        X, sample_weight, scheduler = X.X, X.sample_weight, X.scheduler
    X = _rows(X)
    w = _weights(sample_weight, X)
    with _runner(scheduler) as runner:
        X, w = runner.persist(X), runner.persist(w)
        yield BlockSource(runner, X, w, scheduler)


@contextmanager
def passes(source: DaskSource, model, k: int, rng, chunk_size, reg_covar: float):
    """The first pass over a dask source and the E-pass of every later EM iteration.

    A context manager (the scheduler it opens lives as long as the fit) yielding
    ``(pass_fn, info)``: ``pass_fn(params) -> SufficientStats`` maps
    :func:`gaussmix._engine.e_pass` over the row blocks and merges their statistics in a fixed
    tree (:meth:`BlockSource.map_pass`); ``info`` is the first pass's summary (see
    :mod:`gaussmix._passfit`). ``chunk_size`` (rows per E-step chunk inside a block) may be a
    function of ``info``.
    """
    with open_blocks(source) as blocks:
        info = blocks.scan(k, rng)
        blocks.chunk_size = chunk_size(info) if callable(chunk_size) else chunk_size
        shift, dtype = info["shift"], info["dtype"]

        def pass_fn(params):
            return blocks.map_pass(e_pass, params, model, shift, dtype, reg_covar=reg_covar)

        yield pass_fn, info


def coreset(X: da.Array, size: int, *, n_clusters: int,
            sample_weight: npt.ArrayLike | da.Array | None = None,
            random_state: RandomStateLike = None,
            scheduler: str | Client | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distributed sensitivity coreset: one :func:`gaussmix.coreset.build` per block, merged
    and reduced pairwise to ``size`` rows.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        The data, chunked along rows.
    size : int
        Number of rows of the coreset (at most).
    n_clusters : int
        Number of k-means++ centres the sensitivities are computed from.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
        Non-negative row weights.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampling.
    scheduler : None, str or distributed.Client, default=None
        Where to run, as in :func:`fit`.

    Returns
    -------
    points : ndarray of shape (m, n_features)
    weights : ndarray of shape (m,)
        ``m <= size``; the weights sum to about ``sample_weight.sum()``.
    """
    from .coreset import _check_int

    size = _check_int(size, "size")
    k = _check_int(n_clusters, "n_clusters")
    X = _rows(X)
    w = _weights(sample_weight, X)
    rng = check_random_state(random_state)
    with _runner(scheduler) as runner:
        xb, wb, starts = _blocks(X, w)
        scan = _scan(runner, xb, wb, starts, size, k, rng)
    if not scan["weight"] > 0:
        raise ValueError("all sample weights are zero: at least one row needs a positive weight.")
    return scan["coreset"]


def _read_rows(path, start, stop):
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def from_npy(path: str | os.PathLike, chunk_rows: int | None = None) -> da.Array:
    """A dask array over the rows of a ``.npy`` file, each block read by the worker computing it.

    Parameters
    ----------
    path : str or os.PathLike
        A 2-D ``.npy`` file; every worker must see it at this (absolute) path.
    chunk_rows : int or None, default=None
        Rows per block; ``None`` gives blocks of about 128 MiB.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features)
    """
    import os

    import dask.array as da
    from dask import delayed

    path = os.path.abspath(os.fspath(path))
    m = np.load(path, mmap_mode="r")
    if m.ndim != 2:
        raise ValueError(f"{path} holds an array of shape {m.shape}; expected 2-D.")
    n, d = m.shape
    dtype = m.dtype
    del m
    rows = int(chunk_rows) if chunk_rows else max(1, (128 << 20) // (d * dtype.itemsize))
    blocks = [da.from_delayed(delayed(_read_rows, pure=True)(path, s, min(s + rows, n)),
                              shape=(min(s + rows, n) - s, d), dtype=dtype)
              for s in range(0, n, rows)]
    return da.concatenate(blocks, axis=0)


def _lazy(estimator, X, method: str):
    import dask.array as da

    check_is_fitted(estimator)
    X = _rows(X.X if isinstance(X, DaskSource) else X)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input.")
    if method == "predict":
        return X.map_blocks(_call, estimator, method, drop_axis=1, dtype=np.intp,
                            meta=np.empty((0,), dtype=np.intp))
    if method == "score_samples":
        return X.map_blocks(_call, estimator, method, drop_axis=1, dtype=np.float64,
                            meta=np.empty((0,), dtype=np.float64))
    # the estimator says its dtype (GaussianMixture keeps X's, a variational fit gives
    # float64) and columns (a noise component adds one, GaussianMixture(noise=True))
    probe = getattr(estimator, method)(np.asarray(estimator.means_[:1], dtype=X.dtype))
    k, dtype = probe.shape[1], probe.dtype
    return X.map_blocks(_call, estimator, method, chunks=(X.chunks[0], (k,)), dtype=dtype,
                        meta=np.empty((0, k), dtype=dtype))


def predict(estimator: gaussmix.GaussianMixture | gaussmix.BayesianGaussianMixture,
            X: da.Array) -> da.Array:
    """Lazy ``estimator.predict`` on a dask array.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        A fitted mixture.
    X : dask.array.Array of shape (n_samples, n_features)
        The rows to label.

    Returns
    -------
    dask.array.Array of shape (n_samples,)
        The most likely component of each row, computed block by block when asked.
    """
    return _lazy(estimator, X, "predict")


def predict_proba(estimator: gaussmix.GaussianMixture | gaussmix.BayesianGaussianMixture,
                  X: da.Array) -> da.Array:
    """Lazy ``estimator.predict_proba`` on a dask array.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        A fitted mixture.
    X : dask.array.Array of shape (n_samples, n_features)
        The rows to score.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_components)
        Posterior probabilities of the components, computed block by block when asked.
    """
    return _lazy(estimator, X, "predict_proba")


def score_samples(estimator: gaussmix.GaussianMixture | gaussmix.BayesianGaussianMixture,
                  X: da.Array) -> da.Array:
    """Lazy ``estimator.score_samples`` on a dask array.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        A fitted mixture.
    X : dask.array.Array of shape (n_samples, n_features)
        The rows to score.

    Returns
    -------
    dask.array.Array of shape (n_samples,)
        Log-density of each row, computed block by block when asked.
    """
    return _lazy(estimator, X, "score_samples")
