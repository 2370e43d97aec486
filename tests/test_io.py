"""Model files: exact round trip; corrupt or tampered files are refused; nothing is unpickled."""
import hashlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, ModelFileError, covariance

NAMES = covariance.names()
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")


@pytest.fixture
def X(make_blobs, rng):
    return make_blobs(rng, n_per=(40, 30, 30), d=3)[0]


@pytest.fixture
def model_file(X, tmp_path):
    path = tmp_path / "model.gmz"
    GaussianMixture(3, random_state=0).fit(X).save(path)
    return path


def read_members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def npy(a, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=allow_pickle)
    return buf.getvalue()


def tamper(path, *, arrays=None, meta=None, rehash=True):
    """Rewrite the model file with replaced arrays and/or edited metadata.

    ``rehash`` recomputes the checksums, as a deliberate forger would.
    """
    members = read_members(path)
    doc = json.loads(members["model.json"])
    for key, value in (arrays or {}).items():
        data = value if isinstance(value, bytes) else npy(value)
        members[key] = data
        if rehash:
            doc["arrays"][key]["sha256"] = hashlib.sha256(data).hexdigest()
    if meta is not None:
        meta(doc)
    members["model.json"] = json.dumps(doc).encode()
    write_members(path, members)


def load_array(path, key):
    return np.lib.format.read_array(io.BytesIO(read_members(path)[key]), allow_pickle=False)


# --------------------------------------------------------------------------- round trip
def assert_same_model(a, b, X):
    for attr in FITTED:
        va, vb = getattr(a, attr), getattr(b, attr)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, attr
            np.testing.assert_array_equal(va, vb, err_msg=attr)
        else:
            assert va == vb, attr
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for k in pa:
        if isinstance(pa[k], np.ndarray) or isinstance(pb[k], np.ndarray):
            np.testing.assert_array_equal(pa[k], pb[k])
        else:
            assert pa[k] == pb[k], k
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("cov", NAMES)
def test_round_trip_is_exact(cov, X, tmp_path):
    gm = GaussianMixture(3, covariance_type=cov, random_state=4, reg_covar=1e-5, tol=1e-4,
                         n_init=2, chunk_size=64).fit(X)
    gm.save(tmp_path / "m.gmz")
    back = gaussmix.load(tmp_path / "m.gmz")
    assert isinstance(back, GaussianMixture)
    assert_same_model(gm, back, X)
    np.testing.assert_array_equal(back.sample(10)[0], gm.sample(10)[0])


@pytest.mark.parametrize("cov", NAMES)
def test_round_trip_with_init_arrays_float32_and_str_path(cov, X, tmp_path):
    ref = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    gm = GaussianMixture(3, covariance_type=cov, weights_init=ref.weights_,
                         means_init=ref.means_, precisions_init=ref.precisions_)
    gm.fit(X.astype(np.float32))
    path = str(tmp_path / "m32.gmz")
    gm.save(path)
    back = gaussmix.load(path)
    assert_same_model(gm, back, X)
    # the loaded model refits exactly like the original
    assert_same_model(gm.fit(X), back.fit(X), X)


