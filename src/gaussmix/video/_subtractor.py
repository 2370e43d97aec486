"""The adaptive background mixture: :class:`BackgroundSubtractor`."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._validation import Interval, Kinds, Options, check_params
from . import _kernels

__all__ = ["BackgroundSubtractor"]

_F = np.float32


class BackgroundSubtractor:
    """Per-pixel adaptive Gaussian mixtures that separate moving objects from the background.

    Each pixel keeps a small mixture of isotropic Gaussians over its colour, updated online
    with every frame (Stauffer & Grimson 1999). The number of components of each pixel is
    chosen automatically: a Dirichlet prior with negative weights (``complexity_reduction``)
    drives components that the data stop supporting to zero weight, where they are dropped
    (Zivkovic 2004). The heaviest components, up to a total weight of ``background_ratio``,
    model the background; a pixel that none of them explains is foreground. The semantics
    follow OpenCV's ``BackgroundSubtractorMOG2`` (same parameters, same update, float32
    arithmetic), so masks agree with ``cv2.createBackgroundSubtractorMOG2`` pixel for pixel
    up to rounding.

    Parameters
    ----------
    n_components : int, default=5
        The most components a pixel may hold (1 to 255).
    history : int, default=500
        The number of recent frames that shape the model: the learning rate is
        ``1 / min(2 * n_frames, history)`` unless ``learning_rate`` is given.
    var_threshold : float, default=16.0
        Squared Mahalanobis distance below which a pixel is explained by a background
        component (16 is 4 standard deviations). Decides the mask, not the update.
    background_ratio : float, default=0.9
        Total weight of the heaviest components that form the background. A component joins
        the background once the components heavier than it weigh less than this: an object
        that stops is absorbed after about ``-ln(background_ratio) * history`` frames (53 at
        the defaults).
    var_threshold_gen : float, default=9.0
        Squared Mahalanobis distance below which a sample updates an existing component; a
        sample farther from every component starts a new one.
    var_init : float, default=15.0
        Variance of a new component (in squared intensity units, 0-255 scale for 8-bit frames).
    var_min, var_max : float, default=4.0 and 75.0
        Bounds of every component's variance.
    complexity_reduction : float, default=0.05
        The prior's strength ``c_T``: a component loses ``learning_rate * c_T`` weight per
        frame, so one needs about that fraction of the samples to survive. 0 keeps every
        component (Stauffer & Grimson's fixed number).
    detect_shadows : bool, default=False
        Label as shadow (127) foreground pixels that are a darker copy of the background
        (Prati et al. 2003).
    learning_rate : float in [0, 1] or None, default=None
        Fixed learning rate for every frame; ``None`` uses ``1 / min(2 * n_frames, history)``.
        0 freezes the model; 1 restarts it from the frame.
    shadow_threshold : float, default=0.5
        ``tau``: how much darker than the background a shadow may be (0.5: up to twice).

    Attributes
    ----------
    n_frames_ : int
        Frames seen since the model was (re)started.
    frame_shape_ : tuple
        Shape ``(H, W)`` or ``(H, W, C)`` of the frames the model holds.
    n_modes_ : ndarray of shape (H, W)
        The number of components each pixel uses now.

    See Also
    --------
    find_blobs : connected foreground regions of a mask, with centroids and boxes.
    MultiObjectTracker : tracks with identities over the blobs of successive frames.

    References
    ----------
    C. Stauffer and W. E. L. Grimson, "Adaptive background mixture models for real-time
    tracking", CVPR 1999.
    Z. Zivkovic, "Improved adaptive Gaussian mixture model for background subtraction",
    ICPR 2004; Z. Zivkovic and F. van der Heijden, "Efficient adaptive density estimation per
    image pixel for the task of background subtraction", Pattern Recognition Letters 27, 2006.
    A. Prati, I. Mikic, M. M. Trivedi and R. Cucchiara, "Detecting moving shadows",
    IEEE TPAMI 25, 2003.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.video import BackgroundSubtractor
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.integers(40, 200, size=(48, 64), dtype=np.uint8)
    >>> bg = BackgroundSubtractor(history=50)
    >>> for _ in range(30):
    ...     mask = bg.apply(scene)
    >>> frame = scene.copy(); frame[10:20, 10:20] = 255
    >>> mask = bg.apply(frame)
    >>> int(mask[10:20, 10:20].mean()), int(mask[30:, 30:].max())
    (255, 0)
    """

    _parameter_constraints = {
        "n_components": [Interval(int, 1, 255)],
        "history": [Interval(int, 1, None)],
        "var_threshold": [Interval(float, 0, None, closed="neither")],
        "background_ratio": [Interval(float, 0, 1)],
        "var_threshold_gen": [Interval(float, 0, None, closed="neither")],
        "var_init": [Interval(float, 0, None, closed="neither")],
        "var_min": [Interval(float, 0, None, closed="neither")],
        "var_max": [Interval(float, 0, None, closed="neither")],
        "complexity_reduction": [Interval(float, 0, 1, closed="left")],
        "detect_shadows": [Options(True, False)],
        "learning_rate": [Interval(float, 0, 1), Kinds(None, label="None")],
        "shadow_threshold": [Interval(float, 0, 1)],
    }

    def __init__(self, n_components: int = 5, *, history: int = 500,
                 var_threshold: float = 16.0, background_ratio: float = 0.9,
                 var_threshold_gen: float = 9.0, var_init: float = 15.0, var_min: float = 4.0,
                 var_max: float = 75.0, complexity_reduction: float = 0.05,
                 detect_shadows: bool = False, learning_rate: float | None = None,
                 shadow_threshold: float = 0.5) -> None:
        self.n_components = n_components
        self.history = history
        self.var_threshold = var_threshold
        self.background_ratio = background_ratio
        self.var_threshold_gen = var_threshold_gen
        self.var_init = var_init
        self.var_min = var_min
        self.var_max = var_max
        self.complexity_reduction = complexity_reduction
        self.detect_shadows = detect_shadows
        self.learning_rate = learning_rate
        self.shadow_threshold = shadow_threshold
        self._state = None

    # -- parameters -------------------------------------------------------------------------
    def _validate(self) -> None:
        names = self._parameter_constraints
        check_params(type(self).__name__, {n: getattr(self, n) for n in names}, names)
        if self.var_min > self.var_max:
            raise ValueError(f"The 'var_min' parameter of {type(self).__name__} must not exceed "
                             f"'var_max'. Got var_min={self.var_min!r} > "
                             f"var_max={self.var_max!r}.")

    @staticmethod
    def _frame(frame) -> np.ndarray:
        a = np.asarray(frame)
        if a.dtype.kind not in "uif" and a.dtype != bool:
            raise ValueError(f"frame must hold numbers; got dtype {a.dtype}.")
        if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0 or (
                a.ndim == 3 and not 1 <= a.shape[2] <= 64):
            raise ValueError("frame must be an image of shape (H, W) or (H, W, C) with "
                             f"H, W >= 1 and 1 <= C <= 64; got shape {a.shape}.")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"frame contains {int((~np.isfinite(a)).sum())} NaN or inf "
                             "values; replace them before background subtraction.")
        return a

    # -- the model --------------------------------------------------------------------------
    def _restart(self, a: np.ndarray) -> None:
        H, W = a.shape[:2]
        C = 1 if a.ndim == 2 else a.shape[2]
        M, P = int(self.n_components), H * W
        self._state = {
            "shape": a.shape, "dtype": a.dtype, "n_frames": 0,
            "weight": np.zeros((P, M), _F), "var": np.zeros((P, M), _F),
            "mean": np.zeros((P, M, C), _F), "nmodes": np.zeros(P, np.uint8),
        }

    def apply(self, frame: npt.ArrayLike, learning_rate: float | None = None) -> np.ndarray:
        """Update the model with ``frame`` and return its foreground mask.

        Parameters
        ----------
        frame : array-like of shape (H, W) or (H, W, C)
            A grey or colour frame, 8-bit (0-255) or float (in the units ``var_init``,
            ``var_min`` and ``var_max`` are given in). A frame of another shape or dtype than
            the previous ones restarts the model.
        learning_rate : float in [0, 1] or None, default=None
            Learning rate for this frame; ``None`` uses the constructor's.

        Returns
        -------
        mask : ndarray of shape (H, W), dtype uint8
            0 background, 255 foreground, 127 shadow (with ``detect_shadows``).
        """
        self._validate()
        if learning_rate is not None:
            check_params("apply", {"learning_rate": learning_rate},
                         {"learning_rate": self._parameter_constraints["learning_rate"]})
        else:
            learning_rate = self.learning_rate
        a = self._frame(frame)
        st = self._state
        if (st is None or st["n_frames"] == 0 or a.shape != st["shape"] or a.dtype != st["dtype"]
                or (learning_rate is not None and learning_rate >= 1)
                or st["nmodes"].size and st["weight"].shape[1] != self.n_components):
            self._restart(a)
            st = self._state
        st["n_frames"] += 1
        n = st["n_frames"]
        if learning_rate is None or n == 1:
            alpha = 1.0 / min(2 * n, int(self.history))
        else:
            alpha = float(learning_rate)
        # the prior's decay is computed in double from the float32 constant, as OpenCV does
        prune = -alpha * float(_F(self.complexity_reduction))
        x = a.reshape(st["nmodes"].size, -1).astype(_F, copy=False)
        out = np.empty(st["nmodes"].size, np.uint8)
        update = _kernels.update_numba if _kernels._numba is not None else _kernels.update_numpy
        update(st["weight"], st["var"], st["mean"], st["nmodes"], x, alpha, prune,
               self.var_threshold, self.background_ratio, self.var_threshold_gen, self.var_init,
               min(self.var_min, self.var_max), max(self.var_min, self.var_max),
               bool(self.detect_shadows), self.shadow_threshold, out)
        return out.reshape(a.shape[:2])

    def background_image(self) -> np.ndarray:
        """The background the model holds: per pixel, the weighted mean of its background
        components (the heaviest, up to a total weight of ``background_ratio``).

        Returns
        -------
        image : ndarray of the frames' shape
            uint8 (rounded, clipped) for 8-bit frames, float32 otherwise.
        """
        st = self._require()
        w, mean, nm = st["weight"], st["mean"], st["nmodes"].astype(np.intp)
        M = w.shape[1]
        before = np.concatenate([np.zeros((w.shape[0], 1), _F), np.cumsum(w, axis=1, dtype=_F)[:, :-1]],
                                axis=1)
        use = (np.arange(M)[None, :] < nm[:, None]) & (before <= _F(self.background_ratio))
        wu = np.where(use, w, _F(0))
        total = wu.sum(axis=1, dtype=_F)
        acc = np.einsum("pm,pmc->pc", wu, mean).astype(_F)
        inv = np.where(np.abs(total) > np.finfo(_F).eps, _F(1) / np.where(total == 0, 1, total), 0)
        img = (acc * inv[:, None].astype(_F)).reshape(st["shape"])
        if st["dtype"] == np.uint8:
            return np.clip(np.rint(img), 0, 255).astype(np.uint8)
        return img.astype(_F)

    def _require(self):
        if self._state is None or self._state["n_frames"] == 0:
            raise RuntimeError("This BackgroundSubtractor has seen no frame yet; call "
                               "apply(frame) first.")
        return self._state

    @property
    def n_frames_(self) -> int:
        """Number of frames seen so far."""
        return self._require()["n_frames"]

    @property
    def frame_shape_(self) -> tuple:
        """Shape of the frames, ``(H, W)`` or ``(H, W, C)``, fixed by the first frame."""
        return tuple(self._require()["shape"])

    @property
    def n_modes_(self) -> np.ndarray:
        """Number of active Gaussian modes of each pixel, shape (H, W)."""
        st = self._require()
        return st["nmodes"].reshape(st["shape"][:2]).copy()

    def __repr__(self):
        return f"{type(self).__name__}(n_components={self.n_components!r}, history={self.history!r})"
