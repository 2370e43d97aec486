"""The gaussmix model file: a zip archive of one JSON document and ``.npy`` arrays.

Layout (format version 1)::

    model.json                 metadata (below)
    arrays/weights.npy         (k,)            float64
    arrays/means.npy           (k, d)          float64
    arrays/covariances.npy     shape by covariance type, float64
    arrays/precisions.npy      same shape
    arrays/precisions_cholesky.npy
    init/<name>.npy            optional weights_init / means_init / precisions_init
    bayes/<name>.npy           BayesianGaussianMixture only: the posterior (weight_concentration,
                               (2, k) for a Dirichlet process, mean_precision,
                               degrees_of_freedom) and the priors used (mean_prior, ...)
    params/<name>.npy          BayesianGaussianMixture only: mean_prior / covariance_prior
                               constructor arguments given as arrays

``model.json`` holds ``format`` ("gaussmix-model"), ``format_version``, ``library_version``,
``estimator``, ``covariance_type``, ``n_components``, ``n_features``, ``params`` (the constructor
arguments that are JSON values), ``fit`` (converged, n_iter, lower_bound, lower_bounds),
``feature_names`` and, for every array, its shape, dtype and SHA-256.

Saving is atomic: the archive is written to a temporary file in the destination's directory and
moved over the destination only once complete (:func:`gaussmix._atomic.atomic_write`), so a save
that fails midway leaves the previous file as it was.

Loading trusts nothing in the file. In order:

1. ``model.json`` (at most :data:`MAX_JSON_BYTES`, no duplicate keys) is checked as a whole
   against :data:`SCHEMA`: every key's JSON type (a bool is not an int and an int is not a bool),
   ranges, finiteness, and then consistency: ``params.covariance_type`` and
   ``params.n_components`` equal the top-level values, every array's declared shape is the one
   the covariance model implies for ``(n_components, n_features)``, ``feature_names`` are
   ``n_features`` distinct strings. **Unknown keys are rejected** (top level, ``fit``, ``params``,
   array entries): a key this version does not understand would otherwise be silently ignored.
   Parameters missing from ``params`` take the constructor's defaults; their values are checked
   by the estimator's own parameter table.
2. The archive holds exactly ``model.json`` and the arrays the metadata lists, once each.
3. Every array member is streamed: its ``.npy`` header is parsed (``<f8``, the declared shape,
   C or Fortran order, nothing else), then its data are read in chunks while being hashed,
   never beyond the size the declared shape implies nor :data:`MAX_MEMBER_BYTES`, so a forged
   size costs at most one chunk of reading. Arrays are never unpickled.
4. The parameters are checked against the mathematics: finite, weights on the simplex,
   covariances symmetric positive definite and consistent with the stored precision factors.

Any failure raises :class:`ModelFileError` naming the field or member and the problem.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np

from . import covariance
from ._atomic import atomic_write

if TYPE_CHECKING:  # the estimator imports this module: annotations name it through the package
    import gaussmix

FORMAT = "gaussmix-model"
FORMAT_VERSION = 1
_ARRAYS = ("weights", "means", "covariances", "precisions", "precisions_cholesky")
_INIT = ("weights_init", "means_init", "precisions_init")
#: Largest ``model.json`` read, in bytes.
MAX_JSON_BYTES = 16 * 2**20
#: Largest array member read, in bytes (header included), whatever its declared shape.
MAX_MEMBER_BYTES = 2**30
_CHUNK = 2**20
_MAX_NPY_HEADER = 4096
_ESTIMATORS = ("GaussianMixture", "BayesianGaussianMixture")
#: The variational posterior and priors of a ``BayesianGaussianMixture`` (members
#: ``bayes/<name>.npy``): the fitted attribute ``<name>_``.
_BAYES = ("weight_concentration", "mean_precision", "degrees_of_freedom", "mean_prior",
          "covariance_prior", "weight_concentration_prior", "mean_precision_prior",
          "degrees_of_freedom_prior")
#: Constructor arguments that may be arrays (members ``params/<name>.npy`` when they are).
_ARRAY_PARAMS = ("mean_prior", "covariance_prior")
#: The classes :func:`load` builds, by name, registered by their modules when imported
#: (:func:`register_estimator`), so that this module never imports an estimator back.
_ESTIMATOR_CLASS: dict = {}


def register_estimator(cls):
    """Make ``cls`` the class model files naming ``cls.__name__`` load into; returns ``cls``."""
    _ESTIMATOR_CLASS[cls.__name__] = cls
    return cls


def _estimator_class(name="GaussianMixture"):
    if name not in _ESTIMATOR_CLASS:  # only while gaussmix itself is being imported
        raise RuntimeError(f"gaussmix.{name} is not registered yet; import gaussmix first.")
    return _ESTIMATOR_CLASS[name]

_READ_ERRORS: tuple = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
                       RuntimeError, NotImplementedError, zlib.error)
try:  # members compressed with LZMA raise their own error type when corrupt
    import lzma
    _READ_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover - Python built without lzma
    pass


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, tampered with, or of an unknown format."""


