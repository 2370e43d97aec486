"""k-means versus a Gaussian mixture on stretched (anisotropic) blobs.

k-means assumes round clusters of equal size; a full-covariance Gaussian mixture learns each
cluster's shape and orientation. Saves kmeans_vs_gmm.png.
"""
import numpy as np
from _helpers import draw_ellipses, parse_args, plt, save
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from gaussmix import GaussianMixture

args = parse_args(__doc__.splitlines()[0])
n = 300 if args.quick else 1500
X, y = make_blobs(n_samples=n, centers=3, random_state=170)
X = X @ np.array([[0.6, -0.64], [-0.41, 0.85]])  # stretch

km = KMeans(3, n_init=10, random_state=0).fit(X)
gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
ari_km = adjusted_rand_score(y, km.labels_)
ari_gm = adjusted_rand_score(y, gm.predict(X))
print(f"adjusted Rand index: k-means {ari_km:.3f}, Gaussian mixture {ari_gm:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
axes[0].scatter(X[:, 0], X[:, 1], c=km.labels_, s=6, cmap="tab10")
axes[0].plot(*km.cluster_centers_.T, "kx", ms=10)
axes[0].set_title(f"k-means (ARI {ari_km:.2f})")
axes[1].scatter(X[:, 0], X[:, 1], c=gm.predict(X), s=6, cmap="tab10")
draw_ellipses(axes[1], gm)
axes[1].set_title(f"Gaussian mixture, full covariances (ARI {ari_gm:.2f})")
save(fig, args, "kmeans_vs_gmm.png")
