"""M-steps of the Celeux & Govaert (1995) structures ``Sigma_k = lambda_k D_k A_k D_k^T``.

Every structure is a constraint on the eigen-decomposition of the component covariances:
volume ``lambda_k = det(Sigma_k)^(1/d)``, shape ``A_k`` (diagonal, ``det A_k = 1``) and
orientation ``D_k`` (orthogonal), each Equal across components, Variable, or the Identity.
mclust's three-letter names say which (volume, shape, orientation), e.g. ``VEV``.

The M-step maximises the expected complete-data log-likelihood over the covariances, i.e. it
minimises

    F = sum_k [ n_k log det Sigma_k + tr(W_k Sigma_k^-1) ]

over the structure, where ``n_k`` is the responsibility mass and ``W_k`` the centred scatter
``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T`` of component ``k`` (``nk`` and ``scatter`` in the
statistics). Structures with a closed form (EII, EEI, EVI, EEV, EVV, and the built-in VII,
VVI, EEE, VVV) solve it at once; the others alternate exact block minimisations (Celeux &
Govaert's iterations for VEI, VEE, VEV) or, for the common orientation of EVE and VVE, the
majorisation-minimisation step of Browne & McNicholas (2014). Every inner step decreases
``F``, and the iteration starts from the previous EM iteration's covariances when they are
given (``previous``), so the M-step never decreases the expected complete-data
log-likelihood and EM stays monotone; it stops when ``F`` changes by less than
:data:`INNER_TOL` relative to ``1 + |F|``, or after :data:`INNER_MAX_ITER` steps (the
orientation: once a step moves ``D`` by at most :data:`MM_STEP_TOL`, or after
:data:`MM_MAX_ITER` steps).

Numerical guards (they only act on degenerate data): components with no mass (``n_k <= 1e-10
n``) take no part in the shared parameters and get the pooled covariance (the engine re-seeds
them); per-direction variances below :data:`VARIANCE_FLOOR` times the pooled mean variance are
raised to it so that volumes and shapes stay finite, and so are variances below
:data:`REG_FLOOR` times ``reg_covar`` (rounding noise in the scatter of components on repeated
values, which a shared volume or orientation would otherwise turn into an extreme shape). ``reg_covar`` is added to the diagonal
of the structured covariances afterwards, as for the built-in models.

Notation: ``nk`` (k,), ``W`` (k, d, d) scatter or ``Wd`` (k, d) its diagonals, ``n = sum nk``;
``geomean`` of a positive vector is ``exp(mean(log v))`` (so ``v / geomean(v)`` has product 1).

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models. Pattern
Recognition 28(5), 781-793.
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in high
dimensions. Advances in Data Analysis and Classification 8(2), 217-226.
"""
from __future__ import annotations

import numpy as np

#: Relative change of the M-step objective at which the inner iterations stop.
INNER_TOL = 1e-10
#: Most majorisation-minimisation steps per M-step.
MM_MAX_ITER = 5000
#: The orientation's iteration stops once a plain MM step moves no entry of D by more than
#: this (or after MM_MAX_ITER steps).
MM_STEP_TOL = 1e-8
#: Most inner iterations per M-step.
INNER_MAX_ITER = 1000
#: Smallest variance per direction, relative to the pooled mean variance (degenerate data only).
VARIANCE_FLOOR = 1e-12
#: Smallest variance per direction relative to ``reg_covar``: variances this far below the
#: regularisation cannot change the regularised covariance beyond rounding, but as a ratio
#: (a shape) rounding noise in the scatter could.
REG_FLOOR = 1e-10
#: A component with responsibility mass at most this fraction of the total is empty.
EMPTY = 1e-10

_TINY = np.finfo(np.float64).tiny


def _geomean(v: np.ndarray) -> np.ndarray:
    """Geometric mean over the last axis of a positive array."""
    return np.exp(np.log(v).mean(axis=-1))