# =========================================================================== saving
def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # not ascontiguousarray, which turns a 0-d array (a scalar prior) into shape (1,)
    np.lib.format.write_array(buf, np.asarray(a, order="C"), allow_pickle=False)
    return buf.getvalue()


def _json_value(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return None


def save(est, path) -> None:
    """Write fitted ``est`` (a :class:`~gaussmix.GaussianMixture` or
    :class:`~gaussmix.BayesianGaussianMixture`) to ``path``, atomically."""
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(est)
    from . import __version__
    arrays = {name: np.asarray(getattr(est, name + "_"), dtype=np.float64) for name in _ARRAYS}
    params = est.get_params(deep=False)
    init = {name: np.asarray(params[name], dtype=np.float64) for name in _INIT
            if params.get(name) is not None}
    bayes, array_params = {}, {}
    if type(est).__name__ == "BayesianGaussianMixture":
        # a Dirichlet process's concentration is the pair (alpha, beta): stored as (2, k)
        bayes = {name: np.asarray(getattr(est, name + "_"), dtype=np.float64) for name in _BAYES}
        array_params = {name: np.asarray(params[name], dtype=np.float64) for name in _ARRAY_PARAMS
                        if params.get(name) is not None and np.ndim(params[name]) > 0}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "estimator": type(est).__name__,
        "covariance_type": est.covariance_type,
        "n_components": int(est.means_.shape[0]),
        "n_features": int(est.means_.shape[1]),
        "params": {k: _json_value(v) for k, v in params.items()
                   if k not in _INIT and k not in array_params},
        "fit": {
            "converged": bool(est.converged_),
            "n_iter": int(est.n_iter_),
            "lower_bound": float(est.lower_bound_),
            "lower_bounds": [float(v) for v in getattr(est, "lower_bounds_", [])],
        },
        "feature_names": ([str(s) for s in est.feature_names_in_]
                          if hasattr(est, "feature_names_in_") else None),
        "arrays": {},
    }
    noise_v = getattr(est, "noise_volume_", None)
    if noise_v is not None:  # a uniform noise component (GaussianMixture(noise=...))
        meta["noise"] = {"weight": float(est.noise_weight_), "volume": float(noise_v)}
        arrays["noise_bounds"] = np.asarray(est.noise_bounds_, dtype=np.float64)
    prior = params.get("prior")
    if prior is not None and not isinstance(prior, str):  # a ConjugatePrior: its arguments
        meta["prior"] = prior.get_params()
    if "noise" in params:  # an initial noise mask is saved as True
        nz = params["noise"]
        meta["params"]["noise"] = not (isinstance(nz, (bool, np.bool_)) and not nz)
    blobs = {}
    for prefix, group in (("arrays", arrays), ("init", init), ("bayes", bayes),
                          ("params", array_params)):
        for name, a in group.items():
            b = _npy_bytes(a)
            key = f"{prefix}/{name}.npy"
            blobs[key] = b
            meta["arrays"][key] = {"shape": list(a.shape), "dtype": str(a.dtype),
                                   "sha256": hashlib.sha256(b).hexdigest()}
    with atomic_write(path, "wb") as fh, \
            zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.json", json.dumps(meta, indent=1, allow_nan=True))
        for key, b in blobs.items():
            zf.writestr(key, b)


