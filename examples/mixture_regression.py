"""Conditional sampling and Gaussian mixture regression (GMR).

A joint mixture of (x, y) turns into a regressor: conditioning on x gives a mixture over y, whose
mean is the GMR prediction and whose samples show the whole conditional distribution. The second
panel is an inverse problem (t as a function of x is multi-valued): the conditional mean averages
the branches while conditional samples follow them. Saves mixture_regression.png.
"""
import numpy as np
from _helpers import parse_args, plt, save

from gaussmix import GaussianMixture
from gaussmix.conditional import GaussianMixtureRegressor, condition

args = parse_args(__doc__.splitlines()[0])
rng = np.random.RandomState(0)
n = 500 if args.quick else 2000

# forward problem: y = sin(x) + noise growing with |x|
x = rng.uniform(-4, 4, n)
y = np.sin(x) + (0.05 + 0.05 * np.abs(x)) * rng.standard_normal(n)
reg = GaussianMixtureRegressor(n_components=10, random_state=0).fit(x[:, None], y)
xs = np.linspace(-4, 4, 300)
mean, std = reg.predict(xs[:, None], return_std=True)
print(f"forward problem: R^2 = {reg.score(x[:, None], y):.3f}")

# inverse problem: x = t + 0.3 sin(2 pi t) is not monotone, so t given x has up to three values
t = rng.uniform(0, 1, n)
inv = np.column_stack([t + 0.3 * np.sin(2 * np.pi * t) + 0.02 * rng.standard_normal(n), t])
gm = GaussianMixture(12, random_state=0).fit(inv)           # columns: (x, t)
xg = np.linspace(inv[:, 0].min(), inv[:, 0].max(), 200)
cm = condition(gm, xg[:, None], given=[0])                 # p(t | x)
draws = cm.sample(20, random_state=0)[:, :, 0]

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
axes[0].scatter(x, y, s=3, c="0.6")
axes[0].plot(xs, mean, "C0", lw=2, label="E[y | x] (GMR)")
axes[0].fill_between(xs, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.2,
                     label="± 2 conditional std")
axes[0].legend()
axes[0].set_title("Gaussian mixture regression")
axes[1].scatter(inv[:, 0], inv[:, 1], s=3, c="0.6", label="data")
axes[1].scatter(np.repeat(xg, 20), draws.ravel(), s=2, c="C1", alpha=0.5,
                label="samples from p(t | x)")
axes[1].plot(xg, cm.mean()[:, 0], "C0", lw=2, label="E[t | x]")
axes[1].set_xlabel("x (given)")
axes[1].set_ylabel("t")
axes[1].legend(fontsize="small")
axes[1].set_title("inverse problem: conditional samples follow every branch")
save(fig, args, "mixture_regression.png")
