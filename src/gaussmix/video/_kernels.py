"""One frame of the adaptive per-pixel mixture update (Zivkovic 2004), two implementations.

Notation, used the same way in both kernels:

- ``P`` pixels, ``M`` the most modes (components) a pixel may hold, ``C`` channels;
- ``weight`` (P, M), ``var`` (P, M) (one isotropic variance per mode) and ``mean`` (P, M, C),
  float32, modes of each pixel kept in order of decreasing weight;
- ``nmodes`` (P,) the number of modes in use per pixel;
- ``x`` (P, C) float32, the new frame;
- ``alpha`` the learning rate, ``prune = -alpha * complexity_reduction`` (a negative number).

The update of one pixel (the recursive MAP estimate of Zivkovic & van der Heijden 2004, with the
Dirichlet prior that drives unsupported modes to zero weight):

1. every mode in use decays, ``w <- (1 - alpha) w + prune``; walking the modes in order, the
   first whose squared distance ``|x - mu|^2`` is below ``var_threshold_gen * var`` owns the
   sample: ``w += alpha``, ``mu += (alpha / w)(x - mu)``, ``var += (alpha / w)(d^2 - var)``
   clipped to ``[var_min, var_max]``, and it moves up past the modes it now outweighs;
2. the pixel is background when, before the cumulated (updated) weight of the modes passed
   reaches ``background_ratio``, one mode lies within ``var_threshold * var``;
3. a mode whose weight fell below ``-prune`` is dropped; weights are renormalised;
4. a sample no mode owns starts a new mode (weight ``alpha``, mean ``x``, variance
   ``var_init``), replacing the weakest when all ``M`` are in use;
5. with shadow detection, a foreground pixel is a shadow when it is a darker copy of a
   background mode: ``x ~ a mu`` with ``tau <= a <= 1`` and a colour distortion
   ``|a mu - x|^2 < var_threshold * var * a^2`` (Prati et al. 2003).

Both kernels compute in float32, operation for operation as OpenCV's MOG2 does, so that the
masks agree with ``cv2.createBackgroundSubtractorMOG2`` pixel for pixel (up to rounding).
:func:`update_numpy` walks the ``M`` mode slots with every pixel at once; :func:`update_numba`
(``numba`` installed) walks pixel by pixel in compiled code.
"""
from __future__ import annotations

import numpy as np

_F = np.float32
_EPS32 = _F(np.finfo(np.float32).eps)


def _trailing_true(b: np.ndarray) -> np.ndarray:
    """Per row of the boolean (n, m) ``b``, the length of the run of True ending at its last column."""
    if b.shape[1] == 0:
        return np.zeros(b.shape[0], dtype=np.intp)
    return np.cumprod(b[:, ::-1], axis=1, dtype=np.intp).sum(axis=1)


def _move_up(arrays, rows: np.ndarray, src: np.ndarray, dst: np.ndarray, M: int) -> None:
    """For each row, move the mode at slot ``src`` up to slot ``dst <= src``, shifting the modes
    in between one slot down (the bubble step that keeps modes sorted by weight)."""
    if rows.size == 0:
        return
    j = np.arange(M)[None, :]
    s, d = src[:, None], dst[:, None]
    idx = np.where((j < d) | (j > s), j, np.where(j == d, s, j - 1))
    for a in arrays:
        sub = a[rows]
        a[rows] = np.take_along_axis(sub, idx if sub.ndim == 2 else idx[:, :, None], axis=1)