class _Prep:
    """Shared preparation: active components, pooled scale and the variance floor."""

    def __init__(self, nk: np.ndarray, scatter: np.ndarray, reg_covar: float = 0.0):
        self.nk = np.asarray(nk, dtype=np.float64)
        self.scatter = np.asarray(scatter, dtype=np.float64)
        self.k = len(self.nk)
        self.d = self.scatter.shape[1]
        total = self.nk.sum()
        self.active = self.nk > EMPTY * total if total > 0 else np.zeros(self.k, bool)
        self.n = self.nk[self.active].sum()
        if self.scatter.ndim == 3:
            pooled = self.scatter[self.active].sum(axis=0)
            self.pooled_diag = np.diag(pooled).copy()
        else:
            pooled = None
            self.pooled_diag = self.scatter[self.active].sum(axis=0)
        n = max(self.n, _TINY)
        self.pooled = None if pooled is None else 0.5 * (pooled + pooled.T) / n
        scale = self.pooled_diag.sum() / (n * self.d)
        # all-zero scatter (every component on one point): any positive floor keeps it finite;
        # 1e-150 stays far from under- and overflow in volumes and inverses
        self.floor = VARIANCE_FLOOR * scale if scale > 0 else 1e-150
        # scatter below the regularisation's resolution is rounding noise (repeated values):
        # flooring it there keeps structures with shared volume or orientation from
        # amplifying that noise into a shape (a ratio of noise variances)
        self.floor = max(self.floor, REG_FLOOR * reg_covar)
        # any usable covariance for empty components and for the all-empty case
        self.fallback_diag = np.maximum(self.pooled_diag / n, self.floor)

    @property
    def any_active(self) -> bool:
        return bool(self.active.any())


def _finish_full(cov: np.ndarray, prep: _Prep, reg_covar: float) -> np.ndarray:
    """Symmetrise, replace empty or non-finite components by the pooled covariance, add reg."""
    fb = prep.pooled
    if fb is None or not np.all(np.isfinite(fb)) or np.linalg.eigvalsh(fb)[0] <= 0:
        fb = np.diag(prep.fallback_diag)
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    for j in range(prep.k):
        if not prep.active[j] or not np.all(np.isfinite(cov[j])):
            cov[j] = fb
    d = prep.d
    cov[:, np.arange(d), np.arange(d)] += reg_covar
    return cov


def _finish_diag(cov: np.ndarray, prep: _Prep, reg_covar: float) -> np.ndarray:
    for j in range(prep.k):
        if not prep.active[j] or not np.all(np.isfinite(cov[j])):
            cov[j] = prep.fallback_diag
    return cov + reg_covar


# ---------------------------------------------------------------------------------------------
# diagonal family (scatter diagonals Wd (k, d) suffice)


def eii(nk, Wd, reg_covar):
    """One variance for every component and feature: ``sigma^2 = sum_k tr W_k / (n d)``. (k,)"""
    p = _Prep(nk, Wd, reg_covar)
    s2 = max(p.pooled_diag.sum() / (max(p.n, _TINY) * p.d), p.floor)
    return np.full(p.k, s2) + reg_covar


def eei(nk, Wd, reg_covar):
    """One diagonal covariance for all components: ``diag(sum_k W_k) / n``. (k, d)"""
    p = _Prep(nk, Wd, reg_covar)
    return np.tile(p.fallback_diag, (p.k, 1)) + reg_covar


def evi(nk, Wd, reg_covar):
    """Equal volume, variable diagonal shape (closed form).

    With ``g_k = geomean(diag W_k)``: ``A_k = diag W_k / g_k`` and ``lambda = sum_k g_k / n``
    (for fixed ``lambda`` the best ``A_k`` is proportional to ``diag W_k``, which leaves
    ``d (n log lambda + sum_k g_k / lambda)``).
    """
    p = _Prep(nk, Wd, reg_covar)
    cov = np.empty((p.k, p.d))
    if p.any_active:
        B = np.maximum(p.scatter[p.active], p.floor * p.nk[p.active, None])
        g = _geomean(B)
        lam = g.sum() / p.n
        cov[p.active] = lam * B / g[:, None]
    return _finish_diag(cov, p, reg_covar)


