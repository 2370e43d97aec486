"""Model files: exact round trip; corrupt or tampered files are refused; nothing is unpickled."""
import errno
import hashlib
import io
import json
import pickle
import re
import subprocess
import sys
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
    (lambda d: (d.update(n_components=4), d["params"].update(n_components=4)),
     r"field \"arrays\['arrays/weights.npy'\].shape\" is \(3,\) but n_components = 4"),
    (lambda d: d.update(n_components=4),
     "'params.n_components' is 3 but the model's n_components is 4"),
    (lambda d: d.update(n_features=0), r"'n_features' must be in \[1, inf\]; got 0"),
    (lambda d: d.update(covariance_type="banana"),
     "'covariance_type' is 'banana', not one of 'full'"),
    (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
    (lambda d: d.update(format="something-else"), "format is not 'gaussmix-model'"),
    (lambda d: d.update(estimator="os.system"), "'estimator' is 'os.system', not one of"),
    (lambda d: d["params"].update(reg_covar=-1.0), "invalid parameters .*'reg_covar'"),
    (lambda d: d["params"].update(n_components="three"), "'params.n_components' is \"three\""),
    (lambda d: d.update(feature_names=["a"]), "'feature_names' has 1 names for n_features = 3"),
    (lambda d: d["fit"].update(lower_bounds=["x"]), r"'fit.lower_bounds\[0\]' must be a number"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(dtype="object"),
     "dtype\" is 'object', not one of 'float64'"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(shape="?"), "shape\" must be a list"),
    (lambda d: d["arrays"].pop("arrays/weights.npy"), "'arrays/weights.npy'.* is missing"),
    (lambda d: d.pop("arrays"), "'arrays' is missing"),
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


# --------------------------------------------------------------------------- the metadata schema
def _set(section, **values):
    def edit(doc):
        (doc if section is None else doc[section]).update(values)
    return edit


def _pop(section, key):
    def edit(doc):
        (doc if section is None else doc[section]).pop(key)
    return edit


@pytest.mark.parametrize("edit,match", [
    # contradictions between fields (these used to load and fail later, or never)
    (_set("params", covariance_type="spherical"),
     "'params.covariance_type' is \"spherical\" but the model's covariance_type is \"full\""),
    (_set("params", n_components=5),
     "'params.n_components' is 5 but the model's n_components is 3"),
    (_pop("params", "n_components"), "'params.n_components' is missing"),
    # wrong JSON types; a bool is not an int and an int is not a bool
    (_set(None, fit=[1, 2]), r"'fit' must be a JSON object; got \[1, 2\]"),
    (_set("fit", converged="no"), "'fit.converged' must be true or false; got \"no\""),
    (_set("fit", converged=1), "'fit.converged' must be true or false; got 1"),
    (_set("fit", n_iter=True), "'fit.n_iter' must be an integer; got true"),
    (_set("fit", n_iter=2.7), "'fit.n_iter' must be an integer; got 2.7"),
    (_set("fit", n_iter=-4), r"'fit.n_iter' must be in \[0, inf\]; got -4"),
    (_set(None, format_version=True), "format_version true is not supported"),
    (_set("params", warm_start=1), "invalid parameters .*'warm_start'.* must be a bool"),
    (_set("params", tol=[1]), "'params.tol' must be null, a bool, a number or a string"),
    (_set(None, library_version=1), "'library_version' must be a string"),
    (_set(None, feature_names=[1, 2, 3]), r"'feature_names\[0\]' must be a string"),
    (_set(None, feature_names="abc"), "'feature_names' must be a list"),
    # non-finite numbers where the value must be finite
    (_set("fit", lower_bound=float("nan")),
     "'fit.lower_bound' must be finite or -Infinity; got NaN"),
    (_set("fit", lower_bound=float("inf")), "'fit.lower_bound' must be finite or -Infinity"),
    (_set("fit", lower_bound=-float("inf")), "'fit.lower_bound' is -Infinity although iterations"),
    (_set("fit", lower_bounds=[float("nan")]), r"'fit.lower_bounds\[0\]' must be finite; got NaN"),
    (_set("fit", lower_bounds=[-1.0] * 50), "'fit.lower_bounds' has 50 entries for n_iter"),
    (_set("params", reg_covar=float("inf")), "'params.reg_covar' must be finite; got Infinity"),
    (_set("params", tol=float("nan")), "'params.tol' must be finite; got NaN"),
    # unknown or missing keys
    (_set(None, extra=1), "'extra' is not a known key"),
    (_set("fit", note="hi"), "'fit.note' is not a known key"),
    (_set("params", bogus=1), "'params.bogus' is not a known key"),
    (_set("params", weights_init=None), "'params.weights_init' is not a known key"),
    (_pop(None, "library_version"), "'library_version' is missing"),
    (_pop("fit", "n_iter"), "'fit.n_iter' is missing"),
    (_set(None, estimator="GaussianMixtureSelector"), "'estimator' is 'GaussianMixtureSelector'"),
    (_set(None, feature_names=["a", "a", "b"]), "'feature_names' must not repeat a value; 'a'"),
    # the array table
    (lambda d: d["arrays"]["arrays/means.npy"].update(sha256=123), "sha256\" must be a string"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(sha256="ab" * 31), "64 lower-case hex"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(shape=[3.0, 3]),
     r"shape\[0\]\" must be an integer; got 3.0"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(shape=[True, 3]),
     "must be an integer; got true"),
    (lambda d: d["arrays"]["arrays/means.npy"].update(extra=1), "extra\" is not a known key"),
    (lambda d: d["arrays"].update({"arrays/evil.npy": d["arrays"]["arrays/means.npy"]}),
     "'arrays/evil.npy'.* is not a known key"),
])
def test_metadata_schema_names_field_and_problem(model_file, edit, match):
    tamper(model_file, meta=edit)
    with pytest.raises(ModelFileError, match=match):
        gaussmix.load(model_file)


@pytest.mark.parametrize("field", ["n_components", "params.n_components"])
def test_bool_is_not_an_int_even_where_it_equals_one(X, tmp_path, field):
    path = tmp_path / "m.gmz"
    GaussianMixture(1, random_state=0).fit(X).save(path)
    gaussmix.load(path)  # untampered it loads
    section, _, key = field.rpartition(".")
    tamper(path, meta=_set(section or None, **{key: True}))
    with pytest.raises(ModelFileError, match=f"'{field}'.* true"):
        gaussmix.load(path)


@pytest.mark.parametrize("saved,claimed", [
    (a, b) for a in NAMES for b in NAMES
    if covariance.get(a).shape(2, 3) != covariance.get(b).shape(2, 3)])
def test_covariance_type_contradicting_the_arrays(X, tmp_path, saved, claimed):
    """Every pair of registered types whose arrays differ in shape (structures stored alike,
    such as full and VEE, cannot be told apart by shape): a relabelled file is refused from
    its metadata alone."""
    path = tmp_path / "m.gmz"
    GaussianMixture(2, covariance_type=saved, random_state=0).fit(X).save(path)
    model = covariance.get(claimed)
    assert tuple(model.shape(2, 3)) != tuple(covariance.get(saved).shape(2, 3))
    tamper(path, meta=lambda d: (d.update(covariance_type=claimed),
                                 d["params"].update(covariance_type=claimed)))
    with pytest.raises(ModelFileError, match=r"'arrays/covariances.npy'\]\.shape\" is .* imply "
                                             + re.escape(str(tuple(model.shape(2, 3))))):
        gaussmix.load(path)


def test_init_array_shape_must_match_the_model(X, tmp_path):
    ref = GaussianMixture(3, random_state=0).fit(X)
    path = tmp_path / "m.gmz"
    GaussianMixture(3, means_init=ref.means_, random_state=0).fit(X).save(path)
    assert gaussmix.load(path).means_init.shape == (3, 3)
    tamper(path, arrays={"init/means_init.npy": ref.means_[:2]},
           meta=lambda d: d["arrays"]["init/means_init.npy"].update(shape=[2, 3]))
    with pytest.raises(ModelFileError, match=r"'init/means_init.npy'\]\.shape\" is \(2, 3\)"):
        gaussmix.load(path)


def test_nan_in_init_array_is_refused(X, tmp_path):
    ref = GaussianMixture(3, random_state=0).fit(X)
    path = tmp_path / "m.gmz"
    GaussianMixture(3, means_init=ref.means_, random_state=0).fit(X).save(path)
    bad = ref.means_.copy()
    bad[0, 0] = np.nan
    tamper(path, arrays={"init/means_init.npy": bad})
    with pytest.raises(ModelFileError, match="means_init contains NaN"):
        gaussmix.load(path)


def test_valid_edge_values_still_load(X, tmp_path):
    """What the estimators legitimately write: max_iter=0 (lower bound -inf, no iterations),
    partial_fit (fewer recorded bounds than steps), tol=0, random_state=None, verbose=True."""
    import warnings
    path = tmp_path / "m.gmz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(2, max_iter=0, tol=0.0, verbose=False, random_state=0).fit(X)
    assert gm.lower_bound_ == -np.inf
    gm.save(path)
    back = gaussmix.load(path)
    assert back.lower_bound_ == -np.inf and back.lower_bounds_ == [] and back.n_iter_ == 0
    assert back.tol == 0.0 and back.verbose is False
    gm = GaussianMixture(2, random_state=None).fit(X)
    gm.partial_fit(X[:50])
    gm.save(path)
    back = gaussmix.load(path)
    assert back.n_iter_ == gm.n_iter_ and back.lower_bounds_ == gm.lower_bounds_
    assert back.random_state is None


def test_missing_optional_params_take_the_constructor_defaults(model_file):
    tamper(model_file, meta=_pop("params", "chunk_size"))
    assert gaussmix.load(model_file).chunk_size is GaussianMixture().chunk_size


def test_duplicate_json_key_is_refused(model_file):
    members = read_members(model_file)
    text = members["model.json"].decode()
    twice = '"n_components": 3, "n_components": 3,'
    members["model.json"] = text.replace('"n_components": 3,', twice, 1).encode()
    assert members["model.json"] != text.encode()
    write_members(model_file, members)
    with pytest.raises(ModelFileError, match="'n_components' appears twice"):
        gaussmix.load(model_file)


def test_deeply_nested_json_is_refused(model_file):
    members = read_members(model_file)
    members["model.json"] = b"[" * 200_000 + b"]" * 200_000
    write_members(model_file, members)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        gaussmix.load(model_file)


def test_extra_or_duplicated_zip_members_are_refused(model_file):
    import warnings
    members = read_members(model_file)
    write_members(model_file, dict(members, **{"evil.bin": b"x"}))
    with pytest.raises(ModelFileError, match="'evil.bin', which the metadata does not list"):
        gaussmix.load(model_file)
    write_members(model_file, members)
    with zipfile.ZipFile(model_file, "a") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        zf.writestr("arrays/means.npy", members["arrays/means.npy"])
    with pytest.raises(ModelFileError, match="'arrays/means.npy' twice"):
        gaussmix.load(model_file)


# --------------------------------------------------------------------------- the .npy members
def _npy_header(shape, descr="<f8", fortran=False):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran,
                                               "shape": tuple(shape)})
    return buf.getvalue()


