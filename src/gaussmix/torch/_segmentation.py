"""Unsupervised image segmentation with a deep Gaussian mixture (Schwab, Mayr, Haltmeier 2024).

A small U-Net maps the image to per-pixel class probabilities ``p`` (n pixels × K). Instead of
EM's E-step, the network weights take a gradient step on the negative log-likelihood of a
Gaussian mixture whose parameters are the closed-form *weighted M-step* of ``p`` (so the
likelihood is a differentiable function of the network output):

- ``deepG``: an ordinary GMM, ``log p(x_i) = log Σ_k w_k N(x_i | μ_k, Σ_k)`` with
  ``w_k = mean_i p_ik``;
- ``deepSVG``: a spatially variant GMM whose mixing weights are the pixel's own
  probabilities, ``log p(x_i) = log Σ_k p_ik N(x_i | μ_k, Σ_k)``.

The network's inductive bias (the "deep image prior") favours spatially coherent labels, which
a pixel-wise GMM lacks. An optional regulariser ``λ Σ_k ‖μ_k − m_k‖² / K`` keeps the class means
near reference means ``m_k`` (given, or the EM means used to initialise the network).

Blind-spot deepSVG (the default for ``deepSVG``). A network that sees pixel ``i`` can copy its
value into ``p_i`` and so reproduces the noisy pixel-wise posterior. With ``blind_spot=b`` the
network instead predicts ``p_i`` from the image with a ``b × b`` square around ``i`` hidden
(Noise2Self-style masking, the hidden pixels zeroed and flagged in an extra input channel), so
``p_i`` is a *contextual prior*: ``log p(x_i) = log Σ_k p_ik N(x_i | μ_k, Σ_k)`` is a genuine
(pseudo-)likelihood. Labels are the posterior ``r_ik ∝ p_ik N(x_i | μ_k, Σ_k)``: where the
pixel is unambiguous (low noise) its likelihood decides, where it is not the context does. The
class parameters are the weighted M-step of the tempered posterior ``w_ik ∝ p_ik N(x_i | θ_k)^β``
(``β = likelihood_power``, 0.3 by default): mostly the context prior, so a class must be a region
that is predictable from its surroundings, which stops EM's habit, at high noise, of spending a
component on splitting a homogeneous region by its noise; the pixel's own likelihood, damped,
keeps small but clear-cut objects (about the size of the blind spot) in their class.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import Interval, Options, check_params
from ._kernels import component_log_prob, mixture_log_prob, torch_covariance, weighted_mstep
from ._training import (NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT,
                        VERBOSE, Evaluation, Progress, train_epochs)
from ._validation import seed_from


# Blind-spot training: Adam steps per epoch, masking grids per step, grids per evaluation batch.
_BS_STEPS, _BS_BATCH, _BS_EVAL_BATCH = 10, 4, 25
# Larger images train on random crops of this side (a step then costs the same at any size)
# and are evaluated per epoch on enough masking grids for about this many pixels (scored
# pixels × forward passes); images up to _BS_CROP × _BS_CROP use every grid, as before.
_BS_CROP, _BS_EVAL_PIXELS = 64, 64 * 64 * 100


def _block(cin, cout):
    groups = 4 if cout % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A small U-Net returning per-pixel class logits.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    n_classes : int
        Channels of the output logits.
    base_channels : int, default=16
        Channels of the first level; doubled at every level down.
    depth : int, default=2
        Number of down-sampling steps; inputs are reflect-padded to a multiple of ``2**depth``.

    Examples
    --------
    >>> import torch
    >>> from gaussmix.torch import UNet
    >>> net = UNet(2, 3, base_channels=8, depth=2)
    >>> tuple(net(torch.zeros(1, 2, 30, 21)).shape)
    (1, 3, 30, 21)
    """

    _parameter_table = {"in_channels": POSITIVE_INT, "n_classes": POSITIVE_INT,
                        "base_channels": POSITIVE_INT, "depth": NON_NEGATIVE_INT}

    def __init__(self, in_channels: int, n_classes: int, base_channels: int = 16,
                 depth: int = 2) -> None:
        super().__init__()
        check_params(type(self).__name__,
                     {"in_channels": in_channels, "n_classes": n_classes,
                      "base_channels": base_channels, "depth": depth}, self._parameter_table)
        self.depth = int(depth)
        c = int(base_channels)
        self.down = nn.ModuleList()
        chans, cin = [], int(in_channels)
        for i in range(self.depth):
            self.down.append(_block(cin, c * 2**i))
            chans.append(c * 2**i)
            cin = c * 2**i
        self.bottom = _block(cin, c * 2**self.depth)
        cin = c * 2**self.depth
        self.up, self.dec = nn.ModuleList(), nn.ModuleList()
        for cs in reversed(chans):
            self.up.append(nn.ConvTranspose2d(cin, cs, 2, stride=2))
            self.dec.append(_block(2 * cs, cs))
            cin = cs
        self.out = nn.Conv2d(cin, int(n_classes), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits.

        Parameters
        ----------
        x : Tensor of shape (batch, in_channels, H, W)
            Images; any ``H`` and ``W`` (padded internally to a multiple of ``2**depth``).

        Returns
        -------
        Tensor of shape (batch, n_classes, H, W)
        """
        H, W = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            mode = "reflect" if (H > ph and W > pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, dec, s in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), s], dim=1))
        return self.out(x)[..., :H, :W]


def _image_tensor(image, device):
    if isinstance(image, torch.Tensor):
        t = image.detach()
        device = t.device if device is None else torch.device(device)
        t = t.to(device=device, dtype=t.dtype if torch.is_floating_point(t) else torch.float32)
    else:
        arr = np.asarray(image)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"image must be numeric, got dtype {arr.dtype}.")
        t = torch.as_tensor(arr.astype(np.float32, copy=False),
                            device=torch.device(device) if device is not None else None)
    if t.ndim == 2:
        t = t[:, :, None]
    if t.ndim != 3:
        raise ValueError(
            f"image must have shape (H, W) or (H, W, channels), got {tuple(image.shape)}.")
    if t.shape[0] < 2 or t.shape[1] < 2:
        raise ValueError(f"image must be at least 2×2 pixels, got {tuple(t.shape[:2])}.")
    if not torch.isfinite(t).all():
        raise ValueError("image contains NaN or infinity.")
    return t


def _grid_centres(H, W, stride, offsets, device):
    """Indicator (len(offsets), 1, H, W) of the grid ``(oy + stride·i, ox + stride·j)``."""
    cen = torch.zeros(len(offsets), 1, H, W, device=device)
    for b, (oy, ox) in enumerate(offsets):
        cen[b, 0, oy::stride, ox::stride] = 1.0
    return cen


def _fit_blind_spot(net, x_img, K, resp0, *, block, beta, covariance_type, reg_covar, lr,
                    max_epochs, patience, tol, seed, progress):
    """Train a contextual-prior network by blind-spot masking; return the posterior (n, K).

    The hidden squares are centred on a grid of stride ``2·block`` (so each centre keeps the
    context between squares); a random offset of that grid is drawn per image in a batch, and
    the loss is the negative log-likelihood ``−log Σ_k p_ik N(x_i | θ_k)`` at the centres only.
    An epoch is ``_BS_STEPS`` Adam steps on batches of ``_BS_BATCH`` offsets, followed by the
    full pass over all offsets, which gives every pixel its prior ``p_i`` (its own square
    hidden), the exact blind-spot loss used for early stopping, and the M-step
    ``θ ← argmax_θ Σ_ik w_ik log N(x_i | θ_k)`` with ``w_ik ∝ p_ik N(x_i | θ_k)^beta``. ``θ``
    starts at the M-step of ``resp0`` (EM's responsibilities) or, when ``resp0`` is None, of
    the untrained network's prior.
    """
    H, W, C = x_img.shape
    dev = x_img.device
    x = x_img.reshape(-1, C)
    stride = 2 * block
    offsets = [(a, b) for a in range(min(stride, H)) for b in range(min(stride, W))]
    image = x_img.permute(2, 0, 1)[None]
    rng = np.random.default_rng(seed)
    ch, cw = min(H, _BS_CROP), min(W, _BS_CROP)
    # Grids evaluated every epoch: all of them for small images; for large ones a fixed
    # random subset (the same every epoch, so that epochs' losses compare) whose centres
    # still number about _BS_EVAL_PIXELS / len(offsets) pixels. The M-step and early
    # stopping use those pixels; the labels come from a pass over every grid at the end.
    n_eval = min(len(offsets), max(1, -(-_BS_EVAL_PIXELS // (H * W))))
    eval_offsets = offsets if n_eval == len(offsets) else \
        [offsets[i] for i in np.sort(rng.choice(len(offsets), n_eval, replace=False))]

    def log_prior(offs, img=image):
        h, w = img.shape[-2:]
        cen = _grid_centres(h, w, stride, offs, dev)
        hidden = F.max_pool2d(cen, block, 1, block // 2)
        logits = net(torch.cat([img * (1 - hidden), hidden], 1))
        return torch.log_softmax(logits, 1), cen

    def prior_at_centres(offs):
        """Log prior (n, K) and a mask (n,) of the pixels that are centres of ``offs``."""
        with torch.no_grad():
            out = torch.zeros(K, H, W, device=dev)
            seen = torch.zeros(H, W, device=dev)
            for i in range(0, len(offs), _BS_EVAL_BATCH):
                lp, cen = log_prior(offs[i:i + _BS_EVAL_BATCH])
                out += (lp * cen).sum(0)
                seen += cen.sum((0, 1))
        return out.reshape(K, -1).T, seen.reshape(-1) > 0

    def component_lp(weights, sel=None):
        xs = x if sel is None else x[sel]
        params = weighted_mstep(xs, weights, covariance_type, reg_covar)
        return component_log_prob(x, params["means"], covariance_type, chol=params["chol"],
                                  log_diag=params["log_diag"]).detach()

    clp = component_lp(prior_at_centres(offsets)[0].exp() if resp0 is None else resp0)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    batch = min(_BS_BATCH, len(offsets))
    last = {}

    def step(epoch):
        nonlocal clp
        if epoch > 1:  # the M-step of the previous epoch's tempered posterior
            sel = last["sel"]
            clp = component_lp(torch.softmax(last["lp"][sel] + beta * clp[sel], 1), sel)
        for _ in range(_BS_STEPS):
            picked = rng.choice(len(offsets), batch, replace=False)
            img, c = image, clp
            if (ch, cw) != (H, W):  # a random crop; its own grid offsets
                y0, x0 = int(rng.integers(H - ch + 1)), int(rng.integers(W - cw + 1))
                img = image[..., y0:y0 + ch, x0:x0 + cw]
                c = clp.reshape(H, W, K)[y0:y0 + ch, x0:x0 + cw].reshape(-1, K)
            lp, cen = log_prior([offsets[i] for i in picked], img)
            lp = lp.permute(0, 2, 3, 1).reshape(batch, -1, K)
            cen = cen.reshape(batch, -1)
            nll = -torch.logsumexp(lp + c, -1)
            loss = (nll * cen).sum() / cen.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def evaluate(epoch):
        last["lp"], last["sel"] = lp, sel = prior_at_centres(eval_offsets)
        last["joint"] = joint = lp + clp
        value = float(-torch.logsumexp(joint[sel], 1).mean())
        return Evaluation(loss=value, monitor=value)

    if n_eval == len(offsets):
        snapshot = lambda: torch.softmax(last["joint"], 1)  # noqa: E731
    else:
        snapshot = lambda: (copy.deepcopy(net.state_dict()), clp)  # noqa: E731
    result = train_epochs(step, evaluate, max_epochs=max_epochs, patience=patience, tol=tol,
                          snapshot=snapshot, progress=progress)
    if n_eval == len(offsets):
        return result.best_state
    state, clp = result.best_state
    net.load_state_dict(state)
    return torch.softmax(prior_at_centres(offsets)[0] + clp, 1)


_NONE = [Options(None)]
_SEGMENT_TABLE = {
    "n_components": [Interval(int, 2, None)],
    "variant": [Options("deepSVG", "deepG")],
    "blind_spot": NON_NEGATIVE_INT + _NONE,
    "likelihood_power": [Interval(float, 0, 1)],
    "max_epochs": POSITIVE_INT + _NONE,
    "lr": POSITIVE_FLOAT + _NONE,
    "patience": POSITIVE_INT + _NONE,
    "tol": NON_NEGATIVE_FLOAT,
    "mean_regularization": NON_NEGATIVE_FLOAT,
    "init": [Options("em", "random")],
    "pretrain_epochs": NON_NEGATIVE_INT + _NONE,
    "pretrain_lr": POSITIVE_FLOAT,
    "n_init": POSITIVE_INT,
    "reg_covar": POSITIVE_FLOAT,
    "base_channels": POSITIVE_INT,
    "depth": NON_NEGATIVE_INT,
    "verbose": VERBOSE,
}


def segment_deep(image: torch.Tensor | npt.ArrayLike, n_components: int, *,
                 variant: str = "deepSVG", blind_spot: int | None = None,
                 likelihood_power: float = 0.3, covariance_type: str | Any = "full",
                 max_epochs: int | None = None, lr: float | None = None,
                 patience: int | None = None, tol: float = 1e-4,
                 mean_regularization: float = 0.0, mean_prior: npt.ArrayLike | None = None,
                 init: str = "em", pretrain_epochs: int | None = None, pretrain_lr: float = 1e-2,
                 n_init: int = 5, reg_covar: float = 1e-4, base_channels: int = 16,
                 depth: int = 2, random_state: int | None = None, verbose: int = 0,
                 device: torch.device | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Segment one image with a U-Net trained on the likelihood of a Gaussian mixture.

    Parameters
    ----------
    image : array-like or Tensor of shape (H, W) or (H, W, channels)
        Intensities; each channel is standardised before use. A tensor keeps its device.
    n_components : int
        Number of classes ``K``.
    variant : {"deepSVG", "deepG"}, default="deepSVG"
        "deepSVG": the pixel probabilities are the mixing weights (spatially variant GMM);
        "deepG": a GMM with global weights, the probabilities entering through the M-step.
    blind_spot : int or None, default=None
        Side ``b`` (odd) of the square hidden around each pixel when the network predicts its
        class prior (see the module notes); 0 turns the blind spot off (the network sees the
        whole image, as in the paper). Only for "deepSVG" without mean regularisation; None
        means 5 there and 0 otherwise. With a blind spot the labels are the posterior
        ``r_ik ∝ p_ik N(x_i | μ_k, Σ_k)``, the class parameters are updated by an M-step
        once per epoch (see ``likelihood_power``), and the network is not pre-trained
        (``init="em"`` only gives the initial class parameters). Choose ``b`` larger than the
        noise's correlation length, or the network can predict the noise of a pixel from its
        neighbours.
    likelihood_power : float in [0, 1], default=0.3
        With a blind spot: the exponent ``β`` in the weights ``w_ik ∝ p_ik N(x_i | θ_k)^β`` of
        the per-epoch M-step of the class parameters. ``β = 1`` is the posterior (the exact EM
        step for the blind-spot likelihood); ``β = 0`` is the context prior, which only keeps
        classes that are predictable from their surroundings: at high noise it stops a spare
        class from splitting a homogeneous region by its noise, but it also lets a class of
        small objects (about the size of the blind spot) die at moderate noise. In between,
        a pixel's own likelihood keeps such a class alive where it is clear-cut and the
        context decides where it is not. See ``benchmarks/results/torch_deep_segmentation.md``.
    covariance_type : str or CovarianceModel, default="full"
        A covariance model with a torch evaluation ("full", "tied", "diag", "spherical" or a
        registered one).
    max_epochs : int, optional
        Without a blind spot: gradient steps on the likelihood (one step per epoch: the whole
        image is one batch), default 200. With one: epochs of 10 steps, each on 4 random
        masking grids, followed by a full blind-spot pass, default 30. Images larger than
        64×64 take their steps on random 64×64 crops, and an epoch's pass covers a fixed
        subset of the grids (about 64×64 pixels' worth); the labels come from every grid of
        the best epoch's network, so the time grows linearly with the pixel count. As with any deep image
        prior the budget is part of the regularisation: trained much longer (~80 epochs), the
        network starts to predict correlated noise from the context and the segmentation
        drifts back towards the pixel-wise one.
    lr : float, optional
        Adam learning rate of the likelihood phase; default 1e-4, or 1e-3 with a blind spot.
    patience : int, optional
        Stop when the loss has not improved by ``tol`` for this many epochs; default 20, or 5
        with a blind spot.
    tol : float, default=1e-4
    mean_regularization : float, default=0.0
        Weight ``λ`` of ``λ Σ_k ‖μ_k − m_k‖² / K`` (in standardised units).
    mean_prior : array-like of shape (K, channels), optional
        Reference means ``m_k`` (in the image's units); defaults to the EM means when
        ``init="em"``. Needed when ``mean_regularization > 0`` and ``init="random"``.
    init : {"em", "random"}, default="em"
        "em": fit a GMM by EM on the pixels and first train the network for
        ``pretrain_epochs`` steps to reproduce its responsibilities (class-balanced
        cross-entropy), so the labels start from the EM solution (with a blind spot: start
        the class parameters at EM's); "random": start from the random network.
    pretrain_epochs : int, optional
        Default 100; must be 0 (or None) with a blind spot.
    pretrain_lr : float, default=1e-2
        Adam learning rate of the pre-training phase.
    n_init : int, default=5
        EM restarts of the initialising GMM (the best likelihood is kept).
    reg_covar : float, default=1e-4
        Added to the covariance diagonal in the differentiable M-step (standardised units).
    base_channels, depth : int
        Size of the :class:`UNet`.
    random_state : int or None
        Seeds the network, EM and everything else; CPU runs are deterministic.
    verbose : int, default=0
        Print epoch and loss on stderr every 25 epochs when > 0.
    device : str or torch.device, optional
        Defaults to the device of a tensor ``image``, else the CPU.

    Returns
    -------
    labels : ndarray of shape (H, W), int
        ``argmax_k`` of ``probabilities`` at the best epoch.
    probabilities : ndarray of shape (H, W, K)
        The network's per-pixel class probabilities ``p`` or, with a blind spot, the
        posterior ``r``.

    References
    ----------
    M. Schwab, A. Mayr, M. Haltmeier, "Deep Gaussian mixture model for unsupervised image
    segmentation", arXiv:2404.12252, 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.torch import segment_deep
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((32, 32)); img[8:24, 8:24] = 1.0
    >>> img += 0.2 * rng.normal(size=img.shape)
    >>> labels, proba = segment_deep(img, 2, max_epochs=20, random_state=0)
    >>> labels.shape, proba.shape
    ((32, 32), (32, 32, 2))
    >>> bool((labels[8:24, 8:24] == labels[16, 16]).mean() > 0.95)
    True
    """
    check_params("segment_deep", {
        "n_components": n_components, "variant": variant, "blind_spot": blind_spot,
        "likelihood_power": likelihood_power, "max_epochs": max_epochs, "lr": lr,
        "patience": patience, "tol": tol, "mean_regularization": mean_regularization,
        "init": init, "pretrain_epochs": pretrain_epochs, "pretrain_lr": pretrain_lr,
        "n_init": n_init, "reg_covar": reg_covar, "base_channels": base_channels,
        "depth": depth, "verbose": verbose}, _SEGMENT_TABLE)
    covariance_type = torch_covariance(covariance_type).name
    K = int(n_components)
    lam = float(mean_regularization)
    if blind_spot is None:
        blind_spot = 5 if variant == "deepSVG" and lam == 0 else 0
    blind_spot = int(blind_spot)
    beta = float(likelihood_power)
    if blind_spot:
        if blind_spot % 2 == 0:
            raise ValueError(f"blind_spot must be odd (or 0), got {blind_spot}.")
        if variant != "deepSVG" or lam > 0:
            raise ValueError("blind_spot > 0 needs variant='deepSVG' and no "
                             "mean_regularization; pass blind_spot=0.")
        if pretrain_epochs:
            raise ValueError("blind_spot > 0 does not pre-train: pretrain_epochs must be 0.")
    max_epochs = int(max_epochs if max_epochs is not None else (30 if blind_spot else 200))
    pretrain_epochs = int(pretrain_epochs if pretrain_epochs is not None
                          else (0 if blind_spot else 100))
    patience = int(patience if patience is not None else (5 if blind_spot else 20))
    lr = float(lr if lr is not None else (1e-3 if blind_spot else 1e-4))
    tol, reg_covar, pretrain_lr = float(tol), float(reg_covar), float(pretrain_lr)
    n_init = int(n_init)
    img = _image_tensor(image, device)
    dev = img.device
    H, W, C = img.shape
    if K > H * W:
        raise ValueError(f"n_components={K} exceeds the number of pixels {H * W}.")
    img = img.to(torch.float32)
    mu0, sd0 = img.reshape(-1, C).mean(0), img.reshape(-1, C).std(0).clamp_min(1e-8)
    x_img = (img - mu0) / sd0  # standardised (H, W, C)
    x = x_img.reshape(-1, C)
    net_in = x_img.permute(2, 0, 1)[None]
    seed = seed_from(random_state)

    ref_means = None
    if mean_prior is not None:
        mp = torch.as_tensor(np.asarray(mean_prior, dtype=np.float32), device=dev)
        if mp.shape != (K, C):
            raise ValueError(f"mean_prior must have shape ({K}, {C}), got {tuple(mp.shape)}.")
        ref_means = (mp - mu0) / sd0
    em_resp = None
    if init == "em":
        try:
            from gaussmix import GaussianMixture as EM
        except ImportError:
            from sklearn.mixture import GaussianMixture as EM
        xn = x.cpu().double().numpy()
        em = EM(K, covariance_type=covariance_type, random_state=seed, reg_covar=reg_covar,
                max_iter=200, n_init=n_init).fit(xn)
        em_resp = torch.as_tensor(em.predict_proba(xn), dtype=torch.float32, device=dev)
        if ref_means is None:
            ref_means = torch.as_tensor(em.means_, dtype=torch.float32, device=dev)
    if lam > 0 and ref_means is None:
        raise ValueError("mean_regularization > 0 with init='random' needs mean_prior.")

    # Initialise on the CPU from a private copy of its RNG state: same weights on any device.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        net = UNet(C + (blind_spot > 0), K, base_channels, depth).to(dev)
    progress = Progress(f"segment_deep:{variant}", verbose, 25, max_epochs)
    if blind_spot:
        post = _fit_blind_spot(net, x_img, K, em_resp, block=blind_spot, beta=beta,
                               covariance_type=covariance_type, reg_covar=reg_covar, lr=lr,
                               max_epochs=max_epochs, patience=patience, tol=tol, seed=seed,
                               progress=progress)
        proba = post.reshape(H, W, K).cpu().double().numpy()
        return proba.argmax(-1).astype(np.int64), proba

    opt = torch.optim.Adam(net.parameters(), lr=pretrain_lr)

    if em_resp is not None and pretrain_epochs > 0:
        # Start the labels at the EM solution: cross-entropy to EM's responsibilities,
        # class-balanced (weights ∝ 1 / class size) so that small classes are learned as
        # quickly as large ones instead of being absorbed in the first epochs.
        target = em_resp.T.reshape(1, K, H, W)
        cw = 1.0 / em_resp.mean(0).clamp_min(1.0 / em_resp.shape[0])
        cw = (cw / (cw * em_resp).sum(1).mean()).reshape(1, K, 1, 1)
        pre = {}

        def pretrain_step(epoch):
            opt.zero_grad(set_to_none=True)
            loss = -(cw * target * torch.log_softmax(net(net_in), 1)).sum(1).mean()
            loss.backward()
            opt.step()
            pre["loss"] = float(loss.detach())

        train_epochs(pretrain_step,
                     lambda epoch: Evaluation(loss=pre["loss"]),
                     max_epochs=pretrain_epochs, progress=Progress(
                         f"segment_deep:{variant}:pretrain", verbose, 25, pretrain_epochs))
        opt = torch.optim.Adam(net.parameters(), lr=lr)

    def objective():
        logits = net(net_in)[0]  # (K, H, W)
        log_p = torch.log_softmax(logits, 0).reshape(K, -1).T  # (n, K)
        p = log_p.exp()
        params = weighted_mstep(x, p, covariance_type, reg_covar)
        if variant == "deepG":
            nll = -mixture_log_prob(x, params, covariance_type).mean()
        else:
            clp = component_log_prob(x, params["means"], covariance_type,
                                     chol=params["chol"], log_diag=params["log_diag"])
            nll = -torch.logsumexp(clp + log_p, dim=1).mean()
        loss = nll
        if lam > 0:
            loss = loss + lam * ((params["means"] - ref_means) ** 2).sum() / K
        return loss, p

    # The loss of an epoch is the objective at the parameters its gradient step starts from
    # (one forward pass for both), so the step follows the evaluation it reports.
    last = {}

    def step(epoch):
        opt.zero_grad(set_to_none=True)
        loss, p = objective()
        last["value"], last["p"] = float(loss.detach()), p.detach()
        loss.backward()
        opt.step()

    result = train_epochs(step, lambda epoch: Evaluation(loss=last["value"],
                                                         monitor=last["value"]),
                          max_epochs=max_epochs, patience=patience, tol=tol,
                          snapshot=lambda: last["p"].clone(), progress=progress)
    best_p = result.best_state
    proba = best_p.reshape(H, W, K).cpu().double().numpy()
    return proba.argmax(-1).astype(np.int64), proba
