"""Segmentation of a real tabular data set: the 178 wines of scikit-learn's wine data.

Standardise 13 chemical measurements, choose the number of segments and the covariance type by
BIC, describe each segment by its mean profile in original units, and compare the segments with
the (unused) cultivar labels. The same recipe applies to customer tables (spend, visits, ...).
Saves segmentation_bic.png, segmentation_pca.png and prints the segment profiles.
"""
import numpy as np
from _helpers import draw_ellipses, parse_args, plt, save
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from gaussmix import GaussianMixture
from gaussmix.selection import select

args = parse_args(__doc__.splitlines()[0])
data = load_wine(as_frame=True)
df = data.frame.drop(columns="target")
scaler = StandardScaler().fit(df.values)
X = scaler.transform(df.values)
ks = range(1, 5) if args.quick else range(1, 9)
res = select(X, ks, ("full", "tied", "diag", "spherical"), "bic", random_state=0, n_init=1 if
             args.quick else 3)
gm = res.best_estimator_
print(res.to_markdown()[:1200])
print(f"\nBIC picks {gm.n_components} segments, covariance '{gm.covariance_type}'")
labels = gm.predict(X)
print(f"agreement with the cultivars (adjusted Rand index): "
      f"{adjusted_rand_score(data.target, labels):.3f}")

profiles = df.groupby(labels).mean()
profiles.insert(0, "share", np.bincount(labels) / len(labels))
cols = ["share", "alcohol", "malic_acid", "flavanoids", "color_intensity", "proline"]
print("\nsegment profiles (means in original units):")
print(profiles[cols].round(2).to_string())

ax = res.plot()
ax.set_title("BIC of each (K, covariance type) on the wine data")
save(ax.figure, args, "segmentation_bic.png")

# the segments in the plane of the first two principal components; the mixture is refitted
# there only to draw its ellipses
pca = PCA(2).fit(X)
P = pca.transform(X)
gm2 = GaussianMixture(gm.n_components, covariance_type="full", random_state=0).fit(
    P, sample_weight=None)
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(P[:, 0], P[:, 1], c=labels, cmap="tab10", s=14)
draw_ellipses(ax, gm2)
ax.set_xlabel("PC 1")
ax.set_ylabel("PC 2")
ax.set_title("wine segments (colours) in principal-component space")
save(fig, args, "segmentation_pca.png")
