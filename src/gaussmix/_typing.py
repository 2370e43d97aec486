"""String options accepted by gaussmix, as ``Literal`` aliases kept in one place, and the
aliases the public signatures are annotated with."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Union

import numpy as np
import numpy.typing as npt

#: The covariance structures built into gaussmix.
BuiltinCovarianceType = Literal["full", "tied", "diag", "spherical"]
#: A covariance structure's name. The registry is open (:func:`gaussmix.covariance.register`
#: adds names at run time), so any ``str`` is accepted by the type and checked against the
#: registry at ``fit``; the built-in names are spelled out for editors and readers.
CovarianceType = Union[BuiltinCovarianceType, str]
#: A seed, a ``RandomState`` or ``None`` (scikit-learn's ``random_state``).
RandomStateLike = Union[int, np.random.RandomState, None]
#: What ``fit`` and inference accept: an array-like, a ``numpy.memmap``, a ``dask.array.Array``
#: or a re-iterable of 2-D chunks (or of ``(X, sample_weight)`` pairs); see :mod:`gaussmix._data`.
DataLike = Union[npt.ArrayLike, Iterable[Any]]
InitParams = Literal["kmeans", "k-means++", "random", "random_from_data", "hc", "hc-EII",
                     "hc-VARS", "hc-EII-VARS"]

#: ``"hc"`` and its variants: model-based hierarchical clustering (:mod:`gaussmix._hc`), with
#: mclust's VVV criterion on SVD-transformed data, or Ward's (EII) criterion, or the raw
#: variables ("VARS").
INIT_PARAMS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data", "hc",
                                "hc-EII", "hc-VARS", "hc-EII-VARS")
