"""A tour of gaussmix.torch: gradient-trained mixtures, a GMM classifier layer, deep segmentation.

Run from the repository root (a minute or so on a laptop CPU)::

    PYTHONPATH=src python examples/deep_gmm_tour.py
"""
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture as EM
from sklearn.model_selection import train_test_split

from gaussmix.torch import DeepGMMClassifier, GaussianMixture, fit_gradient, segment_deep

torch.set_num_threads(1)  # small problems: more threads only add synchronisation cost
rng = np.random.default_rng(0)

# 1. Maximum likelihood by Adam instead of EM, and conversion both ways.
X = np.vstack([rng.normal(-3, 1, (500, 2)), rng.normal(3, 0.5, (500, 2)) @ [[1, 0.5], [0, 1]]])
gm = fit_gradient(X, 2, covariance_type="full", lr=0.05, batch_size=128, random_state=0)
em = EM(2, covariance_type="full", random_state=0).fit(X)
print(f"mean log-likelihood  gradient {gm.score(X):.4f}   EM {em.score(X):.4f}")
module = GaussianMixture.from_estimator(em)  # a differentiable copy of the EM fit
log_prob, log_resp = module(torch.as_tensor(X))
print("module == EM score_samples:", np.allclose(log_prob.detach().numpy(), em.score_samples(X)))
samples, labels = gm.sample(5, generator=0)
print("samples from the gradient fit:\n", samples.numpy().round(2))

# 2. A GMM output layer trained jointly with the features (Variani et al., 2015).
Xd, yd = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(Xd, yd, test_size=0.3, stratify=yd, random_state=0)
clf = DeepGMMClassifier(hidden_layer_sizes=(64,), n_components_per_class=2, lr=3e-3,
                        head_init="em", random_state=0).fit(Xtr, ytr)
print(f"digits test accuracy (deep GMM, EM-initialised head): {clf.score(Xte, yte):.3f}")

# 3. Unsupervised segmentation with a U-Net trained on a GMM likelihood (Schwab et al., 2024).
size = 48
yy, xx = np.mgrid[:size, :size] / size
r = np.hypot(yy - 0.5, xx - 0.5)
truth = (r < 0.3).astype(int) + (r < 0.15)
image = np.stack([truth * 1.0, (truth == 1) * 1.0], -1) + 0.3 * rng.normal(size=(size, size, 2))
labels, proba = segment_deep(image, 3, variant="deepG", random_state=0, verbose=1)
print("label counts:", np.bincount(labels.ravel()), " truth counts:", np.bincount(truth.ravel()))
