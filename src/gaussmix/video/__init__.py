"""Background subtraction and object tracking with per-pixel adaptive Gaussian mixtures.

:class:`BackgroundSubtractor` keeps a small Gaussian mixture per pixel, updated with every
frame, whose number of components adapts per pixel (Stauffer & Grimson 1999; Zivkovic 2004;
OpenCV's MOG2 semantics), and returns foreground masks. :func:`find_blobs` turns a mask into
connected regions with areas, centroids and boxes; :class:`MultiObjectTracker` links the blobs
of successive frames into tracks with identities (Kalman filter + Hungarian assignment).

The package holds one job per module:

- :mod:`._kernels`: one frame of the mixture update, vectorised NumPy and compiled (numba);
- :mod:`._subtractor`: :class:`BackgroundSubtractor` (parameters, state, background image);
- :mod:`._blobs`: :func:`find_blobs` and :class:`Blob`;
- :mod:`._tracker`: :class:`MultiObjectTracker` and :class:`Track`.

``numba`` (the ``video`` extra) makes the update about 15x faster; without it the NumPy kernel
gives the same masks.
"""
from ._blobs import Blob, find_blobs
from ._subtractor import BackgroundSubtractor
from ._tracker import MultiObjectTracker, Track

__all__ = ["BackgroundSubtractor", "find_blobs", "Blob", "MultiObjectTracker", "Track"]
