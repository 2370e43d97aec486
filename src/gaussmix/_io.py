"""The gaussmix model file: a zip archive of one JSON document and ``.npy`` arrays.

Layout (format version 1)::

    model.json                 metadata (below)
    arrays/weights.npy         (k,)            float64
    arrays/means.npy           (k, d)          float64
    arrays/covariances.npy     shape by covariance type, float64
    arrays/precisions.npy      same shape
    arrays/precisions_cholesky.npy
    init/<name>.npy            optional weights_init / means_init / precisions_init

``model.json`` holds ``format`` ("gaussmix-model"), ``format_version``, ``library_version``,
``estimator``, ``covariance_type``, ``n_components``, ``n_features``, ``params`` (the constructor
arguments that are JSON values), ``fit`` (converged, n_iter, lower_bound, lower_bounds),
``feature_names`` and, for every array, its shape, dtype and SHA-256.

Arrays are read with ``allow_pickle=False``, so loading can never execute code. On load every
array is checked against the metadata (shape, dtype, checksum) and the parameters against the
mathematics (finite, weights on the simplex, covariances symmetric positive definite and
consistent with the stored precision factors); any mismatch raises :class:`ModelFileError`.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np

from . import covariance

FORMAT = "gaussmix-model"
FORMAT_VERSION = 1
_ARRAYS = ("weights", "means", "covariances", "precisions", "precisions_cholesky")
_INIT = ("weights_init", "means_init", "precisions_init")
_MAX_JSON = 16 * 2**20


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, tampered with, or of an unknown format."""


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
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
    """Write fitted ``est`` (a :class:`~gaussmix.GaussianMixture`) to ``path``."""
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(est)
    from . import __version__
    arrays = {name: np.asarray(getattr(est, name + "_"), dtype=np.float64) for name in _ARRAYS}
    params = est.get_params(deep=False)
    init = {name: np.asarray(params[name], dtype=np.float64) for name in _INIT
            if params.get(name) is not None}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "estimator": type(est).__name__,
        "covariance_type": est.covariance_type,
        "n_components": int(est.means_.shape[0]),
        "n_features": int(est.means_.shape[1]),
        "params": {k: _json_value(v) for k, v in params.items() if k not in _INIT},
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
    blobs = {}
    for prefix, group in (("arrays", arrays), ("init", init)):
        for name, a in group.items():
            b = _npy_bytes(a)
            key = f"{prefix}/{name}.npy"
            blobs[key] = b
            meta["arrays"][key] = {"shape": list(a.shape), "dtype": str(a.dtype),
                                   "sha256": hashlib.sha256(b).hexdigest()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.json", json.dumps(meta, indent=1, allow_nan=True))
        for key, b in blobs.items():
            zf.writestr(key, b)


def _fail(path, why):
    raise ModelFileError(f"Cannot load gaussmix model {str(path)!r}: {why}")


def _read_meta(zf, path) -> dict:
    try:
        info = zf.getinfo("model.json")
    except KeyError:
        _fail(path, "model.json is missing (not a gaussmix model file).")
    if info.file_size > _MAX_JSON:
        _fail(path, "model.json is implausibly large.")
    try:
        meta = json.loads(zf.read("model.json").decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
        _fail(path, f"model.json is not valid JSON ({exc}).")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"format is not {FORMAT!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        _fail(path, f"format_version {meta.get('format_version')!r} is not supported "
                    f"(this gaussmix reads version {FORMAT_VERSION}).")
    return meta


def _read_array(zf, key, spec, path) -> np.ndarray:
    try:
        shape = tuple(int(s) for s in spec["shape"])
        dtype = np.dtype(spec["dtype"])
        digest = spec["sha256"]
    except (KeyError, TypeError, ValueError):
        _fail(path, f"metadata of {key} is malformed.")
    if dtype != np.float64:
        _fail(path, f"{key} has dtype {dtype}, expected float64.")
    try:
        info = zf.getinfo(key)
    except KeyError:
        _fail(path, f"{key} is missing.")
    if info.file_size > 8 * int(np.prod(shape)) + 4096:
        _fail(path, f"{key} is larger than its declared shape {shape}.")
    try:
        raw = zf.read(key)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        _fail(path, f"{key} cannot be read ({exc}); the file is corrupt or truncated.")
    if hashlib.sha256(raw).hexdigest() != digest:
        _fail(path, f"checksum of {key} does not match: the file was modified or corrupted.")
    try:
        a = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        _fail(path, f"{key} is not a valid .npy array ({exc}).")
    if a.shape != shape or a.dtype != np.float64:
        _fail(path, f"{key} has shape {a.shape} and dtype {a.dtype}; metadata says {shape}, {dtype}.")
    return a


def _validate(path, meta, arrays) -> None:
    cov_type = meta.get("covariance_type")
    try:
        model = covariance.get(cov_type)
    except ValueError as exc:
        _fail(path, str(exc))
    k, d = meta.get("n_components"), meta.get("n_features")
    if not (isinstance(k, int) and isinstance(d, int) and k >= 1 and d >= 1):
        _fail(path, "n_components and n_features must be positive integers.")
    expected = {"weights": (k,), "means": (k, d)}
    for name in ("covariances", "precisions", "precisions_cholesky"):
        expected[name] = model.shape(k, d)
    for name, shape in expected.items():
        a = arrays[name]
        if a.shape != tuple(shape):
            _fail(path, f"{name} has shape {a.shape}, expected {tuple(shape)}.")
        if not np.all(np.isfinite(a)):
            _fail(path, f"{name} contains NaN or inf.")
    w = arrays["weights"]
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-6):
        _fail(path, "weights must be non-negative and sum to 1.")
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


