"""Every public callable has a numpydoc docstring in sync with its annotated signature.

The public API is ``gaussmix.__all__`` plus the ``__all__`` of each public submodule; for a class,
its public methods and properties defined in gaussmix. For each callable the test asserts

* a docstring, whose numpydoc sections (parsed by ``numpydoc.docscrape``) include
  ``Parameters`` when the callable takes parameters besides ``self``/``cls`` (a class documents
  its constructor's parameters in the class docstring), and ``Returns`` or ``Yields`` when a
  function or method returns something (its return annotation is not ``None``; ``fit``
  documents ``self``);
* every documented parameter is in the signature and every parameter of the signature is documented
  (``*args``/``**kwargs`` under their own names, with or without the stars);
* annotations on every parameter and on the return (``__init__`` may omit its return annotation).
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import types

import pytest

docscrape = pytest.importorskip("numpydoc.docscrape")

# Public modules, with the optional dependency each one needs at import time (None: none).
PUBLIC_MODULES = {
    "gaussmix": None,
    "gaussmix.covariance": None,
    "gaussmix.coreset": None,
    "gaussmix.selection": None,
    "gaussmix.anomaly": None,
    "gaussmix.conditional": None,
    "gaussmix.verification": None,
    "gaussmix.dask": "dask",
    "gaussmix.image": None,
    "gaussmix.plotting": None,
    "gaussmix.torch": "torch",
    "gaussmix.video": None,
}

# Members inherited from these foreign bases are theirs to document (scikit-learn's get_params,
# set_params, fit_predict, ...; torch.nn.Module's train, eval, parameters, ...; Exception/Warning's
# args, with_traceback). Only members defined in a gaussmix class are checked. A public class that
# gains another foreign base fails test_foreign_bases_are_known until the base is listed here.
# Keys are "<top-level package>.<class name>", robust to a library moving its private mixins.
FOREIGN_BASES = {
    "builtins.object",
    "builtins.Exception",
    "builtins.BaseException",
    "builtins.UserWarning",
    "builtins.Warning",
    "builtins.RuntimeWarning",
    "builtins.ValueError",
    "abc.ABC",
    "typing.Generic",
    "sklearn.BaseEstimator",
    "sklearn.DensityMixin",
    "sklearn.ClusterMixin",
    "sklearn.ClassifierMixin",
    "sklearn.RegressorMixin",
    "sklearn.OutlierMixin",
    "sklearn.MetaEstimatorMixin",
    "sklearn.TransformerMixin",
    "sklearn._SetOutputMixin",
    "sklearn.ReprHTMLMixin",
    "sklearn._HTMLDocumentationLinkMixin",
    "sklearn._MetadataRequester",
    "torch.Module",
}

# Public callables whose docstrings wait for work under way in their module (qualified names).
# An entry that passes, or no longer exists, fails test_pending_list_is_current: remove it then.
PENDING: dict[str, str] = {
}


# Modules being written or split right now by their owners, whose public callables are documented
# as the work lands: every callable defined in them, or exported by a public module listed here, is
# pending.
PENDING_MODULES = {
}


def _is_gaussmix(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "gaussmix"


def _doc(obj):
    text = inspect.getdoc(obj)
    if not text:
        return None
    return docscrape.NumpyDocString(text)


def _documented(doc, *sections: str) -> list[str]:
    names = []
    for section in sections:
        for param in doc[section]:
            names.extend(n.strip() for n in param.name.split(","))
    return [n for n in names if n]


def _check_signature(qualname, obj, doc, *, kind,
                     params_sections=("Parameters", "Other Parameters")):
    """Problems of one callable (function, method, or a class through its ``__init__``)."""
    problems = []
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # pragma: no cover - C callables
        return [f"{qualname}: no signature"]
    params = list(sig.parameters.values())
    if kind in ("method", "init") and params and params[0].name in ("self", "cls"):
        params = params[1:]
    # a private constructor field (a dataclass's ``_state: ... = field(repr=False)``) is not public
    params = [p for p in params if not p.name.startswith("_")]
    for p in params:
        if p.annotation is inspect.Parameter.empty:
            problems.append(f"{qualname}: parameter {p.name!r} has no annotation")
    if kind != "init" and sig.return_annotation is inspect.Signature.empty:
        problems.append(f"{qualname}: no return annotation")
    if doc is None:
        return problems
    documented = _documented(doc, *params_sections)
    if params and not documented:
        problems.append(f"{qualname}: no Parameters section")
    else:
        in_signature = set()
        for p in params:
            star = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
            accepted = {p.name, star + p.name}
            in_signature |= accepted
            if not accepted & set(documented):
                problems.append(f"{qualname}: parameter {star}{p.name} not documented")
        for name in documented:
            if name not in in_signature:
                problems.append(f"{qualname}: documents {name!r}, which is not in the signature")
    if kind != "init":
        returns_nothing = sig.return_annotation in (None, "None")
        if not returns_nothing and not (doc["Returns"] or doc["Yields"]):
            problems.append(f"{qualname}: no Returns/Yields section")
    return problems


def _members(cls):
    """Public methods and properties of ``cls`` defined in gaussmix classes, by name."""
    seen = {}
    for owner in cls.__mro__:
        if not _is_gaussmix(owner):
            continue  # a foreign base (FOREIGN_BASES) documents its own members
        for name, value in vars(owner).items():
            # private names, and dunders other than __init__ (checked through the class docstring)
            if name.startswith("_") or name in seen:
                continue
            seen[name] = (owner, value)
    return seen


def _audit_class(qualname, cls):
    problems = []
    doc = _doc(cls)
    if doc is None:
        problems.append(f"{qualname}: no docstring")
    init = next((vars(c)["__init__"] for c in cls.__mro__
                 if _is_gaussmix(c) and "__init__" in vars(c)), None)
    if init is not None:
        sections = ("Parameters", "Other Parameters")
        if dataclasses.is_dataclass(cls):
            sections += ("Attributes",)  # a dataclass's constructor parameters are its fields
        problems += _check_signature(qualname, init, doc, kind="init", params_sections=sections)
        if dataclasses.is_dataclass(cls) and doc is not None:
            # a dataclass's Attributes may also document its properties
            problems = [p for p in problems if "which is not in the signature" not in p]
    for name, (owner, value) in _members(cls).items():
        member = f"{_where(owner)}.{name}"
        if isinstance(value, property):
            if not inspect.getdoc(value):
                problems.append(f"{member}: no docstring")
            elif "return" not in getattr(value.fget, "__annotations__", {}):
                problems.append(f"{member}: property has no return annotation")
            continue
        if isinstance(value, (staticmethod, classmethod)):
            func = value.__func__
            kind = "function" if isinstance(value, staticmethod) else "method"
        elif inspect.isfunction(value):
            func, kind = value, "method"
        elif callable(getattr(cls, name, None)) and not inspect.isclass(value):
            func, kind = getattr(cls, name), "method"  # e.g. scikit-learn's available_if descriptor
            func = getattr(func, "__func__", func)
        else:
            continue  # a class attribute, not a callable
        fdoc = _doc(func)
        if fdoc is None:
            problems.append(f"{member}: no docstring")
        problems += _check_signature(member, func, fdoc, kind=kind)
    return problems


def _where(obj) -> str:
    """The defining module and qualified name: one name per object, however often re-exported."""
    return f"{obj.__module__}.{obj.__qualname__}"


def _public_objects(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue  # a public submodule is audited on its own
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield _where(obj), obj
        elif callable(obj):  # pragma: no cover - no such export today
            yield f"{module_name}.{name}", obj


def audit(module_name):
    """Every problem found in one public module, as readable lines."""
    problems = []
    for qualname, obj in _public_objects(module_name):
        if inspect.isclass(obj):
            problems += _audit_class(qualname, obj)
        else:
            doc = _doc(obj)
            if doc is None:
                problems.append(f"{qualname}: no docstring")
            problems += _check_signature(qualname, obj, doc, kind="function")
    return problems


def _import(module_name):
    needs = PUBLIC_MODULES[module_name]
    if needs is not None:
        pytest.importorskip(needs)
    return importlib.import_module(module_name)


def _split_pending(problems, module_name=None):
    kept, pending = [], []
    for line in problems:
        name = line.split(":", 1)[0]
        in_module = module_name in PENDING_MODULES or any(
            name.startswith(m + ".") for m in PENDING_MODULES)
        (pending if name in PENDING or in_module else kept).append(line)
    return kept, pending


@pytest.mark.parametrize("module_name", list(PUBLIC_MODULES))
def test_public_callables_documented_and_annotated(module_name):
    _import(module_name)
    kept, _ = _split_pending(audit(module_name), module_name)
    assert not kept, f"{len(kept)} problems:\n" + "\n".join(kept)


def test_pending_list_is_current():
    found = []
    for module_name in PUBLIC_MODULES:
        _import(module_name)
        found += audit(module_name)
    _, pending = _split_pending(found)
    names = {line.split(":", 1)[0] for line in pending}
    stale = [p for p in PENDING if p not in names]
    assert not stale, f"documented now (or gone), remove from PENDING: {stale}"


@pytest.mark.parametrize("module_name", list(PUBLIC_MODULES))
def test_foreign_bases_are_known(module_name):
    _import(module_name)
    unknown = set()
    for qualname, obj in _public_objects(module_name):
        if inspect.isclass(obj):
            for base in obj.__mro__:
                if not _is_gaussmix(base):
                    full = f"{base.__module__.split('.')[0]}.{base.__qualname__}"
                    if full not in FOREIGN_BASES:
                        unknown.add(f"{qualname}: {full}")
    assert not unknown, ("members of these bases are not audited; list them in FOREIGN_BASES: "
                         + str(unknown))


def test_audit_catches_each_kind_of_problem():
    """The checker itself: a function with each defect is reported, a documented one is clean."""

    def good(x: int, *args: int, scale: float = 1.0, **kwargs: str) -> float:
        """Scale.

        Parameters
        ----------
        x : int
            Value.
        *args : int
            More values.
        scale : float, default=1.0
            Factor.
        **kwargs : str
            Options.

        Returns
        -------
        y : float
            Scaled value.
        """
        return x * scale

    def bad(x, y: int):
        """Scale.

        Parameters
        ----------
        x : int
            Value.
        z : int
            Not a parameter.
        """

    assert _check_signature("good", good, _doc(good), kind="function") == []
    problems = _check_signature("bad", bad, _doc(bad), kind="function")
    assert any("'x' has no annotation" in p for p in problems)
    assert any("no return annotation" in p for p in problems)
    assert any("y not documented" in p for p in problems)
    assert any("'z', which is not in the signature" in p for p in problems)
    assert any("no Returns/Yields" in p for p in problems)


def test_covariance_type_alias_names_the_builtins_and_stays_open():
    """``CovarianceType`` spells the built-in names and admits any registered name (``str``)."""
    import typing

    from gaussmix import covariance
    from gaussmix._typing import BuiltinCovarianceType, CovarianceType

    assert set(typing.get_args(BuiltinCovarianceType)) == set(covariance.BUILTIN_NAMES)
    assert str in typing.get_args(CovarianceType)