def vei(nk, Wd, reg_covar, previous=None):
    """Variable volume, equal diagonal shape (Celeux & Govaert's alternation).

    ``lambda_k = sum_j W_kj / A_j / (d n_k)`` for fixed ``A``;
    ``A = c / geomean(c)``, ``c = sum_k diag W_k / lambda_k`` for fixed volumes.
    """
    p = _Prep(nk, Wd, reg_covar)
    cov = np.empty((p.k, p.d))
    if p.any_active:
        B = np.maximum(p.scatter[p.active], p.floor * p.nk[p.active, None])
        n_a = p.nk[p.active]
        if previous is not None and np.all(np.isfinite(previous)) and np.all(previous > 0):
            a = np.asarray(previous, dtype=np.float64)[int(np.argmax(p.nk))]
        else:
            a = B.sum(axis=0)
        a = a / _geomean(a)
        F_old = np.inf
        for _ in range(INNER_MAX_ITER):
            lam = (B / a).sum(axis=1) / (p.d * n_a)
            c = (B / lam[:, None]).sum(axis=0)
            a = c / _geomean(c)
            lam = (B / a).sum(axis=1) / (p.d * n_a)
            F = p.d * (n_a * np.log(lam)).sum() + ((B / a) / lam[:, None]).sum()
            if F_old - F <= INNER_TOL * (1.0 + abs(F)):
                break
            F_old = F
        cov[p.active] = lam[:, None] * a
    return _finish_diag(cov, p, reg_covar)


# ---------------------------------------------------------------------------------------------
# general family (full scatter W (k, d, d))


def _eig_desc(W):
    """Eigenvalues (descending) and eigenvectors of each symmetric matrix in ``W`` (m, d, d)."""
    w, V = np.linalg.eigh(0.5 * (W + W.transpose(0, 2, 1)))
    return w[:, ::-1], V[:, :, ::-1]


def _objective(W, nk, cov):
    """``sum_k n_k log det Sigma_k + tr(W_k Sigma_k^-1)`` over the given components."""
    sign, logdet = np.linalg.slogdet(cov)
    tr = np.einsum("kij,kji->k", W, np.linalg.inv(cov))
    return float((nk * logdet).sum() + tr.sum())


def evv(nk, W, reg_covar):
    """Equal volume, variable shape and orientation (closed form).

    ``g_k = det(W_k)^(1/d)``; ``Sigma_k = lambda W_k / g_k`` with ``lambda = sum_k g_k / n``.
    """
    p = _Prep(nk, W, reg_covar)
    cov = np.empty((p.k, p.d, p.d))
    if p.any_active:
        w, V = _eig_desc(p.scatter[p.active])
        w = np.maximum(w, p.floor * p.nk[p.active, None])
        g = _geomean(w)
        lam = g.sum() / p.n
        cov[p.active] = np.einsum("kij,kj,klj->kil", V, lam * w / g[:, None], V)
    return _finish_full(cov, p, reg_covar)


def eev(nk, W, reg_covar):
    """Equal volume and shape, variable orientation (closed form).

    With ``W_k = L_k diag(omega_k) L_k^T`` (eigenvalues descending), the best orientation for
    a shape sorted the same way is ``D_k = L_k`` (von Neumann's trace inequality), and then
    ``lambda A = sum_k omega_k / n``, itself sorted: ``Sigma_k = L_k diag(sum omega / n) L_k^T``.
    """
    p = _Prep(nk, W, reg_covar)
    cov = np.empty((p.k, p.d, p.d))
    if p.any_active:
        w, V = _eig_desc(p.scatter[p.active])
        w = np.maximum(w, p.floor * p.nk[p.active, None])
        s = w.sum(axis=0) / p.n
        cov[p.active] = np.einsum("kij,j,klj->kil", V, s, V)
    return _finish_full(cov, p, reg_covar)


