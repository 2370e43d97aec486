"""missing="marginalize" out of core: memory maps and re-iterables of chunks with NaN.

The references are the in-memory fit with missing values (itself checked against a naive
Ghahramani-Jordan loop and scipy in tests/test_missing.py) and, for data without NaN, today's
out-of-core fit.
"""
import tracemalloc
import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, covariance
from gaussmix._data import ChunkSource, NpyChunks
from gaussmix._missing import MissingChunkSource, mean_imputed
from gaussmix._outofcore import chunk_passes, scan
from gaussmix._params import Params


def _planted(rng, n=900, d=4, k=3, sep=5.0):
    means = rng.randn(k, d) * sep
    A = rng.randn(k, d, d) * 0.5
    covs = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
    z = rng.randint(k, size=n)
    return np.stack([rng.multivariate_normal(means[j], covs[j]) for j in z])


def _remove(rng, X, frac):
    Xm = X.copy()
    Xm[rng.rand(*X.shape) < frac] = np.nan
    return Xm[~np.isnan(Xm).all(axis=1)]


def _split(X, sizes):
    bounds = np.cumsum(sizes)[:-1]
    return np.split(X, bounds)


@pytest.fixture
def rng():
    return np.random.RandomState(4321)


@pytest.fixture
def data(rng):
    X = _planted(rng)
    return _remove(rng, X, 0.25)


