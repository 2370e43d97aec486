"""Speaker verification with Gaussian mixtures: GMM-UBM (Reynolds, Quatieri & Dunn 2000).

* :func:`map_adapt` - MAP adaptation of a background model to a speaker's frames.
* :class:`GMMUBMVerifier` - background model, enrolment, trial scoring (exact and top-C).
* :func:`znorm`, :func:`tnorm`, :func:`ztnorm` - score normalisation.
* :func:`det_curve`, :func:`eer`, :func:`min_dcf` - evaluating trial scores.
* :func:`mfcc_features` - MFCCs with deltas from audio (needs the ``speech`` extra: librosa).
"""
from .._map import map_adapt
from ._features import mfcc_features
from ._metrics import det_curve, eer, min_dcf
from ._norm import tnorm, znorm, ztnorm
from ._verifier import GMMUBMVerifier

__all__ = ["map_adapt", "GMMUBMVerifier", "znorm", "tnorm", "ztnorm", "det_curve", "eer",
           "min_dcf", "mfcc_features"]