def vev(nk, W, reg_covar, previous=None):
    """Variable volume, equal shape, variable orientation (Celeux & Govaert's alternation).

    Orientations are the eigenvectors of ``W_k`` (eigenvalues ``omega_k`` descending); then
    ``lambda_k = sum_j omega_kj / A_j / (d n_k)`` and ``A = c / geomean(c)`` with
    ``c = sum_k omega_k / lambda_k`` alternate.
    """
    p = _Prep(nk, W, reg_covar)
    cov = np.empty((p.k, p.d, p.d))
    if p.any_active:
        n_a = p.nk[p.active]
        w, V = _eig_desc(p.scatter[p.active])
        w = np.maximum(w, p.floor * n_a[:, None])
        a = None
        if previous is not None and np.all(np.isfinite(previous)):
            a = np.linalg.eigvalsh(np.asarray(previous, np.float64)[int(np.argmax(p.nk))])[::-1]
            a = a if np.all(a > 0) else None
        if a is None:
            a = w.sum(axis=0)
        a = a / _geomean(a)
        F_old = np.inf
        for _ in range(INNER_MAX_ITER):
            lam = (w / a).sum(axis=1) / (p.d * n_a)
            c = (w / lam[:, None]).sum(axis=0)
            a = c / _geomean(c)
            lam = (w / a).sum(axis=1) / (p.d * n_a)
            F = p.d * (n_a * np.log(lam)).sum() + ((w / a) / lam[:, None]).sum()
            if F_old - F <= INNER_TOL * (1.0 + abs(F)):
                break
            F_old = F
        cov[p.active] = np.einsum("kij,kj,klj->kil", V, lam[:, None] * a, V)
    return _finish_full(cov, p, reg_covar)


def vee(nk, W, reg_covar, previous=None):
    """Variable volume, equal shape and orientation: ``Sigma_k = lambda_k C``, ``det C = 1``.

    ``lambda_k = tr(W_k C^-1) / (d n_k)`` and ``C = S / det(S)^(1/d)``, ``S = sum_k W_k /
    lambda_k``, alternate (Celeux & Govaert 1995).
    """
    p = _Prep(nk, W, reg_covar)
    cov = np.empty((p.k, p.d, p.d))
    if p.any_active:
        n_a = p.nk[p.active]
        Wa = p.scatter[p.active] + p.floor * n_a[:, None, None] * np.eye(p.d)
        C = None
        if previous is not None and np.all(np.isfinite(previous)):
            C = np.asarray(previous, np.float64)[int(np.argmax(p.nk))]
        if C is None or np.linalg.eigvalsh(C)[0] <= 0:
            C = Wa.sum(axis=0)
        C = C / np.exp(np.linalg.slogdet(C)[1] / p.d)
        F_old = np.inf
        for _ in range(INNER_MAX_ITER):
            Ci = np.linalg.inv(C)
            lam = np.einsum("kij,ji->k", Wa, Ci) / (p.d * n_a)
            S = (Wa / lam[:, None, None]).sum(axis=0)
            S = 0.5 * (S + S.T)
            C = S / np.exp(np.linalg.slogdet(S)[1] / p.d)
            Ci = np.linalg.inv(C)
            lam = np.einsum("kij,ji->k", Wa, Ci) / (p.d * n_a)
            F = p.d * (n_a * np.log(lam)).sum() + (np.einsum("kij,ji->k", Wa, Ci) / lam).sum()
            if F_old - F <= INNER_TOL * (1.0 + abs(F)):
                break
            F_old = F
        cov[p.active] = lam[:, None, None] * C
    return _finish_full(cov, p, reg_covar)


def _common_orientation(previous, nk, fallback):
    """Orientation ``D`` shared by the previous covariances, or the eigenvectors of ``fallback``.

    The previous covariances share their eigenvectors; a combination with distinct weights
    has them too, with eigenvalues that are distinct unless by coincidence.
    """
    if previous is not None:
        prev = np.asarray(previous, np.float64)
        if prev.ndim == 3 and np.all(np.isfinite(prev)):
            c = 1.0 + np.arange(len(prev)) / (len(prev) + np.pi)
            return np.linalg.eigh(np.einsum("k,kij->ij", c, prev))[1]
    return np.linalg.eigh(fallback)[1]


def _mm_orientation(WD, omega, D, B):
    """One majorisation-minimisation step for ``min_D sum_k tr(W_k D B_k D^T)``, D orthogonal.

    ``B_k`` (diagonal, as vectors (k, d)) are the inverse eigenvalues, ``WD`` the products
    ``W_k D`` (k, d, d). With ``M_k = omega_k I - W_k`` (positive semi-definite for ``omega_k >=
    max eig W_k``) the objective is a constant minus the convex ``sum_k tr(M_k D B_k D^T)``,
    which lies above its tangent at the current ``D``; minimising that majoriser over orthogonal
    matrices is an orthogonal Procrustes problem: ``D = U V^T`` for ``G = sum_k M_k D B_k = U S
    V^T`` (Browne & McNicholas 2014).
    """
    G = D * (omega @ B)[None, :] - (WD * B[:, None, :]).sum(axis=0)
    if not np.all(np.isfinite(G)):
        return G
    return _polar(G)


