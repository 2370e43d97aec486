"""Density estimation on two moons, with the number of components chosen by AIC and by BIC.

A Gaussian mixture is a general density estimator when it has enough components; AIC
(lighter penalty) picks more components than BIC. Saves density_moons.png (criteria against K
and the two fitted densities).
"""
import numpy as np
from _helpers import parse_args, plt, save
from sklearn.datasets import make_moons

from gaussmix.selection import select

args = parse_args(__doc__.splitlines()[0])
X, _ = make_moons(300 if args.quick else 1000, noise=0.06, random_state=0)
ks = range(1, 9) if args.quick else range(1, 21)
res = {crit: select(X, ks, ("full",), crit, random_state=0, validation_fraction=None)
       for crit in ("aic", "bic")}
for crit, r in res.items():
    print(f"{crit.upper()} picks K = {r.best_params_['n_components']}")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for crit, r in res.items():
    k, v = r.criterion_values(crit)["full"]
    axes[0].plot(k, v, "o-", ms=4, label=f"{crit.upper()} (best K = {r.best_params_['n_components']})")
axes[0].set_xlabel("number of components")
axes[0].set_ylabel("criterion (lower is better)")
axes[0].legend()
axes[0].set_title("AIC and BIC against K")
xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 160))
grid = np.column_stack([xx.ravel(), yy.ravel()])
for ax, crit in zip(axes[1:], ("aic", "bic")):
    gm = res[crit].best_estimator_
    dens = np.exp(gm.score_samples(grid)).reshape(xx.shape)
    ax.contourf(xx, yy, dens, levels=20, cmap="viridis")
    ax.scatter(X[:, 0], X[:, 1], s=2, c="w", alpha=0.5)
    ax.set_title(f"density, K = {gm.n_components} chosen by {crit.upper()}")
save(fig, args, "density_moons.png")
