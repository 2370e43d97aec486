"""Covariance models behind one registry.

Each covariance structure is a :class:`CovarianceModel`; :func:`get` looks one up by name and
:func:`register` adds a new one (which then inherits the tests parametrised over :data:`NAMES`).

Besides scikit-learn's four models the registry holds the rest of mclust's fourteen
Celeux & Govaert structures ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume, shape, orientation:
Equal, Variable or Identity), see :data:`MCLUST_NAMES`. mclust's names of scikit-learn's models
are aliases that resolve to the same objects (``get("VVV") is get("full")``), so their fits are
identical; ``E`` and ``V`` are mclust's names for one feature (EII and VII with ``d == 1``;
other ``d`` is refused with an error naming the structures to use).

===========  ==========  =======================================  ===========================
name         alias of    covariance                               stored as (shape)
===========  ==========  =======================================  ===========================
EII                      ``lambda I``                             spherical (k,), equal
VII          spherical   ``lambda_k I``                           (k,)
EEI                      ``lambda A``                             diag (k, d), equal rows
VEI                      ``lambda_k A``                           diag (k, d)
EVI                      ``lambda A_k``                           diag (k, d)
VVI          diag        ``lambda_k A_k``                         (k, d)
EEE          tied        ``lambda D A D^T``                       (d, d)
VEE                      ``lambda_k D A D^T``                     full (k, d, d)
EVE                      ``lambda D A_k D^T``                     full (k, d, d)
VVE                      ``lambda_k D A_k D^T``                   full (k, d, d)
EEV                      ``lambda D_k A D_k^T``                   full (k, d, d)
VEV                      ``lambda_k D_k A D_k^T``                 full (k, d, d)
EVV                      ``lambda D_k A_k D_k^T``                 full (k, d, d)
VVV          full        ``lambda_k D_k A_k D_k^T``               (k, d, d)
===========  ==========  =======================================  ===========================

``n_parameters`` of each is mclust's ``nVarParams``, so a mixture's BIC is mclust's BIC with
the sign flipped (mclust reports ``2 logL - p log n``, gaussmix ``-2 logL + p log n``).
"""
from __future__ import annotations

from ._base import CovarianceModel
from ._diag import DiagCovariance
from ._full import FullCovariance
from ._mclust_diagonal import (ECovariance, EEICovariance, EIICovariance, EVICovariance,
                               VCovariance, VEICovariance)
from ._mclust_general import (EEVCovariance, EVECovariance, EVVCovariance, VEECovariance,
                              VEVCovariance, VVECovariance)
from ._spherical import SphericalCovariance
from ._tied import TiedCovariance

__all__ = ["CovarianceModel", "get", "register", "unregister", "names", "BUILTIN_NAMES",
           "Registered", "MCLUST_NAMES"]

_REGISTRY: dict[str, CovarianceModel] = {}
#: The models gaussmix ships (the default grid of :func:`gaussmix.select`).
BUILTIN_NAMES: tuple[str, ...] = ("full", "tied", "diag", "spherical")
#: mclust's fourteen multivariate structures, in mclust's order (``mclust.options("emModelNames")``).
MCLUST_NAMES: tuple[str, ...] = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE",
                                 "VVE", "EEV", "VEV", "EVV", "VVV")
#: Other names of registered models (mclust's names of scikit-learn's models, ``E``, ``V``).
_ALIASES: dict[str, CovarianceModel] = {}


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
    if name in _ALIASES or name in MCLUST_NAMES and name in _REGISTRY:
        raise ValueError(f"{name!r} is a built-in covariance structure and cannot be replaced.")
    if name in _REGISTRY and _REGISTRY[name] is not model:
        if not replace or name in BUILTIN_NAMES:
            raise ValueError(f"a covariance model named {name!r} is already registered"
                             + ("" if name in BUILTIN_NAMES else "; pass replace=True to replace it")
                             + ".")
    _REGISTRY[name] = model
    return model


def unregister(name: str) -> CovarianceModel:
    """Remove the model registered as ``name`` (not a built-in one) and return it.

    Parameters
    ----------
    name : str
        A name given to :func:`register`.

    Returns
    -------
    CovarianceModel
        The model removed.
    """
    if name in BUILTIN_NAMES or name in MCLUST_NAMES or name in _ALIASES:
        raise ValueError(f"the built-in covariance model {name!r} cannot be unregistered.")
    model = get(name)
    del _REGISTRY[model.name]
    return model


def names(*, aliases: bool = False) -> tuple[str, ...]:
    """Names of the registered covariance models, the built-in ones first.

    Each model appears once, under its own name; with ``aliases=True`` the other accepted
    names (``VVV``, ``EEE``, ``VVI``, ``VII``, ``E``, ``V``) follow.

    Parameters
    ----------
    aliases : bool, default=False
        Also list the aliases.

    Returns
    -------
    tuple of str
    """
    return tuple(_REGISTRY) + (tuple(_ALIASES) if aliases else ())


class Registered:
    """Parameter constraint (for :func:`gaussmix._validation.check_params`): a registered name.

    The registry is asked when a value is checked, so a model registered after the estimator
    class was defined is accepted, and the error lists the names valid at that moment.
    """

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is the name (or an alias) of a registered model now.

        Parameters
        ----------
        value : object
            The parameter's value.

        Returns
        -------
        bool
        """
        return isinstance(value, str) and (value in _REGISTRY or value in _ALIASES)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(n) for n in names(aliases=True))


def get(name: str | CovarianceModel) -> CovarianceModel:
    """The covariance model called ``name``; the error lists the valid names.

    Parameters
    ----------
    name : str or CovarianceModel
        A registered name or alias; a model is returned as it is.

    Returns
    -------
    CovarianceModel
    """
    if isinstance(name, CovarianceModel):
        return name
    try:
        return _REGISTRY[name] if name in _REGISTRY else _ALIASES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"The 'covariance_type' parameter must be one of {list(names(aliases=True))}; "
            f"got {name!r}.") from None


for _m in (FullCovariance(), TiedCovariance(), DiagCovariance(), SphericalCovariance(),
           EIICovariance(), EEICovariance(), VEICovariance(), EVICovariance(), VEECovariance(),
           EVECovariance(), VVECovariance(), EEVCovariance(), VEVCovariance(), EVVCovariance()):
    _REGISTRY[_m.name] = _m
for _alias, _name in (("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")):
    _ALIASES[_alias] = _REGISTRY[_name]
_ALIASES["E"] = ECovariance()
_ALIASES["V"] = VCovariance()