def _polar(M):
    """The orthogonal factor ``U V^T`` of ``M = U S V^T``."""
    U, _, Vt = np.linalg.svd(M)
    return U @ Vt


def _orientation_fit(nk, W, reg_covar, previous, volume_equal: bool):
    """EVE (``volume_equal``) and VVE: a common orientation ``D`` and per-component diagonals.

    For fixed ``D``, with ``E_k = diag(D^T W_k D)``: VVE takes ``Delta_k = E_k / n_k``; EVE
    takes ``A_k = E_k / geomean(E_k)`` and ``lambda = sum_k geomean(E_k) / n``. ``D`` is then
    improved by :func:`_mm_orientation`, and the two steps alternate. Each step is extrapolated
    (``polar(D + a (D_mm - D))`` for ``a = 2, 4, ...`` while the objective keeps falling), which
    takes 3-5 times fewer steps than the plain iteration and ends lower.
    """
    p = _Prep(nk, W, reg_covar)
    cov = np.empty((p.k, p.d, p.d))
    if p.any_active:
        n_a = p.nk[p.active]
        Wa = p.scatter[p.active]
        Wa = 0.5 * (Wa + Wa.transpose(0, 2, 1))
        omega = np.linalg.eigvalsh(Wa)[:, -1]
        omega = omega + 1e-12 * np.maximum(np.abs(omega), _TINY)  # strictly above max eig
        prev = None if previous is None else np.asarray(previous)
        D = _common_orientation(prev, p.nk, p.pooled)

        def diagonals(E):
            E = np.maximum(E, p.floor * n_a[:, None])
            if volume_equal:
                g = _geomean(E)
                return (g.sum() / p.n) * E / g[:, None]
            return E / n_a[:, None]

        def state(D):
            """``W_k D``, the best diagonals for ``D`` and the objective there."""
            WD = Wa @ D
            E = (WD * D).sum(axis=1)  # diag(D^T W_k D)
            ev = diagonals(E)
            return WD, ev, (n_a * np.log(ev).sum(axis=1)).sum() + (E / ev).sum()

        WD, ev, F = state(D)
        for _ in range(MM_MAX_ITER):
            D1 = _mm_orientation(WD, omega, D, 1.0 / ev)
            if not np.all(np.isfinite(D1)):
                break
            step = np.abs(D1 - D).max()
            WD1, ev1, F1 = state(D1)
            # extrapolate along the step while that lowers the objective further (the MM
            # step converges linearly and slowly; every accepted point is lower, so the
            # iteration stays monotone)
            a = 2.0
            while a <= 2.0 ** 20:
                Dt = _polar(D + a * (D1 - D))
                WDt, evt, Ft = state(Dt)
                if not Ft < F1 - 1e-13 * abs(F1):  # a margin above rounding: the same
                    break                                # decisions for rescaled weights
                D1, WD1, ev1, F1 = Dt, WDt, evt, Ft
                a *= 2.0
            # the plain MM step never raises the objective (in exact arithmetic), so it is
            # taken even where rounding hides its gain, and the iteration stops once it moves
            # no entry of D by more than MM_STEP_TOL: near the optimum the objective is flat,
            # and a stop on its change would leave D accurate to only sqrt(eps) and make the
            # path depend on rounding (rescaled weights would end elsewhere)
            D, WD, ev, F = D1, WD1, ev1, F1
            if step <= MM_STEP_TOL:
                break
        cov[p.active] = np.einsum("ij,kj,lj->kil", D, ev, D)
    return _finish_full(cov, p, reg_covar)


def eve(nk, W, reg_covar, previous=None):
    """Equal volume, variable shape, equal orientation (see :func:`_orientation_fit`)."""
    return _orientation_fit(nk, W, reg_covar, previous, volume_equal=True)


def vve(nk, W, reg_covar, previous=None):
    """Variable volume and shape, equal orientation (see :func:`_orientation_fit`)."""
    return _orientation_fit(nk, W, reg_covar, previous, volume_equal=False)
