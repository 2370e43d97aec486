"""A deep Gaussian mixture segmenter trained once on a set of unlabelled images.

The per-image :func:`gaussmix.torch.segment_deep` trains a fresh network for every image.
:class:`DeepGMMSegmenter` trains one U-Net on a whole set (Schwab, Mayr and Haltmeier 2024:
"once trained, the network is able to predict label probabilities very quickly") and segments
new images with forward passes only. Notation as in :mod:`gaussmix.torch._segmentation`:
``p`` the network's per-pixel class probabilities (n × K), ``θ = (μ_k, Σ_k)`` the class
parameters, ``clp`` the component log-densities ``log N(x_i | θ_k)``.

Class parameters are shared by every image. Intensities are standardised with the pooled
per-channel mean and standard deviation of the training set (not per image, so a class keeps
its intensities across images), and ``θ`` starts at an EM fit on pixels pooled from the
training images (subsampled).

With a blind spot (the default for ``deepSVG``) the network predicts the class prior ``p_i``
of a pixel from its surroundings only: the image is hidden on squares of side ``b`` laid on a
grid of stride ``2b`` (hidden pixels zeroed and flagged in an extra channel) and the loss
``−log Σ_k p_ik N(x_i | θ_k)`` is taken at every hidden pixel. Four shifts of that grid,
``(0, 0), (0, b), (b, 0), (b, b)``, tile the plane, so the prior of every pixel of an image
comes from one forward pass over a batch of four masked copies. Labels are the posterior
``r_ik ∝ p_ik N(x_i | θ_k)``, and ``θ`` is the M-step, once per epoch, of the tempered
posterior ``w_ik ∝ p_ik N(x_i | θ_k)^β`` accumulated over the epoch's batches (as in
``segment_deep``: ``β = likelihood_power``), from the epoch in which the network has taken
50 gradient steps (before, the prior of an untrained network is near uniform and the tempered
M-step would pull every class towards the pooled mean). Without a blind spot the network sees the whole
image, ``θ`` is the differentiable M-step of ``p`` over each mini-batch (the paper's
formulation, optionally with the mean regulariser ``λ Σ_k ‖μ_k − m_k‖² / K`` towards the EM
means ``m_k``), and the shared ``θ`` kept for prediction is the M-step of ``p`` over the epoch
(after the same 50 warm-up steps; until then the EM classes).
Labels are the posterior ``r`` for "deepSVG" (with or without a blind spot) and the network's
``argmax_k p_ik`` for "deepG", whose mixing weights are global (its posterior would be the
pixel-wise one).
"""
from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Iterable

import os
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from .._atomic import atomic_write
from .._validation import Interval, Kinds, Options, check_params
from ._kernels import component_log_prob, torch_covariance, weighted_mstep
from ._segmentation import UNet
from ._training import (BOOL, NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT,
                        POSITIVE_INT, VERBOSE, Evaluation, Progress, train_epochs)
from ._validation import seed_from

_FORMAT = "gaussmix-deep-segmenter"
_VERSION = 1
_NONE = [Options(None)]

#: Gradient steps before the classes are first updated: the M-step of the tempered posterior
#: needs an informative prior, and an untrained network's near-uniform prior would pull every
#: class towards the pooled mean.
_WARMUP_STEPS = 50
#: Rows kept per epoch for the shared M-step (a random subsample of the hidden pixels).
_MSTEP_ROWS = 200_000