@pytest.mark.parametrize("dtype", [">f8", "<f4", "<i8", "<c16"])
def test_only_little_endian_float64_members(model_file, dtype):
    means = load_array(model_file, "arrays/means.npy")
    tamper(model_file, arrays={"arrays/means.npy": means.astype(dtype)})  # checksum forged
    with pytest.raises(ModelFileError, match=f"holds dtype '{re.escape(np.dtype(dtype).str)}'"):
        gaussmix.load(model_file)


def test_fortran_order_member_loads_with_the_same_values(model_file, X):
    ref = gaussmix.load(model_file)
    cov = load_array(model_file, "arrays/covariances.npy")
    tamper(model_file, arrays={"arrays/covariances.npy": np.asfortranarray(cov)})
    assert b"'fortran_order': True" in read_members(model_file)["arrays/covariances.npy"][:128]
    back = gaussmix.load(model_file)
    np.testing.assert_array_equal(back.covariances_, ref.covariances_)
    np.testing.assert_array_equal(back.score_samples(X), ref.score_samples(X))


def test_member_with_trailing_or_missing_bytes(model_file):
    raw = read_members(model_file)["arrays/means.npy"]
    tamper(model_file, arrays={"arrays/means.npy": raw + bytes(8)})
    with pytest.raises(ModelFileError, match="bytes after its data"):
        gaussmix.load(model_file)
    tamper(model_file, arrays={"arrays/means.npy": raw[:-8]})
    with pytest.raises(ModelFileError, match="arrays/means.npy is truncated"):
        gaussmix.load(model_file)