# =========================================================================== the schema
class _Invalid(Exception):
    """A metadata value breaks the schema: ``field`` (a dotted path) and what is wrong."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def _sub(field: str, key: str) -> str:
    """The path of ``key`` inside ``field``: ``fit.n_iter``, ``arrays['arrays/means.npy']``."""
    if not key.isidentifier():
        return f"{field}[{key!r}]"
    return f"{field}.{key}" if field else key


def _show(v) -> str:
    try:
        text = json.dumps(v, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Int:
    """A JSON integer (never a bool) in ``[low, high]``."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def check(self, v, field):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Invalid(field, f"must be an integer; got {_show(v)}")
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            lo = "-inf" if self.low is None else self.low
            hi = "inf" if self.high is None else self.high
            raise _Invalid(field, f"must be in [{lo}, {hi}]; got {v}")


class _Float:
    """A JSON number (never a bool): finite, or also ``-inf`` when ``neg_inf``."""

    def __init__(self, *, neg_inf=False):
        self.neg_inf = neg_inf

    def check(self, v, field):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Invalid(field, f"must be a number; got {_show(v)}")
        if not math.isfinite(v) and not (self.neg_inf and v == -math.inf):
            allowed = "finite or -Infinity" if self.neg_inf else "finite"
            raise _Invalid(field, f"must be {allowed}; got {_show(v)}")


class _Bool:
    def check(self, v, field):
        if not isinstance(v, bool):
            raise _Invalid(field, f"must be true or false; got {_show(v)}")


class _Str:
    """A JSON string, one of ``choices()`` when given (a callable, so registries stay live)."""

    def __init__(self, choices=None, *, hex_len=None):
        self.choices, self.hex_len = choices, hex_len

    def check(self, v, field):
        if not isinstance(v, str):
            raise _Invalid(field, f"must be a string; got {_show(v)}")
        if self.choices is not None and v not in self.choices():
            raise _Invalid(field, f"is {v!r}, not one of {', '.join(map(repr, self.choices()))}")
        if self.hex_len is not None and not (
                len(v) == self.hex_len and all(c in "0123456789abcdef" for c in v)):
            raise _Invalid(field, f"must be {self.hex_len} lower-case hex digits; got {_show(v)}")


class _Scalar:
    """Any JSON scalar (null, bool, number, string); numbers finite."""

    def check(self, v, field):
        if isinstance(v, float) and not math.isfinite(v):
            raise _Invalid(field, f"must be finite; got {_show(v)}")
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise _Invalid(field, f"must be null, a bool, a number or a string; got {_show(v)}")


class _List:
    def __init__(self, item, *, unique=False):
        self.item, self.unique = item, unique

    def check(self, v, field):
        if not isinstance(v, list):
            raise _Invalid(field, f"must be a list; got {_show(v)}")
        for i, x in enumerate(v):
            self.item.check(x, f"{field}[{i}]")
        if self.unique:
            seen = set()
            for x in v:
                if x in seen:
                    raise _Invalid(field, f"must not repeat a value; {x!r} appears twice")
                seen.add(x)


class _FloatOrMatrix:
    """A finite number, or a square list of lists of finite numbers."""

    def check(self, v, field):
        if isinstance(v, list):
            _List(_List(_Float())).check(v, field)
            if any(len(row) != len(v) for row in v):
                raise _Invalid(field, "must be a square matrix")
        else:
            _Float().check(v, field)