def _as_chw(image, index, n_channels=None):
    """One image as a float32 tensor (C, H, W) in its own units."""
    if isinstance(image, tuple):  # a Dataset item (image, target, ...)
        image = image[0]
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu", torch.float32)
    else:
        arr = np.asarray(image)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == bool):
            raise TypeError(f"image {index} must be numeric, got dtype {arr.dtype}.")
        t = torch.as_tensor(arr.astype(np.float32, copy=False))
    if t.ndim == 2:
        t = t[:, :, None]
    if t.ndim != 3:
        raise ValueError(f"image {index} must have shape (H, W) or (H, W, channels), got "
                         f"{tuple(t.shape)}.")
    if t.shape[0] < 2 or t.shape[1] < 2:
        raise ValueError(f"image {index} must be at least 2×2 pixels, got {tuple(t.shape[:2])}.")
    if n_channels is not None and t.shape[2] != n_channels:
        raise ValueError(f"image {index} has {t.shape[2]} channel(s), but the model was trained "
                         f"on images with {n_channels}.")
    if not torch.isfinite(t).all():
        raise ValueError(f"image {index} contains NaN or infinity.")
    return t.permute(2, 0, 1).contiguous()


class _ImageSet:
    """Random access to a set of images: a stack, a sequence or a torch ``Dataset``."""

    def __init__(self, images, n_channels=None):
        if isinstance(images, (np.ndarray, torch.Tensor)):
            if images.ndim not in (3, 4):
                raise ValueError("images must be an array (N, H, W) or (N, H, W, channels), a "
                                 f"list of images or a Dataset; got an array of shape "
                                 f"{tuple(images.shape)}.")
            self.items = images
        elif hasattr(images, "__getitem__") and hasattr(images, "__len__"):
            self.items = images  # a list, or a torch Dataset read lazily every epoch
        elif isinstance(images, Iterable):
            self.items = list(images)  # a one-shot iterable is read into memory
        else:
            raise TypeError("images must be an array, a list of arrays, an iterable of arrays "
                            f"or a torch Dataset, got {type(images).__name__}.")
        if len(self.items) == 0:
            raise ValueError("images is empty.")
        self.n_channels = n_channels

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return _as_chw(self.items[i], i, self.n_channels)


def _hidden_mask(H, W, block, offsets, device):
    """(B, 1, H, W) mask of the squares of side ``block`` on a grid of stride ``2·block``."""
    stride = 2 * block
    ys = torch.arange(H, device=device)
    xs = torch.arange(W, device=device)
    rows = [(((ys - oy) % stride) < block)[:, None] & (((xs - ox) % stride) < block)[None, :]
            for oy, ox in offsets]
    return torch.stack(rows)[:, None].to(torch.float32)


def _augment(batch, rng):
    """The same random flip and quarter turn for every image of a batch (B, C, H, W)."""
    if rng.random() < 0.5:
        batch = batch.flip(-1)
    if rng.random() < 0.5:
        batch = batch.flip(-2)
    k = int(rng.integers(4))
    return torch.rot90(batch, k, (-2, -1)) if k else batch


_TABLE = {
    "n_components": [Interval(int, 2, None)],
    "variant": [Options("deepSVG", "deepG")],
    "blind_spot": NON_NEGATIVE_INT + _NONE,
    "likelihood_power": [Interval(float, 0, 1)],
    "mean_regularization": NON_NEGATIVE_FLOAT,
    "epochs": POSITIVE_INT,
    "batch_size": POSITIVE_INT,
    "lr": POSITIVE_FLOAT,
    "patience": POSITIVE_INT + _NONE,
    "tol": NON_NEGATIVE_FLOAT,
    "augment": BOOL,
    "refine_steps": NON_NEGATIVE_INT,
    "refine_lr": POSITIVE_FLOAT,
    "reg_covar": POSITIVE_FLOAT,
    "em_pixels": [Interval(int, 10, None)],
    "n_init": POSITIVE_INT,
    "base_channels": POSITIVE_INT,
    "depth": NON_NEGATIVE_INT,
    "verbose": VERBOSE,
    "device": [Kinds(str, torch.device, label="a str or torch.device")],
}


