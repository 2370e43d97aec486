"""Classification with Gaussian mixtures: mclust's EDDA and MclustDA, with unlabelled rows.

:class:`GaussianMixtureClassifier` models each class's density by Gaussians and classifies by
Bayes' rule with the class proportions as priors.

- ``n_components_per_class=1`` is EDDA (Bensmail & Celeux 1996): one mixture whose components
  are the classes. Means and scatter matrices come from the labels, and the covariances from one
  M-step of the covariance model, so its constraint (equal volume, shape or orientation across
  components) is shared across the classes. ``VVV`` is quadratic discriminant analysis, ``EEE``
  linear discriminant analysis.
- More components (an int, or several candidates chosen by BIC per class) is MclustDA (Fraley &
  Raftery 2002): a :class:`~gaussmix.GaussianMixture` per class.
- Rows labelled ``-1`` are unlabelled (EDDA only, mclust's ``MclustSSC``): EM runs with the
  labelled rows' responsibilities fixed to their class and the unlabelled rows' set to their
  posterior.

Notation: ``resp`` (n, G) responsibilities, ``nk`` (G,) their weighted sums, ``G`` classes.

References
----------
Bensmail, H. and Celeux, G. (1996). Regularized Gaussian discriminant analysis through eigenvalue
decomposition. JASA 91(436), 1743-1748.
Fraley, C. and Raftery, A. E. (2002). Model-based clustering, discriminant analysis, and density
estimation. JASA 97(458), 611-631.
"""
from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _criteria, covariance
from ._estimator import GaussianMixture
from ._typing import INIT_PARAMS, RandomStateLike
from ._validation import Interval, Kinds, Options, check_finite, check_params, check_sample_weight

__all__ = ["GaussianMixtureClassifier", "cv_error", "brier_score", "UNLABELLED"]

#: The label of unlabelled rows (semi-supervised fits).
UNLABELLED = -1

_RANDOM_STATE = Kinds(None, numbers.Integral, np.random.RandomState,
                      label="None, an int or a numpy.random.RandomState")