def _init(Xm, ct, k=3):
    ref = GaussianMixture(k, covariance_type=ct, missing="marginalize", random_state=0,
                          max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(Xm)
    return dict(weights_init=ref.weights_, means_init=ref.means_,
                precisions_init=ref.precisions_)


def _fit(X, ct, init, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(3, covariance_type=ct, missing="marginalize", max_iter=15, tol=0,
                               **init, **kw).fit(X)


def _assert_same_fit(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("ct", ["full", "diag", "tied", "spherical", "VEV"])
def test_chunks_and_memmap_equal_in_memory_fit(data, ct, tmp_path):
    init = _init(data, ct)
    # uneven chunks, one of them without any NaN and one with only incomplete rows
    Xc = data.copy()
    Xc[:50] = np.where(np.isnan(Xc[:50]), 0.5, Xc[:50])
    Xc[50:60, 0] = np.nan
    ref = _fit(Xc, ct, init)
    chunks = _split(Xc, [50, 10, 333, 1, len(Xc) - 394])
    assert not np.isnan(chunks[0]).any() and np.isnan(chunks[1]).any(axis=1).all()
    _assert_same_fit(_fit(chunks, ct, init), ref)
    path = tmp_path / "x.npy"
    np.save(path, Xc)
    _assert_same_fit(_fit(np.load(path, mmap_mode="r"), ct, init, chunk_size=128), ref)
    _assert_same_fit(_fit(NpyChunks(path, chunk_size=200), ct, init), ref)


def test_weighted_chunks_equal_in_memory_fit(data, rng):
    w = rng.randint(0, 4, size=len(data)).astype(float)
    init = _init(data, "full")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, missing="marginalize", max_iter=15, tol=0, **init).fit(
            data, sample_weight=w)
    pairs = list(zip(_split(data, [300, 300, len(data) - 600]),
                     _split(w, [300, 300, len(data) - 600])))
    _assert_same_fit(_fit(pairs, "full", init), ref)


def test_float32_memmap_equals_in_memory_float32(data, tmp_path):
    X32 = data.astype(np.float32)
    init = _init(X32, "diag")
    path = tmp_path / "x32.npy"
    np.save(path, X32)
    a = _fit(X32, "diag", init)
    b = _fit(np.load(path, mmap_mode="r"), "diag", init, chunk_size=100)
    assert a.means_.dtype == b.means_.dtype
    _assert_same_fit(a, b, rtol=1e-5)


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_without_nan_bit_identical_to_todays_out_of_core(rng, ct, tmp_path):
    X = _planted(rng, n=700)
    chunks = _split(X, [200, 200, 300])
    path = tmp_path / "x.npy"
    np.save(path, X)
    for data in (chunks, np.load(path, mmap_mode="r")):
        kw = dict(covariance_type=ct, random_state=0, max_iter=20, chunk_size=150)
        a = GaussianMixture(3, **kw).fit(data)
        b = GaussianMixture(3, missing="marginalize", **kw).fit(data)
        np.testing.assert_array_equal(a.weights_, b.weights_)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.lower_bounds_ == b.lower_bounds_
        np.testing.assert_array_equal(a.score_samples(data), b.score_samples(data))


def test_random_init_fit_recovers_in_memory_solution(data):
    # from its own (coreset, mean-imputed) initialisation the fit reaches the same optimum
    a = GaussianMixture(3, missing="marginalize", random_state=0, n_init=2, tol=1e-8,
                        max_iter=500).fit(data)
    b = GaussianMixture(3, missing="marginalize", random_state=0, n_init=2, tol=1e-8,
                        max_iter=500).fit(_split(data, [400, len(data) - 400]))
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-6)
    order = [int(np.argmin(np.linalg.norm(a.means_ - m, axis=1))) for m in b.means_]
    np.testing.assert_allclose(b.means_, a.means_[order], rtol=1e-4, atol=1e-4)


def test_first_pass_sees_mean_imputed_rows(data, rng):
    w = rng.rand(len(data)) + 0.5
    pairs = list(zip(_split(data, [500, len(data) - 500]), _split(w, [500, len(data) - 500])))
    src = MissingChunkSource(pairs, None, 256)
    info = scan(src, 3, np.random.RandomState(0), missing=True)
    imputed = mean_imputed(data, w)
    # the coreset of a small data set is its rows: those rows, mean-imputed as in memory
    pts, wts = info["coreset"]
    assert np.isfinite(pts).all()
    key = np.lexsort(imputed.T)
    key_p = np.lexsort(pts.T)
    np.testing.assert_allclose(pts[key_p], imputed[key], rtol=1e-12)
    np.testing.assert_allclose(wts[key_p], w[key], rtol=1e-12)
    np.testing.assert_allclose(info["shift"], np.average(imputed, axis=0, weights=w),
                               rtol=1e-10)
    complete = ~np.isnan(data).any(axis=1)
    assert info["missing"]["n_complete"] == complete.sum()
    np.testing.assert_allclose(info["missing"]["shift"],
                               np.average(data[complete], axis=0, weights=w[complete]),
                               rtol=1e-10)
    assert info["n_samples"] == len(data) and info["weight"] == pytest.approx(w.sum())


def test_inference_on_chunks_and_memmap_uses_the_marginal(data, tmp_path):
    gm = GaussianMixture(3, missing="marginalize", random_state=0).fit(data)
    chunks = _split(data, [100, 500, len(data) - 600])
    path = tmp_path / "x.npy"
    np.save(path, data)
    mm = np.load(path, mmap_mode="r")
    ref = gm.score_samples(data)
    assert np.isfinite(ref).all()
    for X in (chunks, mm, NpyChunks(path, chunk_size=64)):
        np.testing.assert_allclose(gm.score_samples(X), ref, rtol=1e-12)
        np.testing.assert_array_equal(gm.predict(X), gm.predict(data))
        np.testing.assert_allclose(gm.predict_proba(X), gm.predict_proba(data), rtol=1e-10,
                                   atol=1e-300)
        assert gm.score(X) == pytest.approx(ref.mean(), rel=1e-12)
        assert gm.bic(X) == pytest.approx(gm.bic(data), rel=1e-12)
    # fit_predict on chunks equals fit(chunks).predict(chunks)
    a = GaussianMixture(3, missing="marginalize", random_state=0)
    np.testing.assert_array_equal(a.fit_predict(chunks), a.fit(chunks).predict(chunks))
    # a model fitted without missing values refuses NaN in chunks
    plain = GaussianMixture(3, random_state=0).fit(np.nan_to_num(data))
    with pytest.raises(ValueError, match="chunk 0 contains .* NaN or inf"):
        plain.score_samples(chunks)


def test_bad_chunks_name_the_chunk_and_row(data, tmp_path):
    gm = GaussianMixture(2, missing="marginalize", random_state=0)
    bad = data.copy()
    bad[305, 2] = np.inf
    with pytest.raises(ValueError, match=r"chunk 1 contains inf \(first at row 5 of the chunk, "
                                         r"row 305 of the data, column 2\)"):
        gm.fit(_split(bad, [300, len(bad) - 300]))
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    with pytest.raises(ValueError, match=r"chunk 3 contains inf \(first at row 5 of the chunk, "
                                         r"row 305 of the data"):
        GaussianMixture(2, missing="marginalize", chunk_size=100).fit(
            np.load(path, mmap_mode="r"))
    empty = data.copy()
    empty[[410, 420]] = np.nan
    with pytest.raises(ValueError, match=r"chunk 1 has 2 rows with every entry missing "
                                         r"\(rows \[10, 20\] of the chunk, \[410, 420\] of the "
                                         r"data\)"):
        gm.fit(_split(empty, [400, len(empty) - 400]))
    fitted = GaussianMixture(2, missing="marginalize", random_state=0).fit(data)
    with pytest.raises(ValueError, match="chunk 1 has 2 rows with every entry missing"):
        fitted.score_samples(_split(empty, [400, len(empty) - 400]))
    # other chunk checks still apply, with NaN in the chunk
    with pytest.raises(ValueError, match="chunk 1 has 3 features; the first chunk had 4"):
        gm.fit([data[:100], data[100:200, :3]])
    # without missing="marginalize", NaN in chunks is still an error that names the chunk
    with pytest.raises(ValueError, match="chunk 0 contains .* NaN or inf"):
        GaussianMixture(2).fit(_split(data, [300, len(data) - 300]))


def test_dask_stays_refused(data):
    da = pytest.importorskip("dask.array")
    from gaussmix._data import DaskSource
    gm = GaussianMixture(2, missing="marginalize")
    for X in (da.from_array(data, chunks=100), DaskSource(da.from_array(data, chunks=100))):
        with pytest.raises(ValueError, match="fits arrays in memory, memory maps and "
                                             "re-iterables of chunks; got a dask array"):
            gm.fit(X)


def test_chunk_source_given_directly(data):
    init = _init(data, "full")
    ref = _fit(data, "full", init)
    src = ChunkSource(_split(data, [450, len(data) - 450]), None, 128)
    _assert_same_fit(_fit(src, "full", init), ref)


def test_partial_fit_on_chunks_equals_in_memory(data):
    init = _init(data, "full")
    a = GaussianMixture(3, missing="marginalize", **init)
    b = GaussianMixture(3, missing="marginalize", **init)
    for part in _split(data, [450, len(data) - 450]):
        a.partial_fit(part)
        b.partial_fit(_split(part, [100, len(part) - 100]))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-9)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-9)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)