def load(path):
    """Load a model written by :meth:`GaussianMixture.save`.

    Raises
    ------
    ModelFileError
        If the file is not a valid, untampered gaussmix model file.
    """
    from ._estimator import GaussianMixture
    try:
        zf = zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        _fail(path, f"not a gaussmix model archive ({exc}).")
    with zf:
        meta = _read_meta(zf, path)
        specs = meta.get("arrays")
        if not isinstance(specs, dict):
            _fail(path, "metadata has no array table.")
        arrays = {}
        for name in _ARRAYS:
            key = f"arrays/{name}.npy"
            if key not in specs:
                _fail(path, f"{key} is missing from the metadata.")
            arrays[name] = _read_array(zf, key, specs[key], path)
        init = {}
        for name in _INIT:
            key = f"init/{name}.npy"
            if key in specs:
                init[name] = _read_array(zf, key, specs[key], path)
    if meta.get("estimator") != "GaussianMixture":
        _fail(path, f"unknown estimator {meta.get('estimator')!r}.")
    _validate(path, meta, arrays)
    known = GaussianMixture().get_params()
    raw_params = meta.get("params") or {}
    if not isinstance(raw_params, dict):
        _fail(path, "params must be a JSON object.")
    params = {k: v for k, v in raw_params.items() if k in known}
    params.update(init)
    try:
        est = GaussianMixture(**params)
        est._check_params()
    except (TypeError, ValueError) as exc:
        _fail(path, f"invalid parameters ({exc}).")
    fit = meta.get("fit") or {}
    for name in _ARRAYS:
        setattr(est, name + "_", arrays[name])
    try:
        est.converged_ = bool(fit.get("converged", False))
        est.n_iter_ = int(fit.get("n_iter", 0))
        est.lower_bound_ = float(fit.get("lower_bound", float("nan")))
        est.lower_bounds_ = [float(v) for v in fit.get("lower_bounds", [])]
    except (TypeError, ValueError):
        _fail(path, "fit summary is malformed.")
    est.n_features_in_ = meta["n_features"]
    names = meta.get("feature_names")
    if names is not None:
        if not (isinstance(names, list) and len(names) == meta["n_features"]
                and all(isinstance(s, str) for s in names)):
            _fail(path, "feature_names must be a list of n_features strings.")
        est.feature_names_in_ = np.asarray(names, dtype=object)
    return est