class _Nullable:
    def __init__(self, inner):
        self.inner = inner

    def check(self, v, field):
        if v is not None:
            self.inner.check(v, field)


class _Object:
    """A JSON object with exactly the given ``fields``; or, with ``values`` instead, any keys
    accepted by ``keys()``, each mapping to a ``values``."""

    def __init__(self, fields=None, *, values=None, keys=None):
        self.fields, self.values, self.keys = fields, values, keys

    def check(self, v, field):
        if not isinstance(v, dict):
            raise _Invalid(field or "model.json", f"must be a JSON object; got {_show(v)}")
        allowed = self.fields.keys() if self.fields is not None else self.keys()
        for key in v:
            if key not in allowed:
                raise _Invalid(_sub(field, key), "is not a known key (known: "
                               f"{', '.join(sorted(allowed))})")
        if self.fields is not None:
            for key, spec in self.fields.items():
                if key not in v:
                    raise _Invalid(_sub(field, key), "is missing")
                spec.check(v[key], _sub(field, key))
        else:
            for key, x in v.items():
                self.values.check(x, _sub(field, key))


def _param_names(name=None):
    """Constructor arguments of estimator ``name`` (``None``: of any estimator)."""
    names = _ESTIMATORS if name is None else (name,)
    return tuple(dict.fromkeys(k for n in names if n in _ESTIMATOR_CLASS
                               for k in _estimator_class(n)().get_params() if k not in _INIT))


def _array_keys():
    return (tuple(f"arrays/{n}.npy" for n in _ARRAYS) + ("arrays/noise_bounds.npy",) + tuple(f"init/{n}.npy" for n in _INIT)
            + tuple(f"bayes/{n}.npy" for n in _BAYES)
            + tuple(f"params/{n}.npy" for n in _ARRAY_PARAMS))


#: The structure of ``model.json``. Consistency between fields, and with the arrays, is
#: checked after it by :func:`_check_consistency`.
SCHEMA = _Object({
    "format": _Str(lambda: (FORMAT,)),
    "format_version": _Int(FORMAT_VERSION, FORMAT_VERSION),
    "library_version": _Str(),
    "estimator": _Str(lambda: _ESTIMATORS),
    "covariance_type": _Str(lambda: covariance.names(aliases=True)),
    "n_components": _Int(1),
    "n_features": _Int(1),
    # values only need to be JSON scalars here: the estimator's own parameter table judges them
    "params": _Object(values=_Scalar(), keys=_param_names),
    "fit": _Object({
        "converged": _Bool(),
        "n_iter": _Int(0),
        "lower_bound": _Float(neg_inf=True),  # -inf: no EM iteration ran (max_iter=0)
        "lower_bounds": _List(_Float()),
    }),
    "feature_names": _Nullable(_List(_Str(), unique=True)),
    # a uniform noise component (absent from files without one)
    "noise": _Nullable(_Object({"weight": _Float(), "volume": _Float()})),
    # a ConjugatePrior's arguments (absent when prior is None or "conjugate", a plain param)
    "prior": _Nullable(_Object({"shrinkage": _Float(), "mean": _Nullable(_List(_Float())),
                                "dof": _Nullable(_Float()),
                                "scale": _Nullable(_FloatOrMatrix())})),
    "arrays": _Object(values=_Object({
        "shape": _List(_Int(0)),
        "dtype": _Str(lambda: ("float64",)),
        "sha256": _Str(hex_len=64),
    }), keys=_array_keys),
})