def update_numpy(weight, var, mean, nmodes, x, alpha, prune, var_threshold, background_ratio,
                 var_threshold_gen, var_init, var_min, var_max, detect_shadows, tau, out):
    """Update the model in place with frame ``x`` and write the mask into ``out`` (P,) uint8."""
    P, M, C = mean.shape
    alpha, prune = _F(alpha), _F(prune)
    alpha1 = _F(1) - alpha
    Tb, TB, Tg = _F(var_threshold), _F(background_ratio), _F(var_threshold_gen)
    nm = nmodes.astype(np.intp)
    fits = np.zeros(P, dtype=bool)
    background = np.zeros(P, dtype=bool)
    total = np.zeros(P, dtype=_F)
    owner = np.full(P, -1, dtype=np.intp)      # slot of the mode that owns the sample
    own_w = np.zeros(P, dtype=_F)              # its updated weight
    for m in range(M):
        act = m < nm
        if not act.any():
            break
        w = alpha1 * weight[:, m] + prune
        free = act & ~fits
        d = mean[:, m, :] - x
        dist2 = d[:, 0] * d[:, 0]
        for c in range(1, C):
            dist2 = dist2 + d[:, c] * d[:, c]
        v = var[:, m]
        background |= free & (total < TB) & (dist2 < Tb * v)
        hit = free & (dist2 < Tg * v)
        if hit.any():
            i = np.flatnonzero(hit)
            wi = w[i] + alpha
            k = alpha / wi
            mean[i, m, :] -= k[:, None] * d[i]
            vnew = v[i] + k * (dist2[i] - v[i])
            var[i, m] = np.minimum(np.maximum(vnew, _F(var_min)), _F(var_max))
            w[i] = wi
            fits[i] = True
            owner[i] = m
            own_w[i] = wi
        dead = act & (w < -prune)
        w[dead] = 0
        nm -= dead
        weight[act, m] = w[act]
        total[act] += w[act]
    # the owning mode moves up past the earlier modes it now outweighs (ties move it up);
    # the comparison uses its weight before a (theoretical) pruning, as the sequential walk does
    i = np.flatnonzero(owner > 0)
    if i.size:
        src = owner[i]
        ge = own_w[i, None] >= weight[i]
        run = _trailing_true(_prefix_mask(ge, src))
        _move_up((weight, var, mean), i, src, src - run, M)
    inv = np.where(np.abs(total) > _EPS32, _F(1) / np.where(total == 0, _F(1), total), _F(0))
    used = np.arange(M)[None, :] < nm[:, None]
    weight *= np.where(used, inv[:, None], _F(1)).astype(_F)
    if alpha > 0:
        new = np.flatnonzero(~fits)
        if new.size:
            n_before = nm[new]
            slot = np.where(n_before == M, M - 1, n_before)
            n_after = np.where(n_before == M, M, n_before + 1)
            nm[new] = n_after
            older = np.arange(M)[None, :] < (n_after - 1)[:, None]
            weight[new] = np.where(older, weight[new] * alpha1, weight[new])
            weight[new, slot] = np.where(n_after == 1, _F(1), alpha)
            mean[new, slot, :] = x[new]
            var[new, slot] = _F(var_init)
            ge = alpha >= weight[new]
            run = _trailing_true(_prefix_mask(ge, slot))
            _move_up((weight, var, mean), new, slot, slot - run, M)
    nmodes[:] = nm
    out[:] = np.where(background, 0, 255)
    if detect_shadows:
        fg = np.flatnonzero(~background)
        if fg.size:
            shadow = _shadow_numpy(weight[fg], var[fg], mean[fg], nm[fg], x[fg], Tb, TB, _F(tau))
            out[fg[shadow]] = 127
    return out


