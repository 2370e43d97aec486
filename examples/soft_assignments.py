"""Soft assignments: the posterior probability of each component, and where it is uncertain.

Saves soft_assignments.png: points coloured by their responsibilities (RGB mix of three
components) and sized by their assignment uncertainty (1 - max probability).
"""
import numpy as np
from _helpers import draw_ellipses, parse_args, plt, save

from gaussmix import GaussianMixture

args = parse_args(__doc__.splitlines()[0])
rng = np.random.RandomState(0)
n = 150 if args.quick else 500
X = np.vstack([rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], n),
               rng.multivariate_normal([2.5, 0.5], [[0.6, -0.3], [-0.3, 0.8]], n),
               rng.multivariate_normal([0.8, 3.0], [[1.2, 0.0], [0.0, 0.4]], n)])
gm = GaussianMixture(3, random_state=0).fit(X)
resp = gm.predict_proba(X)
uncertainty = 1 - resp.max(axis=1)
print(f"{np.mean(uncertainty > 0.2):.1%} of the points have an uncertainty above 0.2")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
axes[0].scatter(X[:, 0], X[:, 1], c=resp, s=8)
draw_ellipses(axes[0], gm)
axes[0].set_title("responsibilities as RGB")
sc = axes[1].scatter(X[:, 0], X[:, 1], c=uncertainty, s=4 + 80 * uncertainty, cmap="magma_r")
fig.colorbar(sc, ax=axes[1], label="1 - max responsibility")
axes[1].set_title("assignment uncertainty")
save(fig, args, "soft_assignments.png")
