"""Multi-object tracking over blobs: a constant-velocity Kalman filter per track and Hungarian
assignment of detections to tracks (:class:`MultiObjectTracker`, :class:`Track`).

Each track's state is ``s = (x, y, vx, vy)`` with covariance ``S``. Between frames
``s <- F s`` and ``S <- F S F^T + Q``, ``F`` moving the position by the velocity over ``dt``
and ``Q`` the white-noise-acceleration covariance of spectral density ``q`` per axis,
``q [[dt^3/3, dt^2/2], [dt^2/2, dt]]``. A detection ``z`` (a centroid) updates it with
``K = S H^T (H S H^T + R)^{-1}``, ``s <- s + K (z - H s)``, ``S <- (I - K H) S`` in Joseph
form, ``H`` picking the position and ``R = r I``. Detections are assigned to the predicted
positions by minimum total distance (``scipy.optimize.linear_sum_assignment``), pairs farther
than the gating distance being forbidden.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Interval, check_params

if TYPE_CHECKING:
    from ._blobs import Blob

__all__ = ["Track", "MultiObjectTracker"]


@dataclass
class Track:
    """One tracked object.

    Attributes
    ----------
    id : int
        Identity, unique over the tracker's life (1, 2, ... in order of birth).
    state : ndarray of shape (4,)
        Kalman estimate ``(x, y, vx, vy)`` (pixels, pixels per frame).
    covariance : ndarray of shape (4, 4)
        Its covariance.
    bbox : tuple or None
        The box ``(x, y, width, height)`` of the last detection assigned to it.
    area : int or None
        The area of that detection.
    hits : int
        Frames with an assigned detection.
    misses : int
        Consecutive frames without one, up to now.
    age : int
        Frames since birth.
    """

    id: int
    state: np.ndarray
    covariance: np.ndarray
    bbox: tuple | None = None
    area: int | None = None
    hits: int = 1
    misses: int = 0
    age: int = 1
    _confirmed: bool = field(default=False, repr=False)

    @property
    def position(self) -> tuple:
        """``(x, y)``."""
        return float(self.state[0]), float(self.state[1])

    @property
    def velocity(self) -> tuple:
        """``(vx, vy)`` in pixels per frame."""
        return float(self.state[2]), float(self.state[3])

    @property
    def confirmed(self) -> bool:
        """Whether the track has had ``min_hits`` detections (it stays so until it dies)."""
        return self._confirmed


class MultiObjectTracker:
    """Tracks with identities over per-frame detections (blobs or points).

    Parameters
    ----------
    max_distance : float, default=50.0
        Gating distance in pixels: a detection farther than this from a track's predicted
        position cannot be assigned to it.
    min_hits : int, default=3
        Detections a new track needs before it is reported (confirmed).
    max_misses : int, default=5
        Consecutive frames without a detection after which a track dies. Until then it
        coasts on its velocity, which carries identities through occlusions and merges.
    process_noise : float, default=0.1
        ``q``, the spectral density of the random acceleration (pixels^2 / frame^3): small
        values trust the constant-velocity motion more than single detections, which keeps
        tracks on course while two objects merge into one blob.
    measurement_noise : float, default=4.0
        ``r``, the variance of a detection's position (pixels^2; blob centroids jitter by a
        pixel or two).
    dt : float, default=1.0
        Time between frames.

    Attributes
    ----------
    tracks_ : list of Track
        Every living track, confirmed or not.
    n_frames_ : int
        Frames processed.

    Examples
    --------
    >>> from gaussmix.video import MultiObjectTracker
    >>> mot = MultiObjectTracker(min_hits=2)
    >>> for t in range(5):
    ...     tracks = mot.update([(10.0 + 2 * t, 20.0), (80.0 - 3 * t, 50.0)])
    >>> [(tr.id, round(tr.velocity[0], 1)) for tr in tracks]
    [(1, 2.0), (2, -3.0)]
    """

    _parameter_constraints = {
        "max_distance": [Interval(float, 0, None, closed="neither")],
        "min_hits": [Interval(int, 1, None)],
        "max_misses": [Interval(int, 0, None)],
        "process_noise": [Interval(float, 0, None)],
        "measurement_noise": [Interval(float, 0, None, closed="neither")],
        "dt": [Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, max_distance: float = 50.0, *, min_hits: int = 3, max_misses: int = 5,
                 process_noise: float = 0.1, measurement_noise: float = 4.0,
                 dt: float = 1.0) -> None:
        self.max_distance = max_distance
        self.min_hits = min_hits
        self.max_misses = max_misses
        self.process_noise = process_noise
        self.measurement_noise = measurement_noise
        self.dt = dt
        self.tracks_ = []
        self.n_frames_ = 0
        self._next_id = 1

    def _matrices(self):
        dt, q = float(self.dt), float(self.process_noise)
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        blk = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
        Q = np.zeros((4, 4))
        Q[np.ix_([0, 2], [0, 2])] = blk
        Q[np.ix_([1, 3], [1, 3])] = blk
        return F, Q

    @staticmethod
    def _detections(detections):
        pts, boxes, areas = [], [], []
        for d in detections:
            if hasattr(d, "centroid"):
                pts.append(d.centroid)
                boxes.append(tuple(d.bbox))
                areas.append(int(d.area))
            else:
                pts.append(d)
                boxes.append(None)
                areas.append(None)
        z = np.asarray(pts, dtype=float).reshape(-1, 2) if pts else np.zeros((0, 2))
        if not np.isfinite(z).all():
            raise ValueError("detections must have finite (x, y) positions.")
        return z, boxes, areas

    def update(self, detections: Iterable[Blob | tuple[float, float]]) -> list[Track]:
        """Advance one frame with its detections and return the confirmed living tracks.

        Parameters
        ----------
        detections : iterable of Blob or of (x, y)
            This frame's detections: blobs from :func:`find_blobs`, or positions.

        Returns
        -------
        tracks : list of Track
            The confirmed tracks alive after this frame, in order of id (a track coasting
            without a detection is included until it dies).
        """
        from scipy.optimize import linear_sum_assignment

        names = self._parameter_constraints
        check_params(type(self).__name__, {n: getattr(self, n) for n in names}, names)
        z, boxes, areas = self._detections(detections)
        F, Q = self._matrices()
        H = np.eye(2, 4)
        R = float(self.measurement_noise) * np.eye(2)
        for tr in self.tracks_:
            tr.state = F @ tr.state
            tr.covariance = F @ tr.covariance @ F.T + Q
            tr.age += 1
        pred = np.array([tr.state[:2] for tr in self.tracks_]).reshape(-1, 2)
        cost = np.linalg.norm(pred[:, None, :] - z[None, :, :], axis=2)
        big = 1e6 * (1.0 + float(self.max_distance))
        gated = np.where(cost <= self.max_distance, cost, big)
        rows, cols = linear_sum_assignment(gated) if gated.size else ((), ())
        assigned_t, assigned_d = set(), set()
        for i, j in zip(rows, cols):
            if gated[i, j] >= big:
                continue
            tr = self.tracks_[i]
            S = H @ tr.covariance @ H.T + R
            K = np.linalg.solve(S, H @ tr.covariance).T
            tr.state = tr.state + K @ (z[j] - H @ tr.state)
            A = np.eye(4) - K @ H
            tr.covariance = A @ tr.covariance @ A.T + K @ R @ K.T
            tr.bbox, tr.area = boxes[j], areas[j]
            tr.hits += 1
            tr.misses = 0
            if tr.hits >= self.min_hits:
                tr._confirmed = True
            assigned_t.add(i)
            assigned_d.add(j)
        alive = []
        for i, tr in enumerate(self.tracks_):
            if i not in assigned_t:
                tr.misses += 1
                # a tentative track dies at its first miss; a confirmed one coasts
                if not tr._confirmed or tr.misses > self.max_misses:
                    continue
            alive.append(tr)
        r = float(self.measurement_noise)
        for j in range(len(z)):
            if j in assigned_d:
                continue
            # velocity unknown at birth: a prior wide enough to reach the gate in one frame
            P0 = np.diag([r, r, float(self.max_distance) ** 2, float(self.max_distance) ** 2])
            tr = Track(self._next_id, np.array([z[j, 0], z[j, 1], 0.0, 0.0]), P0,
                       boxes[j], areas[j])
            tr._confirmed = self.min_hits <= 1
            self._next_id += 1
            alive.append(tr)
        self.tracks_ = sorted(alive, key=lambda t: t.id)
        self.n_frames_ += 1
        return [tr for tr in self.tracks_ if tr._confirmed]
