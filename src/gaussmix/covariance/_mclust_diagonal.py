"""mclust's spherical and diagonal structures that scikit-learn lacks: EII, EEI, VEI, EVI.

Their covariances are diagonal, so they keep the shapes of the closest scikit-learn model and
everything downstream (fast E-step, model files, plots, marginals) works unchanged: EII is
stored like ``spherical`` (k,) with one value repeated, EEI, VEI and EVI like ``diag`` (k, d).
The M-steps are in :mod:`gaussmix.covariance._constrained`; the univariate ``E`` and ``V``
(mclust's names for one feature) are here too.
"""
from __future__ import annotations

import numpy as np

from . import _constrained as cg
from ._diag import DiagCovariance
from ._spherical import SphericalCovariance


class _Constrained:
    """Mixin for the Celeux & Govaert structures: no torch evaluation, warm-started M-steps."""

    supports_torch = False
    #: ``from_stats`` accepts ``previous`` (the last covariances) to warm-start its iterations.
    warm_start_m_step = True

    def _not_closed(self):
        raise NotImplementedError(
            f"covariance model {self.name!r} is not closed under marginalisation: the marginal "
            "of its covariances breaks its volume/shape/orientation constraint. Take the "
            "marginal of a fit with covariance_type='full' (VVV) or 'diag' (VVI) instead.")


class EIICovariance(_Constrained, SphericalCovariance):
    """``Sigma_k = lambda I``: one variance for every component and feature."""

    name = "EII"
    conjugate_prior = ("scalar", True)

    def n_parameters(self, k, d):
        return 1

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.eii(nk, scatter, reg_covar)


class EEICovariance(_Constrained, DiagCovariance):
    """``Sigma_k = lambda A``: one diagonal covariance for every component."""

    name = "EEI"
    conjugate_prior = ("diagonal", True)

    def n_parameters(self, k, d):
        return d

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.eei(nk, scatter, reg_covar)


class VEICovariance(_Constrained, DiagCovariance):
    """``Sigma_k = lambda_k A``: diagonal, one shape, a volume per component."""

    name = "VEI"
    conjugate_prior = ("diagonal", False)

    def n_parameters(self, k, d):
        return k + d - 1

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.vei(nk, scatter, reg_covar, previous)


class EVICovariance(_Constrained, DiagCovariance):
    """``Sigma_k = lambda A_k``: diagonal, one volume, a shape per component."""

    name = "EVI"
    conjugate_prior = ("diagonal", True)

    def n_parameters(self, k, d):
        return 1 + k * (d - 1)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.evi(nk, scatter, reg_covar)

    def marginal(self, cov, idx):
        self._not_closed()


def _one_feature(name, d):
    if d != 1:
        equal = name == "E"
        raise ValueError(
            f"covariance_type {name!r} is mclust's model for one feature, but the data have "
            f"{d} features; use {'EII' if equal else 'VII'!r} (or "
            f"{'EEE' if equal else 'VVV'!r}, or another of the fourteen structures) instead.")


class _Univariate:
    def shape(self, k, d):
        _one_feature(self.name, d)
        return super().shape(k, d)

    def validate(self, arr, k, d, name):
        _one_feature(self.name, d)
        return super().validate(arr, k, d, name)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        _one_feature(self.name, np.shape(scatter)[1])
        return super().from_stats(nk, scatter, reg_covar)


class ECovariance(_Univariate, EIICovariance):
    """mclust's ``E`` for one feature: one variance for every component (EII with d = 1)."""

    name = "E"


class VCovariance(_Univariate, SphericalCovariance):
    """mclust's ``V`` for one feature: a variance per component (VII with d = 1)."""

    name = "V"
