"""String options accepted by gaussmix, as ``Literal`` aliases kept in one place."""
from __future__ import annotations

from typing import Literal

CovarianceType = Literal["full", "tied", "diag", "spherical"]
InitParams = Literal["kmeans", "k-means++", "random", "random_from_data"]

INIT_PARAMS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data")