def _prefix_mask(b: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Columns ``[0, stop)`` of each row of ``b`` (the later ones cut off), as a ragged array
    padded on the left with False so that each row's run ends at its last column."""
    n, M = b.shape
    j = np.arange(M)[None, :]
    # row r, column c of the result is b[r, stop_r - M + c] (False where that is negative)
    col = stop[:, None] - M + j
    return np.where(col >= 0, np.take_along_axis(b, np.maximum(col, 0), axis=1), False)


def _shadow_numpy(weight, var, mean, nm, x, Tb, TB, tau):
    n, M, C = mean.shape
    shadow = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    total = np.zeros(n, dtype=_F)
    for m in range(M):
        act = ~done & (m < nm)
        if not act.any():
            break
        mu = mean[:, m, :]
        num = x[:, 0] * mu[:, 0]
        den = mu[:, 0] * mu[:, 0]
        for c in range(1, C):
            num = num + x[:, c] * mu[:, c]
            den = den + mu[:, c] * mu[:, c]
        done |= act & (den == 0)
        act &= den != 0
        cand = act & (num <= den) & (num >= tau * den)
        a = np.where(cand, num / np.where(den == 0, _F(1), den), _F(0))
        dd = a * mu[:, 0] - x[:, 0]
        dist2a = dd * dd
        for c in range(1, C):
            dd = a * mu[:, c] - x[:, c]
            dist2a = dist2a + dd * dd
        yes = cand & (dist2a < Tb * var[:, m] * a * a)
        shadow |= yes
        done |= yes
        total = total + np.where(act & ~yes, weight[:, m], _F(0))
        done |= act & (total > TB)
    return shadow


def update_numba(*args):  # replaced below when numba is installed
    raise ImportError("the compiled background-mixture kernel needs numba "
                      "(pip install 'gaussmix[video]')")


try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None



def _jit(fn):  # pragma: no cover - exercised when numba is installed
    # cache the compiled kernel on disk; where numba finds no writable cache location,
    # compile per process instead
    try:
        return _numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:
        return _numba.njit(nogil=True)(fn)


if _numba is not None:
    @_jit
    def _update_pixels(weight, var, mean, nmodes, x, alpha, prune, Tb, TB, Tg, var_init,
                       var_min, var_max, detect_shadows, tau, out):  # pragma: no cover
        P, M, C = mean.shape
        alpha1 = np.float32(1.0) - alpha
        for p in range(P):
            nm = np.int64(nmodes[p])
            fits = False
            background = False
            total = np.float32(0.0)
            mode = 0
            while mode < nm:
                w = alpha1 * weight[p, mode] + prune
                moved = 0
                if not fits:
                    v = var[p, mode]
                    dist2 = np.float32(0.0)
                    for c in range(C):
                        dc = mean[p, mode, c] - x[p, c]
                        dist2 = dist2 + dc * dc
                    if total < TB and dist2 < Tb * v:
                        background = True
                    if dist2 < Tg * v:
                        fits = True
                        w = w + alpha
                        k = alpha / w
                        for c in range(C):
                            mean[p, mode, c] = mean[p, mode, c] - k * (mean[p, mode, c] - x[p, c])
                        vnew = v + k * (dist2 - v)
                        vnew = max(vnew, var_min)
                        vnew = min(vnew, var_max)
                        var[p, mode] = vnew
                        i = mode
                        while i > 0 and not (w < weight[p, i - 1]):
                            weight[p, i], weight[p, i - 1] = weight[p, i - 1], weight[p, i]
                            var[p, i], var[p, i - 1] = var[p, i - 1], var[p, i]
                            for c in range(C):
                                mean[p, i, c], mean[p, i - 1, c] = mean[p, i - 1, c], mean[p, i, c]
                            i -= 1
                            moved += 1
                if w < -prune:
                    w = np.float32(0.0)
                    nm -= 1
                weight[p, mode - moved] = w
                total = total + w
                mode += 1
            inv = np.float32(0.0)
            if abs(total) > np.float32(1.1920929e-07):
                inv = np.float32(1.0) / total
            for m in range(nm):
                weight[p, m] = weight[p, m] * inv
            if not fits and alpha > np.float32(0.0):
                if nm == M:
                    slot = M - 1
                else:
                    slot = nm
                    nm += 1
                if nm == 1:
                    weight[p, slot] = np.float32(1.0)
                else:
                    weight[p, slot] = alpha
                    for m in range(nm - 1):
                        weight[p, m] = weight[p, m] * alpha1
                for c in range(C):
                    mean[p, slot, c] = x[p, c]
                var[p, slot] = var_init
                i = nm - 1
                while i > 0 and not (alpha < weight[p, i - 1]):
                    weight[p, i], weight[p, i - 1] = weight[p, i - 1], weight[p, i]
                    var[p, i], var[p, i - 1] = var[p, i - 1], var[p, i]
                    for c in range(C):
                        mean[p, i, c], mean[p, i - 1, c] = mean[p, i - 1, c], mean[p, i, c]
                    i -= 1
            nmodes[p] = nm
            if background:
                out[p] = 0
            elif detect_shadows and _is_shadow(weight, var, mean, nm, x, p, Tb, TB, tau):
                out[p] = 127
            else:
                out[p] = 255

    @_jit
    def _is_shadow(weight, var, mean, nm, x, p, Tb, TB, tau):  # pragma: no cover
        C = x.shape[1]
        total = np.float32(0.0)
        for m in range(nm):
            num = np.float32(0.0)
            den = np.float32(0.0)
            for c in range(C):
                num = num + x[p, c] * mean[p, m, c]
                den = den + mean[p, m, c] * mean[p, m, c]
            if den == 0:
                return False
            if num <= den and num >= tau * den:
                a = num / den
                dist2a = np.float32(0.0)
                for c in range(C):
                    dd = a * mean[p, m, c] - x[p, c]
                    dist2a = dist2a + dd * dd
                if dist2a < Tb * var[p, m] * a * a:
                    return True
            total = total + weight[p, m]
            if total > TB:
                return False
        return False

    def update_numba(weight, var, mean, nmodes, x, alpha, prune, var_threshold,  # noqa: F811
                     background_ratio, var_threshold_gen, var_init, var_min, var_max,
                     detect_shadows, tau, out):
        """As :func:`update_numpy`, compiled with numba (one pass over the pixels)."""
        _update_pixels(weight, var, mean, nmodes, x, _F(alpha), _F(prune), _F(var_threshold),
                       _F(background_ratio), _F(var_threshold_gen), _F(var_init), _F(var_min),
                       _F(var_max), bool(detect_shadows), _F(tau), out)
        return out
