"""Coresets for Gaussian mixtures: small weighted sets whose fit approximates the full fit.

A coreset of ``X`` is a weighted set ``(C, u)`` such that for every mixture ``theta`` in a
broad class, ``sum_c u_c log p(c | theta)`` approximates ``sum_i w_i log p(x_i | theta)``.
Fitting is then one ordinary weighted fit: ``GaussianMixture(...).fit(C, sample_weight=u)``
(or the shortcut ``GaussianMixture(...).fit(X, coreset_size=m)``).

:func:`build` samples rows by sensitivity (Lucic, Faulkner, Krause and Feldman, JMLR 2018,
Algorithm 2; the bounds and the two-pass build are explained in :mod:`gaussmix._coreset_build`).
Rows drawn more than once are returned once with their weights summed, so a coreset has at
most ``size`` distinct rows. :func:`uniform` is the uniform-sampling baseline, and
:class:`StreamingCoreset` builds a coreset of a stream of batches by merge and reduce.

None of these is exact: a coreset fit approximates the full fit with an error that shrinks as
``size`` grows. (When ``size`` is at least the number of rows with positive weight, the input
itself is returned and the fit is exact.)
"""
from __future__ import annotations

from ._coreset_build import (_check_int, _draw, _seed_sample_size, _without_replacement, build,
                             d2_seeding, sensitivities, sensitivity_terms, uniform)
from ._coreset_stream import StreamingCoreset, reduce

__all__ = ["build", "uniform", "StreamingCoreset"]
