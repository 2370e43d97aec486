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

__all__ = ["CovarianceModel", "get", "register", "unregister", "names", "BUILTIN_NAMES",
           "Registered"]

_REGISTRY: dict[str, CovarianceModel] = {}
#: The models gaussmix ships (the default grid of :func:`gaussmix.select`).
BUILTIN_NAMES: tuple[str, ...] = ("full", "tied", "diag", "spherical")


def register(model: CovarianceModel, *, replace: bool = False) -> CovarianceModel:
    """Add ``model`` to the registry under ``model.name``.

    Every part of gaussmix that needs a covariance structure looks it up here, so a registered
    model is accepted by :class:`~gaussmix.GaussianMixture` (``covariance_type=model.name``),
    :func:`~gaussmix.select`, the outlier detector, the regressor, model files, plots and the
    command line.

    Parameters
    ----------
    model : CovarianceModel
        An instance; its ``name`` (a non-empty string) is the ``covariance_type`` value.
    replace : bool, default=False
        Replace a model already registered under that name (never a built-in one).

    Returns
    -------
    model : CovarianceModel
        The argument, so that ``register`` can be used as an expression.
    """
    if not isinstance(model, CovarianceModel):
        raise TypeError(f"register() needs a CovarianceModel instance, got {type(model).__name__}.")
    name = getattr(model, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"a covariance model needs a non-empty string 'name', got {name!r}.")
    if name in _REGISTRY and _REGISTRY[name] is not model:
        if not replace or name in BUILTIN_NAMES:
            raise ValueError(f"a covariance model named {name!r} is already registered"
                             + ("" if name in BUILTIN_NAMES else "; pass replace=True to replace it")
                             + ".")
    _REGISTRY[name] = model
    return model


def unregister(name: str) -> CovarianceModel:
    """Remove the model registered as ``name`` (not a built-in one) and return it."""
    if name in BUILTIN_NAMES:
        raise ValueError(f"the built-in covariance model {name!r} cannot be unregistered.")
    model = get(name)
    del _REGISTRY[model.name]
    return model


def names() -> tuple[str, ...]:
    """Names of the registered covariance models, the built-in ones first."""
    return tuple(_REGISTRY)


class Registered:
    """Parameter constraint (for :func:`gaussmix._validation.check_params`): a registered name.

    The registry is asked when a value is checked, so a model registered after the estimator
    class was defined is accepted, and the error lists the names valid at that moment.
    """

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in _REGISTRY

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(n) for n in _REGISTRY)


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
    _REGISTRY[_m.name] = _m
