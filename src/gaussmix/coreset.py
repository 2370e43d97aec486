"""Coresets for Gaussian mixtures: small weighted sets whose fit approximates the full fit.

A coreset of ``X`` is a weighted set ``(C, u)`` such that for every mixture ``theta`` in a
broad class, ``sum_c u_c log p(c | theta)`` approximates ``sum_i w_i log p(x_i | theta)``.
Fitting is then one ordinary weighted fit: ``GaussianMixture(...).fit(C, sample_weight=u)``
(or the shortcut ``GaussianMixture(...).fit(X, coreset_size=m)``).

:func:`build` implements importance sampling by sensitivity (Lucic, Faulkner, Krause and
Feldman, JMLR 2018, Algorithm 2):

1. a bicriteria solution ``B`` of ``n_clusters`` centres by weighted D² (k-means++) sampling;
2. for each row ``x`` with nearest centre ``b(x)``, an upper bound on its sensitivity,

   .. math::

      s(x) = \\alpha \\frac{d(x, B)^2}{\\bar c}
           + \\frac{2 \\alpha}{\\bar c} \\frac{\\sum_{x' \\in B_x} w' d(x', B)^2}{W(B_x)}
           + \\frac{4 W}{W(B_x)},

   where ``\\bar c = sum_i w_i d(x_i, B)^2 / W`` is the mean cost, ``W`` the total weight,
   ``W(B_x)`` the weight of the rows closest to ``b(x)`` and ``alpha = 16 (log k + 2)``;
3. ``size`` draws with probability ``q(x) = w(x) s(x) / sum_i w_i s_i`` and weight
   ``w(x) / (size q(x))``, so that every weighted sum is estimated without bias. Input weights
   enter both the probabilities and the output weights: a coreset of a coreset is again an
   unbiased coreset of the original data (its total weight stays close to ``n``).

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
