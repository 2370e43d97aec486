"""ONNX export of a fitted :class:`~gaussmix.GaussianMixture`.

The model goes through :meth:`GaussianMixture.to_sklearn` and scikit-learn-onnx's converter for
:class:`sklearn.mixture.GaussianMixture`, so the graph computes what scikit-learn's
``predict``/``predict_proba``/``score_samples`` compute from the same parameters. Needs the
``onnx`` extra (``pip install "gaussmix[onnx]"``: skl2onnx, and onnxruntime to run the graph).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from onnx import ModelProto

#: The covariance types scikit-learn (and so skl2onnx) knows.
SKLEARN_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class _Exportable(Protocol):
    """What export needs of a fitted mixture (a :class:`gaussmix.GaussianMixture`)."""

    covariance_type: str
    n_features_in_: int

    def to_sklearn(self) -> Any: ...


def _import_skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs skl2onnx, which is not installed. Install the 'onnx' extra: "
            "pip install 'gaussmix[onnx]' (skl2onnx to convert, onnxruntime to run the "
            f"model). ({exc})") from exc
    return skl2onnx


def to_onnx(est: _Exportable, *, target_opset: int | dict[str, int] | None = None,
            options: Mapping[str, Any] | None = None,
            dtype: type | np.dtype = np.float64) -> ModelProto:
    """An ONNX model computing ``est``'s labels, probabilities and log-densities.

    See :meth:`gaussmix.GaussianMixture.to_onnx`.
    """
    check_is_fitted(est)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"Invalid value for 'dtype': {dtype}. ONNX export supports float32 and float64 "
            "inputs.")
    if est.covariance_type not in SKLEARN_COVARIANCE_TYPES:
        raise ValueError(
            f"Cannot export covariance_type={est.covariance_type!r} to ONNX: the converter "
            f"knows only scikit-learn's types {list(SKLEARN_COVARIANCE_TYPES)}.")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(
            f"Invalid value for 'options': expected a dict of converter options such as "
            f"{{'score_samples': False}}, got {type(options).__name__}.")
    skl2onnx = _import_skl2onnx()
    gm = est.to_sklearn()
    opts = {"score_samples": True, **dict(options or {})}
    # one row fixes the input's type and number of columns; the batch dimension stays free
    sample = np.zeros((1, est.n_features_in_), dtype=dtype)
    return skl2onnx.to_onnx(gm, sample, options={id(gm): opts}, target_opset=target_opset)
