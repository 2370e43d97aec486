"""GMM-UBM speaker verification (Reynolds, Quatieri & Dunn 2000).

A universal background model (UBM), a mixture fitted on frames of many speakers, stands for "any
speaker". A speaker is enrolled by MAP-adapting the UBM to their frames (:func:`gaussmix.map_adapt`);
a trial (a claimed speaker and a test segment of frames ``x_1..x_T``) is scored by the average
frame log-likelihood ratio

    LLR = 1/T sum_t [log p(x_t | speaker) - log p(x_t | UBM)].

Fast scoring (the paper's section 3.2, "top-C"): the adapted components stay close to the UBM
components they came from, so a frame's likelihood under the speaker model is dominated by the
components that dominate it under the UBM. For each frame the ``C`` best UBM components (by
weighted density) are found once per segment, and both models are evaluated on those ``C``
components only; the ratio is then ``log sum_{c in top C} w'_c N(x | c') - log sum_{c in top C}
w_c N(x | c)``.

Component log-densities are evaluated as quadratic forms (the covariance model's
``expansion``) on rows shifted by the UBM's mean, which leaves the densities unchanged and keeps the
expansion from cancelling; a model without an expansion is evaluated by its ``log_prob``.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from .. import covariance
from .._estimator import GaussianMixture
from .._fast import _single_threaded_blas, default_n_threads, thread_map
from .._map import as_gaussmix, check_frames, map_adapt
from .._typing import CovarianceType, InitParams, RandomStateLike
from .._validation import Interval, Kinds, check_params

__all__ = ["GMMUBMVerifier"]

#: Most per-component log-densities (rows times components) held at once while scoring.
_BLOCK = 2**21


class _Evaluator:
    """Weighted per-component log-densities of one fitted mixture, for rows shifted by ``shift``."""

    def __init__(self, gm, shift: np.ndarray):
        self.model = covariance.get(gm.covariance_type)
        self.means = np.asarray(gm.means_, dtype=np.float64) - shift
        self.prec_chol = np.asarray(gm.precisions_cholesky_, dtype=np.float64)
        with np.errstate(divide="ignore"):  # a zero weight is a component that never fires
            self.log_w = np.log(np.asarray(gm.weights_, dtype=np.float64))
        self.diag = not self.model.full_scatter
        try:
            self.quad, self.lin, self.const = self.model.expansion(self.means, self.prec_chol)
        except NotImplementedError:
            self.quad = None

    def all(self, Xs: np.ndarray) -> np.ndarray:
        """(n, k) ``log w_k + log N(x | k)``."""
        if self.quad is not None and self.diag:
            lp = Xs @ self.lin.T - 0.5 * ((Xs * Xs) @ self.quad.T) + self.const
        else:  # full matrices: the model's own centred evaluation
            lp = self.model.log_prob(Xs, self.means, self.prec_chol)
        return lp + self.log_w

    def subset(self, Xs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(n, c) ``log w_k + log N(x | k)`` for the components ``idx[i]`` of each row ``i``."""
        if self.quad is not None and self.diag:
            lp = (np.einsum("ncd,nd->nc", self.lin[idx], Xs)
                  - 0.5 * np.einsum("ncd,nd->nc", self.quad[idx], Xs * Xs) + self.const[idx])
            return lp + self.log_w[idx]
        return np.take_along_axis(self.all(Xs), idx, axis=1)


