"""ONNX export: onnxruntime on the exported graph agrees with the fitted estimator."""
import builtins

import numpy as np
import pytest

from gaussmix import GaussianMixture

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

# float64 graphs compute what scikit-learn computes, in another summation order; float32 graphs
# round the input, the parameters and every intermediate to 24 bits
TOL = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _run(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: X})))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261202)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]])
    A = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])
    X = np.vstack([c + rng.normal(size=(120, 3)) @ A for c in centres])
    # new rows, some far in the tails, where log-densities are large and negative
    X_new = np.vstack([rng.normal(scale=3.0, size=(200, 3)), [[30.0, -25.0, 40.0]]])
    return X, X_new


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_onnx_matches_estimator(data, covariance_type, dtype):
    X, X_new = data
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    onx = gm.to_onnx(dtype=dtype)
    out = _run(onx, X_new.astype(dtype))
    assert set(out) == {"label", "probabilities", "score_samples"}
    assert out["probabilities"].dtype == dtype and out["score_samples"].dtype == dtype

    proba = gm.predict_proba(X_new.astype(dtype))
    ll = gm.score_samples(X_new.astype(dtype))
    np.testing.assert_allclose(out["probabilities"], proba, **TOL[dtype])
    np.testing.assert_allclose(out["score_samples"].ravel(), ll, **TOL[dtype])
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, **TOL[dtype])
    # labels agree wherever the winning component is not a near tie
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    np.testing.assert_array_equal(out["label"].ravel()[clear], gm.predict(X_new)[clear])


def test_onnx_graph_accepts_any_batch_size(data):
    X, X_new = data
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    onx = gm.to_onnx()
    for n in (1, 7, len(X_new)):
        out = _run(onx, X_new[:n])
        np.testing.assert_allclose(out["score_samples"].ravel(), gm.score_samples(X_new[:n]),
                                   rtol=1e-6, atol=1e-9)


def test_onnx_options_and_opset(data):
    X, _ = data
    gm = GaussianMixture(2, random_state=0).fit(X)
    out = _run(gm.to_onnx(options={"score_samples": False}), X)
    assert set(out) == {"label", "probabilities"}
    onx = gm.to_onnx(target_opset=15)
    assert {o.domain: o.version for o in onx.opset_import}[""] <= 15
    np.testing.assert_allclose(_run(onx, X)["probabilities"], gm.predict_proba(X),
                               rtol=1e-6, atol=1e-9)


def test_onnx_from_dataframe_fit(data):
    pd = pytest.importorskip("pandas")
    X, X_new = data
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    out = _run(gm.to_onnx(), X_new)
    frame = pd.DataFrame(X_new, columns=["a", "b", "c"])
    np.testing.assert_allclose(out["score_samples"].ravel(), gm.score_samples(frame),
                               rtol=1e-6, atol=1e-9)


def test_onnx_bad_input(data):
    X, _ = data
    with pytest.raises(Exception, match="not fitted"):
        GaussianMixture(2).to_onnx()
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="'dtype'.*int64.*float32 and float64"):
        gm.to_onnx(dtype=np.int64)
    with pytest.raises(TypeError, match="'options'.*list"):
        gm.to_onnx(options=["score_samples"])
    with pytest.raises(Exception, match="nonsense"):
        gm.to_onnx(options={"nonsense": True})


def test_onnx_rejects_types_sklearn_does_not_know(data):
    X, _ = data
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.covariance_type = "my_banded"  # as if fitted with a registered third-party model
    with pytest.raises(ValueError, match="'my_banded'.*full.*tied.*diag.*spherical"):
        gm.to_onnx()


def test_missing_skl2onnx_names_the_extra(data, monkeypatch):
    X, _ = data
    gm = GaussianMixture(2, random_state=0).fit(X)
    real_import = builtins.__import__

    def no_skl2onnx(name, *args, **kwargs):
        if name == "skl2onnx" or name.startswith("skl2onnx."):
            raise ImportError("No module named 'skl2onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skl2onnx)
    with pytest.raises(ImportError, match=r"gaussmix\[onnx\]"):
        gm.to_onnx()
