"""A tour of gaussmix.torch: gradient-trained mixtures, a GMM classifier layer, deep segmentation.

1. fits a mixture by Adam instead of EM and converts it both ways;
2. trains a multi-layer perceptron with a GMM output layer (Variani et al., 2015) on the digits;
3. segments a noisy synthetic image with a U-Net trained on a GMM likelihood
   (Schwab, Mayr, Haltmeier, 2024).

Saves deep_gmm_tour.png. Run from the repository root (a minute or so on a laptop CPU)::

    PYTHONPATH=src python examples/deep_gmm_tour.py
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from _helpers import draw_ellipses, parse_args, save
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture as EM
from sklearn.model_selection import train_test_split

from gaussmix.torch import DeepGMMClassifier, GaussianMixture, fit_gradient, segment_deep

args = parse_args(__doc__.splitlines()[0])
torch.set_num_threads(1)  # small problems: more threads only add synchronisation cost
rng = np.random.default_rng(0)

# 1. Maximum likelihood by Adam instead of EM, and conversion both ways.
X = np.vstack([rng.normal(-3, 1, (500, 2)), rng.normal(3, 0.5, (500, 2)) @ [[1, 0.5], [0, 1]]])
gm = fit_gradient(X, 2, covariance_type="full", lr=0.05, batch_size=128,
                  max_epochs=30 if args.quick else 200, random_state=0)
em = EM(2, covariance_type="full", random_state=0).fit(X)
print(f"mean log-likelihood  gradient {gm.score(X):.4f}   EM {em.score(X):.4f}")
module = GaussianMixture.from_estimator(em)  # a differentiable copy of the EM fit
log_prob, log_resp = module(torch.as_tensor(X))
print("module == EM score_samples:", np.allclose(log_prob.detach().numpy(), em.score_samples(X)))
samples, _ = gm.sample(5, generator=0)
print("samples from the gradient fit:\n", samples.numpy().round(2))

# 2. A GMM output layer trained jointly with the features (Variani et al., 2015).
Xd, yd = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(Xd, yd, test_size=0.3, stratify=yd, random_state=0)
epochs = 5 if args.quick else 100
accuracy = {}
for name, kw in {"softmax": {"head": "softmax"},
                 "GMM head": {"n_components_per_class": 2, "head_init": "em"}}.items():
    clf = DeepGMMClassifier(hidden_layer_sizes=(64,), lr=3e-3, max_epochs=epochs,
                            random_state=0, **kw).fit(Xtr, ytr)
    accuracy[name] = clf.score(Xte, yte)
    print(f"digits test accuracy ({name}): {accuracy[name]:.3f}")

# 3. Unsupervised segmentation with a U-Net trained on a GMM likelihood (Schwab et al., 2024).
size = 32 if args.quick else 48
yy, xx = np.mgrid[:size, :size] / size
r = np.hypot(yy - 0.5, xx - 0.5)
truth = (r < 0.3).astype(int) + (r < 0.15)
image = np.stack([truth * 1.0, (truth == 1) * 1.0], -1) + 0.3 * rng.normal(size=(size, size, 2))
labels, proba = segment_deep(image, 3, variant="deepG", random_state=0,
                             max_epochs=10 if args.quick else 200,
                             pretrain_epochs=10 if args.quick else 100,
                             n_init=1 if args.quick else 5)
print("label counts:", np.bincount(labels.ravel(), minlength=3),
      " truth counts:", np.bincount(truth.ravel()))

fig, axes = plt.subplots(1, 4, figsize=(16, 4))
ax = axes[0]
ax.scatter(*X.T, s=3, c="0.6")
draw_ellipses(ax, gm.to_estimator(), color="tab:red")
draw_ellipses(ax, em, color="tab:blue")
ax.set_title("Adam (red) vs EM (blue)")
ax.set_aspect("equal")
ax = axes[1]
ax.bar(list(accuracy), list(accuracy.values()), color=["0.6", "tab:green"])
ax.set_ylim(min(accuracy.values()) - 0.05, 1.0)
ax.set_title("digits test accuracy")
axes[2].imshow(image[..., 0], cmap="gray")
axes[2].set_title("noisy image (channel 0)")
axes[3].imshow(np.asarray(labels), cmap="viridis")
axes[3].set_title("deep GMM segmentation")
for ax in axes[2:]:
    ax.axis("off")
save(fig, args, "deep_gmm_tour.png")