def _check_consistency(meta) -> None:
    """Relations between fields that the per-field schema cannot express."""
    k, d = meta["n_components"], meta["n_features"]
    model = covariance.get(meta["covariance_type"])
    params = meta["params"]
    est_params = _param_names(meta["estimator"])
    for key in params:
        if key not in est_params:
            raise _Invalid(_sub("params", key), f"is not a parameter of {meta['estimator']}")
    for key in ("covariance_type", "n_components"):
        if key not in params:
            raise _Invalid(f"params.{key}", "is missing")
        if type(params[key]) is not type(meta[key]) or params[key] != meta[key]:
            raise _Invalid(f"params.{key}", f"is {_show(params[key])} but the model's {key} "
                           f"is {_show(meta[key])}")
    fit = meta["fit"]
    if len(fit["lower_bounds"]) > fit["n_iter"]:
        raise _Invalid("fit.lower_bounds", f"has {len(fit['lower_bounds'])} entries for "
                       f"n_iter = {fit['n_iter']} iterations")
    if fit["lower_bound"] == -math.inf and fit["lower_bounds"]:
        raise _Invalid("fit.lower_bound", "is -Infinity although iterations were recorded")
    names = meta["feature_names"]
    if names is not None and len(names) != d:
        raise _Invalid("feature_names", f"has {len(names)} names for n_features = {d}")
    cov_shape = tuple(model.shape(k, d))
    expected = {"arrays/weights.npy": (k,), "arrays/means.npy": (k, d),
                "init/weights_init.npy": (k,), "init/means_init.npy": (k, d),
                "init/precisions_init.npy": cov_shape}
    for name in ("covariances", "precisions", "precisions_cholesky"):
        expected[f"arrays/{name}.npy"] = cov_shape
    expected["arrays/noise_bounds.npy"] = (2, d)
    if (meta["noise"] is None) != ("arrays/noise_bounds.npy" not in meta["arrays"]):
        raise _Invalid("noise", "and arrays/noise_bounds.npy must be given together")
    required = [f"arrays/{name}.npy" for name in _ARRAYS]
    if meta["estimator"] == "BayesianGaussianMixture":
        required += [f"bayes/{name}.npy" for name in _BAYES]
        dp = params.get("weight_concentration_prior_type",
                        "dirichlet_process") == "dirichlet_process"
        shared = getattr(model, "shared", False)
        prior_shape = tuple(model.shape(1, d))[1:] if not shared else tuple(model.shape(1, d))
        expected.update({
            "bayes/weight_concentration.npy": (2, k) if dp else (k,),
            "bayes/mean_precision.npy": (k,),
            "bayes/degrees_of_freedom.npy": () if shared else (k,),
            "bayes/mean_prior.npy": (d,), "bayes/covariance_prior.npy": prior_shape,
            "bayes/weight_concentration_prior.npy": (),
            "bayes/mean_precision_prior.npy": (),
            "bayes/degrees_of_freedom_prior.npy": (),
            "params/mean_prior.npy": (d,), "params/covariance_prior.npy": prior_shape})
    else:
        for key in meta["arrays"]:
            if key.startswith(("bayes/", "params/")):
                raise _Invalid(_sub("arrays", key), f"is not an array of {meta['estimator']}")
    for key in required:
        if key not in meta["arrays"]:
            raise _Invalid(_sub("arrays", key), "is missing")
    for key, spec in meta["arrays"].items():
        if tuple(spec["shape"]) != expected[key]:
            raise _Invalid(_sub(_sub("arrays", key), "shape"),
                           f"is {tuple(spec['shape'])} but n_components = {k}, n_features = {d} "
                           f"and covariance_type = {model.name!r} imply {expected[key]}")


# =========================================================================== loading
def _fail(path, why):
    raise ModelFileError(f"Cannot load gaussmix model {str(path)!r}: {why}")


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