def test_round_trip_keeps_feature_names(X, tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["alpha", "beta", "gamma"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    gm.save(tmp_path / "m.gmz")
    back = gaussmix.load(tmp_path / "m.gmz")
    np.testing.assert_array_equal(back.feature_names_in_, ["alpha", "beta", "gamma"])
    np.testing.assert_array_equal(back.predict(df), gm.predict(df))


def test_file_layout_is_documented_zip_of_json_and_npy(model_file):
    members = read_members(model_file)
    doc = json.loads(members["model.json"])
    assert doc["format"] == "gaussmix-model" and doc["format_version"] == 1
    assert doc["covariance_type"] == "full" and doc["n_components"] == 3 and doc["n_features"] == 3
    for name in ("weights", "means", "covariances", "precisions", "precisions_cholesky"):
        key = f"arrays/{name}.npy"
        assert hashlib.sha256(members[key]).hexdigest() == doc["arrays"][key]["sha256"]
        a = load_array(model_file, key)
        assert list(a.shape) == doc["arrays"][key]["shape"] and a.dtype == np.float64
    assert set(members) == {"model.json"} | set(doc["arrays"])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        gaussmix.load(tmp_path / "nope.gmz")


# --------------------------------------------------------------------------- refused files
def test_changed_array_bytes_fail_the_checksum(model_file):
    members = read_members(model_file)
    raw = bytearray(members["arrays/means.npy"])
    raw[-3] ^= 0x01  # flip one bit of the last mean
    tamper(model_file, arrays={"arrays/means.npy": bytes(raw)}, rehash=False)
    with pytest.raises(ModelFileError, match="checksum of arrays/means.npy does not match"):
        gaussmix.load(model_file)


@pytest.mark.parametrize("cov", NAMES)
def test_non_positive_definite_covariance_with_recomputed_checksum(cov, X, tmp_path):
    path = tmp_path / "m.gmz"
    GaussianMixture(2, covariance_type=cov, random_state=0).fit(X).save(path)
    bad = -load_array(path, "arrays/covariances.npy")
    tamper(path, arrays={"arrays/covariances.npy": bad, "arrays/precisions.npy": -load_array(
        path, "arrays/precisions.npy")})
    with pytest.raises(ModelFileError, match="positive"):
        gaussmix.load(path)


def test_covariances_inconsistent_with_precisions(model_file):
    cov = load_array(model_file, "arrays/covariances.npy")
    tamper(model_file, arrays={"arrays/covariances.npy": cov * 2.0})
    with pytest.raises(ModelFileError, match="inconsistent"):
        gaussmix.load(model_file)


def test_weights_off_the_simplex(model_file):
    w = load_array(model_file, "arrays/weights.npy")
    tamper(model_file, arrays={"arrays/weights.npy": w * 1.5})
    with pytest.raises(ModelFileError, match="weights must be non-negative and sum to 1"):
        gaussmix.load(model_file)


def test_nan_in_array(model_file):
    m = load_array(model_file, "arrays/means.npy")
    m[1, 1] = np.nan
    tamper(model_file, arrays={"arrays/means.npy": m})
    with pytest.raises(ModelFileError, match="means contains NaN or inf"):
        gaussmix.load(model_file)


def test_array_of_wrong_shape(model_file):
    m = load_array(model_file, "arrays/means.npy")
    tamper(model_file, arrays={"arrays/means.npy": m[:2]})
    with pytest.raises(ModelFileError, match="means"):
        gaussmix.load(model_file)


def test_array_larger_than_declared(model_file):
    tamper(model_file, arrays={"arrays/weights.npy": np.zeros(100_000)})
    with pytest.raises(ModelFileError, match="larger than its declared shape"):
        gaussmix.load(model_file)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.update(n_components=4), "shape"),
    (lambda d: d.update(n_features=0), "positive integers"),
    (lambda d: d.update(covariance_type="banana"), "banana"),
    (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
    (lambda d: d.update(format="something-else"), "format is not 'gaussmix-model'"),
    (lambda d: d.update(estimator="os.system"), "unknown estimator"),
    (lambda d: d["params"].update(reg_covar=-1.0), "invalid parameters"),
    (lambda d: d["params"].update(n_components="three"), "invalid parameters"),
    (lambda d: d.update(feature_names=["a"]), "feature_names"),
    (lambda d: d["fit"].update(lower_bounds=["x"]), "fit summary"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(dtype="object"), "dtype object"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(shape="?"), "malformed"),
    (lambda d: d["arrays"].pop("arrays/weights.npy"), "missing"),
    (lambda d: d.pop("arrays"), "array table"),
])
def test_edited_metadata_is_refused(model_file, edit, match):
    tamper(model_file, meta=edit)
    with pytest.raises(ModelFileError, match=match):
        gaussmix.load(model_file)


def test_member_missing_or_json_broken(model_file):
    members = read_members(model_file)
    del members["arrays/precisions.npy"]
    write_members(model_file, members)
    with pytest.raises(ModelFileError, match="arrays/precisions.npy is missing"):
        gaussmix.load(model_file)
    members["model.json"] = b"{not json"
    write_members(model_file, members)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        gaussmix.load(model_file)
    del members["model.json"]
    write_members(model_file, members)
    with pytest.raises(ModelFileError, match="model.json is missing"):
        gaussmix.load(model_file)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file(model_file, keep):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError):
        gaussmix.load(model_file)


def test_random_bytes_and_empty_file(tmp_path, rng):
    path = tmp_path / "noise.gmz"
    path.write_bytes(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError):
        gaussmix.load(path)
    path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        gaussmix.load(path)


class _Sentinel:
    """Unpickling this object creates a file: proof that something was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_renamed_as_model_is_refused(X, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "model.gmz"
    with open(path, "wb") as fh:
        pickle.dump([GaussianMixture(2).fit(X), _Sentinel(str(sentinel))], fh)
    with pytest.raises(ModelFileError, match="not a gaussmix model archive"):
        gaussmix.load(path)
    assert not sentinel.exists()


def test_object_array_inside_archive_is_never_unpickled(model_file, tmp_path):
    sentinel = tmp_path / "pwned"
    payload = np.empty(3, dtype=object)
    payload[:] = [_Sentinel(str(sentinel)), 1, 2]
    data = npy(payload, allow_pickle=True)
    tamper(model_file, arrays={"arrays/weights.npy": data})  # checksum forged to match
    with pytest.raises(ModelFileError):
        gaussmix.load(model_file)
    assert not sentinel.exists()
    # and even when the metadata claims the object dtype
    tamper(model_file, meta=lambda d: d["arrays"]["arrays/weights.npy"].update(dtype="object"))
    with pytest.raises(ModelFileError):
        gaussmix.load(model_file)
    assert not sentinel.exists()


def test_loading_never_calls_pickle(model_file, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used while loading a model")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    gm = gaussmix.load(model_file)
    assert gm.means_.shape == (3, 3)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
