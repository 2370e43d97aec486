"""mclust's structures with general orientation that scikit-learn lacks: VEE, EVE, VVE, EEV,
VEV, EVV.

Their parameters are per-component dense matrices, so they are stored like ``full`` (k, d, d)
and inherit its factorisations, densities and fast E-step; only the M-step (in
:mod:`gaussmix.covariance._constrained`), the parameter count and the marginal differ. Only
VEE (``lambda_k C``) is closed under taking sub-blocks of the features; the others refuse
:meth:`marginal`.
"""
from __future__ import annotations

from . import _constrained as cg
from ._full import FullCovariance
from ._mclust_diagonal import _Constrained


def _tri(d):
    return d * (d - 1) // 2


class VEECovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda_k D A D^T``: one shape and orientation, a volume per component."""

    name = "VEE"
    conjugate_prior = None

    def n_parameters(self, k, d):
        return k + (d - 1) + _tri(d)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.vee(nk, scatter, reg_covar, previous)


class EVECovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda D A_k D^T``: one volume and orientation, a shape per component."""

    name = "EVE"
    conjugate_prior = None

    def n_parameters(self, k, d):
        return 1 + k * (d - 1) + _tri(d)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.eve(nk, scatter, reg_covar, previous)

    def marginal(self, cov, idx):
        self._not_closed()


class VVECovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda_k D A_k D^T``: one orientation, volume and shape per component."""

    name = "VVE"
    conjugate_prior = None

    def n_parameters(self, k, d):
        return k * d + _tri(d)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.vve(nk, scatter, reg_covar, previous)

    def marginal(self, cov, idx):
        self._not_closed()


class EEVCovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda D_k A D_k^T``: one volume and shape, an orientation per component."""

    name = "EEV"
    conjugate_prior = ("matrix", True)

    def n_parameters(self, k, d):
        return 1 + (d - 1) + k * _tri(d)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.eev(nk, scatter, reg_covar)

    def marginal(self, cov, idx):
        self._not_closed()


class VEVCovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda_k D_k A D_k^T``: one shape, volume and orientation per component."""

    name = "VEV"
    conjugate_prior = ("matrix", False)

    def n_parameters(self, k, d):
        return k + (d - 1) + k * _tri(d)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.vev(nk, scatter, reg_covar, previous)

    def marginal(self, cov, idx):
        self._not_closed()


class EVVCovariance(_Constrained, FullCovariance):
    """``Sigma_k = lambda D_k A_k D_k^T``: one volume, shape and orientation per component."""

    name = "EVV"
    conjugate_prior = None

    def n_parameters(self, k, d):
        return 1 + k * (d * (d + 1) // 2 - 1)

    def from_stats(self, nk, scatter, reg_covar, previous=None):
        return cg.evv(nk, scatter, reg_covar)

    def marginal(self, cov, idx):
        self._not_closed()
