"""Image segmentation with Gaussian mixtures.

:func:`segment` models the pixels of an image as a Gaussian mixture over per-pixel features
(colour in a chosen colour space, optionally the pixel position) and returns a label map,
per-pixel posterior probabilities and a recoloured image. Any size works: the mixture is
fitted on a summary of the pixels and every pixel is then classified in chunks.

The package holds one job per module:

- :mod:`._features`: input checks, colour spaces, position features, the distinct-colour
  summary of 8-bit images (:func:`pixel_features`, :data:`COLORSPACES`, :data:`FEATURES`);
- :mod:`._segment`: :func:`segment`, fitting (``K`` chosen by :func:`gaussmix.select`) and
  chunked classification;
- :mod:`._overlay`: recolouring by segment means, :func:`label_colors` and :func:`overlay`,
  which paints labels over an image without matplotlib;
- :mod:`._metrics`: evaluation against ground truth (:func:`match_labels`,
  :func:`segmentation_scores`: Dice, IoU, accuracy);
- :mod:`._result`: the :class:`Segmentation` result.
"""
from ._features import COLORSPACES, FEATURES, pixel_features
from ._metrics import match_labels, segmentation_scores
from ._overlay import label_colors, overlay
from ._result import Segmentation
from ._segment import segment

__all__ = ["segment", "Segmentation", "overlay", "label_colors", "match_labels",
           "segmentation_scores", "pixel_features", "COLORSPACES", "FEATURES"]