class DeepGMMSegmenter:
    """Unsupervised segmentation by a U-Net trained on a set of images with a Gaussian mixture.

    Parameters
    ----------
    n_components : int
        Number of classes ``K``.
    variant : {"deepSVG", "deepG"}, default="deepSVG"
        "deepSVG": the pixel's class probabilities are its mixing weights (spatially variant
        GMM); "deepG": global mixing weights, the probabilities entering through the M-step.
    covariance_type : str or CovarianceModel, default="full"
        Any registered covariance model with a torch evaluation.
    blind_spot : int or None, default=None
        Side ``b`` of the hidden squares (see the module notes); 0 lets the network see the
        whole image (the paper's formulation). None means 5 for "deepSVG" without mean
        regularisation and 0 otherwise. Needs "deepSVG" and ``mean_regularization=0``.
    likelihood_power : float in [0, 1], default=0.3
        With a blind spot, ``β`` of the tempered posterior whose M-step updates the classes.
    mean_regularization : float, default=0.0
        Without a blind spot, ``λ`` of ``λ Σ_k ‖μ_k − m_k‖² / K`` (standardised units), ``m``
        the EM means of the pooled training pixels.
    epochs : int, default=30
        Passes over the training set.
    batch_size : int, default=4
        Images per gradient step. Images are grouped by size: a batch holds images of one
        size only (a set of images of all different sizes trains with batches of one image);
        nothing is padded or cropped.
    lr : float, default=1e-3
        Adam learning rate.
    patience : int or None, default=5
        Stop after this many epochs without the mean training loss improving by ``tol``
        (None: run every epoch); the network and classes of the best epoch are kept.
    tol : float, default=1e-4
    augment : bool, default=False
        Random flips and quarter turns of every batch.
    refine_steps : int, default=0
        At prediction, Adam steps of a copy of the network on each image's own loss (the
        classes stay fixed) before predicting it.
    refine_lr : float, default=1e-4
        Learning rate of those steps.
    reg_covar : float, default=1e-4
        Added to the covariance diagonal (standardised units).
    em_pixels : int, default=50_000
        Pixels pooled from the training images (an equal share from each) for the initial EM.
    n_init : int, default=3
        EM restarts of the initialisation.
    base_channels, depth : int, default=16, 2
        Size of the :class:`UNet`.
    random_state : int or None
        Seeds EM, the network, batch order and masks; CPU fits are deterministic.
    verbose : int, default=0
        Progress bar and a message every 5 epochs.
    device : str or torch.device, default="cpu"

    Attributes
    ----------
    n_channels_ : int
        Channels of the training images; images to predict must have as many.
    channel_mean_, channel_std_ : ndarray of shape (n_channels,)
        Pooled standardisation of the training set.
    means_ : ndarray of shape (K, n_channels)
        Class means in image units.
    weights_ : ndarray of shape (K,)
        Share of each class in the training set (the mixing weights of "deepG").
    network_ : UNet
    class_params_ : dict of Tensor
        ``θ`` in standardised units, as returned by :func:`weighted_mstep`.
    history_ : list of dict
        ``epoch`` and mean training ``loss`` of every epoch.
    n_epochs_ : int

    See Also
    --------
    gaussmix.torch.segment_deep : one network trained per image.
    gaussmix.image.segment : ``method="deep", model=segmenter`` uses a trained segmenter.

    References
    ----------
    M. Schwab, A. Mayr, M. Haltmeier, "Deep Gaussian mixture model for unsupervised image
    segmentation", arXiv:2404.12252, 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.torch import DeepGMMSegmenter
    >>> rng = np.random.default_rng(0)
    >>> imgs = np.zeros((6, 24, 24)); imgs[:, 6:18, 6:18] = 1.0
    >>> imgs += 0.2 * rng.normal(size=imgs.shape)
    >>> seg = DeepGMMSegmenter(2, epochs=3, base_channels=4, depth=1, random_state=0)
    >>> labels = seg.fit(imgs).predict(imgs[0])
    >>> labels.shape
    (24, 24)
    >>> bool((labels[8:16, 8:16] == labels[12, 12]).mean() > 0.9)
    True
    """

    _parameter_table = _TABLE

    def __init__(self, n_components: int, *, variant: str = "deepSVG",
                 covariance_type: str | Any = "full", blind_spot: int | None = None,
                 likelihood_power: float = 0.3, mean_regularization: float = 0.0,
                 epochs: int = 30, batch_size: int = 4, lr: float = 1e-3, patience: int = 5,
                 tol: float = 1e-4, augment: bool = False, refine_steps: int = 0,
                 refine_lr: float = 1e-4, reg_covar: float = 1e-4, em_pixels: int = 50_000,
                 n_init: int = 3, base_channels: int = 16, depth: int = 2,
                 random_state: int | None = None, verbose: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.n_components = n_components
        self.variant = variant
        self.covariance_type = covariance_type
        self.blind_spot = blind_spot
        self.likelihood_power = likelihood_power
        self.mean_regularization = mean_regularization
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.tol = tol
        self.augment = augment
        self.refine_steps = refine_steps
        self.refine_lr = refine_lr
        self.reg_covar = reg_covar
        self.em_pixels = em_pixels
        self.n_init = n_init
        self.base_channels = base_channels
        self.depth = depth
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ parameters
    def _check(self):
        names = list(self._parameter_table)
        check_params(type(self).__name__, {n: getattr(self, n) for n in names},
                     self._parameter_table)
        self._cov = torch_covariance(self.covariance_type)
        lam = float(self.mean_regularization)
        b = self.blind_spot
        if b is None:
            b = 5 if self.variant == "deepSVG" and lam == 0 else 0
        b = int(b)
        if b and (self.variant != "deepSVG" or lam > 0):
            raise ValueError("blind_spot > 0 needs variant='deepSVG' and no mean_regularization; "
                             "pass blind_spot=0.")
        self._block = b
        self._dev = torch.device(self.device)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params``.

        Parameters
        ----------
        deep : bool, default=True
            Accepted for scikit-learn compatibility (there are no nested estimators).

        Returns
        -------
        dict
        """
        return {n: getattr(self, n) for n in ["n_components", "covariance_type", "random_state",
                                              *self._parameter_table] if hasattr(self, n)}

    # ------------------------------------------------------------------ pieces
    def _standardise(self, t):
        return (t - self._mu[:, None, None]) / self._sd[:, None, None]

    def _clp(self, x, params):
        """Component log-densities (n, K) of standardised pixels ``x`` (n, C)."""
        return component_log_prob(x, params["means"], self._cov, chol=params["chol"],
                                  log_diag=params["log_diag"])

    def _log_prior(self, net, z, offsets):
        """Log class priors (B, K, H, W) of standardised images ``z`` (B, C, H, W).

        With a blind spot, ``offsets`` gives one grid offset per image, and only the hidden
        pixels (returned as a mask (B, 1, H, W)) have a blind-spot prior.
        """
        if not self._block:
            return torch.log_softmax(net(z), 1), None
        hidden = _hidden_mask(z.shape[-2], z.shape[-1], self._block, offsets, z.device)
        logits = net(torch.cat([z * (1 - hidden), hidden], 1))
        return torch.log_softmax(logits, 1), hidden

    def _full_log_prior(self, net, z):
        """Log priors (K, H, W) of every pixel of one standardised image ``z`` (C, H, W)."""
        if not self._block:
            return torch.log_softmax(net(z[None]), 1)[0]
        b = self._block
        shifts = [(0, 0), (0, b), (b, 0), (b, b)]
        lp, hidden = self._log_prior(net, z[None].expand(4, -1, -1, -1), shifts)
        return (lp * hidden).sum(0)

    def _batch_loss(self, net, z, rng, params, keep):
        """Loss of a batch ``z`` (B, C, H, W) and M-step rows ``(x, w)`` kept from it."""
        B, C, H, W = z.shape
        K = int(self.n_components)
        b = self._block
        offsets = [tuple(int(v) for v in rng.integers(0, 2 * b, 2)) for _ in range(B)] if b \
            else None
        lp, hidden = self._log_prior(net, z, offsets)
        x = z.permute(0, 2, 3, 1).reshape(-1, C)
        lp = lp.permute(0, 2, 3, 1).reshape(-1, K)
        if b:
            sel = hidden.reshape(-1) > 0
            x, lp = x[sel], lp[sel]
            clp = self._clp(x, params).detach()
            loss = -torch.logsumexp(lp + clp, 1).mean()
            w = torch.softmax(lp.detach() + float(self.likelihood_power) * clp, 1)
        else:
            p = lp.exp()
            theta = weighted_mstep(x, p, self._cov, float(self.reg_covar))
            clp = self._clp(x, theta)
            mix = lp if self.variant == "deepSVG" else theta["log_weights"]
            loss = -torch.logsumexp(clp + mix, 1).mean()
            lam = float(self.mean_regularization)
            if lam > 0:
                loss = loss + lam * ((theta["means"] - self._ref_means) ** 2).sum() / K
            w = p.detach()
        if keep < x.shape[0]:
            idx = torch.as_tensor(rng.choice(x.shape[0], keep, replace=False), device=x.device)
            x, w = x[idx], w[idx]
        return loss, x.detach(), w

    def _mstep(self, x, w):
        with torch.no_grad():
            return {k: (v.detach() if v is not None else None)
                    for k, v in weighted_mstep(x, w, self._cov, float(self.reg_covar)).items()}

    def _batches(self, data, rng):
        """Index lists of one epoch: images grouped by size, shuffled, cut into batches."""
        groups = {}
        for i in rng.permutation(len(data)):
            groups.setdefault(self._shapes[i], []).append(int(i))
        bs = int(self.batch_size)
        out = [g[j:j + bs] for g in groups.values() for j in range(0, len(g), bs)]
        return [out[i] for i in rng.permutation(len(out))]

    # ------------------------------------------------------------------ fit
    def fit(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any],
            y: object = None) -> DeepGMMSegmenter:
        """Train on a set of unlabelled images.

        Parameters
        ----------
        images : array-like of shape (N, H, W) or (N, H, W, channels), list of arrays or Dataset
            Training images: a stack, a list (sizes may differ; channels may not), a torch
            ``Dataset`` (or any sequence) of arrays/tensors, read item by item every epoch, or
            a one-shot iterable (read into memory). A ``Dataset`` item that is a tuple gives
            its first element.
        y : Ignored

        Returns
        -------
        self : DeepGMMSegmenter
            The trained segmenter.
        """
        self._check()
        data = _ImageSet(images)
        seed = seed_from(self.random_state)
        rng = np.random.default_rng(seed)
        dev, K = self._dev, int(self.n_components)
        # One pass: shapes, channels, pooled mean and variance (parallel-variance merge of
        # the per-image centred moments), and an equal share of pixels for EM.
        n_tot, mean, m2 = 0, None, None
        shapes, pool = [], []
        share = max(1, int(self.em_pixels) // len(data))
        for i in range(len(data)):
            t = data[i]
            if data.n_channels is None:
                data.n_channels = t.shape[0]
            elif t.shape[0] != data.n_channels:
                raise ValueError(f"image {i} has {t.shape[0]} channel(s), image 0 has "
                                 f"{data.n_channels}; all images need the same channels.")
            shapes.append(tuple(t.shape[1:]))
            px = t.reshape(t.shape[0], -1).T.double()
            n, mu = px.shape[0], px.mean(0)
            s2 = ((px - mu) ** 2).sum(0)
            if mean is None:
                n_tot, mean, m2 = n, mu, s2
            else:
                delta = mu - mean
                tot = n_tot + n
                mean = mean + delta * n / tot
                m2 = m2 + s2 + delta ** 2 * n_tot * n / tot
                n_tot = tot
            pick = rng.choice(n, min(share, n), replace=False)
            pool.append(px[torch.as_tensor(pick)])
        C = data.n_channels
        self._shapes = shapes
        self._mu = mean.float().to(dev)
        self._sd = (m2 / max(n_tot - 1, 1)).sqrt().clamp_min(1e-8).float().to(dev)
        xpool = (torch.cat(pool).float().to(dev) - self._mu) / self._sd
        if K > xpool.shape[0]:
            raise ValueError(f"n_components={K} exceeds the {xpool.shape[0]} pooled pixels.")

        from .. import GaussianMixture as EM
        em = EM(K, covariance_type=self._cov.name, reg_covar=float(self.reg_covar), max_iter=200,
                n_init=int(self.n_init), random_state=seed).fit(xpool.cpu().double().numpy())
        resp0 = torch.as_tensor(em.predict_proba(xpool.cpu().double().numpy()),
                                dtype=torch.float32, device=dev)
        params = self._mstep(xpool, resp0)
        self._ref_means = params["means"].clone()

        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            net = UNet(C + (self._block > 0), K, int(self.base_channels),
                       int(self.depth)).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        n_batches = -(-len(data) // int(self.batch_size))
        keep = max(K, _MSTEP_ROWS // max(n_batches, 1))
        state = {"params": params, "steps": 0}
        self.history_ = []

        def step(epoch):
            losses, rows_x, rows_w = [], [], []
            for idx in self._batches(data, rng):
                z = self._standardise(torch.stack([data[i] for i in idx]).to(dev))
                if self.augment:
                    z = _augment(z, rng)
                loss, x, w = self._batch_loss(net, z, rng, state["params"], keep)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                state["steps"] += 1
                losses.append(float(loss.detach()) * len(idx))
                rows_x.append(x)
                rows_w.append(w)
            state["loss"] = sum(losses) / len(data)
            state["used"] = state["params"]
            if state["steps"] >= _WARMUP_STEPS:
                state["params"] = self._mstep(torch.cat(rows_x), torch.cat(rows_w))

        def evaluate(epoch):
            self.history_.append({"epoch": epoch, "loss": state["loss"]})
            return Evaluation(loss=state["loss"], monitor=state["loss"])

        # The best epoch keeps its network and the classes its loss was computed with.
        result = train_epochs(
            step, evaluate, max_epochs=int(self.epochs),
            patience=None if self.patience is None else int(self.patience),
            tol=float(self.tol), progress=Progress("DeepGMMSegmenter", self.verbose, 5,
                                                   int(self.epochs)),
            snapshot=lambda: (copy.deepcopy(net.state_dict()), state["used"]))
        net_state, params = result.best_state
        net.load_state_dict(net_state)
        net.eval()
        self.n_epochs_ = result.n_epochs
        self._set_fitted(net, params, C)
        return self

    def _set_fitted(self, net, params, n_channels):
        self.network_ = net
        self.class_params_ = params
        self.n_channels_ = int(n_channels)
        self.channel_mean_ = self._mu.cpu().double().numpy()
        self.channel_std_ = self._sd.cpu().double().numpy()
        self.means_ = (params["means"].cpu().double().numpy() * self.channel_std_
                       + self.channel_mean_)
        self.weights_ = params["log_weights"].exp().cpu().double().numpy()

    # ------------------------------------------------------------------ inference
    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise RuntimeError("This DeepGMMSegmenter is not fitted yet; call fit(images) "
                               "first.")

    def _as_inputs(self, images):
        """(list of (C, H, W) tensors, whether a single image was given)."""
        C = self.n_channels_
        if isinstance(images, (np.ndarray, torch.Tensor)):
            nd = images.ndim
            single = nd == 2 or (nd == 3 and (C > 1 or images.shape[-1] == 1)
                                 and images.shape[-1] == C)
            if nd == 3 and C > 1 and images.shape[-1] != C:
                raise ValueError(f"image has {images.shape[-1]} channel(s), but the model was "
                                 f"trained on images with {C}.")
            if single:
                return [_as_chw(images, 0, C)], True
        data = _ImageSet(images, C)
        return [data[i] for i in range(len(data))], False

    def _posterior(self, net, z):
        """(log posterior or log p (K, H, W), log-likelihood per pixel (H, W)), standardised."""
        C, H, W = z.shape
        K = int(self.n_components)
        lp = self._full_log_prior(net, z)
        x = z.permute(1, 2, 0).reshape(-1, C)
        clp = self._clp(x, self.class_params_)
        lpx = lp.reshape(K, -1).T
        mix = lpx if self.variant == "deepSVG" else self.class_params_["log_weights"]
        joint = clp + mix
        ll = torch.logsumexp(joint, 1)
        out = joint - ll[:, None] if self.variant == "deepSVG" else lpx
        return out.T.reshape(K, H, W), ll.reshape(H, W)

    def _refined(self, z, seed):
        if not int(self.refine_steps):
            return self.network_
        net = copy.deepcopy(self.network_)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=float(self.refine_lr))
        rng = np.random.default_rng(seed)
        for _ in range(int(self.refine_steps)):
            loss, _, _ = self._batch_loss(net, z[None], rng, self.class_params_, 1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        return net

    def _infer(self, images):
        self._check_fitted()
        if not hasattr(self, "_cov"):
            self._check()
        items, single = self._as_inputs(images)
        seed = seed_from(self.random_state)
        out = []
        for t in items:
            z = self._standardise(t.to(self._dev))
            net = self._refined(z, seed)
            with torch.no_grad():
                out.append(self._posterior(net, z))
        return out, single

    def predict_proba(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any]
                      ) -> np.ndarray | list[np.ndarray]:
        """Per-pixel class probabilities.

        Parameters
        ----------
        images : array-like of shape (H, W) or (H, W, channels), or a set of images as in
            :meth:`fit`. A 3-D array is one image when its last axis has ``n_channels_``
            entries (and the model has more than one channel), else a stack (N, H, W).

        Returns
        -------
        ndarray of shape (H, W, K), or a list of them (an array (N, H, W, K) for a stack)
            The posterior ``r`` for "deepSVG", the network's ``p`` for "deepG".
        """
        out, single = self._infer(images)
        probs = [lp.exp().permute(1, 2, 0).cpu().double().numpy() for lp, _ in out]
        return self._pack(probs, single, images)

    def predict(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any]
                ) -> np.ndarray | list[np.ndarray]:
        """Labels ``argmax_k`` of :meth:`predict_proba`.

        Parameters
        ----------
        images : array-like of shape (H, W) or (H, W, channels), or a set of images
            One image, or a set of them as in :meth:`fit`.

        Returns
        -------
        ndarray of shape (H, W), int, or one such map per image
        """
        out, single = self._infer(images)
        labels = [lp.argmax(0).cpu().numpy().astype(np.int64) for lp, _ in out]
        return self._pack(labels, single, images)

    @staticmethod
    def _pack(maps, single, images):
        if single:
            return maps[0]
        if isinstance(images, (np.ndarray, torch.Tensor)):
            return np.stack(maps)
        return maps

    def score_samples(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any]
                      ) -> np.ndarray | list[np.ndarray]:
        """Log-likelihood of every pixel in image units: (H, W) or one map per image.

        ``log Σ_k p_ik N(x_i | θ_k)`` ("deepSVG", with the blind-spot prior when there is
        one) or ``log Σ_k w_k N(x_i | θ_k)`` ("deepG"), minus ``Σ_c log σ_c`` of the
        standardisation.

        Parameters
        ----------
        images : array-like of shape (H, W) or (H, W, channels), or a set of images
            One image, or a set of them as in :meth:`fit`.

        Returns
        -------
        ndarray of shape (H, W), or one such map per image
        """
        out, single = self._infer(images)
        shift = float(np.log(self.channel_std_).sum())
        maps = [(ll.cpu().double().numpy() - shift) for _, ll in out]
        return self._pack(maps, single, images)

    def score(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any],
              y: object = None) -> float:
        """Mean per-pixel log-likelihood over the given images (higher is better).

        Parameters
        ----------
        images : array-like of shape (H, W) or (H, W, channels), or a set of images
            One image, or a set of them as in :meth:`fit`.
        y : Ignored

        Returns
        -------
        float
        """
        maps = self.score_samples(images)
        maps = [maps] if isinstance(maps, np.ndarray) and maps.ndim == 2 else list(maps)
        return float(np.concatenate([m.ravel() for m in maps]).mean())

    def fit_predict(self, images: npt.ArrayLike | torch.Tensor | Iterable[Any],
                    y: object = None) -> np.ndarray | list[np.ndarray]:
        """``fit(images).predict(images)``.

        Parameters
        ----------
        images : array-like, list of arrays or Dataset
            Training images, as in :meth:`fit`.
        y : Ignored

        Returns
        -------
        ndarray of shape (H, W), int, or one such map per image
        """
        return self.fit(images).predict(images)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted segmenter to ``path`` (a zip of JSON and ``.npy`` arrays, no pickle).

        The file is written atomically: it is either the old file or the complete new one.

        Parameters
        ----------
        path : str or path-like
            Destination file.
        """
        self._check_fitted()
        params = {n: getattr(self, n) for n in self._parameter_table}
        params["random_state"] = (self.random_state if isinstance(self.random_state, int)
                                  else None)
        params["device"] = "cpu"
        cov = self._cov.name
        arrays = {f"net/{k}": v.detach().cpu().numpy()
                  for k, v in self.network_.state_dict().items()}
        arrays.update({f"class/{k}": v.cpu().numpy() for k, v in self.class_params_.items()
                       if v is not None})
        arrays["channel_mean"] = self._mu.cpu().numpy()
        arrays["channel_std"] = self._sd.cpu().numpy()
        meta = {"format": _FORMAT, "version": _VERSION, "params": params,
                "covariance_type": cov, "n_channels": self.n_channels_,
                "n_epochs": self.n_epochs_, "history": self.history_,
                "arrays": sorted(arrays)}
        with atomic_write(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("meta.json", json.dumps(meta))
            for k, a in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
                zf.writestr(f"{k}.npy", buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike, *,
             device: str | torch.device = "cpu") -> DeepGMMSegmenter:
        """Read a segmenter written by :meth:`save` (arrays read with ``allow_pickle=False``).

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.
        device : str or torch.device, default="cpu"
            Where the network and class parameters are placed.

        Returns
        -------
        DeepGMMSegmenter
            Fitted, ready to predict.
        """
        try:
            with zipfile.ZipFile(path, "r") as zf:
                meta = json.loads(zf.read("meta.json"))
                if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                    raise ValueError("not a gaussmix deep segmenter file")
                if meta.get("version") != _VERSION:
                    raise ValueError(f"unsupported version {meta.get('version')!r}")
                arrays = {}
                for k in meta["arrays"]:
                    with zf.open(f"{k}.npy") as fh:
                        arrays[k] = np.lib.format.read_array(fh, allow_pickle=False)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, TypeError) as exc:
            raise ValueError(f"cannot read deep segmenter file {str(path)!r}: {exc}") from exc
        params = dict(meta["params"])
        params["device"] = device
        params["covariance_type"] = meta["covariance_type"]
        n = params.pop("n_components")
        seg = cls(n, **params)
        seg._check()
        dev = seg._dev
        seg._mu = torch.as_tensor(arrays["channel_mean"], device=dev)
        seg._sd = torch.as_tensor(arrays["channel_std"], device=dev)
        C = int(meta["n_channels"])
        net = UNet(C + (seg._block > 0), int(n), int(seg.base_channels), int(seg.depth))
        net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items()
                             if k.startswith("net/")})
        net.to(dev).eval()
        cp = {k: None for k in ("log_weights", "means", "chol", "log_diag")}
        cp.update({k[6:]: torch.as_tensor(v, device=dev) for k, v in arrays.items()
                   if k.startswith("class/")})
        seg.n_epochs_ = int(meta["n_epochs"])
        seg.history_ = list(meta["history"])
        seg._set_fitted(net, cp, C)
        return seg