class GMMUBMVerifier(BaseEstimator):
    """Speaker verification with a universal background model and MAP-adapted speaker models.

    Parameters
    ----------
    n_components : int, default=512
        Components of the background model (the paper uses 2048 for telephone speech).
    covariance_type : str, default="diag"
        Covariance structure of the background model (any registered model).
    relevance_factor : float, default=16.0
        ``r`` of the MAP adaptation (see :func:`gaussmix.map_adapt`).
    params : str, default="m"
        Parameters adapted at enrolment: letters of "w", "m", "c".
    reg_covar, tol, max_iter, n_init, init_params, random_state, verbose
        Passed to the :class:`~gaussmix.GaussianMixture` that :meth:`fit_ubm` trains.

    Attributes
    ----------
    ubm_ : GaussianMixture
        The background model.
    speakers_ : dict
        Enrolled speaker id -> adapted :class:`~gaussmix.GaussianMixture`.
    n_features_in_ : int

    See Also
    --------
    gaussmix.map_adapt : the adaptation behind :meth:`enrol`.
    gaussmix.verification.eer, gaussmix.verification.min_dcf : evaluating trial scores.
    gaussmix.verification.znorm, gaussmix.verification.tnorm : score normalisation.

    References
    ----------
    D. A. Reynolds, T. F. Quatieri, R. B. Dunn (2000). Speaker verification using adapted
    Gaussian mixture models. Digital Signal Processing 10(1-3), 19-41.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GMMUBMVerifier
    >>> rng = np.random.RandomState(0)
    >>> centres = rng.normal(0, 2, (6, 3))      # six "speakers" in a 3-D feature space
    >>> frames = lambda s, n: centres[s] + rng.normal(0, 1, (n, 3))
    >>> ver = GMMUBMVerifier(8, random_state=0).fit_ubm(
    ...     np.vstack([frames(s, 300) for s in range(6)]))
    >>> ver = ver.enrol("alice", frames(0, 200)).enrol("bob", frames(1, 200))
    >>> bool(ver.score("alice", frames(0, 100)) > ver.score("alice", frames(1, 100)))
    True
    """

    _parameter_table = {
        "n_components": [Interval(int, 1)],
        "relevance_factor": [Interval(float, 0, None, closed="neither")],
        "params": [Kinds(str, label="a non-empty string of the letters 'w', 'm', 'c'")],
    }

    def __init__(self, n_components: int = 512, *, covariance_type: CovarianceType = "diag",
                 relevance_factor: float = 16.0, params: str = "m", reg_covar: float = 1e-6,
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: InitParams = "kmeans", random_state: RandomStateLike = None,
                 verbose: int = 0) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.relevance_factor = relevance_factor
        self.params = params
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        check_params(type(self).__name__, {k: getattr(self, k) for k in self._parameter_table},
                     self._parameter_table)
        from .._map import _check_letters
        _check_letters(self.params)

    def _check_fitted(self) -> None:
        if not hasattr(self, "ubm_"):
            raise NotFittedError(f"This {type(self).__name__} has no background model yet; call "
                                 "fit_ubm(frames) first, or build it with from_ubm(ubm).")

    # ------------------------------------------------------------------ models
    def fit_ubm(self, frames: npt.ArrayLike | Sequence[npt.ArrayLike],
                sample_weight: npt.ArrayLike | None = None) -> GMMUBMVerifier:
        """Train the background model on frames pooled over many speakers.

        Parameters
        ----------
        frames : array-like of shape (n_frames, n_features), or a list of such arrays
            Background frames (a list is stacked, e.g. one array per utterance).
        sample_weight : array-like of shape (n_frames,), default=None
            Non-negative weights of the (stacked) frames.

        Returns
        -------
        self
            With ``ubm_`` fitted and no speaker enrolled.
        """
        self._check_params()
        ubm = GaussianMixture(
            self.n_components, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
            tol=self.tol, max_iter=self.max_iter, n_init=self.n_init,
            init_params=self.init_params, random_state=self.random_state, verbose=self.verbose)
        ubm.fit(_stack(frames), sample_weight=sample_weight)
        self._set_ubm(ubm)
        return self

    @classmethod
    def from_ubm(cls, ubm: object, *, relevance_factor: float = 16.0,
                 params: str = "m") -> GMMUBMVerifier:
        """A verifier around an already fitted background model (gaussmix or scikit-learn).

        Parameters
        ----------
        ubm : gaussmix.GaussianMixture or sklearn.mixture.GaussianMixture
            The fitted background model; its constructor parameters become the verifier's.
        relevance_factor : float, default=16.0
            As in :func:`gaussmix.map_adapt`.
        params : str, default="m"
            Parameters adapted at enrolment, as in :func:`gaussmix.map_adapt`.

        Returns
        -------
        GMMUBMVerifier
            With ``ubm_`` set and no speaker enrolled.
        """
        ubm = as_gaussmix(ubm, "GMMUBMVerifier.from_ubm")
        ver = cls(ubm.n_components, covariance_type=ubm.covariance_type,
                  relevance_factor=relevance_factor, params=params, reg_covar=ubm.reg_covar,
                  tol=ubm.tol, max_iter=ubm.max_iter, n_init=ubm.n_init,
                  init_params=ubm.init_params, random_state=ubm.random_state)
        ver._check_params()
        ver._set_ubm(ubm)
        return ver

    def _set_ubm(self, ubm) -> None:
        self.ubm_ = ubm
        self.n_features_in_ = int(ubm.n_features_in_)
        self.speakers_ = {}
        self._shift = ubm.weights_ @ ubm.means_
        self._ubm_eval = _Evaluator(ubm, self._shift)
        self._evals = {}

    def enrol(self, speaker_id: Hashable, frames: npt.ArrayLike | Sequence[npt.ArrayLike],
              sample_weight: npt.ArrayLike | None = None) -> GMMUBMVerifier:
        """Enrol (or re-enrol) a speaker: MAP-adapt the background model to their frames.

        Parameters
        ----------
        speaker_id : hashable
            Any dictionary key; enrolling an id again replaces its model.
        frames : array-like of shape (n_frames, n_features), or a list of such arrays
            The speaker's enrolment frames (a list, e.g. of sessions, is stacked).
        sample_weight : array-like of shape (n_frames,), default=None

        Returns
        -------
        self
        """
        self._check_fitted()
        self._check_params()
        X = check_frames(self.ubm_, _stack(frames), "frames")
        gm = map_adapt(self.ubm_, X, relevance_factor=self.relevance_factor,
                       params=self.params, sample_weight=sample_weight)
        self.speakers_[speaker_id] = gm
        self._evals[speaker_id] = _Evaluator(gm, self._shift)
        return self

    # ------------------------------------------------------------------ scoring
    def _check_top_c(self, top_c):
        if top_c is None:
            return None
        check_params("GMMUBMVerifier.score", {"top_c": top_c},
                     {"top_c": [Kinds(None, label="None"),
                                Interval(int, 1, self.ubm_.n_components)]})
        return int(top_c)

    def _speaker_eval(self, speaker_id) -> _Evaluator:
        try:
            return self._evals[speaker_id]
        except (KeyError, TypeError):
            known = ", ".join(repr(s) for s in list(self.speakers_)[:10])
            more = ", ..." if len(self.speakers_) > 10 else ""
            raise KeyError(f"speaker {speaker_id!r} is not enrolled (enrolled: "
                           f"{known or 'none'}{more}); call enrol() first.") from None

    def score_trials(self, speaker_ids: Sequence[Hashable], segments: Sequence[npt.ArrayLike], *,
                     top_c: int | None = None) -> np.ndarray:
        """Average frame log-likelihood ratios of every segment against every claimed speaker.

        The background model is evaluated once per segment, whatever the number of speakers.

        Parameters
        ----------
        speaker_ids : sequence of hashable
            Enrolled speakers.
        segments : sequence of array-like of shape (n_frames, n_features)
            Test segments, each a 2-D array of frames.
        top_c : int or None, default=None
            ``None``: exact ratios over all components. An int ``C`` in ``[1, n_components]``:
            fast scoring on each frame's ``C`` best background components.

        Returns
        -------
        ndarray of shape (len(speaker_ids), len(segments))
        """
        self._check_fitted()
        top_c = self._check_top_c(top_c)
        evals = [self._speaker_eval(s) for s in speaker_ids]
        out = np.empty((len(evals), len(segments)))
        Xs_all = [check_frames(self.ubm_, seg, "frames") for seg in segments]
        k = self.ubm_.n_components
        rows = max(1, _BLOCK // k)

        def one(j):
            X = Xs_all[j]
            total = np.zeros(len(evals))
            for s in range(0, X.shape[0], rows):
                Xs = X[s:s + rows] - self._shift
                lp = self._ubm_eval.all(Xs)
                if top_c is None or top_c == k:
                    ubm_ll = logsumexp(lp, axis=1)
                    for i, ev in enumerate(evals):
                        total[i] += np.sum(logsumexp(ev.all(Xs), axis=1) - ubm_ll)
                else:
                    idx = np.argpartition(-lp, top_c - 1, axis=1)[:, :top_c]
                    ubm_ll = logsumexp(np.take_along_axis(lp, idx, axis=1), axis=1)
                    for i, ev in enumerate(evals):
                        total[i] += np.sum(logsumexp(ev.subset(Xs, idx), axis=1) - ubm_ll)
            out[:, j] = total / X.shape[0]

        # segments are scored in parallel, each with single-threaded BLAS: the products per
        # segment are small, and threaded BLAS on them mostly waits for its own threads
        with _single_threaded_blas():
            thread_map(one, range(len(segments)), min(default_n_threads(), len(segments)))
        return out

    def score(self, speaker_id: Hashable, frames: npt.ArrayLike | Sequence[npt.ArrayLike],
              top_c: int | None = None) -> float:
        """Average frame log-likelihood ratio of ``frames`` for the claim ``speaker_id``.

        Parameters
        ----------
        speaker_id : hashable
            An enrolled speaker.
        frames : array-like of shape (n_frames, n_features)
            The test segment.
        top_c : int or None, default=None
            ``None``: exact; an int ``C``: fast scoring on each frame's ``C`` best background
            components (the paper uses ``C = 5``).

        Returns
        -------
        float
            Positive when the frames are better explained by the speaker's model than by the
            background model.
        """
        return float(self.score_trials([speaker_id], [frames], top_c=top_c)[0, 0])


def _stack(frames) -> np.ndarray:
    if isinstance(frames, (list, tuple)) and frames and all(
            np.ndim(f) == 2 for f in frames):
        return np.vstack([np.asarray(f, dtype=np.float64) for f in frames])
    return frames
