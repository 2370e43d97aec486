"""The result type of :func:`gaussmix.image.segment`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._estimator import GaussianMixture

__all__ = ["Segmentation"]


@dataclass
class Segmentation:
    """The result of :func:`segment`.

    Attributes
    ----------
    labels : ndarray of shape (H, W), int
        Most probable component of each pixel.
    probabilities : ndarray of shape (H, W, K), float32
        Posterior probability of each component at each pixel (sums to 1 over the last axis).
    recolored : ndarray of shape (H, W) or (H, W, C)
        The image with each pixel painted with the mean colour of its segment (the average,
        in the input's units and dtype, of the pixels carrying that label).
    model : GaussianMixture or None
        The fitted mixture over the pixel features (``None`` for ``method="deep"``).
    n_components : int
        Number of components ``K`` (the chosen one when ``K`` was selected by a criterion).
    features : tuple of str
        The feature groups used, e.g. ``("color",)``.
    colorspace : str
        The colour space of the colour features.
    criteria : list of dict or None
        When ``K`` was chosen by a criterion: one row per candidate with keys
        ``n_components``, ``covariance_type``, ``log_likelihood``, ``n_parameters``,
        ``bic``, ``aic``, ``icl`` (computed on the fitting summary, weighted), ready for
        :func:`gaussmix.plotting.plot_criteria`.
    n_fit : int
        Number of (weighted) points the mixture was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.image import segment
    >>> img = np.zeros((20, 30), dtype=np.uint8)
    >>> img[5:15, 10:20] = 200
    >>> seg = segment(img, 2, random_state=0)
    >>> seg.labels.shape, seg.probabilities.shape
    ((20, 30), (20, 30, 2))
    >>> bool(seg.labels[10, 15] != seg.labels[0, 0])
    True
    >>> int(seg.recolored[10, 15]), int(seg.recolored[0, 0])
    (200, 0)
    """

    labels: np.ndarray
    probabilities: np.ndarray
    recolored: np.ndarray
    model: GaussianMixture | None
    n_components: int
    features: tuple
    colorspace: str
    criteria: list | None = None
    n_fit: int = 0

    @property
    def uncertainty(self) -> np.ndarray:
        """Assignment uncertainty ``1 - max_k p_k`` of each pixel, shape (H, W)."""
        return 1.0 - self.probabilities.max(axis=-1)

    def __repr__(self) -> str:
        h, w = self.labels.shape
        return (f"Segmentation(shape=({h}, {w}), n_components={self.n_components}, "
                f"features={self.features!r}, colorspace={self.colorspace!r})")