class _Generated:
    """A re-iterable of chunks made on the fly: the data set never exists in memory."""

    def __init__(self, n_chunks, rows, d, seed=0):
        self.n_chunks, self.rows, self.d, self.seed = n_chunks, rows, d, seed

    def __iter__(self):
        rng = np.random.RandomState(self.seed)
        for i in range(self.n_chunks):
            X = rng.randn(self.rows, self.d) + (3.0 * (rng.rand(self.rows) < 0.5))[:, None]
            X[rng.rand(self.rows, self.d) < 0.1] = np.nan
            X[np.isnan(X).all(axis=1), 0] = 0.0
            yield X


def _pass_peak(n_chunks):
    """Peak traced memory of one EM pass over ``n_chunks`` generated chunks with NaN."""
    src = MissingChunkSource(_Generated(n_chunks, 4000, 6), None, 4000)
    model = covariance.get("full")
    pass_fn, info = chunk_passes(src, model, 2, np.random.RandomState(0), 1e-6, missing=True)
    assert "missing" in info
    cov = np.stack([np.eye(6)] * 2)
    params = Params(np.array([0.5, 0.5]), np.stack([np.zeros(6), np.full(6, 3.0)]), cov,
                    cov.copy())
    pass_fn(params)  # the engine's workspaces are allocated once, on the first pass
    tracemalloc.start()
    try:
        stats = pass_fn(params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.n_samples == n_chunks * 4000
    return peak


def test_a_pass_does_not_materialise_the_data():
    # four times the rows, the same memory: a pass holds chunks, not the data set
    small, large = _pass_peak(10), _pass_peak(40)
    total_large = 40 * 4000 * 6 * 8  # 7.7 MB of float64
    assert large < 1.25 * small + 2**20, (small, large)
    assert large < total_large / 3, (large, total_large)
