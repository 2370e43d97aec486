"""The four covariance types fitted to the same data, with their BIC.

"full": each component its own covariance; "tied": one shared covariance; "diag": axis-aligned
ellipses; "spherical": circles. Saves covariance_types.png.
"""
import numpy as np
from _helpers import draw_ellipses, parse_args, plt, save
from sklearn.datasets import load_iris

from gaussmix import GaussianMixture

args = parse_args(__doc__.splitlines()[0])
X = load_iris().data[:, [0, 2]]  # sepal length, petal length
if args.quick:
    X = X[::2]
fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharex=True, sharey=True)
for ax, ct in zip(axes, ("full", "tied", "diag", "spherical")):
    gm = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
    ax.scatter(X[:, 0], X[:, 1], c=gm.predict(X), s=8, cmap="tab10")
    draw_ellipses(ax, gm)
    ax.set_title(f"{ct}: BIC {gm.bic(X):.1f}")
    ax.set_xlabel("sepal length (cm)")
    print(f"{ct:9s} BIC {gm.bic(X):8.1f}  parameters {gm._n_parameters()}")
axes[0].set_ylabel("petal length (cm)")
save(fig, args, "covariance_types.png")
