"""Covariance models behind one registry.

Each covariance structure is a :class:`CovarianceModel`; :func:`get` looks one up by name and
:func:`register` adds a new one (which then inherits the tests parametrised over :data:`NAMES`).
"""
from __future__ import annotations

from ._base import CovarianceModel
from ._diag import DiagCovariance
from ._full import FullCovariance
from ._spherical import SphericalCovariance
from ._tied import TiedCovariance

__all__ = ["CovarianceModel", "get", "register", "names"]

_REGISTRY: dict[str, CovarianceModel] = {}


def register(model: CovarianceModel) -> CovarianceModel:
    """Add ``model`` to the registry under ``model.name``."""
    _REGISTRY[model.name] = model
    return model


def names() -> tuple[str, ...]:
    """Names of the registered covariance models."""
    return tuple(_REGISTRY)


def get(name) -> CovarianceModel:
    """The covariance model called ``name``; the error lists the valid names."""
    if isinstance(name, CovarianceModel):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"The 'covariance_type' parameter must be one of {sorted(_REGISTRY)}; got {name!r}."
        ) from None


for _m in (FullCovariance(), TiedCovariance(), DiagCovariance(), SphericalCovariance()):
    register(_m)
