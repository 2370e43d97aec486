"""Generate new handwritten digits with a Gaussian mixture.

scikit-learn's 8x8 digits -> PCA keeping 99% of the variance -> Gaussian mixtures with the number
of components chosen by AIC -> samples -> inverse PCA -> image grid. Saves digits_aic.png (AIC
against K) and digits_generated.png (real digits above, generated ones below).
"""
import numpy as np
from _helpers import parse_args, plt, save
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from gaussmix.selection import select

args = parse_args(__doc__.splitlines()[0])
digits = load_digits()
pca = PCA(0.99, whiten=False, random_state=0)
Z = pca.fit_transform(digits.data)
print(f"PCA keeps {pca.n_components_} of 64 dimensions (99% of the variance)")

ks = (8, 16) if args.quick else tuple(range(20, 181, 20))
res = select(Z, ks, ("full",), "aic", random_state=0, validation_fraction=None,
             n_jobs=1)
gm = res.best_estimator_
print(f"AIC picks K = {gm.n_components} (converged: {gm.converged_})")

gm.random_state = 0
Z_new, _ = gm.sample(48)
images = pca.inverse_transform(Z_new).clip(0, 16)
real = digits.data[np.random.RandomState(0).choice(len(digits.data), 16, replace=False)]

ax = res.plot(criterion="aic")
ax.set_title("AIC of full-covariance mixtures on PCA-reduced digits")
save(ax.figure, args, "digits_aic.png")

fig, axes = plt.subplots(8, 8, figsize=(6, 6.4), subplot_kw=dict(xticks=[], yticks=[]))
for i, ax in enumerate(axes.ravel()):
    img = real[i] if i < 16 else images[i - 16]
    ax.imshow(img.reshape(8, 8), cmap="binary", vmin=0, vmax=16)
    if i in (0, 16):
        ax.set_ylabel("real" if i == 0 else "generated", fontsize=8)
fig.suptitle(f"top two rows: real digits; below: sampled from a {gm.n_components}-component GMM")
save(fig, args, "digits_generated.png")