class _Member:
    """A zip member read in chunks, hashed as it goes, never beyond ``limit`` bytes."""

    def __init__(self, fh, limit: int, key: str, path):
        self.fh, self.limit, self.key, self.path = fh, limit, key, path
        self.n = 0
        self.sha = hashlib.sha256()

    def read(self, size: int) -> bytes:
        size = min(size, self.limit - self.n + 1)
        try:
            data = self.fh.read(size)
        except _READ_ERRORS as exc:
            _fail(self.path, f"{self.key} cannot be read ({exc}); the file is corrupt or "
                             "truncated.")
        self.n += len(data)
        if self.n > self.limit:
            _fail(self.path, f"{self.key} is larger than its declared shape allows "
                             f"({self.limit} bytes); reading stopped there.")
        self.sha.update(data)
        return data


def _open(zf, key, path):
    try:
        return zf.open(key)
    except KeyError:
        _fail(path, f"{key} is missing.")
    except _READ_ERRORS as exc:
        _fail(path, f"{key} cannot be opened ({exc}).")


def _read_meta(zf, path) -> dict:
    if "model.json" not in zf.namelist():
        _fail(path, "model.json is missing (not a gaussmix model file).")
    if zf.getinfo("model.json").file_size > MAX_JSON_BYTES:
        _fail(path, f"model.json is implausibly large (over {MAX_JSON_BYTES} bytes).")
    with _open(zf, "model.json", path) as fh:
        member = _Member(fh, MAX_JSON_BYTES, "model.json", path)
        raw = b"".join(iter(lambda: member.read(_CHUNK), b""))
    try:
        meta = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        _fail(path, f"model.json is not valid JSON ({str(exc)[:200]}).")
    # the two questions "is this our format at all" get their own messages
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"format is not {FORMAT!r}.")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        _fail(path, f"format_version {_show(version)} is not supported "
                    f"(this gaussmix reads version {FORMAT_VERSION}).")
    meta.setdefault("noise", None)
    meta.setdefault("prior", None)
    try:
        SCHEMA.check(meta, "")
        _check_consistency(meta)
    except _Invalid as bad:
        _fail(path, f"model.json field {bad.field!r} {bad.problem}.")
    return meta


def _check_members(zf, meta, path) -> None:
    names = zf.namelist()
    seen = set()
    for name in names:
        if name in seen:
            _fail(path, f"the archive holds {name!r} twice.")
        seen.add(name)
    expected = {"model.json", *meta["arrays"]}
    for name in names:
        if name not in expected:
            _fail(path, f"the archive holds {name!r}, which the metadata does not list.")
    for name in expected:
        if name not in seen:
            _fail(path, f"{name} is missing.")


def _read_array(zf, key, spec, path) -> np.ndarray:
    """Stream member ``key``: header checked first, data read in chunks and hashed."""
    shape = tuple(spec["shape"])
    nbytes = 8 * math.prod(shape)
    limit = min(MAX_MEMBER_BYTES, nbytes + _MAX_NPY_HEADER)
    if nbytes + 64 > MAX_MEMBER_BYTES:
        _fail(path, f"{key} declares shape {shape} ({nbytes} bytes), over the limit of "
                    f"{MAX_MEMBER_BYTES} bytes per array.")
    if zf.getinfo(key).file_size > limit:
        _fail(path, f"{key} is larger than its declared shape {shape} allows.")
    with _open(zf, key, path) as fh:
        member = _Member(fh, limit, key, path)
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(member, _MAX_NPY_HEADER)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(member, _MAX_NPY_HEADER)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
            _fail(path, f"{key} is not a valid .npy array ({str(exc)[:200]}).")
        got_shape, fortran, dtype = header
        if dtype.str != "<f8" or dtype.hasobject:
            _fail(path, f"{key} holds dtype {dtype.str!r}; only little-endian float64 ('<f8') "
                        "is accepted.")
        if tuple(got_shape) != shape:
            _fail(path, f"{key} has shape {tuple(got_shape)}; the metadata says {shape}.")
        out = np.empty(nbytes, dtype=np.uint8)
        view = memoryview(out)
        got = 0
        while got < nbytes:
            data = member.read(min(_CHUNK, nbytes - got))
            if not data:
                _fail(path, f"{key} is truncated ({got} of {nbytes} data bytes).")
            view[got:got + len(data)] = data
            got += len(data)
        if member.read(1):
            _fail(path, f"{key} has bytes after its data: larger than its declared shape {shape}.")
    if member.sha.hexdigest() != spec["sha256"]:
        _fail(path, f"checksum of {key} does not match: the file was modified or corrupted.")
    return out.view("<f8").reshape(shape, order="F" if fortran else "C")


