"""String options accepted by gaussmix, as ``Literal`` aliases kept in one place, and the
aliases the public signatures are annotated with."""
from __future__ import annotations

from typing import Literal, Union

import numpy as np

#: The covariance structures built into gaussmix.
BuiltinCovarianceType = Literal["full", "tied", "diag", "spherical"]
#: A covariance structure's name. The registry is open (:func:`gaussmix.covariance.register`
#: adds names at run time), so any ``str`` is accepted by the type and checked against the
#: registry at ``fit``; the built-in names are spelled out for editors and readers.
CovarianceType = Union[BuiltinCovarianceType, str]
#: A seed, a ``RandomState`` or ``None`` (scikit-learn's ``random_state``).
RandomStateLike = Union[int, np.random.RandomState, None]
InitParams = Literal["kmeans", "k-means++", "random", "random_from_data"]

INIT_PARAMS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data")