class GaussianMixtureClassifier(ClassifierMixin, BaseEstimator):
    """Gaussian mixture discriminant analysis (mclust's EDDA / MclustDA), semi-supervised.

    Parameters
    ----------
    n_components_per_class : int or sequence of int, default=1
        ``1``: EDDA, one Gaussian per class, the covariance structure shared across classes.
        More than one, or a list/tuple/range of candidates: MclustDA, a mixture per class with
        the number of components (and structure) of lowest BIC for that class.
    covariance_type : str or sequence of str, default="VVV"
        A registered covariance model (:mod:`gaussmix.covariance`), or several, of which the one
        of lowest BIC is kept (for EDDA over the whole fit, for MclustDA per class).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood (semi-supervised EM and
        the per-class mixtures).
    max_iter : int, default=100
        Most EM iterations.
    n_init : int, default=1
        Restarts of each per-class mixture (MclustDA).
    init_params : str, default="kmeans"
        Initialisation of each per-class mixture (MclustDA).
    random_state : None, int or RandomState, default=None
        Seeds the per-class mixtures.
    unlabelled : int, float, str or None, default=-1
        The label that marks an unlabelled row (scikit-learn's semi-supervised convention is
        ``-1``). ``None``: every label is a class (use it when ``-1`` is a real class).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (without :data:`UNLABELLED`).
    priors_ : ndarray of shape (n_classes,)
        Class proportions (weighted; in a semi-supervised fit, estimated by EM).
    covariance_type_ : str
        The covariance model kept (per class for MclustDA: a list).
    mixture_ : GaussianMixture
        EDDA: the fitted mixture, component ``j`` being class ``classes_[j]``.
    class_mixtures_ : list of GaussianMixture
        MclustDA: the mixture of each class.
    log_likelihood_ : float
        Log-likelihood of the training data. EDDA: ``sum_i v_i log sum_k pi_k N(x_i | k)``
        (what mclust reports for EDDA; the parameters come from the labels);
        semi-supervised: the objective EM maximises, ``sum`` over labelled rows of
        ``v_i log(pi_{y_i} N(x_i | y_i))`` plus the mixture term over unlabelled rows;
        MclustDA: the sum of the class mixtures' log-likelihoods on their classes.
    n_iter_ : int
        EM iterations: of a semi-supervised fit; 1 for a labelled EDDA fit (one M-step);
        MclustDA the most of the class mixtures'.
    n_features_in_ : int

    See Also
    --------
    sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis : EDDA with ``VVV``.
    sklearn.discriminant_analysis.LinearDiscriminantAnalysis : EDDA with ``EEE``.

    References
    ----------
    Scrucca, L., Fop, M., Murphy, T. B. and Raftery, A. E. (2016). mclust 5. The R Journal 8(1),
    289-317.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gaussmix import GaussianMixtureClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GaussianMixtureClassifier(covariance_type="VEV", reg_covar=0.0).fit(X, y)
    >>> round(clf.log_likelihood_, 4), round(-clf.bic(X, y), 4)   # mclust: -187.7097, -565.8236
    (-187.7097, -565.8236)
    >>> round(1 - clf.score(X, y), 2)
    0.02
    """

    _parameter_table = {
        "n_components_per_class": [Interval(int, 1),
                                   Kinds(list, tuple, range, label="a list, tuple or range of ints >= 1")],
        "covariance_type": [covariance.Registered(),
                            Kinds(list, tuple, label="a list or tuple of registered names")],
        "reg_covar": [Interval(float, 0)],
        "tol": [Interval(float, 0)],
        "max_iter": [Interval(int, 0)],
        "n_init": [Interval(int, 1)],
        "init_params": [Options(*INIT_PARAMS)],
        "random_state": [_RANDOM_STATE],
        "unlabelled": [Kinds(None, numbers.Real, str, label="None, a number or a string")],
    }

    def __init__(self, n_components_per_class: int | list | tuple | range = 1, *,
                 covariance_type: str | list | tuple = "VVV", reg_covar: float = 1e-6,
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", random_state: RandomStateLike = None,
                 unlabelled: int | float | str | None = UNLABELLED) -> None:
        self.n_components_per_class = n_components_per_class
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.unlabelled = unlabelled

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> tuple[list[int], list[str]]:
        owner = type(self).__name__
        check_params(owner, self.get_params(deep=False), self._parameter_table)
        ks = self.n_components_per_class
        ks = [ks] if isinstance(ks, numbers.Integral) else list(ks)
        if not ks or not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1
                             for k in ks):
            raise ValueError(f"The 'n_components_per_class' parameter of {owner} must be an int "
                             f">= 1 or a non-empty sequence of them. Got {ks!r} instead.")
        types = self.covariance_type
        types = [types] if isinstance(types, str) else list(types)
        reg = covariance.Registered()
        bad = [t for t in types if not reg.accepts(t)]
        if not types or bad:
            raise ValueError(f"The 'covariance_type' parameter of {owner} must name registered "
                             f"covariance models ({', '.join(covariance.names())}). Got {bad or types!r}.")
        return [int(k) for k in ks], types

    def _check_Xy(self, X, y, sample_weight):
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False,
                             reset=True)
        check_finite(X)
        check_classification_targets(y)
        w = check_sample_weight(sample_weight, X.shape[0])
        unl = _unlabelled(y, self.unlabelled)
        classes = np.unique(y[~unl])
        if classes.size == 0:
            raise ValueError(f"y has no labelled rows: every row is labelled {self.unlabelled!r} "
                             "(unlabelled, the 'unlabelled' parameter); "
                             "at least one class needs labelled rows.")
        for c in classes:
            m = (y == c) & ~unl
            if not np.any(w[m] > 0):
                raise ValueError(f"class {_show(c)} has no row with positive sample_weight; drop the "
                                 "class or give its rows positive weights.")
        return X, y, w, unl, classes

    # ------------------------------------------------------------------ fitting
    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> GaussianMixtureClassifier:
        """Fit the class densities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; the ``unlabelled`` label (default ``-1``) marks an unlabelled row
            (EDDA only).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; an integer weight counts as that many repeated rows.

        Returns
        -------
        self
        """
        ks, types = self._check_params()
        X, y, w, unl, classes = self._check_Xy(X, y, sample_weight)
        self.classes_ = classes
        codes = np.full(len(y), -1)
        codes[~unl] = np.searchsorted(classes, y[~unl])
        if ks == [1]:
            fits = [_edda(X, w, codes, covariance.get(t), self.reg_covar, self.tol,
                          self.max_iter) + (t,) for t in types]
            best = min(fits, key=lambda f: f[3])
            gm, self.log_likelihood_, self.n_iter_, _, self.covariance_type_ = best
            self.mixture_ = gm
            self._semi = bool(unl.any())
            self.priors_ = gm.weights_.copy()
            self._n_params = gm.n_parameters()
            return self
        if unl.any():
            raise ValueError(f"unlabelled rows (y == {self.unlabelled!r}) are supported with "
                             "n_components_per_class=1 (EDDA) only; drop them or use EDDA.")
        self.class_mixtures_, self.covariance_type_ = [], []
        total, p = 0.0, 0
        for j, c in enumerate(classes):
            m = (codes == j) & (w > 0)
            Xc, wc = X[m], w[m]
            gm = self._best_class_mixture(Xc, wc, ks, types, c)
            self.class_mixtures_.append(gm)
            self.covariance_type_.append(gm.covariance_type)
            total += float(np.dot(wc, gm.score_samples(Xc)))
            p += gm.n_parameters()
        nk = np.array([w[codes == j].sum() for j in range(len(classes))])
        self.priors_ = nk / nk.sum()
        self.log_likelihood_ = total
        self.n_iter_ = max(gm.n_iter_ for gm in self.class_mixtures_)
        self._n_params = p
        return self

    def _best_class_mixture(self, Xc, wc, ks, types, label):
        n = Xc.shape[0]
        usable = [k for k in ks if k <= n and n >= 2]
        if not usable:
            raise ValueError(f"class {_show(label)} has {n} row(s) with positive weight, too few for "
                             f"{min(ks)} component(s) (at least max(2, n_components) needed).")
        best, best_bic = None, np.inf
        for k in usable:
            for t in types:
                gm = GaussianMixture(k, covariance_type=t, reg_covar=self.reg_covar, tol=self.tol,
                                     max_iter=self.max_iter, n_init=self.n_init,
                                     init_params=self.init_params,
                                     random_state=self.random_state).fit(Xc, sample_weight=wc)
                b = gm.bic(Xc, sample_weight=wc)
                if b < best_bic:
                    best, best_bic = gm, b
        return best

    # ------------------------------------------------------------------ prediction
    def _joint_log_prob(self, X) -> np.ndarray:
        """``log(prior_c p(x | c))`` of shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        check_finite(X)
        if hasattr(self, "mixture_"):
            gm = self.mixture_
            model = covariance.get(gm.covariance_type)
            lp = model.log_prob(X, gm.means_, gm.precisions_cholesky_)
            return lp + np.log(gm.weights_)
        cols = [gm.score_samples(X) for gm in self.class_mixtures_]
        return np.column_stack(cols) + np.log(self.priors_)

    def predict_log_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Log posterior class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        jl = self._joint_log_prob(X)
        return jl - logsumexp(jl, axis=1, keepdims=True)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Posterior class probabilities (Bayes' rule, priors ``priors_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The class of highest posterior probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        jl = self._joint_log_prob(X)
        return self.classes_[np.argmax(jl, axis=1)]

    # ------------------------------------------------------------------ criteria
    def n_parameters(self) -> int:
        """Free parameters: EDDA ``G - 1`` proportions, ``G d`` means and the structure's
        covariance parameters (mclust's count); MclustDA the sum of the class mixtures' counts
        (class proportions are not counted, as in mclust).

        Returns
        -------
        int
        """
        check_is_fitted(self)
        return int(self._n_params)

    def bic(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Bayesian information criterion ``-2 log L + p log n`` (lower is better).

        mclust reports ``2 log L - p log n``, the negative of this. ``log L`` is as in
        :attr:`log_likelihood_`: EDDA the mixture log-likelihood of ``X``; MclustDA (and the
        labelled rows of a semi-supervised fit) ``log(prior_y p(x | y))`` at the given labels,
        rows labelled ``-1`` counting with the mixture density.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        float
        """
        jl = self._joint_log_prob(X)
        y = np.asarray(y)
        if y.shape != (jl.shape[0],):
            raise ValueError(f"y has shape {y.shape} but X has {jl.shape[0]} rows.")
        unl = _unlabelled(y, self.unlabelled)
        if np.any(~np.isin(y[~unl], self.classes_)):
            raise ValueError(f"y holds labels not seen in fit; known classes: {self.classes_.tolist()}.")
        mix = logsumexp(jl, axis=1)
        if hasattr(self, "mixture_") and not self._semi:
            total = float(mix.sum())
        else:
            idx = np.searchsorted(self.classes_, y[~unl])
            lab = jl[np.flatnonzero(~unl), idx]
            prior = 0.0 if hasattr(self, "mixture_") else np.log(self.priors_)[idx]
            total = float((lab - prior).sum() + mix[unl].sum())
        return _criteria.bic(total, float(len(y)), self.n_parameters())


def _show(label) -> str:
    """A class label as the user wrote it (``2``, ``'a'``), not NumPy's repr."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def _unlabelled(y: np.ndarray, marker=UNLABELLED) -> np.ndarray:
    """Mask of rows labelled ``marker`` (none when it is ``None`` or of another kind than y)."""
    if marker is None:
        return np.zeros(len(y), dtype=bool)
    numeric = isinstance(marker, numbers.Real) and not isinstance(marker, bool)
    if numeric != (y.dtype.kind in "iuf"):
        return np.zeros(len(y), dtype=bool)
    return np.asarray(y == marker, dtype=bool)


def _m_step(X, w, resp, model, reg_covar, previous):
    """Proportions, means and covariances from weighted responsibilities (one M-step)."""
    r = resp * w[:, None]
    nk = r.sum(axis=0)
    means = (r.T @ X) / nk[:, None]
    if model.full_scatter:
        scatter = np.empty((len(nk), X.shape[1], X.shape[1]))
        for j in range(len(nk)):
            diff = X - means[j]
            scatter[j] = (diff * r[:, j:j + 1]).T @ diff
    else:
        scatter = np.stack([(r[:, j:j + 1] * (X - means[j]) ** 2).sum(axis=0)
                            for j in range(len(nk))])
    if model.warm_start_m_step:
        cov = model.from_stats(nk, scatter, reg_covar, previous=previous)
    else:
        cov = model.from_stats(nk, scatter, reg_covar)
    return nk / nk.sum(), means, cov


def _edda(X, w, codes, model, reg_covar, tol, max_iter):
    """EDDA fit (semi-supervised when some ``codes`` are -1).

    Returns ``(mixture, log_likelihood, n_iter, bic)``.
    """
    n, G = len(codes), int(codes.max()) + 1
    lab = codes >= 0
    resp = np.zeros((n, G))
    resp[np.flatnonzero(lab), codes[lab]] = 1.0
    weights, means, cov = _m_step(X[lab], w[lab], resp[lab], model, reg_covar, None)
    n_iter = 1  # the labelled fit is one M-step

    def joint(weights, means, cov):
        pc, _ = model.precision_cholesky(cov)
        return model.log_prob(X, means, pc) + np.log(weights)

    jl = joint(weights, means, cov)
    if lab.all():
        ll = float(np.dot(w, logsumexp(jl, axis=1)))
    else:
        # EM with fixed labelled responsibilities; the objective is the observed-data
        # log-likelihood: labelled rows at their class, unlabelled rows under the mixture
        unl = ~lab
        wsum = w.sum()

        def objective(jl):
            return float(np.dot(w[lab], jl[np.flatnonzero(lab), codes[lab]])
                         + np.dot(w[unl], logsumexp(jl[unl], axis=1)))

        ll = objective(jl)
        for n_iter in range(1, max_iter + 1):
            lr = jl[unl] - logsumexp(jl[unl], axis=1, keepdims=True)
            resp[unl] = np.exp(lr)
            weights, means, cov = _m_step(X, w, resp, model, reg_covar, cov)
            jl = joint(weights, means, cov)
            new = objective(jl)
            done = abs(new - ll) / wsum < tol
            ll = new
            if done:
                break
    gm = GaussianMixture.from_params(weights, means, cov, covariance_type=model.name,
                                     reg_covar=reg_covar)
    return gm, ll, n_iter, _criteria.bic(ll, float(w.sum()), gm.n_parameters())


# ---------------------------------------------------------------------------------------------
def cv_error(clf: GaussianMixtureClassifier, X: npt.ArrayLike, y: npt.ArrayLike, cv: int = 10,
             random_state: RandomStateLike = None) -> tuple[float, float]:
    """Cross-validated misclassification rate and its standard error (mclust's ``cvMclustDA``).

    Stratified ``cv``-fold split of the labelled rows; unlabelled rows (``-1``) stay in every
    training set and are never tested.

    Parameters
    ----------
    clf : estimator
        Cloned and refitted on each fold.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    cv : int, default=10
        Number of folds.
    random_state : None, int or RandomState, default=None
        Seeds the shuffle of the folds.

    Returns
    -------
    error : float
        Misclassified test rows over all test rows.
    se : float
        Standard error: the standard deviation of the fold error rates over ``sqrt(cv)``.
    """
    from sklearn.model_selection import StratifiedKFold

    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels.")
    unl = _unlabelled(y, getattr(clf, "unlabelled", UNLABELLED))
    li = np.flatnonzero(~unl)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    wrong, errs = 0, []
    for tr, te in folds.split(X[li], y[li]):
        train = np.concatenate([li[tr], np.flatnonzero(unl)])
        fitted = clone(clf).fit(X[train], y[train])
        miss = int((fitted.predict(X[li[te]]) != y[li[te]]).sum())
        wrong += miss
        errs.append(miss / len(te))
    return wrong / len(li), float(np.std(errs, ddof=1) / np.sqrt(len(errs)))


def brier_score(clf: GaussianMixtureClassifier, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Multi-class Brier score ``1/(2n) sum_i sum_c (p_ic - [y_i = c])^2`` (mclust's
    ``BrierScore``, scaled to [0, 1]; for two classes it equals scikit-learn's
    ``brier_score_loss``). Lower is better.

    Parameters
    ----------
    clf : fitted classifier with ``predict_proba`` and ``classes_``
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    float
    """
    p = clf.predict_proba(X)
    y = np.asarray(y)
    if len(y) != len(p):
        raise ValueError(f"X has {len(p)} rows but y has {len(y)} labels.")
    onehot = (y[:, None] == np.asarray(clf.classes_)[None, :]).astype(float)
    return float(((p - onehot) ** 2).sum() / (2 * len(y)))