def _validate(path, meta, arrays) -> None:
    """The arrays against the mathematics (shapes were checked with the metadata)."""
    k, d = meta["n_components"], meta["n_features"]
    model = covariance.get(meta["covariance_type"])
    for name in _ARRAYS:
        if not np.all(np.isfinite(arrays[name])):
            _fail(path, f"{name} contains NaN or inf.")
    w = arrays["weights"]
    w0 = 0.0 if meta["noise"] is None else meta["noise"]["weight"]
    if np.any(w < 0) or not np.isclose(w.sum() + w0, 1.0, atol=1e-6):
        _fail(path, "weights must be non-negative and sum to 1 (with the noise weight).")
    try:
        model.validate(arrays["covariances"], k, d, "covariances")
        model.validate(arrays["precisions"], k, d, "precisions")
    except ValueError as exc:
        _fail(path, str(exc))
    pc = arrays["precisions_cholesky"]
    if not np.allclose(model.precisions(pc), arrays["precisions"], rtol=1e-6,
                       atol=1e-9 * max(1.0, float(np.abs(arrays["precisions"]).max()))):
        _fail(path, "precisions_cholesky is inconsistent with precisions.")
    cov_back = model.covariances_from_precision_cholesky(pc)
    if not np.allclose(cov_back, arrays["covariances"], rtol=1e-6,
                       atol=1e-9 * max(1.0, float(np.abs(arrays["covariances"]).max()))):
        _fail(path, "covariances are inconsistent with precisions_cholesky.")


def _validate_init(path, init, meta) -> None:
    k, d = meta["n_components"], meta["n_features"]
    for name, a in init.items():
        if not np.all(np.isfinite(a)):
            _fail(path, f"{name} contains NaN or inf.")
    w = init.get("weights_init")
    if w is not None and (np.any(w < 0) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6)):
        _fail(path, "weights_init must be non-negative and sum to 1.")
    if "precisions_init" in init:
        try:
            covariance.get(meta["covariance_type"]).validate(init["precisions_init"], k, d,
                                                             "precisions_init")
        except ValueError as exc:
            _fail(path, str(exc))


def _validate_bayes(path, bayes, meta) -> None:
    """The variational posterior and priors: finite, positive, ``nu > d - 1``."""
    d = meta["n_features"]
    # a part the fit kept known (params without "m" or "c") has a point-mass posterior:
    # mean_precision or degrees_of_freedom is +inf there, and only there
    estimated = meta["params"].get("params", "wmc")
    estimated = estimated if isinstance(estimated, str) else "wmc"
    point_mass = {"mean_precision": "m" not in estimated,
                  "degrees_of_freedom": "c" not in estimated}
    for name, a in bayes.items():
        if point_mass.get(name, False):
            if not np.all(a == np.inf):
                _fail(path, f"{name} must be +inf: params={estimated!r} keeps that part known.")
            continue
        if not np.all(np.isfinite(a)):
            _fail(path, f"{name} contains NaN or inf.")
    for name in ("weight_concentration", "mean_precision", "weight_concentration_prior",
                 "mean_precision_prior"):
        if np.any(bayes[name] <= 0):
            _fail(path, f"{name} must be positive.")
    for name in ("degrees_of_freedom", "degrees_of_freedom_prior"):
        if np.any(bayes[name] <= d - 1):
            _fail(path, f"{name} must exceed n_features - 1 = {d - 1}.")
    try:
        covariance.get(meta["covariance_type"]).validate(
            bayes["covariance_prior"][None] if bayes["covariance_prior"].ndim < 2
            or not getattr(covariance.get(meta["covariance_type"]), "shared", False)
            else bayes["covariance_prior"], 1, d, "covariance_prior")
    except ValueError as exc:
        _fail(path, str(exc))


