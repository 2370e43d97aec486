"""One way data flows in: every kind of input through one DataSource layer, for every method."""
import ast
import pathlib

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture
from gaussmix._data import ArraySource, ChunkSource, DaskSource, NpyChunks, data_kind


def blobs(rng, n=3000):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    return np.vstack([c + rng.normal(size=(n // 3, 2)) for c in centres])


@pytest.fixture
def data(rng, tmp_path):
    X = blobs(rng)
    np.save(tmp_path / "x.npy", X)
    return X, tmp_path / "x.npy"


def _kinds(X, path):
    """The same rows as every kind of input ``fit`` accepts (dask when installed)."""
    out = {"memmap": np.load(path, mmap_mode="r"),
           "list": [X[:1001], X[1001:2500], X[2500:]],
           "npy_chunks": NpyChunks(path, chunk_size=700)}
    try:
        import dask.array as da
        out["dask"] = da.from_array(X, chunks=(800, 2))
    except ImportError:  # pragma: no cover - dask is a test dependency
        pass
    return out


def test_data_kind_names_every_input(data):
    X, path = data
    kinds = _kinds(X, path)
    assert data_kind(X) == "array"
    assert data_kind(X.tolist()) == "array"
    assert data_kind(kinds["memmap"]) == "memmap"
    assert data_kind(kinds["list"]) == "chunks"
    assert data_kind(kinds["npy_chunks"]) == "chunks"
    assert data_kind(kinds["dask"]) == "dask"
    with pytest.raises(TypeError, match="iterator"):
        data_kind(iter(kinds["list"]))


def test_every_source_serves_the_same_rows_and_weights(data, rng):
    X, path = data
    w = rng.uniform(0.5, 2, size=len(X))
    sources = [ArraySource(X, w, 512), ChunkSource(np.load(path, mmap_mode="r"), w, 333),
               ChunkSource([(X[:1500], w[:1500]), (X[1500:], w[1500:])], None, 400),
               DaskSource(_kinds(X, path)["dask"], w)]
    for source in sources:
        parts = list(source.chunks())
        assert all(len(Xc) <= 1500 for Xc, _ in parts)
        np.testing.assert_array_equal(np.vstack([Xc for Xc, _ in parts]), X)
        np.testing.assert_array_equal(np.concatenate([wc for _, wc in parts]), w)
        np.testing.assert_allclose(source.weighted_mean(), w @ X / w.sum(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["memmap", "list", "npy_chunks", "dask"])
def test_fit_predict_accepts_everything_fit_accepts(data, kind):
    X, path = data
    src = _kinds(X, path)[kind]
    a = GaussianMixture(3, random_state=0)
    labels = a.fit_predict(src)
    b = GaussianMixture(3, random_state=0).fit(src)
    expected = b.predict(X)
    if kind == "dask":
        assert type(labels).__module__.startswith("dask")  # lazy, as predict on dask
        labels = labels.compute()
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    # the fit found the three blobs: labels agree with the in-memory fit up to a permutation
    ref = GaussianMixture(3, random_state=0).fit_predict(X)
    pairs = set(zip(ref.tolist(), np.asarray(labels).tolist()))
    assert len(pairs) == 3


def test_fit_predict_with_coreset_on_chunks(data):
    X, path = data
    src = _kinds(X, path)["list"]
    gm = GaussianMixture(3, random_state=0, coreset_size=600)
    labels = gm.fit_predict(src)
    np.testing.assert_array_equal(labels, gm.predict(X))


def test_inference_over_chunks_is_concatenated(data, rng):
    X, path = data
    gm = GaussianMixture(3, random_state=0).fit(X)
    chunks = [X[:999], X[999:2000], X[2000:]]
    np.testing.assert_array_equal(gm.predict(chunks), gm.predict(X))
    np.testing.assert_allclose(gm.predict_proba(chunks), gm.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(gm.score_samples(chunks), gm.score_samples(X), rtol=1e-12)
    reader = NpyChunks(path, chunk_size=512)
    np.testing.assert_allclose(gm.score_samples(reader), gm.score_samples(X), rtol=1e-12)
    # weights travel with their chunks; score, bic and aic equal the weighted in-memory values
    w = rng.uniform(0, 3, size=len(X))
    pairs = [(X[:1200], w[:1200]), (X[1200:], w[1200:])]
    ll = gm.score_samples(X)
    assert gm.score(pairs) == pytest.approx(np.dot(w, ll) / w.sum(), rel=1e-12)
    assert gm.bic(pairs) == pytest.approx(gm.bic(X, w), rel=1e-12)
    assert gm.aic(chunks) == pytest.approx(gm.aic(X), rel=1e-12)


def test_inference_over_chunks_checks_each_chunk(data):
    X, _ = data
    gm = GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="chunk 1 has 3 features; the model expects 2"):
        gm.predict([X[:10], np.ones((5, 3))])
    bad = X[:20].copy()
    bad[7, 1] = np.inf
    with pytest.raises(ValueError, match="chunk 1 contains 1 NaN or inf.*row 7"):
        gm.score_samples([X[:10], bad])
    with pytest.raises(ValueError, match="sample_weight cannot be given"):
        gm.score([X[:10], X[10:20]], sample_weight=np.ones(20))


def test_memmap_inference_equals_in_memory(data):
    X, path = data
    gm = GaussianMixture(3, random_state=0, chunk_size=300).fit(X)
    mm = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(gm.predict(mm), gm.predict(X))
    np.testing.assert_allclose(gm.predict_proba(mm), gm.predict_proba(X), rtol=1e-12)
    assert gm.score(mm) == pytest.approx(gm.score(X), rel=1e-12)


def test_dask_inference_stays_lazy_and_score_is_reduced(data):
    da = pytest.importorskip("dask.array")
    X, path = data
    gm = GaussianMixture(3, random_state=0).fit(X)
    dX = da.from_array(X, chunks=(700, 2))
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(gm, method)(dX)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(lazy.compute(), getattr(gm, method)(X), rtol=1e-12)
    w = np.linspace(0.5, 2, len(X))
    assert gm.score(dX, sample_weight=w) == pytest.approx(gm.score(X, sample_weight=w),
                                                          rel=1e-12)
    assert gm.bic(dX) == pytest.approx(gm.bic(X), rel=1e-12)


@pytest.mark.parametrize("kind", ["memmap", "list", "dask"])
def test_partial_fit_batch_of_any_kind_equals_the_array_batch(data, kind):
    """On a fitted model a stepwise update is one E-pass over the batch: the same statistics
    whatever the batch is held in."""
    X, path = data
    a = GaussianMixture(3, random_state=0).fit(X)  # same parameters ...
    b = GaussianMixture(3, random_state=0).fit(X)  # ... twice
    a.partial_fit(X)
    b.partial_fit(_kinds(X, path)[kind])
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(b, attr), getattr(a, attr), rtol=1e-9, atol=1e-12)
    assert a.n_iter_ == b.n_iter_ == 2
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)


def test_first_partial_fit_on_chunks_initialises_on_their_coreset(data):
    X, path = data
    gm = GaussianMixture(3, random_state=0).partial_fit(_kinds(X, path)["list"])
    assert gm.n_features_in_ == 2 and gm.n_iter_ == 1
    assert not hasattr(gm, "feature_names_in_")
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert gm.score(X) == pytest.approx(ref.score(X), rel=0.05)


def test_partial_fit_state_is_owned_by_the_estimator(data):
    from gaussmix._online import OnlineState

    X, _ = data
    gm = GaussianMixture(3, random_state=0)
    gm.partial_fit(X[:1500])
    gm.partial_fit(X[1500:])
    state = gm._online_state
    assert isinstance(state, OnlineState) and state.t == 2 and state.means is gm.means_
    assert gm.lower_bounds_ == pytest.approx([gm.lower_bounds_[0], gm.lower_bound_])
    gm.fit(X)
    assert "_online_state" not in vars(gm)  # any other fit clears the running state


def test_free_functions_do_not_set_estimator_attributes():
    """The fit paths compute and return; only the estimator stores fitted state."""
    root = pathlib.Path(gaussmix.__file__).parent
    for name in ("_online.py", "_outofcore.py", "_passfit.py", "dask.py", "_engine.py",
                 "_init.py", "_repair.py", "_data.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                    assert t.value.id not in ("est", "estimator"), (name, ast.unparse(t))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
                raise AssertionError(f"{name} calls setattr")


def test_tree_reduce_pairs_neighbours_in_a_fixed_order():
    from gaussmix._reduce import tree_reduce
    calls = []

    def combine(a, b, level, position, count):
        calls.append((level, position, count))
        return f"({a}{b})"
    assert tree_reduce("abcde", combine) == "(((ab)(cd))e)"
    assert calls == [(0, 0, 0), (0, 2, 1), (1, 0, 2), (2, 0, 3)]
    assert tree_reduce(["x"], combine) == "x"
    with pytest.raises(ValueError, match="at least one"):
        tree_reduce([], combine)
