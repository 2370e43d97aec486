"""Probes of the numeric edges: each line prints an input and what gaussmix does with it.

Run ``python -m benchmarks.reliability_probes`` (about 10 s); docs/reliability.md tabulates the
output before and after the fixes. Nothing here is timed.
"""
from __future__ import annotations

import warnings

import numpy as np


def _run(label, fn):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn()
        notes = sorted({w.category.__name__ for w in caught})
        print(f"{label} | {out}" + (f" (warnings: {', '.join(notes)})" if notes else ""))
    except Exception as exc:  # a probe reports every outcome, errors included
        print(f"{label} | {type(exc).__name__}: {str(exc)[:160]}")


def main() -> None:
    import gaussmix
    from gaussmix import GaussianMixture
    from sklearn.mixture import GaussianMixture as Sk

    rng = np.random.default_rng(0)
    two = np.repeat([[0.0, 0], [1, 1]], 50, axis=0)
    far = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(1e7, 1, (300, 2))]
    three = np.repeat([[0.0, 0], [1, 1], [3, 0]], 30, axis=0)
    binary = rng.integers(0, 2, (400, 3)).astype(float)
    img = np.zeros((40, 40, 3))
    img[:20] = [1, 0, 0]
    img[20:] = [0, 0, 1]

    def means(X, k, **kw):
        gm = GaussianMixture(k, random_state=0, **kw).fit(X)
        return f"means {np.round(np.sort(gm.means_[:, 0]), 3).tolist()}, score {gm.score(X):.4f}"

    _run("two repeated points, K=2", lambda: means(two, 2))
    _run("  scikit-learn", lambda: f"score {Sk(2, random_state=0).fit(two).score(two):.4f}")
    _run("clusters at 0 and 1e7, K=2", lambda: means(far, 2))
    _run("  scikit-learn", lambda: f"score {Sk(2, random_state=0).fit(far).score(far):.4f}")
    _run("flat two-colour float image, K=2", lambda: "labels "
         f"{np.unique(gaussmix.image.segment(img, 2).labels).tolist()}")

    def lbs():
        gm = GaussianMixture(3, random_state=0).fit(three)
        return f"lower bounds first {gm.lower_bounds_[0]:.3f}, last {gm.lower_bound_:.3f}"
    _run("three repeated points, K=3", lbs)
    def distinct(X, k):
        gm = GaussianMixture(k, random_state=0).fit(X)
        return f"distinct components {len(np.unique(gm.means_.round(6), axis=0))}"
    _run("binary columns, K=4", lambda: distinct(binary, 4))

    X = np.r_[rng.normal(0, 1, (200, 2)), rng.normal(5, 1, (200, 2))]
    _run("fit(X * 1e155)", lambda: means(X * 1e155, 2))
    _run("fit(float32 X * 1e20)", lambda: means((X * 1e20).astype(np.float32), 2))
    _run("reg_covar=inf", lambda: means(X, 2, reg_covar=np.inf))
    w = rng.uniform(0.5, 2, len(X))
    ref = GaussianMixture(2, random_state=0).fit(X, sample_weight=w)

    def scaled(c):
        gm = GaussianMixture(2, random_state=0).fit(X, sample_weight=w * c)
        return f"max |means - unscaled| {np.abs(gm.means_ - ref.means_).max():.2g}"
    _run("sample_weight * 1e-310", lambda: scaled(1e-310))
    _run("sample_weight * 1e306", lambda: scaled(1e306))
    _run("bic(X, sample_weight=1e308)",
         lambda: f"{ref.bic(X, sample_weight=np.full(len(X), 1e308))}")
    _run("predict_proba([[1e200, 0]])",
         lambda: f"{np.round(ref.predict_proba([[1e200, 0.0]]), 6).tolist()}")

    def regressor():
        from gaussmix import GaussianMixtureRegressor
        Z = np.c_[X, X[:, 0] * 2 + rng.normal(size=len(X))]
        reg = GaussianMixtureRegressor(n_components=2, random_state=0).fit(Z[:, :2], Z[:, 2])
        return f"{reg.predict([[1e200, 0.0]]).tolist()}"
    _run("GaussianMixtureRegressor.predict([[1e200, 0]])", regressor)
    def constant_coreset():
        _, weights = gaussmix.coreset.build(np.ones((1000, 2)), 100, n_clusters=2,
                                            random_state=0)
        return f"weights sum {weights.sum():.1f}"
    _run("coreset.build(constant data)", constant_coreset)

    def torch_nan():
        import torch
        from gaussmix.torch import GaussianMixture as TorchGM
        m = TorchGM(2, 2)
        return f"{m(torch.tensor([[float('nan'), 0.0]], dtype=torch.float64))}"
    _run("torch GaussianMixture.forward(NaN)", torch_nan)


if __name__ == "__main__":
    main()