def load(path: str | os.PathLike) -> gaussmix.GaussianMixture:
    """Load a model written by :meth:`GaussianMixture.save` or
    :meth:`BayesianGaussianMixture.save`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    GaussianMixture or BayesianGaussianMixture
        The fitted model (of the class that saved it), with its covariance type, constructor
        parameters and feature names.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a valid, untampered gaussmix model file.
    """
    try:
        zf = zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        raise
    except _READ_ERRORS as exc:
        _fail(path, f"not a gaussmix model archive ({exc}).")
    with zf:
        meta = _read_meta(zf, path)
        _check_members(zf, meta, path)
        specs = meta["arrays"]
        arrays = {name: _read_array(zf, f"arrays/{name}.npy", specs[f"arrays/{name}.npy"], path)
                  for name in _ARRAYS}
        init = {name: _read_array(zf, f"init/{name}.npy", specs[f"init/{name}.npy"], path)
                for name in _INIT if f"init/{name}.npy" in specs}
        noise_bounds = (_read_array(zf, "arrays/noise_bounds.npy",
                                    specs["arrays/noise_bounds.npy"], path)
                        if "arrays/noise_bounds.npy" in specs else None)
        bayes = {name: _read_array(zf, f"bayes/{name}.npy", specs[f"bayes/{name}.npy"], path)
                 for name in _BAYES if f"bayes/{name}.npy" in specs}
        array_params = {name: _read_array(zf, f"params/{name}.npy", specs[f"params/{name}.npy"],
                                          path)
                        for name in _ARRAY_PARAMS if f"params/{name}.npy" in specs}
    _validate(path, meta, arrays)
    _validate_init(path, init, meta)
    params = dict(meta["params"], **init, **array_params)
    if meta["prior"] is not None:
        from ._prior import ConjugatePrior
        try:
            params["prior"] = ConjugatePrior(**meta["prior"])
        except ValueError as exc:
            _fail(path, f"invalid prior ({exc}).")
    fit = meta["fit"]
    if meta["estimator"] == "BayesianGaussianMixture":
        _validate_bayes(path, bayes, meta)
        try:
            est = _estimator_class(meta["estimator"]).from_posterior(
                bayes, arrays["means"], arrays["covariances"], arrays["precisions_cholesky"],
                feature_names_in=meta["feature_names"], converged=fit["converged"],
                n_iter=fit["n_iter"], lower_bound=fit["lower_bound"],
                lower_bounds=fit["lower_bounds"], **params)
        except (TypeError, ValueError) as exc:
            _fail(path, f"invalid parameters ({exc}).")
        if not np.allclose(est.weights_, arrays["weights"], rtol=1e-9, atol=1e-12):
            _fail(path, "weights are inconsistent with weight_concentration.")
        return est
    GaussianMixture = _estimator_class()
    noise = {}
    if meta["noise"] is not None:
        if not np.all(np.isfinite(noise_bounds)):
            _fail(path, "noise_bounds contains NaN or inf.")
        noise = {"noise_component": (meta["noise"]["weight"], meta["noise"]["volume"],
                                     noise_bounds)}
    try:
        est = GaussianMixture.from_params(
            arrays["weights"], arrays["means"], arrays["covariances"],
            precisions_cholesky=arrays["precisions_cholesky"],
            feature_names_in=meta["feature_names"], converged=fit["converged"],
            n_iter=fit["n_iter"], lower_bound=fit["lower_bound"],
            lower_bounds=fit["lower_bounds"], **noise, **params)
    except (TypeError, ValueError) as exc:
        _fail(path, f"invalid parameters ({exc}).")
    return est