def test_header_shape_must_equal_declared_shape(model_file):
    means = load_array(model_file, "arrays/means.npy")
    tamper(model_file, arrays={"arrays/means.npy": means.T.copy()[:, :3].reshape(3, 3)[None]})
    with pytest.raises(ModelFileError, match=r"has shape \(1, 3, 3\); the metadata says \(3, 3\)"):
        gaussmix.load(model_file)


def test_member_is_streamed_and_never_read_past_its_limit():
    from gaussmix import _io
    source = io.BytesIO(bytes(10 * 2**20))
    member = _io._Member(source, 2**20 + 5, "arrays/x.npy", "p")
    with pytest.raises(ModelFileError, match="larger than its declared shape allows"):
        while member.read(64 * 1024):
            pass
    assert source.tell() <= 2**20 + 6  # stops one byte past the limit, not at the end
    data = bytes(range(256)) * 100
    member = _io._Member(io.BytesIO(data), len(data), "k", "p")
    assert b"".join(iter(lambda: member.read(1000), b"")) == data
    assert member.n == len(data)
    assert member.sha.hexdigest() == hashlib.sha256(data).hexdigest()


HUGE = 25_000_000  # float64 entries: a 200 MB member


def _write_huge_model(src, out, edit):
    """``src`` rewritten with its metadata edited and arrays/weights.npy replaced by a 200 MB
    member of zeros (deflated to under 1 MB, so the test file stays small)."""
    members = read_members(src)
    doc = json.loads(members.pop("model.json"))
    edit(doc)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("model.json", json.dumps(doc))
        with zf.open("arrays/weights.npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header((HUGE,)))
            zeros = bytes(2**20)
            for _ in range(8 * HUGE // 2**20):
                fh.write(zeros)
            fh.write(bytes(8 * HUGE % 2**20))
        for key, data in members.items():
            if key != "arrays/weights.npy":
                zf.writestr(key, data)
    assert zipfile.ZipFile(out).getinfo("arrays/weights.npy").file_size > 8 * HUGE
    assert out.stat().st_size < 2 * 2**20
    return out


@pytest.fixture
def bytes_read(monkeypatch):
    """Decompressed bytes read from each archive member during the test, and peak memory."""
    import tracemalloc
    counts = {}
    orig = zipfile.ZipExtFile.read

    def counting_read(self, n=-1):
        data = orig(self, n)
        counts[self.name] = counts.get(self.name, 0) + len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    tracemalloc.start()
    yield counts
    counts["peak_memory"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert counts["peak_memory"] < 16 * 2**20, counts


def _huge_shapes(doc):
    """Declare a consistent model with HUGE components (spherical, so every array is ~HUGE)."""
    doc["n_components"] = doc["params"]["n_components"] = HUGE
    d = doc["n_features"]
    for key, spec in doc["arrays"].items():
        spec["shape"] = [HUGE, d] if key == "arrays/means.npy" else [HUGE]


@pytest.fixture
def spherical_file(X, tmp_path):
    path = tmp_path / "small.gmz"
    GaussianMixture(2, covariance_type="spherical", random_state=0).fit(X).save(path)
    return path


def test_200mb_member_declared_against_the_model_is_never_read(spherical_file, tmp_path,
                                                               bytes_read):
    """Shape (25e6,) declared while n_components = 2: refused from the metadata alone (the
    loader used to inflate and hash the 200 MB before comparing shapes)."""
    path = _write_huge_model(spherical_file, tmp_path / "m.gmz",
                             lambda d: d["arrays"]["arrays/weights.npy"].update(shape=[HUGE]))
    bytes_read.clear()
    with pytest.raises(ModelFileError, match=r"weights.npy'\]\.shape\" is \(25000000,\) but "
                                             r"n_components = 2"):
        gaussmix.load(path)
    assert "arrays/weights.npy" not in bytes_read


def test_200mb_member_larger_than_its_declared_shape_is_never_read(spherical_file, tmp_path,
                                                                   bytes_read):
    path = _write_huge_model(spherical_file, tmp_path / "m.gmz", lambda d: None)
    bytes_read.clear()
    with pytest.raises(ModelFileError, match=r"arrays/weights.npy is larger than its declared "
                                             r"shape \(2,\)"):
        gaussmix.load(path)
    assert "arrays/weights.npy" not in bytes_read


def test_consistent_declaration_over_the_absolute_cap_is_never_read(spherical_file, tmp_path,
                                                                    monkeypatch, bytes_read):
    """A model declared with 25e6 components, consistently: the per-array cap refuses it
    before reading. The cap is lowered to 64 MiB here; the 1 GiB default works the same."""
    from gaussmix import _io
    assert _io.MAX_MEMBER_BYTES >= 2**30
    monkeypatch.setattr(_io, "MAX_MEMBER_BYTES", 64 * 2**20)
    path = _write_huge_model(spherical_file, tmp_path / "m.gmz", _huge_shapes)
    bytes_read.clear()
    with pytest.raises(ModelFileError, match=r"declares shape \(25000000,\) \(200000000 bytes\), "
                                             r"over the limit of 67108864 bytes"):
        gaussmix.load(path)
    assert "arrays/weights.npy" not in bytes_read


# --------------------------------------------------------------------------- atomic save
def _dir_listing(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_save_failing_midway_keeps_the_previous_model(model_file, X, monkeypatch):
    before = model_file.read_bytes()
    listing = _dir_listing(model_file)
    calls = []
    orig = zipfile.ZipFile.writestr

    def fail_on_third_member(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_on_third_member)
    other = GaussianMixture(2, covariance_type="diag", random_state=1).fit(X)
    with pytest.raises(OSError, match="No space left"):
        other.save(model_file)
    monkeypatch.undo()
    assert len(calls) == 3
    assert model_file.read_bytes() == before
    assert _dir_listing(model_file) == listing  # no temporary file left behind
    assert gaussmix.load(model_file).covariance_type == "full"


def test_save_failing_to_a_new_path_leaves_nothing(X, tmp_path, monkeypatch):
    def boom(self, *args, **kwargs):
        raise OSError(27, "File too large")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", boom)
    with pytest.raises(OSError):
        GaussianMixture(2, random_state=0).fit(X).save(tmp_path / "new.gmz")
    assert list(tmp_path.iterdir()) == []


def test_save_over_the_file_size_limit_keeps_the_previous_model(model_file):
    """A real failure: the process may not write files over 4 KiB (RLIMIT_FSIZE), the new
    model is bigger. Before saves were atomic this left a truncated, unloadable file."""
    resource = pytest.importorskip("resource")
    assert resource.RLIMIT_FSIZE is not None
    before = model_file.read_bytes()
    listing = _dir_listing(model_file)
    code = f"""
import resource, warnings
import numpy as np
from gaussmix import GaussianMixture
X = np.random.default_rng(1).normal(size=(300, 12))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    gm = GaussianMixture(6, random_state=0, max_iter=3).fit(X)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    gm.save({str(model_file)!r})
except OSError as exc:
    print("errno", exc.errno)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["errno", str(errno.EFBIG)]
    assert model_file.read_bytes() == before
    assert _dir_listing(model_file) == listing
    assert gaussmix.load(model_file).means_.shape == (3, 3)


def test_save_replaces_the_file_and_keeps_ordinary_permissions(model_file, X):
    import os
    GaussianMixture(2, covariance_type="tied", random_state=0).fit(X).save(model_file)
    assert gaussmix.load(model_file).covariance_type == "tied"
    umask = os.umask(0)
    os.umask(umask)
    assert model_file.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _dir_listing(model_file) == ["model.gmz"]
